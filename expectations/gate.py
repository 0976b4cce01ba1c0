"""Quality gate stage: validate silver.reviews with Great Expectations; a failure stops downstream stages.

Uses GX 1.x's fluent API on its Spark datasource (data source -> dataframe asset -> batch definition ->
suite -> validation definition -> checkpoint). The GX project and its Data Docs live under
<lake>/ops/gx, so every lake carries its own validation history.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame

from expectations import silver_reviews
from reviewlake.context import StageContext, StageResult
from reviewlake.errors import QualityGateFailed

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

DATASOURCE = "reviewlake_spark"


@dataclass(frozen=True)
class GateResult:
    """Outcome of one validation."""

    success: bool
    failures: list[str]
    evaluated: int
    docs_index: Path


def gx_root(lake_root: Path) -> Path:
    return Path(lake_root) / "ops" / "gx"


def data_docs_index(lake_root: Path) -> Path:
    """Where the checkpoint's UpdateDataDocsAction writes the Data Docs site of a lake."""
    return gx_root(lake_root) / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"


def validate(frame: DataFrame, build_suite: Callable[[], Any], lake_root: Path, asset_name: str) -> GateResult:
    """Run the suite `build_suite()` returns on `frame`, through a checkpoint that also rebuilds Data Docs.

    The suite is built only once the GX context exists: GX 1.x refuses to assemble one without it.
    """
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=str(gx_root(lake_root)))
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_or_update_spark(name=DATASOURCE)
    asset = next((a for a in source.assets if a.name == asset_name), None) or source.add_dataframe_asset(
        name=asset_name)
    batch = next(iter(asset.batch_definitions), None) or asset.add_batch_definition_whole_dataframe("whole")
    suite = context.suites.add_or_update(build_suite())
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=asset_name, data=batch, suite=suite))
    checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
        name=f"{asset_name}_gate", validation_definitions=[definition],
        # No sample values: they are review data (names, ids, text) and would reach the Data Docs, the ledger and
        # the logs; counts and the column say what failed, silver.reviews holds the rows.
        actions=[UpdateDataDocsAction(name="update_data_docs")],
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": 0}))
    outcome = checkpoint.run(batch_parameters={"dataframe": frame})
    failures, evaluated = [], 0
    for run in outcome.run_results.values():
        for result in run.results:
            evaluated += 1
            if not result.success:
                config = result.expectation_config
                column = config.kwargs.get("column", "table")
                count, percent = result.result.get("unexpected_count"), result.result.get("unexpected_percent")
                share = f" ({percent:.2f} % of rows)" if isinstance(percent, float) else ""
                failures.append(f"{config.type}({column}): {count if count is not None else '?'} unexpected{share}")
    return GateResult(outcome.success, failures, evaluated, data_docs_index(lake_root))


def run(ctx: StageContext) -> StageResult:
    """Validate the current silver.reviews; raise QualityGateFailed listing each failed expectation."""
    reviews = ctx.read(silver_reviews.TABLE)
    result = validate(reviews, lambda: silver_reviews.build_suite(ctx.config.clean, ctx.params.run_date),
                      ctx.lake_root, silver_reviews.SUITE_NAME)
    rows = reviews.count()
    reviews.unpersist()  # GX's Spark datasource caches the frame it validated; later stages need the memory
    ctx.say(f"  {result.evaluated} expectations on {rows:,} rows; Data Docs: {result.docs_index}")
    if not result.success:
        raise QualityGateFailed(
            f"quality gate failed on {silver_reviews.TABLE}: {len(result.failures)} expectation(s) failed: "
            + "; ".join(result.failures) + f" (Data Docs: {result.docs_index})")
    return StageResult(rows_in=rows, rows_out=rows, message="all expectations met",
                       details={"expectations": result.evaluated, "data_docs": str(result.docs_index)})


if __name__ == "__main__":
    from reviewlake.cli import run_stage_main

    run_stage_main("quality")
