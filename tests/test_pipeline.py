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


def test_skipped_stages_are_recorded_after_a_failure(spark, config, lake, tmp_path):
    params = RunParams(inputs=(str(tmp_path / "absent.jsonl"),), stages=("ingest", "clean", "quality"))
    with pytest.raises(UserError, match="input not found"):
        run_pipeline(config, params, say=lambda _m: None, run_id="r")
    statuses = {r["job"]: r["status"] for r in lake.read("ops.pipeline_runs").collect()}
    assert statuses == {"ingest": "failed", "clean": "skipped", "quality": "skipped"}
