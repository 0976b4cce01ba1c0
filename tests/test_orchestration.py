"""Airflow-facing helpers without Airflow: the stage graph, input-path checks, dependants recorded as skipped."""

from datetime import date

import pytest

from reviewlake.errors import UserError
from reviewlake.orchestration import prepare_manual_input, resolve_input
from reviewlake.pipeline import downstream_stages, upstream_stages

ALL = ("ingest", "clean", "quality", "sentences", "sentiment", "summarize", "tags", "qa", "recommend",
       "similarity", "anomalies")


def test_stage_graph_looks_through_stages_that_are_not_available():
    built = ("ingest", "clean", "quality", "sentences", "sentiment", "recommend", "similarity", "anomalies")
    assert upstream_stages("similarity", ALL) == ("tags",)
    assert upstream_stages("similarity", built) == ("sentences", "sentiment")
    assert upstream_stages("summarize", ("quality", "sentiment", "summarize")) == ("quality", "sentiment")
    assert downstream_stages("quality", built) == ("sentences", "sentiment", "recommend", "similarity", "anomalies")
    assert downstream_stages("recommend", built) == ()
    assert downstream_stages("tags", ALL) == ("qa", "similarity", "anomalies")
    assert upstream_stages("qa", ALL) == ("tags", "summarize")


@pytest.fixture
def allowed(tmp_path):
    root = tmp_path / "allowed"
    (root / "batch").mkdir(parents=True)
    (root / "batch" / "a.jsonl").write_text("{}\n")
    (root / "batch" / "b.jsonl").write_text("{}\n")
    (tmp_path / "secret.jsonl").write_text("{}\n")
    return root


def test_resolve_input_accepts_paths_and_globs_inside_the_root(allowed):
    assert resolve_input("batch/a.jsonl", allowed) == str(allowed / "batch" / "a.jsonl")
    assert resolve_input(str(allowed / "batch"), allowed) == str(allowed / "batch")
    assert resolve_input("batch/*.jsonl", allowed) == str(allowed / "batch" / "*.jsonl")


@pytest.mark.parametrize("path, reason", [
    ("../secret.jsonl", "contains '..'"),
    ("batch/../../secret.jsonl", "contains '..'"),
    ("/etc/passwd", "outside the allowed root"),
    ("/tmp/*.jsonl", "outside the allowed root"),
    ("batch/missing.jsonl", "does not exist"),
    ("batch/*.csv", "matches no files"),
    ("", "input_path is empty"),
])
def test_resolve_input_rejects_with_a_reason(allowed, path, reason):
    with pytest.raises(UserError, match=reason):
        resolve_input(path, allowed)


def test_symlink_out_of_the_root_is_rejected(allowed, tmp_path):
    (allowed / "link.jsonl").symlink_to(tmp_path / "secret.jsonl")
    with pytest.raises(UserError, match="outside the allowed root"):
        resolve_input("link.jsonl", allowed)


def test_a_link_inside_an_allowed_directory_or_glob_cannot_reach_outside(allowed, tmp_path):
    """The directory and the glob are inside the root, but ingest would follow the link in them (the check
    used to look at the directory and at the glob's matches unresolved)."""
    secret = tmp_path / "elsewhere" / "secret.jsonl"
    secret.parent.mkdir()
    secret.write_text("{}\n")
    (allowed / "batch" / "c.jsonl").symlink_to(secret)
    for spec in ("batch", "batch/*.jsonl"):
        with pytest.raises(UserError, match="elsewhere/secret.jsonl, outside the allowed root"):
            resolve_input(spec, allowed)


def test_prepare_manual_input_generates_synthetic_data_once(tmp_path, monkeypatch):
    monkeypatch.setenv("REVIEWLAKE_ALLOWED_INPUT_ROOT", str(tmp_path))
    first = prepare_manual_input({"generate_reviews": 120, "seed": 3, "stages": ["ingest"]})
    assert first["input"].startswith(str(tmp_path)) and first["products"].endswith("products.jsonl")
    stamp = (tmp_path / "synthetic-120-s3" / "ground_truth.json").stat().st_mtime_ns
    assert prepare_manual_input({"generate_reviews": 120, "seed": 3}) == first
    assert (tmp_path / "synthetic-120-s3" / "ground_truth.json").stat().st_mtime_ns == stamp


def test_failed_stage_records_its_dependants_skipped(spark, config, lake, tmp_path):
    from reviewlake.context import RunParams
    from reviewlake.errors import PipelineFailure
    from reviewlake.pipeline import run_pipeline

    # quality on an empty lake fails (no silver.reviews); the Airflow task would record its dependants.
    with pytest.raises((PipelineFailure, UserError)):
        run_pipeline(config, RunParams(stages=("quality",), run_date=date(2024, 1, 1)), say=lambda _m: None,
                     run_id="dag-run-1", skip_on_failure=("sentiment", "anomalies"))
    ledger = {r["job"]: r["status"] for r in lake.read("ops.pipeline_runs").collect()}
    assert ledger == {"quality": "failed", "sentiment": "skipped", "anomalies": "skipped"}
