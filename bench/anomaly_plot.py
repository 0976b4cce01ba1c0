"""Draw one series of gold.metric_anomalies as an SVG (value, expected, flagged points). No plotting library.

    python bench/anomaly_plot.py --lake lake --entity B000001234 --metric review_count_daily \
        [--from 2022-01-01 --to 2022-06-30] --out docs/anomaly_example.svg
    python bench/anomaly_plot.py --lake lake --pick volume_spike --truth data/.../ground_truth.json --out ...
"""

from __future__ import annotations

import argparse
import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from deltalake import DeltaTable

WIDTH, HEIGHT, PAD = 860, 300, 48
DASHED = 'stroke-dasharray="5,4"'


def _polyline(points: list[tuple[float, float]], colour: str, dash: str = "") -> str:
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" {dash} points="{path}"/>'


def svg(series: pd.DataFrame, title: str) -> str:
    series = series.sort_values("period_start").reset_index(drop=True)
    top = max(series["value"].max(), series["expected"].max(skipna=True)) * 1.1 or 1.0
    n = max(len(series) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return PAD + i * (WIDTH - 2 * PAD) / n, HEIGHT - PAD - (v / top) * (HEIGHT - 2 * PAD)

    values = [xy(i, v) for i, v in enumerate(series["value"]) if pd.notna(v)]  # no reviews: no point
    expected = [xy(i, v) for i, v in enumerate(series["expected"]) if pd.notna(v)]
    flags = [xy(i, v) for i, (v, a) in enumerate(zip(series["value"], series["is_anomaly"], strict=True)) if a]
    ticks = "".join(
        f'<text x="{xy(i, 0)[0]:.0f}" y="{HEIGHT - PAD + 16}" font-size="11" text-anchor="middle">'
        f'{series["period_start"][i]}</text>' for i in range(0, len(series), max(1, len(series) // 6)))
    yticks = "".join(
        f'<text x="{PAD - 6}" y="{xy(0, top * f / 1.1)[1] + 4:.0f}" font-size="11" text-anchor="end">'
        f'{top * f / 1.1:.1f}</text>' for f in (0, 0.5, 1.0))
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="#d62728"/>' for x, y in flags)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif">'
            f'<rect width="100%" height="100%" fill="white"/>'
            f'<text x="{PAD}" y="22" font-size="14">{title}</text>'
            f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#999"/>'
            f'{ticks}{yticks}{_polyline(values, "#1f77b4")}'
            f'{_polyline(expected, "#ff7f0e", DASHED)}{dots}'
            f'<text x="{WIDTH - PAD}" y="22" font-size="12" text-anchor="end">'
            f'<tspan fill="#1f77b4">value</tspan>  <tspan fill="#ff7f0e">expected</tspan>  '
            f'<tspan fill="#d62728">anomaly</tspan></text></svg>')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", default="lake")
    parser.add_argument("--entity")
    parser.add_argument("--metric", default="review_count_daily")
    parser.add_argument("--pick", choices=["volume_spike", "rating_drop"])
    parser.add_argument("--truth")
    parser.add_argument("--from", dest="start")
    parser.add_argument("--to", dest="end")
    parser.add_argument("--out", default="anomaly.svg")
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
    Path(args.out).write_text(svg(table, f"{args.metric} of product {entity}"))
    print(f"{len(table)} points, {int(table['is_anomaly'].sum())} flagged -> {args.out}")


def _rows(table: DeltaTable, entity: str, metric: str, start: date, end: date) -> pd.DataFrame:
    rows = table.to_pandas(filters=[("entity_id", "=", entity), ("metric", "=", metric)])
    rows["period_start"] = pd.to_datetime(rows["period_start"]).dt.date
    return rows[(rows["period_start"] >= start) & (rows["period_start"] <= end)]


if __name__ == "__main__":
    main()
