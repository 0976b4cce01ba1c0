"""Crash-and-rerun soak: SIGKILL `reviewlake run` at randomised points inside its stages, rerun, and check the
lake ends identical to an uninterrupted run.

    python bench/soak.py [--kills 20] [--reviews 2000] [--seed 7] [--stages ingest,clean,...]

For each kill a `reviewlake run` starts in its own process group; once the run ledger shows the chosen stage
running, the harness waits a random 0-3 s and kills the whole group (Python driver and JVM) with SIGKILL. After
every kill it checks that no table holds part of a write (each table's row count is 0 or its final count: Delta
commits are all or nothing); the next run must get past the killed run's stale lake lock. A last run completes
the pipeline; then every table the stages publish (every stage by default) must have the content hash
(order-independent, run-specific columns left out) of a reference lake built by one uninterrupted run, and the
ledger must hold no "running" row and one "interrupted" failure per kill that landed inside a stage.
tests/reliability/test_crash_rerun.py runs 5 kills; this script runs more.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# Columns that name the run, the moment or the code/model stamp, not the content: they differ between any two runs.
RUN_SPECIFIC = re.compile(r"(^run_id$|_at$|batch_id$|model_version$|^pipeline_version$|^extractor$|^fingerprint$)")
SALT = "soak-salt"


def compared_tables(stages: tuple[str, ...]) -> tuple[str, ...]:
    """Every table the stages publish (reviewlake.pipeline.STAGE_OUTPUTS)."""
    from reviewlake.pipeline import STAGE_OUTPUTS

    return tuple(table for stage in stages for table in STAGE_OUTPUTS[stage])


@dataclass
class Kill:
    stage: str
    after_s: float
    killed: bool = False          # False when the run finished before the kill came
    rows_after: dict[str, int] = field(default_factory=dict)


def run_command(lake: Path, inputs: Path, stages: tuple[str, ...], run_date: str) -> list[str]:
    return [sys.executable, "-m", "reviewlake.cli", "run", "--input", str(inputs), "--stages", ",".join(stages),
            "--run-date", run_date, "--lake", str(lake)]


def environment() -> dict[str, str]:
    return {**os.environ, "REVIEWLAKE_PII_SALT": SALT, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}


def _ledger(lake: Path):
    from deltalake import DeltaTable

    path = lake / "ops" / "pipeline_runs"
    return DeltaTable(str(path)).to_pandas() if (path / "_delta_log").is_dir() else None


def _stage_running(lake: Path, stage: str, run_ids_before: set[str]) -> bool:
    try:
        ledger = _ledger(lake)
    except Exception:   # noqa: BLE001 - a commit being written: look again
        return False
    if ledger is None:
        return False
    mine = ledger[~ledger["run_id"].isin(run_ids_before)]
    return bool(((mine["job"] == stage) & (mine["status"] == "running")).any())


def killed_run(lake: Path, inputs: Path, stages: tuple[str, ...], run_date: str, kill: Kill,
               timeout_s: float = 600) -> Kill:
    """Start a run; SIGKILL its process group `kill.after_s` seconds after `kill.stage` shows as running."""
    ledger = _ledger(lake)
    before = set() if ledger is None else set(ledger["run_id"])
    process = subprocess.Popen(run_command(lake, inputs, stages, run_date), env=environment(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while process.poll() is None and time.monotonic() < deadline:
        if _stage_running(lake, kill.stage, before):
            time.sleep(kill.after_s)
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                kill.killed = True
            break
        time.sleep(0.2)
    process.wait(timeout=60)
    return kill


def full_run(lake: Path, inputs: Path, stages: tuple[str, ...], run_date: str) -> None:
    done = subprocess.run(run_command(lake, inputs, stages, run_date), env=environment(), capture_output=True,
                          text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"run failed ({done.returncode}): {done.stdout[-2000:]}{done.stderr[-2000:]}")


def content_hashes(spark, lake: Path, tables: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """(row count, order-independent hash of the rows' content) per table."""
    from pyspark.sql import functions as F

    from reviewlake.lake import Lake

    lake_tables = Lake(spark, lake)
    out = {}
    for name in tables:
        frame = lake_tables.read(name)
        columns = sorted(c for c in frame.columns if not RUN_SPECIFIC.search(c))
        row_hash = F.xxhash64(*[F.col(f"`{c}`").cast("string") for c in columns]).cast("decimal(38,0)")
        row = frame.agg(F.count("*").alias("n"), F.sum(row_hash).alias("h")).first()
        out[name] = (int(row["n"]), int(row["h"] or 0))
    return out


def row_counts(lake: Path, tables: tuple[str, ...]) -> dict[str, int]:
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    counts = {}
    for name in tables:
        path = lake / name.split(".")[0] / name.split(".")[1]
        try:
            counts[name] = DeltaTable(str(path)).to_pyarrow_dataset().count_rows()
        except TableNotFoundError:   # never created, or killed before its first commit: no table, no rows
            counts[name] = 0
    return counts


def crash_chain(lake: Path, inputs: Path, kills: int, seed: int, stages: tuple[str, ...],
                run_date: str = "2024-06-01", say=lambda _message: None) -> list[Kill]:
    """`kills` killed runs (each at a random point inside a random stage, every stage at least once when
    kills allow), then one complete run."""
    rng = random.Random(seed)
    targets = [*stages, *(rng.choice(stages) for _ in range(max(0, kills - len(stages))))][:kills]
    tables = compared_tables(stages)
    done = []
    for stage in targets:
        kill = killed_run(lake, inputs, stages, run_date, Kill(stage, round(rng.uniform(0.0, 3.0), 2)))
        kill.rows_after = row_counts(lake, tables)
        done.append(kill)
        say(f"kill {len(done)}/{kills} in {stage} +{kill.after_s:.2f}s: "
            f"{'killed' if kill.killed else 'the run finished first'}")
    full_run(lake, inputs, stages, run_date)
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--reviews", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--stages", default=None, help="comma-separated stages (default: every stage)")
    args = parser.parse_args()
    from reviewlake.config import load_config
    from reviewlake.ledger import INTERRUPTED_MESSAGE
    from reviewlake.pipeline import implemented_stages
    from reviewlake.spark import get_spark
    from reviewlake.synthetic import generate

    stages = tuple(args.stages.split(",")) if args.stages else implemented_stages()
    root = Path(tempfile.mkdtemp(prefix="reviewlake-soak-"))
    generate(args.reviews, args.seed, root / "in")
    started = time.perf_counter()
    full_run(root / "reference", root / "in", stages, "2024-06-01")
    print(f"reference run: {time.perf_counter() - started:.0f}s", flush=True)
    kills = crash_chain(root / "crashed", root / "in", args.kills, args.seed, stages,
                        say=lambda message: print(f"{time.perf_counter() - started:.0f}s {message}", flush=True))
    spark = get_spark(load_config(), "reviewlake-soak")
    tables = compared_tables(stages)
    reference = content_hashes(spark, root / "reference", tables)
    crashed = content_hashes(spark, root / "crashed", tables)
    final = {name: count for name, (count, _) in reference.items()}
    partial = [k for k in kills if any(n not in (0, final[t]) for t, n in k.rows_after.items())]
    ledger = _ledger(root / "crashed")
    interrupted = int((ledger["message"] == INTERRUPTED_MESSAGE).sum())
    for kill in kills:
        print(f"kill in {kill.stage:<10} +{kill.after_s:.2f}s  {'killed' if kill.killed else 'finished first'}  "
              f"rows after: {json.dumps(kill.rows_after)}")
    print(f"kills landed: {sum(k.killed for k in kills)} of {len(kills)}; interrupted attempts in the ledger: "
          f"{interrupted}; tables with a partial write after a kill: {len(partial)}; still 'running': "
          f"{int((ledger['status'] == 'running').sum())}")
    for name in tables:
        print(f"{name:<26} reference {reference[name]}  after kills {crashed[name]}  "
              f"{'identical' if reference[name] == crashed[name] else 'DIFFERENT'}")
    if reference != crashed or partial:
        sys.exit(1)


if __name__ == "__main__":
    main()
