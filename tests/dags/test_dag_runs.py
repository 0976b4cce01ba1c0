"""`airflow dags test` of the real DAGs through `./dev airflow` (SQLite, spark-submit in local mode): the manual
DAG end to end on synthetic reviews, a rejected input path, then the nightly DAG for a date as an idempotent
re-run over the same lake; the logs of both runs (every stage's spark-submit output) hold no personal data."""

import json
import os
import subprocess

import pytest
from deltalake import DeltaTable

from tests.dags.conftest import REPO
from tests.pii_scan import leaks, read_secrets

pytestmark = pytest.mark.slow


def _airflow(env: dict, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([str(REPO / "dev"), "airflow", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def _ledger(lake) -> list[dict]:
    return DeltaTable(str(lake / "ops" / "pipeline_runs")).to_pandas().to_dict("records")


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("airflow-runs")
    (root / "inputs").mkdir()
    return {**os.environ, "AIRFLOW_HOME": str(root / "home"), "REVIEWLAKE_LAKE": str(root / "lake"),
            "REVIEWLAKE_ALLOWED_INPUT_ROOT": str(root / "inputs"), "PYTHONWARNINGS": "ignore"}


def test_manual_dag_runs_every_stage_then_nightly_replays_as_no_op(airflow_env):
    from pathlib import Path

    from reviewlake.orchestration import dag_stages

    lake = Path(airflow_env["REVIEWLAKE_LAKE"])
    conf = {"generate_reviews": 2500, "seed": 11, "run_date": "2024-01-01", "sentiment_tier": "fast"}
    manual = _airflow(airflow_env, "dags", "test", "reviewlake_manual", "-c", json.dumps(conf))
    assert manual.returncode == 0, manual.stdout[-4000:] + manual.stderr[-4000:]
    runs = _ledger(lake)
    manual_run = {r["job"]: r for r in runs}
    assert {job: r["status"] for job, r in manual_run.items()} == {s: "succeeded" for s in dag_stages()}
    assert len({r["run_id"] for r in runs}) == 1 and runs[0]["run_id"].startswith("manual__")
    for table in ("gold/review_sentiment", "gold/user_recommendations", "gold/product_similarity",
                  "gold/metric_anomalies", "gold/product_faq"):
        assert len(DeltaTable(str(lake / table)).to_pandas()) > 0, table

    inputs = Path(airflow_env["REVIEWLAKE_ALLOWED_INPUT_ROOT"])
    nightly_env = {**airflow_env, "REVIEWLAKE_NIGHTLY_INPUT": str(inputs / "synthetic-2500-s11")}
    nightly = _airflow(nightly_env, "dags", "test", "reviewlake_nightly", "2024-01-02")
    assert nightly.returncode == 0, nightly.stdout[-4000:] + nightly.stderr[-4000:]
    nightly_run = {r["job"]: r for r in _ledger(lake) if r["run_id"] != runs[0]["run_id"]}
    assert {job: r["status"] for job, r in nightly_run.items()} == {s: "succeeded" for s in dag_stages()}
    assert nightly_run["ingest"]["rows_out"] == 0          # same files: content hashes make it a no-op
    assert nightly_run["recommend"]["message"].startswith("unchanged")
    assert nightly_run["qa"]["message"] == "no changes"
    assert json.loads(nightly_run["anomalies"]["params"])["run_date"] == "2024-01-02"
    # Each DAG's last task wrote its run's report.
    reports = list((lake / "reports").glob("run-report-*.html"))
    assert len(reports) == 2, reports
    assert all("Latest run: stage timeline" in report.read_text() for report in reports)

    # No personal data in the logs: what `dags test` printed and every log file Airflow kept.
    secrets = read_secrets(next((inputs / "synthetic-2500-s11").glob("*.json.gz")))
    assert secrets.planted and secrets.names and secrets.ids         # the input did carry some
    home = Path(airflow_env["AIRFLOW_HOME"])
    logs = {"manual output": manual.stdout + manual.stderr, "nightly output": nightly.stdout + nightly.stderr}
    logs |= {str(p.relative_to(home)): p.read_text(errors="ignore") for p in home.rglob("*")
             if p.is_file() and (p.suffix == ".log" or "logs" in p.relative_to(home).parts)}
    assert "[sentiment] done" in "\n".join(logs.values())               # the stages' own output was scanned
    leaked = {name: found[:5] for name, text in logs.items() if (found := leaks(text, secrets))}
    assert not leaked


def test_manual_dag_rejects_a_path_outside_the_allowed_root_with_one_clear_line(airflow_env):
    conf = {"input_path": "../../etc/passwd", "stages": ["ingest", "clean"]}
    result = _airflow(airflow_env, "dags", "test", "reviewlake_manual", "-c", json.dumps(conf), timeout=300)
    output = result.stdout + result.stderr
    assert "invalid parameters: input_path '../../etc/passwd' contains '..'" in output
    assert "reviewlake stage prepare_input failed" in output
    assert "spark-submit" not in output.split("invalid parameters")[1]   # nothing was submitted after it
