"""CLI contract: exit code 2 with one clear line for user mistakes; SQL and tables without Spark."""

import subprocess
import sys
from datetime import datetime

import pytest

from queries.sql import query, table_summaries


def reviewlake(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "reviewlake.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


@pytest.mark.parametrize(("args", "message"), [
    (["run", "--input", "/definitely/not/here.jsonl"], "input not found"),
    (["run", "--input", ".", "--stages", "ingest,nope"], "unknown stage"),
    (["run", "--input", ".", "--format", "parquet"], "unknown format"),
    (["run", "--input", ".", "--run-date", "yesterday"], "--run-date"),
    (["history", "gold.nothing"], "unknown table"),
    (["sql", "SELECT * FROM silver.reviews"], "does not exist yet"),
    (["generate", "--format", "xml"], "--format must be"),
])
def test_user_errors_exit_2_without_traceback(tmp_path, args, message):
    result = reviewlake(*args, "--lake", str(tmp_path / "lake")) if args[0] in ("run", "history", "sql") else (
        reviewlake(*args, "--out", str(tmp_path)))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cluster_run_without_a_cluster_or_with_a_bad_input_exits_2(tmp_path):
    no_cluster = reviewlake("cluster", "run", "--stages", "clean", "--dir", str(tmp_path / "none"), "--lake",
                            str(tmp_path / "lake"))
    assert no_cluster.returncode == 2 and "no local cluster is running" in no_cluster.stderr, no_cluster.stderr
    bad_input = reviewlake("cluster", "run", "--master", "spark://127.0.0.1:1", "--input", str(tmp_path / "nope.json"),
                           "--lake", str(tmp_path / "lake"))
    assert bad_input.returncode == 2 and "input not found" in bad_input.stderr, bad_input.stderr
    for result in (no_cluster, bad_input):
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    status = reviewlake("cluster", "status", "--dir", str(tmp_path / "none"))
    assert status.returncode == 1 and "no local cluster is running" in status.stdout


def test_bad_option_exits_2(tmp_path):
    result = reviewlake("generate", "--reviews", "three")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_sql_and_tables_read_the_lake_without_spark(spark, lake):
    frame = spark.createDataFrame([("p1", "T", "Toys", "m", datetime(2024, 1, 1))],
                                  "product_id string, title string, category string, category_source string, "
                                  "updated_at timestamp")
    lake.merge("silver.products", frame)
    assert query(lake.root, "SELECT category, count(*) AS n FROM silver.products GROUP BY 1").to_pylist() == [
        {"category": "Toys", "n": 1}]
    assert [(t["table"], t["rows"]) for t in table_summaries(lake.root)] == [("silver.products", 1)]
    result = reviewlake("sql", "SELECT product_id FROM silver.products", "--lake", str(lake.root), "--output", "csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["product_id", "p1"]


def test_base_model_without_its_data_is_a_user_error(tmp_path):
    result = reviewlake("base-model", "--data", str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert "pass --data DIR" in result.stderr and "Traceback" not in result.stderr
    quiet = reviewlake("base-model", "--data", str(tmp_path), "--quiet")   # ./dev on a machine without the data
    assert quiet.returncode == 0 and quiet.stdout == ""
