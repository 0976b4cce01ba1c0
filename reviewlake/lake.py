"""Delta I/O through delta-spark: the one interface stages use to read and write lake tables."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from reviewlake.tables import TableSpec, table_spec

MERGE_MODES = ("upsert", "insert_only", "fill_nulls", "revise")
REVISE_FLAG = "_revise"
FEED_GONE_MARKERS = ("DELTA_MISSING_CHANGE_DATA", "change data was not recorded", "FileNotFoundException",
                     "DELTA_CHANGE_DATA_FILE_NOT_FOUND", "FAILED_READ_FILE")


# Another writer's commit landed first: Delta's conflict errors (by class, or by name in a wrapped error).
CONFLICT_MARKERS = ("ConcurrentAppendException", "ConcurrentDeleteReadException", "ConcurrentDeleteDeleteException",
                    "MetadataChangedException", "ConcurrentTransactionException", "ProtocolChangedException",
                    "DELTA_CONCURRENT_")
CONFLICT_ATTEMPTS = 6
CONFLICT_PAUSE_S = 0.5
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriteResult:
    """What one write did to a table."""

    table: str
    version: int
    inserted: int
    updated: int


def is_write_conflict(error: BaseException) -> bool:
    """Delta refused a commit because another writer changed the table since this write read it."""
    from delta.exceptions import DeltaConcurrentModificationException

    return isinstance(error, DeltaConcurrentModificationException) or any(
        marker in str(error) for marker in CONFLICT_MARKERS)


class Lake:
    """Delta tables of the registry under one root directory."""

    def __init__(self, spark: SparkSession, root: Path) -> None:
        self.spark = spark
        self.root = Path(root).resolve()
        self.conflicts_retried = 0

    def path(self, name: str) -> str:
        return str(table_spec(name).path(self.root))

    def exists(self, name: str) -> bool:
        return DeltaTable.isDeltaTable(self.spark, self.path(name))

    def ensure(self, name: str) -> DeltaTable:
        """Create the table (schema, partitioning, properties from the registry) if it is missing; add the
        nullable columns the registry gained since an existing table was created (a column that must not be
        null cannot be filled for old rows: that is an error naming the table to rebuild)."""
        spec = table_spec(name)
        if self.exists(name):
            self._add_new_columns(spec)
            self._add_new_properties(spec)
        else:
            builder = (
                DeltaTable.createIfNotExists(self.spark)
                .location(self.path(name))
                .addColumns(spec.schema)
                .comment(spec.description)
            )
            if spec.partition_by:
                builder = builder.partitionedBy(*spec.partition_by)
            for key, value in spec.properties.items():
                builder = builder.property(key, value)
            builder.execute()
        return DeltaTable.forPath(self.spark, self.path(name))

    def _add_new_columns(self, spec: TableSpec) -> None:
        present = set(DeltaTable.forPath(self.spark, self.path(spec.name)).toDF().columns)
        added = [f for f in spec.schema.fields if f.name not in present]
        if not added:
            return
        required = [f.name for f in added if not f.nullable]
        if required:
            raise RuntimeError(f"{spec.name}: the registry now requires columns {required} that the existing "
                               "table lacks; rebuild the table (remove it and re-run its stage)")
        columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in added)
        self.spark.sql(f"ALTER TABLE delta.`{self.path(spec.name)}` ADD COLUMNS ({columns})")

    def _add_new_properties(self, spec: TableSpec) -> None:
        """Set registry properties an existing table lacks (e.g. a change data feed added to the registry)."""
        if not spec.properties:
            return
        current = DeltaTable.forPath(self.spark, self.path(spec.name)).detail().first()["properties"] or {}
        missing = {k: v for k, v in spec.properties.items() if current.get(k) != v}
        if missing:
            settings = ", ".join(f"'{k}' = '{v}'" for k, v in missing.items())
            self.spark.sql(f"ALTER TABLE delta.`{self.path(spec.name)}` SET TBLPROPERTIES ({settings})")

    def read(self, name: str, version: int | None = None) -> DataFrame:
        """The table as of `version` (latest when None); an empty frame of the right schema if missing."""
        if not self.exists(name):
            spec = table_spec(name)
            return self.spark.createDataFrame([], spec.schema)
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(self.path(name))

    def read_changes(self, name: str, after_version: int | None, until_version: int | None = None) -> DataFrame:
        """Rows inserted or updated after `after_version` up to `until_version` (latest when None), from the
        change data feed; the whole table (as of `until_version`) when `after_version` is None."""
        if after_version is None or not self.exists(name):
            return self.read(name, until_version)
        until = self.version(name) if until_version is None else until_version
        if until <= after_version:
            return self.read(name, until).limit(0)
        try:
            changes = (
                self.spark.read.format("delta")
                .option("readChangeFeed", "true")
                .option("startingVersion", after_version + 1)
                .option("endingVersion", until)
                .load(self.path(name))
                .where(F.col("_change_type").isin("insert", "update_postimage"))
            )
            changes.limit(1).collect()    # plans the read: fails here when the feed does not cover the range
        except Exception as error:   # noqa: BLE001 - AnalysisException or a JVM error, told apart by message
            if not any(marker in str(error) for marker in FEED_GONE_MARKERS):
                raise
            # The feed does not cover the range: switched on after `after_version` (a table older than its
            # registry entry), or its files vacuumed away (a stage that last ran before the retention window).
            # Every row counts as changed, which is safe, once.
            return self.read(name, until)
        return changes.drop("_change_type", "_commit_version", "_commit_timestamp")

    def version(self, name: str) -> int | None:
        """Latest version, or None if the table does not exist yet."""
        if not self.exists(name):
            return None
        return DeltaTable.forPath(self.spark, self.path(name)).history(1).first()["version"]

    def history(self, name: str, limit: int | None = None) -> DataFrame:
        """Delta history (version, timestamp, operation, metrics), newest first."""
        table = DeltaTable.forPath(self.spark, self.path(name))
        return table.history(limit) if limit else table.history()

    def merge(self, name: str, updates: DataFrame, mode: str = "upsert") -> WriteResult:
        """MERGE `updates` into the table on its registry key.

        mode "upsert" replaces matched rows; "insert_only" is an idempotent append (rows whose key exists
        are left alone, so a replayed batch adds nothing twice); "fill_nulls" only fills the null columns of
        matched rows (later, poorer sources never overwrite better ones); "revise" inserts new rows and
        replaces matched rows only where the updates' boolean column `_revise` is true (periods that late data
        changed), in one commit.
        """
        if mode not in MERGE_MODES:
            raise ValueError(f"merge mode must be one of {MERGE_MODES}, not {mode!r}")
        spec = table_spec(name)
        target = self.ensure(name)
        updates = _conform(updates, spec, passthrough=(REVISE_FLAG,) if mode == "revise" else ())
        condition = " AND ".join(f"t.`{k}` = u.`{k}`" for k in spec.keys)
        merge = target.alias("t").merge(updates.alias("u"), condition)
        if mode == "revise":
            merge = merge.whenMatchedUpdate(condition=f"u.{REVISE_FLAG}",
                                            set={c: f"u.`{c}`" for c in spec.schema.fieldNames()})
        elif mode == "upsert":
            merge = merge.whenMatchedUpdateAll()
        elif mode == "fill_nulls":
            values = [c for c in spec.schema.fieldNames() if c not in spec.keys]
            merge = merge.whenMatchedUpdate(
                condition=" OR ".join(f"(t.`{c}` IS NULL AND u.`{c}` IS NOT NULL)" for c in values),
                set={c: f"coalesce(t.`{c}`, u.`{c}`)" for c in values},
            )
        return self._commit(name, merge.whenNotMatchedInsertAll().execute)

    def replace_groups(self, name: str, rows: DataFrame, groups: DataFrame) -> WriteResult:
        """Make the rows of every group in `groups` (a frame of group-column values, e.g. review ids) exactly
        `rows`, in one MERGE: changed rows updated, new ones inserted, rows of those groups missing from `rows`
        deleted (a review that now has fewer sentences loses the old tail). Other groups are untouched."""
        spec = table_spec(name)
        target = self.ensure(name)
        rows = _conform(rows, spec)
        group_columns = groups.columns
        stale = (target.toDF().join(groups.distinct(), group_columns, "left_semi").select(*spec.keys)
                 .join(rows.select(*spec.keys), list(spec.keys), "left_anti"))
        source = rows.withColumn("_stale", F.lit(False)).unionByName(
            stale.withColumn("_stale", F.lit(True)), allowMissingColumns=True)
        values = {c: f"u.`{c}`" for c in spec.schema.fieldNames()}
        condition = " AND ".join(f"t.`{k}` = u.`{k}`" for k in spec.keys)
        merge = (target.alias("t").merge(source.alias("u"), condition)
                 .whenMatchedDelete(condition="u._stale")
                 .whenMatchedUpdate(set=values)
                 .whenNotMatchedInsert(condition="NOT u._stale", values=values))
        return self._commit(name, merge.execute)

    def append(self, name: str, rows: DataFrame) -> WriteResult:
        """Plain append (for tables whose rows are unique by construction, such as the run ledger)."""
        spec = table_spec(name)
        self.ensure(name)
        writer = _conform(rows, spec).write.format("delta").mode("append")
        return self._commit(name, lambda: writer.save(self.path(name)))

    def overwrite(self, name: str, rows: DataFrame) -> WriteResult:
        """Replace the table's content in one new version (history and time travel keep the old one)."""
        spec = table_spec(name)
        self.ensure(name)
        writer = _conform(rows, spec).write.format("delta").mode("overwrite")
        return self._commit(name, lambda: writer.save(self.path(name)))

    def _commit(self, name: str, write: Callable[[], object]) -> WriteResult:
        """Run one write; when another writer committed to the table first (Delta's optimistic concurrency
        refuses the commit, and nothing of it is in the table), run it again on the new version, up to
        CONFLICT_ATTEMPTS times with growing, jittered pauses. Every write here is safe to repeat: a MERGE
        re-reads the table, an append or overwrite adds its rows once."""
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            before = self.version(name)
            try:
                write()
            except Exception as error:
                if attempt == CONFLICT_ATTEMPTS or not is_write_conflict(error):
                    raise
                self.conflicts_retried += 1
                pause = CONFLICT_PAUSE_S * 2 ** (attempt - 1) * (0.5 + random.random())
                log.warning("%s: concurrent write conflict (%s); attempt %d of %d in %.1fs", name,
                            type(error).__name__, attempt + 1, CONFLICT_ATTEMPTS, pause)
                time.sleep(pause)
                continue
            if self.version(name) == before:
                # Delta commits nothing for a MERGE that changes nothing.
                return WriteResult(name, before, 0, 0)
            return self._last_write(name)
        raise AssertionError("unreachable")

    def _last_write(self, name: str) -> WriteResult:
        last = DeltaTable.forPath(self.spark, self.path(name)).history(1).first()
        metrics = last["operationMetrics"] or {}
        inserted = int(metrics.get("numTargetRowsInserted", metrics.get("numOutputRows", 0)))
        updated = int(metrics.get("numTargetRowsUpdated", 0))
        return WriteResult(name, last["version"], inserted, updated)


def _conform(rows: DataFrame, spec: TableSpec, passthrough: tuple[str, ...] = ()) -> DataFrame:
    """Select the registry's columns in order, cast to its types; extra columns are an error, not dropped
    (`passthrough` columns, e.g. a MERGE's own flag, are kept at the end)."""
    extra = set(rows.columns) - set(spec.schema.fieldNames()) - set(passthrough)
    if extra:
        raise ValueError(f"{spec.name}: columns not in the registry schema: {sorted(extra)}")
    return rows.select(
        *(
            (F.col(f.name) if f.name in rows.columns else F.lit(None)).cast(f.dataType).alias(f.name)
            for f in spec.schema.fields
        ),
        *passthrough,
    )
