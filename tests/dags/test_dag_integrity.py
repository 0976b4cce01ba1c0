"""DAG integrity (Astronomer style): every DAG parses fast without errors, has no cycles, carries owner,
retries, timeouts, tags and docs; the stage tasks follow the pipeline's stage graph; the manual DAG's Params
are valid JSON schema and reject bad values."""

from datetime import timedelta

import pytest

from reviewlake.orchestration import dag_stages, gold_outputs, stage_graph

DAG_IDS = {"reviewlake_nightly", "reviewlake_manual"}


def test_every_dag_imports_without_errors_in_under_two_seconds(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dags) == DAG_IDS
    for stat in dagbag.dagbag_stats:
        assert stat.duration < timedelta(seconds=2), stat


@pytest.mark.parametrize("dag_id", sorted(DAG_IDS))
def test_dag_metadata_and_task_defaults(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.doc_md and dag.tags and dag.max_active_runs == 1 and not dag.catchup
    for task in dag.tasks:
        assert task.owner == "reviewlake", task
        assert task.execution_timeout is not None and task.execution_timeout <= timedelta(hours=1), task
        assert task.retries == (0 if task.task_id == "quality" else 2), task
        assert task.on_failure_callback, task


def _has_cycle(dag) -> bool:
    state: dict[str, int] = {}

    def visit(task_id: str) -> bool:
        state[task_id] = 1
        for child in dag.get_task(task_id).downstream_task_ids:
            if state.get(child) == 1 or (child not in state and visit(child)):
                return True
        state[task_id] = 2
        return False

    return any(visit(t) for t in dag.task_ids if t not in state)


@pytest.mark.parametrize("dag_id", sorted(DAG_IDS))
def test_no_cycles_and_stage_tasks_follow_the_stage_graph(dagbag, dag_id):
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    dag = dagbag.dags[dag_id]
    assert not _has_cycle(dag)
    for stage, upstream in stage_graph().items():
        task = dag.get_task(stage)
        assert isinstance(task, SparkSubmitOperator)
        assert task._conn_id == "spark_local"
        assert task.application.endswith(".py")
        assert {t for t in task.upstream_task_ids if t in dag_stages()} == set(upstream)
        assert {a.name for a in task.outlets} == set(gold_outputs(stage))
    assert set(stage_graph()["anomalies"]) == {"sentiment", "tags"}
    assert "--run-date={{ data_interval_end | ds }}" in dagbag.dags["reviewlake_nightly"].get_task(
        "ingest").application_args


def test_nightly_schedule_comes_from_the_environment(monkeypatch):
    import importlib.util

    from tests.dags.conftest import DAGS

    monkeypatch.setenv("REVIEWLAKE_NIGHTLY_CRON", "30 3 * * *")
    spec = importlib.util.spec_from_file_location("nightly_under_test", DAGS / "reviewlake_nightly.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.dag.timetable.expression == "30 3 * * *"


def test_manual_params_are_valid_json_schema_and_reject_bad_values(dagbag):
    import jsonschema
    from airflow.sdk.definitions.param import ParamsDict

    dag = dagbag.dags["reviewlake_manual"]
    for name in dag.params:
        param = dag.params.get_param(name)
        jsonschema.Draft7Validator.check_schema(param.schema)
        assert param.schema.get("title") and param.description, name
    defaults = dag.params.dump()
    ParamsDict({**{k: dag.params.get_param(k) for k in dag.params}}).validate()
    bad_values = {"stages": ["ingest", "bogus"], "run_date": "2024-13", "sentiment_tier": "slow",
                  "input_format": "xml", "generate_reviews": -5}
    for name, value in bad_values.items():
        params = ParamsDict({k: dag.params.get_param(k) for k in dag.params})
        with pytest.raises(Exception, match="(?i)invalid|not valid|validation|does not match|is not one of"):
            params[name] = value
            params.validate()
    assert defaults["stages"] == list(dag_stages())
    good = ParamsDict({k: dag.params.get_param(k) for k in dag.params})
    good["stages"], good["run_date"], good["generate_reviews"] = ["clean", "anomalies"], "2024-01-02", 500
    good.validate()


def test_an_unticked_stage_skips_itself_and_a_ticked_one_submits(dagbag, monkeypatch):
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
    from airflow.sdk.exceptions import AirflowSkipException

    task = dagbag.dags["reviewlake_manual"].get_task("clean")
    with pytest.raises(AirflowSkipException, match="'clean' was not ticked"):
        task.execute({"params": {"stages": ["ingest", "quality"]}})
    submitted = []
    monkeypatch.setattr(SparkSubmitOperator, "execute", lambda self, context: submitted.append(self.stage))
    task.execute({"params": {"stages": ["clean"]}})
    dagbag.dags["reviewlake_nightly"].get_task("clean").execute({"params": {}})
    assert submitted == ["clean", "clean"]
