"""The one Airflow operator reviewlake adds: spark-submit of one stage, skipping itself when not chosen.

Imported only where Airflow is (DAG files, through reviewlake.orchestration.spark_stage_tasks).
"""

from __future__ import annotations

from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk.exceptions import AirflowSkipException


class StageSubmitOperator(SparkSubmitOperator):
    """SparkSubmitOperator for one pipeline stage; skipped when the run's `stages` param leaves it out.

    Branching cannot express "run the ticked stages of a graph": a branch never skips a task that is also
    downstream of a followed one. Each stage deciding for itself can, with trigger rule none_failed so a ticked
    stage still runs after unticked (skipped) upstream stages.
    """

    def __init__(self, *, stage: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stage = stage

    def execute(self, context: Any) -> Any:
        chosen = (context.get("params") or {}).get("stages")
        if chosen is not None and self.stage not in chosen:
            raise AirflowSkipException(f"stage {self.stage!r} was not ticked for this run (stages: {chosen})")
        return super().execute(context)
