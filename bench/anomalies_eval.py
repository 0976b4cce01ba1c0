"""Precision, recall and detection delay of gold.metric_anomalies against the generator's planted anomalies.

    python bench/anomalies_eval.py --lake lake --truth data/synthetic-220000-s42/ground_truth.json

A planted volume spike (product, 3 days) is found when that product's review_count series is flagged in
[start, end + 7 days]; a rating drop (14 days) when its mean_rating or negative_share series is. Precision
counts flagged product periods of those metrics that fall in a planted window of the same product (a
flagged period outside every window is a false alarm). Delay = first flagged period start - planted start.
"""

from __future__ import annotations

import argparse
import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from deltalake import DeltaTable

FAMILIES = {"volume_spike": ("review_count",), "rating_drop": ("mean_rating", "negative_share")}
SLACK = timedelta(days=7)


def evaluate(anomalies: pd.DataFrame, planted: list[dict], granularity: str) -> dict:
    flagged = anomalies[anomalies["is_anomaly"] & (anomalies["entity_type"] == "product")
                        & anomalies["metric"].str.endswith(granularity)].copy()
    flagged["family"] = flagged["metric"].str.rsplit("_", n=1).str[0]
    hits, delays, true_flags = 0, [], set()
    for event in planted:
        start, end = date.fromisoformat(event["start"]), date.fromisoformat(event["end"])
        window_start = start - timedelta(days=start.weekday()) if granularity == "weekly" else start
        mine = flagged[(flagged["entity_id"] == event["entity_id"])
                       & flagged["family"].isin(FAMILIES[event["kind"]])
                       & (flagged["period_start"] >= window_start) & (flagged["period_start"] <= end + SLACK)]
        true_flags |= set(mine.index)
        if len(mine):
            hits += 1
            delays.append(max(0, (mine["period_start"].min() - start).days))
    relevant = flagged[flagged["family"].isin({f for e in planted for f in FAMILIES[e["kind"]]})]
    return {"granularity": granularity, "planted": len(planted), "found": hits,
            "recall": hits / len(planted) if planted else float("nan"),
            "flagged": len(relevant), "precision": len(true_flags) / len(relevant) if len(relevant) else float("nan"),
            "median_delay_days": float(pd.Series(delays).median()) if delays else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", default="lake")
    parser.add_argument("--truth", required=True)
    args = parser.parse_args()
    truth = json.loads(Path(args.truth).read_text())
    anomalies = DeltaTable(f"{args.lake}/gold/metric_anomalies").to_pandas()
    anomalies["period_start"] = pd.to_datetime(anomalies["period_start"]).dt.date
    planted = truth["anomalies"]
    print("| series | kind | planted | found | recall | flagged (product, these metrics) | precision | "
          "median delay (days) |")
    print("|---|---|---|---|---|---|---|---|")
    for granularity in ("daily", "weekly"):
        for kind in ("volume_spike", "rating_drop", None):
            events = [e for e in planted if kind is None or e["kind"] == kind]
            result = evaluate(anomalies, events, granularity)
            print(f"| {granularity} | {kind or 'all'} | {result['planted']} | {result['found']} | "
                  f"{result['recall']:.2f} | {result['flagged']} | {result['precision']:.2f} | "
                  f"{result['median_delay_days']:.1f} |")


if __name__ == "__main__":
    main()
