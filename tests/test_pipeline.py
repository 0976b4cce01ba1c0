"""Pipeline loop and quality gate: failures are recorded, downstream stages are skipped."""

from datetime import date

import pytest
from pyspark.sql import functions as F

from reviewlake.context import RunParams
from reviewlake.errors import PipelineFailure, UserError
from reviewlake.pipeline import parse_stages, run_pipeline
from reviewlake.synthetic import generate


def test_parse_stages():
    assert parse_stages(None) == ("ingest", "clean", "quality", "sentences", "sentiment", "summarize", "tags",
                                  "qa", "recommend", "similarity", "anomalies")
    assert parse_stages("clean, ingest") == ("ingest", "clean")
    with pytest.raises(UserError, match="unknown stage"):
        parse_stages("ingest,bogus")


def test_gate_failure_stops_downstream_and_is_recorded(spark, config, lake, tmp_path):
    generate(400, 9, tmp_path / "in")
    params = RunParams(inputs=(str(tmp_path / "in" / "reviews.jsonl.gz"),), stages=("ingest", "clean"),
                       run_date=date(2026, 1, 1))
    run_pipeline(config, params, say=lambda _m: None, run_id="good")
    # Corrupt silver behind the pipeline's back: an e-mail address slips into a text.
    reviews = lake.read("silver.reviews")
    leaked = reviews.limit(1).withColumn("text", F.lit("write me at leak@example.com"))
    lake.merge("silver.reviews", leaked)
    failing = RunParams(stages=("clean", "quality"), run_date=date(2026, 1, 1))
    with pytest.raises(PipelineFailure, match="expect_column_values_to_not_match_regex"):
        run_pipeline(config, failing, say=lambda _m: None, run_id="bad")
    ledger = {(r["run_id"], r["job"]): r for r in lake.read("ops.pipeline_runs").collect()}
    assert ledger[("good", "ingest")]["status"] == "succeeded"
    assert ledger[("good", "clean")]["rows_in"] == ledger[("good", "ingest")]["rows_out"]
    assert ledger[("bad", "quality")]["status"] == "failed"
    assert "quality gate failed" in ledger[("bad", "quality")]["message"]
    assert (config.lake / "ops/gx/gx/uncommitted/data_docs/local_site/index.html").exists()
    # The failure names the column and the count, never the offending value (review data, here PII).
    assert "leak@example.com" not in ledger[("bad", "quality")]["message"]
    assert not [p for p in (config.lake / "ops/gx").rglob("*")
                if p.is_file() and "leak@example.com" in p.read_text(errors="ignore")]


def test_skipped_stages_are_recorded_after_a_failure(spark, config, lake, tmp_path):
    params = RunParams(inputs=(str(tmp_path / "absent.jsonl"),), stages=("ingest", "clean", "quality"))
    with pytest.raises(UserError, match="input not found"):
        run_pipeline(config, params, say=lambda _m: None, run_id="r")
    statuses = {r["job"]: r["status"] for r in lake.read("ops.pipeline_runs").collect()}
    assert statuses == {"ingest": "failed", "clean": "skipped", "quality": "skipped"}


def test_ledger_and_metric_times_are_utc_whatever_the_host_time_zone(spark, config, lake, monkeypatch, tmp_path):
    """PySpark turns a naive datetime into an instant with the host's zone: naive UTC stamps were shifted on any
    host not on UTC. Written under New York time, read back (delta-rs, UTC) they must be now."""
    import time
    from datetime import UTC, datetime, timedelta

    from tests.conftest import make_context, read_table

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        before = datetime.now(UTC)
        params = RunParams(inputs=(str(tmp_path / "absent.jsonl"),), stages=("ingest",))
        with pytest.raises(UserError):
            run_pipeline(config, params, say=lambda _m: None, run_id="tz")
        make_context(spark, config, "recommend", run_id="tz").record_metrics("d", {("m", "v1"): {"x": 1.0}})
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    ledger = read_table(config.lake, "ops.pipeline_runs").iloc[0]
    metrics = read_table(config.lake, "ops.model_metrics").iloc[0]
    for stamp in (ledger["started_at"], ledger["ended_at"], metrics["computed_at"]):
        written = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp
        assert abs(written - before) < timedelta(minutes=1), (stamp, before)


def test_a_retried_stage_replaces_its_skipped_row_and_keeps_the_failed_attempt(spark, config, lake):
    """Airflow: tags fails twice, qa is recorded skipped (once); the third attempt of tags and then qa succeed.
    The ledger ends with every attempt of tags and qa succeeded only (no stale 'skipped')."""
    from datetime import UTC, datetime

    from reviewlake.ledger import RunLedger

    ledger, started = RunLedger(lake), datetime.now(UTC)
    ledger.record(run_id="r1", job="tags", status="failed", started_at=started, params_json="{}", message="boom")
    ledger.record(run_id="r1", job="qa", status="skipped", started_at=started, params_json="{}")
    ledger.record(run_id="r1", job="tags", status="failed", started_at=started, params_json="{}", message="again")
    ledger.record(run_id="r1", job="qa", status="skipped", started_at=started, params_json="{}")   # once only
    ledger.record(run_id="r1", job="tags", status="succeeded", started_at=started, params_json="{}")
    ledger.record(run_id="r1", job="qa", status="succeeded", started_at=started, params_json="{}")
    rows = sorted((r["job"], r["status"]) for r in lake.read("ops.pipeline_runs").collect())
    assert rows == [("qa", "succeeded"), ("tags", "failed"), ("tags", "failed"), ("tags", "succeeded")]
    # A late "skipped" (another parent failing afterwards) does not stack on a stage that succeeded.
    ledger.record(run_id="r1", job="qa", status="skipped", started_at=started, params_json="{}")
    assert len(lake.read("ops.pipeline_runs").collect()) == 4


def test_ctrl_c_in_a_stage_is_recorded_as_interrupted_not_left_running(spark, config, lake, monkeypatch):
    import jobs.sentiment

    def interrupted(_ctx):
        raise KeyboardInterrupt

    monkeypatch.setattr(jobs.sentiment, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(config, RunParams(stages=("sentiment",), run_date=date(2026, 1, 1)), say=lambda _m: None,
                     run_id="ctrl-c")
    rows = lake.read("ops.pipeline_runs").collect()
    assert [(r["job"], r["status"]) for r in rows] == [("sentiment", "failed")]
    assert rows[0]["message"] == "interrupted (KeyboardInterrupt) before it finished"
