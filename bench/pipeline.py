"""The whole pipeline at several sizes: wall time, peak memory and rows/s per stage, and how each stage's time
grows with the input (the log-log slope of time against size; 1 is linear, 2 quadratic).

    python bench/pipeline.py [--sizes 22000 220000 1000000] [--seed 42] [--out bench/results]
                             [--nightly 2000] [--keep-lakes]

For each size it generates the synthetic reviews (cached by size and seed under the cache directory), runs
`reviewlake run` with every stage (demo defaults, CPU) on a fresh lake in one process, and meanwhile samples
the resident memory of that process tree (the Python driver, its JVM and the Python workers) every 0.5 s.
Stage times and row counts come from the run ledger (ops.pipeline_runs); a stage's peak memory is the
largest sample taken while it ran. With `--nightly N` it then adds N new reviews (a later seed) and runs
every stage again on the same lake: the incremental nightly run, reported against the full run's time.

Writes `pipeline.csv` (one row per size and stage) and `pipeline.html` (time against size per stage, log-log)
under --out and prints the table and the slopes.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psutil

RUN_DATE, NIGHTLY_DATE = "2024-06-30", "2024-07-01"


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of a process and all its descendants (0 once it is gone)."""
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for member in members:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += member.memory_info().rss
    return total


def run_sampled(command: list[str], log: Path) -> tuple[int, list[tuple[float, int]]]:
    """Run `command`, sampling its tree's memory; returns (exit code, [(unix time, bytes)])."""
    samples: list[tuple[float, int]] = []
    with open(log, "w") as sink:
        child = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        watched = psutil.Process(child.pid)
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append((time.time(), tree_rss(watched)))
                done.wait(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = child.wait()
        done.set()
        sampler.join()
    return code, samples


def inputs_for(size: int, seed: int, cache: Path) -> Path:
    from reviewlake.synthetic import generate

    target = cache / "bench-inputs" / f"synthetic-{size}-s{seed}"
    if not (target / "ground_truth.json").exists():
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        generate(size, seed, partial)
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    return target


def stage_rows(lake: Path, run_started: float, samples: list[tuple[float, int]], size: int,
               label: str) -> list[dict]:
    """One row per stage of the newest run in the lake's ledger, with the memory peak sampled during it."""
    from deltalake import DeltaTable

    ledger = DeltaTable(str(lake / "ops" / "pipeline_runs")).to_pandas()
    started = datetime.fromtimestamp(run_started, UTC)
    runs = ledger[ledger["started_at"].dt.tz_localize(None) >= started.replace(tzinfo=None)]
    rows = []
    for stage in runs.sort_values("started_at").itertuples():
        begin, end = stage.started_at.timestamp(), stage.ended_at.timestamp()
        during = [rss for at, rss in samples if begin <= at <= end] or [0]
        rows.append({"run": label, "reviews": size, "stage": stage.job, "status": stage.status,
                     "seconds": round(stage.duration_s, 1), "rows_in": int(stage.rows_in),
                     "rows_out": int(stage.rows_out),
                     "rows_per_s": round(stage.rows_in / stage.duration_s, 1) if stage.duration_s else 0.0,
                     "peak_rss_mb": round(max(during) / 2**20)})
    return rows


def run_pipeline(inputs: Path, lake: Path, out: Path, label: str,
                 run_date: str = RUN_DATE) -> tuple[float, list[tuple[float, int]]]:
    command = [sys.executable, "-m", "reviewlake.cli", "run", "--input", str(inputs / "reviews.jsonl.gz"),
               "--products", str(inputs / "products.jsonl"), "--run-date", run_date, "--lake", str(lake)]
    started = time.time()
    code, samples = run_sampled(command, out / f"{label}.log")
    if code != 0:
        raise SystemExit(f"{label}: reviewlake run exited {code}; see {out / (label + '.log')}")
    return started, samples


def slopes(rows: list[dict]) -> dict[str, float]:
    """Per stage, the slope of log(seconds) against log(reviews) over the full runs."""
    out = {}
    for stage in dict.fromkeys(r["stage"] for r in rows):
        points = [(r["reviews"], r["seconds"]) for r in rows if r["stage"] == stage and r["run"].startswith("full")
                  and r["seconds"] > 0]
        if len(points) >= 2:
            x, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
            out[stage] = float(np.polyfit(x, y, 1)[0])
    return out


def write_plot(rows: list[dict], path: Path, cache: Path) -> None:
    import altair as alt
    import pandas as pd

    from queries.report import chart_page

    frame = pd.DataFrame([r for r in rows if r["run"].startswith("full")])
    chart = alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("reviews:Q", scale=alt.Scale(type="log")), y=alt.Y("seconds:Q", scale=alt.Scale(type="log")),
        color="stage:N", tooltip=["stage", "reviews", "seconds", "peak_rss_mb"]).properties(width=640, height=400)
    path.write_text(chart_page("reviewlake pipeline: stage time against input size", [("time", chart)], cache))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[22_000, 220_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--nightly", type=int, default=0, help="after the largest size, add this many reviews "
                        "and run again (the incremental nightly run)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--keep-lakes", action="store_true")
    args = parser.parse_args()

    from reviewlake.config import load_config

    cache = load_config().cache_dir
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="reviewlake-bench-pipeline-"))
    rows: list[dict] = []
    totals: dict[str, float] = {}
    for size in sorted(args.sizes):
        inputs = inputs_for(size, args.seed, cache)
        lake = work / f"lake-{size}"
        label = f"full-{size}"
        print(f"[bench] {size:,} reviews: full run", flush=True)
        started, samples = run_pipeline(inputs, lake, args.out, label)
        rows += stage_rows(lake, started, samples, size, label)
        totals[label] = time.time() - started
        if args.nightly and size == max(args.sizes):
            increment = inputs_for(args.nightly, args.seed + 1, cache)
            label = f"nightly-{args.nightly}-after-{size}"
            print(f"[bench] + {args.nightly:,} new reviews: incremental run", flush=True)
            started, samples = run_pipeline(increment, lake, args.out, label, NIGHTLY_DATE)
            rows += stage_rows(lake, started, samples, size, label)
            totals[label] = time.time() - started
        if not args.keep_lakes:
            shutil.rmtree(lake, ignore_errors=True)

    with open(args.out / "pipeline.csv", "w", newline="") as sink:
        writer = csv.DictWriter(sink, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    write_plot(rows, args.out / "pipeline.html", cache)
    print(f"{'run':>28} {'stage':>11} {'seconds':>8} {'rows in':>9} {'rows/s':>9} {'peak MB':>8}")
    for r in rows:
        print(f"{r['run']:>28} {r['stage']:>11} {r['seconds']:>8.1f} {r['rows_in']:>9,} {r['rows_per_s']:>9,.0f} "
              f"{r['peak_rss_mb']:>8,}")
    for label, seconds in totals.items():
        print(f"[bench] {label}: {seconds:.0f} s wall (process start to exit)")
    nightly = [label for label in totals if label.startswith("nightly")]
    if nightly:
        full = f"full-{max(args.sizes)}"
        print(f"[bench] nightly / full run time: {totals[nightly[0]] / totals[full]:.3f}")
    if len(args.sizes) >= 2:
        print("[bench] log-log slope of stage time against size (1 = linear):")
        for stage, slope in slopes(rows).items():
            print(f"  {stage:>11} {slope:5.2f}")
    print(f"[bench] wrote {args.out / 'pipeline.csv'} and {args.out / 'pipeline.html'}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
