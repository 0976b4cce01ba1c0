"""Run ledger: one ops.pipeline_runs row per stage run (running while it runs, then succeeded, failed or skipped)."""

from __future__ import annotations

import functools
import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyspark.sql import functions as F

from reviewlake import __version__
from reviewlake.lake import Lake
from reviewlake.tables import table_spec

LEDGER = "ops.pipeline_runs"
RUNNING = "running"
INTERRUPTED_MESSAGE = ("interrupted: the process ended without recording an outcome (killed, out of memory or "
                       "host lost); its writes are whole Delta commits or none, and a rerun redoes the stage")


@functools.cache
def code_version() -> str:
    """Git commit of the running code (REVIEWLAKE_CODE_VERSION wins, e.g. for a packaged deployment)."""
    if os.environ.get("REVIEWLAKE_CODE_VERSION"):
        return os.environ["REVIEWLAKE_CODE_VERSION"]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True,
            timeout=5, check=True,
        ).stdout.strip()
        return commit or f"reviewlake-{__version__}"
    except (OSError, subprocess.SubprocessError):
        return f"reviewlake-{__version__}"


class RunLedger:
    """Reads and appends ops.pipeline_runs."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def record(self, *, run_id: str, job: str, status: str, started_at: datetime, params_json: str,
               rows: tuple[int, int, int] = (0, 0, 0), tables_read: dict[str, int] | None = None,
               tables_written: dict[str, int] | None = None, message: str = "",
               details: dict[str, Any] | None = None) -> None:
        """Append one stage outcome; a naive ``started_at`` is taken as UTC."""
        ended_at = datetime.now(UTC)   # aware: PySpark reads a naive datetime as host-local time
        if started_at.tzinfo is None:
            started_at = started_at.replace(tzinfo=UTC)
        row = {
            "run_id": run_id, "job": job, "status": status, "started_at": started_at, "ended_at": ended_at,
            "duration_s": (ended_at - started_at).total_seconds(),
            "rows_in": rows[0], "rows_out": rows[1], "rows_quarantined": rows[2],
            "tables_read": tables_read or {}, "tables_written": tables_written or {},
            "params": params_json, "code_version": code_version(), "message": message[:4000],
            "details": json.dumps(details or {}, default=str, sort_keys=True),
        }
        frame = self.lake.spark.createDataFrame([row], schema=table_spec(LEDGER).schema)
        if status == RUNNING:
            # A blind append: no scan of the ledger on every stage start (the outcome below settles the rest).
            self.lake.append(LEDGER, frame)
            return
        same_stage = "t.run_id = s.run_id AND t.job = s.job"
        table = self.lake.ensure(LEDGER).alias("t")
        if status == "skipped":
            # Two failed upstream attempts (or two failed parents) skip a stage once, and never after it ran.
            (table.merge(frame.alias("s"), f"{same_stage} AND t.status IN ('skipped', 'succeeded')")
             .whenNotMatchedInsertAll().execute())
            return
        # The outcome replaces this attempt's "running" row (or is inserted) and drops the "skipped" row an
        # earlier attempt's failure left for an Airflow retry (failed attempts stay: they are the run's
        # history), in one commit.
        left_skipped = (F.col("t.run_id") == F.lit(run_id)) & (F.col("t.job") == F.lit(job)) & (
            F.col("t.status") == F.lit("skipped"))
        (table.merge(frame.alias("s"), f"{same_stage} AND t.status = '{RUNNING}'")
         .whenMatchedUpdateAll()
         .whenNotMatchedInsertAll()
         .whenNotMatchedBySourceDelete(condition=left_skipped).execute())

    def close_interrupted(self) -> int:
        """Turn the "running" rows of attempts that died without recording an outcome (SIGKILL, OOM, power) into
        failed rows saying so. Called under the lake's writer lock, when no other attempt can be running, and
        only when the lock says its last holder died (reviewlake.lake_lock.LockGrant)."""
        if not self.lake.exists(LEDGER):
            return 0
        from delta.tables import DeltaTable

        stale = self.lake.read(LEDGER).where(F.col("status") == RUNNING).count()
        if stale:
            DeltaTable.forPath(self.lake.spark, self.lake.path(LEDGER)).update(
                F.col("status") == RUNNING,
                {"status": F.lit("failed"), "message": F.lit(INTERRUPTED_MESSAGE)})
        return stale

    def last_success(self, job: str) -> dict[str, Any] | None:
        """The newest succeeded run of `job`, as a dict, or None."""
        if not self.lake.exists(LEDGER):
            return None
        row = (
            self.lake.read(LEDGER)
            .where((F.col("job") == job) & (F.col("status") == "succeeded"))
            .orderBy(F.col("ended_at").desc())
            .first()
        )
        return None if row is None else row.asDict(recursive=True)
