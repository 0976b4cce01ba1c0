"""What every stage receives (StageContext) and returns (StageResult)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from reviewlake.config import Config
from reviewlake.lake import Lake, WriteResult
from reviewlake.tables import table_spec

MODEL_METRICS = "ops.model_metrics"


@dataclass(frozen=True)
class RunParams:
    """User-facing parameters of one pipeline run (recorded verbatim in the ledger)."""

    inputs: tuple[str, ...] = ()
    input_format: str = "auto"
    products: str | None = None
    run_date: date = field(default_factory=date.today)
    stages: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, sort_keys=True)


@dataclass
class StageResult:
    """Counts and lineage of one stage run, written to ops.pipeline_runs."""

    rows_in: int = 0
    rows_out: int = 0
    rows_quarantined: int = 0
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)


# Write-audit-publish: {table: (stages that write or audit it)}; the last one is the gate whose passing run
# publishes a version to every other stage.
AUDITED_TABLES = {"silver.reviews": ("clean", "quality")}


@dataclass
class StageContext:
    """Spark session, lake, config and run identity handed to a stage; tracks table versions it touches."""

    spark: SparkSession
    lake: Lake
    config: Config
    run_id: str
    stage: str
    params: RunParams
    last_success: Callable[[str], dict[str, Any] | None]
    say: Callable[[str], None] = print
    tables_read: dict[str, int] = field(default_factory=dict)
    tables_written: dict[str, int] = field(default_factory=dict)

    @property
    def lake_root(self) -> Path:
        return self.lake.root

    def published_version(self, name: str) -> int | None:
        """The version of `name` this stage may read: the latest, except for an audited table (write-audit-
        publish) read downstream of its gate, where it is the newest version the gate passed. Rows written
        after that, not yet validated or failing validation, stay unseen until a gate run passes them. A lake
        whose gate has never passed (e.g. stages run one by one without it) reads the latest version."""
        latest = self.lake.version(name)
        if name not in AUDITED_TABLES or self.stage in AUDITED_TABLES[name] or latest is None:
            return latest
        audit = self.last_success(AUDITED_TABLES[name][-1])
        audited = None if audit is None else (audit.get("tables_read") or {}).get(name)
        return latest if audited is None else min(int(audited), latest)

    def read(self, name: str, version: int | None = None) -> DataFrame:
        """Read a table (its published version, or `version`) and remember the version read."""
        current = self.published_version(name) if version is None else version
        if current is not None:
            self.tables_read[name] = current
        return self.lake.read(name, current)

    def read_new(self, name: str) -> DataFrame:
        """Rows of `name` written since this stage last succeeded, up to the published version (all rows on the
        first run)."""
        previous = self.last_success(self.stage)
        after = None if previous is None else (previous.get("tables_read") or {}).get(name)
        current = self.published_version(name)
        if current is not None:
            self.tables_read[name] = current
        return self.lake.read_changes(name, after, current)

    def inputs_unchanged(self, *names: str) -> bool:
        """True when this stage last succeeded on exactly the current versions of `names` (a re-run is a no-op)."""
        previous = self.last_success(self.stage)
        if previous is None:
            return False
        before = previous.get("tables_read") or {}
        current = {name: self.published_version(name) for name in names}
        return all(before.get(name) == version for name, version in current.items() if version is not None)

    def record_metrics(self, dataset: str, metrics: dict[tuple[str, str], dict[str, float]]) -> None:
        """Append {(model, model_version): {metric: value}} measured on `dataset` to ops.model_metrics."""
        now = datetime.now(UTC)
        rows = [{"model": model, "model_version": version, "metric": name, "dataset": dataset,
                 "value": float(value), "computed_at": now, "run_id": self.run_id}
                for (model, version), values in metrics.items() for name, value in values.items()]
        if rows:
            self.append(MODEL_METRICS, self.spark.createDataFrame(rows, schema=table_spec(MODEL_METRICS).schema))

    def _written(self, result: WriteResult) -> WriteResult:
        self.tables_written[result.table] = result.version
        return result

    def merge(self, name: str, rows: DataFrame, mode: str = "upsert") -> WriteResult:
        """MERGE on the table key; see Lake.merge for the modes."""
        return self._written(self.lake.merge(name, rows, mode))

    def replace_groups(self, name: str, rows: DataFrame, groups: DataFrame) -> WriteResult:
        """Replace the rows of the given groups; see Lake.replace_groups."""
        return self._written(self.lake.replace_groups(name, rows, groups))

    def append(self, name: str, rows: DataFrame) -> WriteResult:
        return self._written(self.lake.append(name, rows))

    def overwrite(self, name: str, rows: DataFrame) -> WriteResult:
        return self._written(self.lake.overwrite(name, rows))
