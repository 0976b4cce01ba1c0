"""
### reviewlake nightly

Ingests what landed in the nightly input directory and refreshes every table of the lake, one Spark
application per stage (`SparkSubmitOperator` on the `spark_local` connection: local mode by default; point the
connection at a cluster to scale out, nothing else changes).

* **Schedule**: `$REVIEWLAKE_NIGHTLY_CRON` (default `0 2 * * *`, UTC), no catch-up, one run at a time.
* **Input**: `$REVIEWLAKE_NIGHTLY_INPUT` (file, directory or glob; default `data/landing`). Files already
  ingested are recognised by content hash, so re-runs and backfills are idempotent.
* **Run date**: the data interval's end; stages treat it as "as of" (anomalies score complete days before it).
* **Assets**: every gold table is an Asset (`x-reviewlake://gold/<table>`), so downstream DAGs can be
  scheduled on them.
* A failed stage (e.g. the Great Expectations gate) fails its task with the reason; its dependants are not
  run and are recorded as skipped in `ops.pipeline_runs`.
* **Report**: the last task, `report`, writes the run report (`<lake>/reports/run-report-<run id>.html`, one
  self-contained HTML file) whatever the stages' outcome and logs its path.
"""

from __future__ import annotations

import os

from airflow.sdk import DAG

from reviewlake.orchestration import (
    COMMON_DAG_ARGS,
    REPO,
    common_stage_arguments,
    dag_stages,
    report_task,
    spark_stage_tasks,
)

NIGHTLY_INPUT = os.environ.get("REVIEWLAKE_NIGHTLY_INPUT", str(REPO / "data" / "landing"))
RUN_DATE = "{{ data_interval_end | ds }}"
STAGES = ",".join(dag_stages())

with DAG(
    dag_id="reviewlake_nightly",
    description="Nightly ingest and refresh of every reviewlake table",
    doc_md=__doc__,
    schedule=os.environ.get("REVIEWLAKE_NIGHTLY_CRON", "0 2 * * *"),
    **COMMON_DAG_ARGS,
    tags=["reviewlake", "spark", "nightly"],
) as dag:
    stage_specific = {
        "ingest": [f"--input={NIGHTLY_INPUT}"],
        "sentiment": ["--sentiment-tier=auto"],
    }
    report_task(spark_stage_tasks({stage: common_stage_arguments(stage, RUN_DATE, STAGES) +
                                   stage_specific.get(stage, []) for stage in dag_stages()}))
