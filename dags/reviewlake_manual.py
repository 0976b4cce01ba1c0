"""
### reviewlake manual run

Trigger from the UI with the form: run chosen stages on an input under the allowed root
(`$REVIEWLAKE_ALLOWED_INPUT_ROOT`, default `data/`), or generate synthetic reviews for a demo.

1. `prepare_input` checks the input path (inside the allowed root, no `..`, globs that stay inside it, the
   path exists) and fails with one clear line otherwise; or generates `generate_reviews` synthetic reviews.
2. Each ticked stage runs as a Spark application (`SparkSubmitOperator`), after the ticked stages it
   depends on; unticked stages show as skipped. A failed stage (e.g. the quality gate) stops its dependants
   and the ledger records them skipped.
3. `report` writes the run report (`<lake>/reports/run-report-<run id>.html`) whatever the stages' outcome.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param, TriggerRule, task

from reviewlake.orchestration import (
    COMMON_DAG_ARGS,
    INPUT_FORMATS,
    SENTIMENT_TIERS,
    common_stage_arguments,
    dag_stages,
    report_task,
    spark_stage_tasks,
)

RUN_DATE = "{{ params.run_date or (dag_run.run_after | ds) }}"
CHOSEN = "{{ params.stages | join(',') }}"
PREPARED = "ti.xcom_pull(task_ids='prepare_input')"

with DAG(
    dag_id="reviewlake_manual",
    description="Run chosen reviewlake stages on an input path, with validated parameters",
    doc_md=__doc__,
    schedule=None,
    # Without a schedule, "unpaused" only means a trigger runs: a fresh Airflow should not hold the first one.
    is_paused_upon_creation=False,
    **COMMON_DAG_ARGS,
    tags=["reviewlake", "spark", "manual"],
    params={
        # Optional text fields allow null: the form sends an emptied field as null, not "".
        "input_path": Param(None, type=["null", "string"], title="Input path",
                            description="File, directory or glob of reviews, relative to the allowed input root "
                                        "or absolute inside it. Ignored when 'Generate synthetic reviews' > 0.",
                            maxLength=1000, section="Input"),
        "input_format": Param("auto", type="string", enum=list(INPUT_FORMATS), title="Input format",
                              description="auto sniffs each file; or force amazon2014/2018/2023 JSONL or CSV.",
                              section="Input"),
        "products_path": Param(None, type=["null", "string"], title="Product metadata (optional)",
                               description="JSONL/CSV with product_id/asin, title, category; inside the allowed "
                                           "root.", maxLength=1000, section="Input"),
        "generate_reviews": Param(0, type="integer", minimum=0, maximum=2_000_000,
                                  title="Generate synthetic reviews",
                                  description="Above 0: generate this many deterministic synthetic reviews "
                                              "(with product metadata) and use them as the input.",
                                  section="Input"),
        "seed": Param(42, type="integer", minimum=0, title="Synthetic seed",
                      description="Seed of the generator: same seed and count, same data.", section="Input"),
        "stages": Param(list(dag_stages()), type="array", title="Stages",
                        description="Stages to run, in pipeline order; unticked ones are skipped.",
                        items={"type": "string", "enum": list(dag_stages())}, examples=list(dag_stages()),
                        minItems=1, uniqueItems=True, section="Run"),
        "run_date": Param(None, type=["null", "string"], format="date", title="Run date",
                          description="Logical 'as of' date of the run (YYYY-MM-DD); empty: the day the run starts.",
                          pattern=r"^\d{4}-\d{2}-\d{2}$", section="Run"),
        "sentiment_tier": Param("fast", type="string", enum=list(SENTIMENT_TIERS), title="Sentiment tier",
                                description="fast: n-gram model (seconds); transformer: MiniLM; auto: best "
                                            "macro-F1 within the time budget.", section="Run"),
    },
) as dag:

    @task
    def prepare_input(params: dict | None = None) -> dict:
        """Check the input path (or generate synthetic reviews); fails with one clear line on a bad path."""
        from airflow.exceptions import AirflowFailException

        from reviewlake.errors import UserError
        from reviewlake.orchestration import prepare_manual_input

        if "ingest" not in params["stages"]:
            return {"input": "", "products": "", "format": "auto"}
        try:
            return prepare_manual_input(params)
        except UserError as error:
            raise AirflowFailException(f"invalid parameters: {error}") from None

    stage_specific = {
        "ingest": ["{{ '--input=' ~ " + PREPARED + "['input'] }}", "{{ '--format=' ~ " + PREPARED + "['format'] }}",
                   "{{ '--products=' ~ " + PREPARED + "['products'] }}"],
        "sentiment": ["--sentiment-tier={{ params.sentiment_tier }}"],
    }
    stages = spark_stage_tasks(
        {stage: common_stage_arguments(stage, RUN_DATE, CHOSEN) + stage_specific.get(stage, [])
         for stage in dag_stages()},
        # A ticked stage runs when its upstream stages succeeded or were not ticked (skipped).
        trigger_rule=TriggerRule.NONE_FAILED,
    )
    prepare_input() >> stages["ingest"]
    report_task(stages)
