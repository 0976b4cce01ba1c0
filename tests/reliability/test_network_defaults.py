"""Nothing listens beyond this machine unless told to: the API, the Thrift/JDBC server, the local Airflow
api-server and local Spark bind to 127.0.0.1 by default, and the Spark UI is off; and no credentials are
committed."""

from __future__ import annotations

import inspect
from pathlib import Path

from reviewlake import cli
from reviewlake.config import load_config
from reviewlake.spark import spark_conf

REPO = Path(__file__).resolve().parents[2]


def test_servers_bind_to_the_loopback_interface_by_default():
    assert inspect.signature(cli.serve).parameters["host"].default == "127.0.0.1"
    assert inspect.signature(cli.catalog_thriftserver).parameters["host"].default == "127.0.0.1"
    dev = (REPO / "dev").read_text()
    assert "AIRFLOW__API__HOST=${AIRFLOW__API__HOST:-127.0.0.1}" in dev


def test_local_spark_has_no_ui_and_stays_on_loopback(tmp_path, monkeypatch):
    monkeypatch.delenv("REVIEWLAKE_SPARK_UI", raising=False)
    config = load_config(env={}).with_lake(tmp_path)
    conf = spark_conf(config)
    assert conf["spark.ui.enabled"] == "false" and conf["spark.master"].startswith("local")
    source = inspect.getsource(__import__("reviewlake.spark", fromlist=["get_spark"]).get_spark)
    assert 'os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")' in source


def test_no_credentials_in_the_repository():
    """Private keys, cloud access keys and literal passwords or API keys in any tracked text file."""
    import re
    import subprocess

    pattern = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16}|"
                         r"(?i:password|passwd|secret|api_key|apikey)[\"']?\s*[:=]\s*[\"'][^\"'\s]{6,}[\"']")
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    found = []
    for name in tracked:
        path = REPO / name
        if path.suffix in (".gz", ".png", ".npz") or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        found += [f"{name}: {m.group()[:40]}" for m in pattern.finditer(text)]
    assert not found, found
