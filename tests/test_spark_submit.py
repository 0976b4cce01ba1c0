"""A job module runs as a Spark application under spark-submit (what the Airflow DAGs will do)."""

import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

from reviewlake.synthetic import generate

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_ingest_job_under_spark_submit(tmp_path):
    bin_dir = Path(sys.executable).parent
    generate(200, 4, tmp_path / "in")
    options = subprocess.run([str(bin_dir / "reviewlake"), "submit-args", "--app-name", "ingest-test"],
                             capture_output=True, text=True, check=True).stdout.split("\n")
    lake = tmp_path / "lake"
    result = subprocess.run(
        [str(bin_dir / "spark-submit"), *[o for o in options if o], str(REPO / "jobs" / "ingest.py"),
         "--input", str(tmp_path / "in" / "reviews.jsonl.gz"), "--lake", str(lake), "--run-id", "submitted"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[ingest] done" in result.stdout
    lines = sum(1 for _ in __import__("gzip").open(tmp_path / "in" / "reviews.jsonl.gz"))
    assert DeltaTable(str(lake / "bronze/reviews_raw")).to_pandas().shape[0] == lines
    ledger = DeltaTable(str(lake / "ops/pipeline_runs")).to_pandas()
    assert ledger[["run_id", "job", "status"]].values.tolist() == [["submitted", "ingest", "succeeded"]]
