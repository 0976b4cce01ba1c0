"""Draw one series of gold.metric_anomalies (value, expected, flagged points) with the run report's chart
(queries.report.anomaly_series_chart, Altair/Vega-Lite) into a self-contained HTML page.

    python bench/anomaly_plot.py --lake lake --entity B000001234 --metric review_count_daily \
        [--from 2022-01-01 --to 2022-06-30] --out anomaly_example.html
    python bench/anomaly_plot.py --lake lake --pick volume_spike --truth data/.../ground_truth.json --out ...
"""

from __future__ import annotations

import argparse
import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from deltalake import DeltaTable

from queries.report import anomaly_series_chart, chart_page
from reviewlake.config import load_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", default="lake")
    parser.add_argument("--entity")
    parser.add_argument("--metric", default="review_count_daily")
    parser.add_argument("--pick", choices=["volume_spike", "rating_drop"])
    parser.add_argument("--truth")
    parser.add_argument("--from", dest="start")
    parser.add_argument("--to", dest="end")
    parser.add_argument("--out", default="anomaly.html")
    args = parser.parse_args()
    entity, start, end = args.entity, args.start, args.end
    if not args.pick and not entity:
        raise SystemExit("give --entity, or --pick with --truth")
    anomalies = DeltaTable(f"{args.lake}/gold/metric_anomalies")
    if args.pick:
        # The first planted event of that kind the detector flagged (the figure shows a hit, not a miss).
        for event in json.loads(Path(args.truth).read_text())["anomalies"]:
            if event["kind"] != args.pick:
                continue
            middle = date.fromisoformat(event["start"])
            rows = _rows(anomalies, event["entity_id"], args.metric, middle - timedelta(days=70),
                         middle + timedelta(days=35))
            if rows["is_anomaly"].any():
                entity, table = event["entity_id"], rows
                break
        else:
            raise SystemExit(f"no planted {args.pick} was flagged on {args.metric}")
    else:
        table = _rows(anomalies, entity, args.metric, date.fromisoformat(start) if start else date.min,
                      date.fromisoformat(end) if end else date.max)
    if table.empty:
        raise SystemExit(f"no rows for {entity} / {args.metric} in that range")
    title = f"{args.metric} of {entity}"
    page = chart_page(title, [(f"{title} (dashed: expected, red: flagged)",
                               anomaly_series_chart(table, args.metric, width=860, height=260))],
                      load_config().cache_dir)
    Path(args.out).write_text(page)
    print(f"{len(table)} points, {int(table['is_anomaly'].sum())} flagged -> {args.out}")


def _rows(table: DeltaTable, entity: str, metric: str, start: date, end: date) -> pd.DataFrame:
    rows = table.to_pandas(filters=[("entity_id", "=", entity), ("metric", "=", metric)])
    rows["period_start"] = pd.to_datetime(rows["period_start"]).dt.date
    return rows[(rows["period_start"] >= start) & (rows["period_start"] <= end)]


if __name__ == "__main__":
    main()
