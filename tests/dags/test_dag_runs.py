"""`airflow dags test` of the real DAGs through `./dev airflow` (SQLite): the manual DAG end to end on synthetic
reviews with every stage submitted to a Spark standalone cluster (a master and two workers on 127.0.0.1, the
code shipped to the executors as an archive), its gold and silver tables equal to a local-mode run of the same
input; a rejected input path; then the nightly DAG (local mode) for a date as an idempotent re-run over the
same lake. The logs of both runs (every stage's spark-submit output) hold no personal data."""

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable
from pyspark.find_spark_home import _find_spark_home

from bench.soak import RUN_SPECIFIC
from tests.conftest import free_port
from tests.dags.conftest import REPO
from tests.pii_scan import leaks, read_secrets

pytestmark = pytest.mark.slow


def _airflow(env: dict, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([str(REPO / "dev"), "airflow", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def _ledger(lake) -> list[dict]:
    return DeltaTable(str(lake / "ops" / "pipeline_runs")).to_pandas().to_dict("records")


def _airflow_environment(root: Path) -> dict:
    """An Airflow home, lake and allowed input root of their own under `root`."""
    (root / "inputs").mkdir()
    return {**os.environ, "AIRFLOW_HOME": str(root / "home"), "REVIEWLAKE_LAKE": str(root / "lake"),
            "REVIEWLAKE_ALLOWED_INPUT_ROOT": str(root / "inputs"), "PYTHONWARNINGS": "ignore"}


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory):
    return _airflow_environment(tmp_path_factory.mktemp("airflow-runs"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A Spark standalone cluster on 127.0.0.1: a master and two one-core workers."""
    from reviewlake.cluster import start_cluster, stop_cluster

    root = tmp_path_factory.mktemp("cluster")
    state = start_cluster(root, workers=2, cores_per_worker=1, memory_per_worker="2g", port=free_port(),
                          web_port=free_port(), say=lambda _m: None)
    yield state
    stop_cluster(root, say=lambda _m: None)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in state.pids)   # nothing left behind


PROBE = """
import sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
where = spark.sparkContext.parallelize(range(4), 4).map(lambda _: __import__("udfs").__file__).distinct().collect()
print("EXECUTOR_CODE=" + ",".join(where))
"""


def test_executors_import_the_shipped_code_archive_not_the_installed_package(cluster, base_config, tmp_path):
    from reviewlake.cluster import code_archive, executor_code_conf

    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    conf = executor_code_conf(str(code_archive(base_config)))
    command = [str(Path(_find_spark_home()) / "bin" / "spark-submit"), "--master", cluster.master_url]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    done = subprocess.run([*command, str(probe)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    where = re.search(r"EXECUTOR_CODE=(.*)", done.stdout).group(1).split(",")
    assert where and all(path.startswith(cluster.root) and "/reviewlake_code/udfs/" in path for path in where), where


def test_cluster_run_submits_stages_to_the_cluster(cluster, tmp_path):
    from reviewlake.synthetic import generate

    truth = generate(300, 4, tmp_path / "in")
    lake = tmp_path / "lake"
    done = subprocess.run([sys.executable, "-m", "reviewlake.cli", "cluster", "run", "--master", cluster.master_url,
                           "--stages", "ingest", "--run-date", "2024-01-01", "--input",
                           str(tmp_path / "in" / truth["reviews_file"]), "--lake", str(lake)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"[ingest] spark-submit to {cluster.master_url}" in done.stdout
    runs = DeltaTable(str(lake / "ops" / "pipeline_runs")).to_pandas()
    assert runs[["job", "status"]].values.tolist() == [["ingest", "succeeded"]]
    with gzip.open(tmp_path / "in" / truth["reviews_file"], "rt", errors="replace") as reviews:
        lines = sum(1 for _ in reviews)
    assert len(DeltaTable(str(lake / "bronze" / "reviews_raw")).to_pandas()) == runs["rows_out"].iloc[0] == lines


def _comparable(lake: Path, table: str) -> pd.DataFrame:
    """A table's content without run-specific columns (run ids, times, model version stamps), in a fixed order."""
    frame = DeltaTable(str(lake / table)).to_pandas()
    frame = frame[[c for c in sorted(frame.columns) if not RUN_SPECIFIC.search(c)]]
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(lambda v: json.dumps(v.tolist() if hasattr(v, "tolist") else v,
                                                                   default=str, sort_keys=True))
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


COMPARED = ("silver/reviews", "silver/products", "silver/quarantine", "silver/review_sentences",
            "gold/review_sentiment", "gold/product_summaries", "gold/product_tags", "gold/tag_vocabulary",
            "gold/product_faq", "gold/user_recommendations", "gold/product_similarity", "gold/metric_anomalies",
            "gold/product_ts_clusters")


CI_STAGES = ("ingest", "clean", "quality", "sentiment")
CI_COMPARED = ("silver/reviews", "silver/products", "silver/quarantine", "gold/review_sentiment")


def _submit_manual_dag(env: dict, cluster, conf: dict) -> subprocess.CompletedProcess:
    host, port = cluster.master_url.rsplit(":", 1)
    on_cluster = {**env, "AIRFLOW_CONN_SPARK_LOCAL": json.dumps(
        {"conn_type": "spark", "host": host, "port": int(port), "extra": {"deploy-mode": "client"}})}
    manual = _airflow(on_cluster, "dags", "test", "reviewlake_manual", "-c", json.dumps(conf), timeout=2400)
    assert manual.returncode == 0, manual.stdout[-4000:] + manual.stderr[-4000:]
    return manual


def _run_locally(base_config, lake: Path, generated: Path, local_lake: Path, stages: tuple[str, ...]):
    from dataclasses import replace
    from datetime import date

    from reviewlake.context import RunParams
    from reviewlake.pipeline import run_pipeline

    # The same PII salt, or the pseudonymised user ids would differ.
    local = replace(base_config, lake=local_lake,
                    pii_salt=(lake / "ops" / "_secrets" / "pii_salt").read_text().strip())
    params = RunParams(inputs=(str(generated / "reviews.jsonl.gz"),), products=str(generated / "products.jsonl"),
                       stages=stages, run_date=date(2024, 1, 1), options={"sentiment_tier": "fast"})
    run_pipeline(local, params, say=lambda _m: None)


def test_manual_dag_stages_on_a_cluster_equal_local_mode_and_log_no_personal_data(tmp_path_factory, cluster, spark,
                                                                                  base_config, tmp_path):
    """CI's size: the manual DAG's ingest, clean, quality gate and sentiment (Python UDFs and Delta MERGEs on
    the executors) submitted to the cluster; every stage on it is the `long` test below."""
    from reviewlake.cluster import master_status

    root = tmp_path_factory.mktemp("airflow-cluster-ci")
    env = _airflow_environment(root)
    lake = root / "lake"
    conf = {"generate_reviews": 600, "seed": 12, "run_date": "2024-01-01", "sentiment_tier": "fast",
            "stages": list(CI_STAGES)}
    manual = _submit_manual_dag(env, cluster, conf)
    applications = {app["name"] for app in master_status(cluster.web_url)["completedapps"]}
    assert {f"reviewlake-{stage}" for stage in CI_STAGES} <= applications, sorted(applications)
    runs = _ledger(lake)
    assert {r["job"]: r["status"] for r in runs} == {s: "succeeded" for s in CI_STAGES}
    assert len(DeltaTable(str(lake / "gold" / "review_sentiment")).to_pandas()) > 0

    generated = root / "inputs" / "synthetic-600-s12"
    _run_locally(base_config, lake, generated, tmp_path / "local-lake", CI_STAGES)
    for table in CI_COMPARED:
        pd.testing.assert_frame_equal(_comparable(lake, table), _comparable(tmp_path / "local-lake", table),
                                      check_exact=False, rtol=1e-5, obj=table)

    secrets = read_secrets(generated / "reviews.jsonl.gz")
    assert secrets.planted and secrets.names and secrets.ids         # the input did carry some
    home = Path(env["AIRFLOW_HOME"])
    logs = {"manual output": manual.stdout + manual.stderr}
    logs |= {str(p.relative_to(home)): p.read_text(errors="ignore") for p in home.rglob("*")
             if p.is_file() and (p.suffix == ".log" or "logs" in p.relative_to(home).parts)}
    assert "[sentiment] done" in "\n".join(logs.values())               # the stages' own output was scanned
    leaked = {name: found[:5] for name, text in logs.items() if (found := leaks(text, secrets))}
    assert not leaked


@pytest.mark.long
def test_manual_dag_on_a_cluster_equals_local_mode_then_nightly_replays_as_no_op(airflow_env, cluster, spark,
                                                                                  base_config, tmp_path):
    from reviewlake.cluster import master_status
    from reviewlake.orchestration import dag_stages

    lake = Path(airflow_env["REVIEWLAKE_LAKE"])
    conf = {"generate_reviews": 1000, "seed": 11, "run_date": "2024-01-01", "sentiment_tier": "fast"}
    manual = _submit_manual_dag(airflow_env, cluster, conf)
    applications = {app["name"]: app for app in master_status(cluster.web_url)["completedapps"]}
    assert {f"reviewlake-{stage}" for stage in dag_stages()} <= set(applications), sorted(applications)
    runs = _ledger(lake)
    manual_run = {r["job"]: r for r in runs}
    assert {job: r["status"] for job, r in manual_run.items()} == {s: "succeeded" for s in dag_stages()}
    assert len({r["run_id"] for r in runs}) == 1 and runs[0]["run_id"].startswith("manual__")
    for table in ("gold/review_sentiment", "gold/user_recommendations", "gold/product_similarity",
                  "gold/metric_anomalies", "gold/product_faq"):
        assert len(DeltaTable(str(lake / table)).to_pandas()) > 0, table

    # The same input through every stage in local mode, in this process: the same tables.
    inputs = Path(airflow_env["REVIEWLAKE_ALLOWED_INPUT_ROOT"])
    generated = inputs / "synthetic-1000-s11"
    _run_locally(base_config, lake, generated, tmp_path / "local-lake", dag_stages())
    for table in COMPARED:
        pd.testing.assert_frame_equal(_comparable(lake, table), _comparable(tmp_path / "local-lake", table),
                                      check_exact=False, rtol=1e-5, obj=table)

    nightly_env = {**airflow_env, "REVIEWLAKE_NIGHTLY_INPUT": str(inputs / "synthetic-1000-s11")}
    nightly = _airflow(nightly_env, "dags", "test", "reviewlake_nightly", "2024-01-02", timeout=1800)
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
    secrets = read_secrets(generated / "reviews.jsonl.gz")
    assert secrets.planted and secrets.names and secrets.ids         # the input did carry some
    home = Path(airflow_env["AIRFLOW_HOME"])
    logs = {"manual output": manual.stdout + manual.stderr, "nightly output": nightly.stdout + nightly.stderr}
    logs |= {str(p.relative_to(home)): p.read_text(errors="ignore") for p in home.rglob("*")
             if p.is_file() and (p.suffix == ".log" or "logs" in p.relative_to(home).parts)}
    assert "[sentiment] done" in "\n".join(logs.values())               # the stages' own output was scanned
    leaked = {name: found[:5] for name, text in logs.items() if (found := leaks(text, secrets))}
    assert not leaked


def test_manual_dag_rejects_a_path_outside_the_allowed_root_with_one_clear_line(tmp_path):
    airflow_env = _airflow_environment(tmp_path)   # its own, so the lake is certainly empty
    conf = {"input_path": "../../etc/passwd", "stages": ["ingest", "clean"]}
    result = _airflow(airflow_env, "dags", "test", "reviewlake_manual", "-c", json.dumps(conf), timeout=300)
    output = result.stdout + result.stderr
    assert "invalid parameters: input_path '../../etc/passwd' contains '..'" in output
    assert "reviewlake stage prepare_input failed" in output
    assert "spark-submit" not in output.split("invalid parameters")[1]   # nothing was submitted after it
    # A stopped run on an empty lake has nothing to report; the report task says so instead of failing and retrying.
    assert not Path(airflow_env["REVIEWLAKE_LAKE"]).exists()
    assert "run report: none, the lake" in output
    assert "up_for_retry" not in output
