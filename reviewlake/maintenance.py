"""Table maintenance: OPTIMIZE (compact small files) and VACUUM (delete files no version inside the retention
window needs) on every table of the lake, under the lake's writer lock.

VACUUM ends time travel to versions older than the retention window, and a concurrent writer that started
before the window could lose files it still reads: hence a floor of 7 days (Delta's own default check), lifted
only when the caller says so explicitly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from reviewlake.errors import UserError
from reviewlake.lake import Lake
from reviewlake.tables import REGISTRY

MIN_RETENTION_HOURS = 168
_RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"


@dataclass(frozen=True)
class Maintained:
    table: str
    files_before: int
    files_after: int
    files_removed_by_optimize: int
    seconds: float


def maintain(spark: SparkSession, lake: Lake, retention_hours: float = MIN_RETENTION_HOURS,
             allow_short_retention: bool = False, names: tuple[str, ...] = (),
             say: Callable[[str], None] = print) -> list[Maintained]:
    """OPTIMIZE then VACUUM each existing table of `names` (all registered tables by default)."""
    check_request(retention_hours, allow_short_retention, names)
    done = []
    previous_check = spark.conf.get(_RETENTION_CHECK, "true")
    spark.conf.set(_RETENTION_CHECK, "false" if allow_short_retention else "true")
    try:
        for name in names or tuple(REGISTRY):
            if not lake.exists(name):
                continue
            started = time.perf_counter()
            table = DeltaTable.forPath(spark, lake.path(name))
            before = _files(table)
            compacted = table.optimize().executeCompaction().first()["metrics"]["numFilesRemoved"]
            table.vacuum(retention_hours)
            after = _files(table)
            done.append(Maintained(name, before, after, int(compacted), time.perf_counter() - started))
            say(f"  {name}: {before} -> {after} data files ({compacted} compacted), vacuumed beyond "
                f"{retention_hours:g} h")
    finally:
        spark.conf.set(_RETENTION_CHECK, previous_check)
    return done


def check_request(retention_hours: float, allow_short_retention: bool, names: tuple[str, ...]) -> None:
    """UserError for a retention under 7 days without the explicit flag, a negative one, or unknown tables."""
    if retention_hours < 0:
        raise UserError("--retention-hours must not be negative")
    if retention_hours < MIN_RETENTION_HOURS and not allow_short_retention:
        raise UserError(f"--retention-hours {retention_hours:g} is under {MIN_RETENTION_HOURS} (7 days): time travel "
                        "and running readers would lose files; pass --allow-short-retention to do it anyway")
    unknown = sorted(set(names) - set(REGISTRY))
    if unknown:
        raise UserError(f"unknown table(s) {unknown}; known: {sorted(REGISTRY)}")


def _files(table: DeltaTable) -> int:
    return int(table.detail().first()["numFiles"])
