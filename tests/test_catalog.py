"""Analyst views through DuckDB (`reviewlake sql`) and the Spark SQL catalog (`reviewlake catalog sync`, then
Spark SQL in a separate process, as an analyst's session would be, then JDBC through the Thrift server and
pyspark's beeline) over a copy of the full synthetic lake."""

import csv
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyspark.find_spark_home import _find_spark_home

from queries.sql import query
from reviewlake.errors import UserError
from tests.conftest import free_port, read_table


def _cli(*arguments: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "reviewlake.cli", *arguments], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_analyst_views_in_duckdb_agree_with_the_tables(full_lake):
    config, _, _ = full_lake
    scorecard = query(config.lake, "SELECT * FROM analyst.product_scorecard").to_pandas().set_index("product_id")
    summaries = read_table(config.lake, "gold.product_summaries")
    assert set(scorecard.index) == set(summaries["product_id"])
    tags = read_table(config.lake, "gold.product_tags")
    counted = tags.groupby("product_id").size()
    assert scorecard.loc[counted.index, "n_tags"].astype(int).tolist() == counted.tolist()
    negative = tags[tags["tag_sentiment"] < 0].groupby("product_id").size()
    assert scorecard.loc[negative.index, "negative_tags"].astype(int).tolist() == negative.tolist()
    faq = read_table(config.lake, "gold.product_faq")
    yes = faq[faq["answer"] == "yes"].groupby("product_id").size()
    assert scorecard.loc[yes.index, "faq_yes"].astype(int).tolist() == yes.tolist()
    trends = query(config.lake, "SELECT * FROM analyst.category_trends").to_pandas()
    reviews = read_table(config.lake, "silver.reviews")
    assert trends["reviews"].sum() == reviews["review_date"].notna().sum()
    assert set(trends["category"]) == set(reviews["category"].fillna("unknown"))
    watch = query(config.lake, "SELECT * FROM analyst.negative_tag_watchlist").to_pandas()
    assert (watch["share_products_negative"] >= 0.2).all() and (watch["rank_negative"] <= 10).all()
    with pytest.raises(UserError, match="unknown view"):
        query(config.lake, "SELECT * FROM analyst.nope")


def test_catalog_sync_is_idempotent_and_spark_sql_reads_tables_and_views(full_lake, tmp_path):
    config, _, _ = full_lake
    lake = tmp_path / "lake"
    shutil.copytree(config.lake, lake)
    first = _cli("catalog", "sync", "--lake", str(lake)).stdout
    n_tables = sum((lake / layer).is_dir() and len(list((lake / layer).iterdir())) for layer in
                   ("bronze", "silver", "gold", "ops"))
    assert f"registered: {n_tables} " in first and "views: 3 " in first, first
    again = _cli("catalog", "sync", "--lake", str(lake)).stdout
    assert "registered: 0" in again and f"unchanged: {n_tables}" in again, again
    answer = _cli("catalog", "sql", "SELECT t.n, s.n AS products FROM (SELECT count(*) AS n FROM gold.product_tags) t "
                  "CROSS JOIN (SELECT count(*) AS n FROM analyst.product_scorecard) s", "--output", "json",
                  "--lake", str(lake)).stdout
    row = json.loads(next(line for line in answer.splitlines() if line.startswith("{")))   # JSON lines
    assert row["n"] == len(read_table(lake, "gold.product_tags"))
    assert row["products"] == len(read_table(lake, "gold.product_summaries"))
    # The lake moves: the catalog entries are re-pointed at the new directories, not duplicated.
    moved = tmp_path / "moved"
    lake.rename(moved)
    after_move = _cli("catalog", "sync", "--lake", str(moved)).stdout
    assert f"re-pointed: {n_tables} " in after_move, after_move


def _wait_for_port(port: int, server: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the Thrift server exited: {log.read_text()[-3000:]}"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(2)
    raise AssertionError(f"the Thrift server did not listen within {timeout:.0f}s: {log.read_text()[-3000:]}")


def _beeline(port: int, statement: str, header: str) -> list[dict]:
    """The CSV rows of `statement`, read from its header line on."""
    done = subprocess.run([str(Path(_find_spark_home()) / "bin" / "beeline"), "-u", f"jdbc:hive2://127.0.0.1:{port}/",
                           "--silent=true", "--outputformat=csv2", "-e", statement],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # beeline can print its prompt ("0: jdbc:hive2://...> ") in front of the header.
    lines = [header if line.endswith(f"> {header}") else line for line in done.stdout.strip().splitlines()]
    assert header in lines, done.stdout[-3000:]
    return list(csv.DictReader(io.StringIO("\n".join(lines[lines.index(header):]))))


def test_jdbc_clients_read_tables_and_views_through_the_thrift_server(full_lake, tmp_path):
    config, _, _ = full_lake
    lake = tmp_path / "lake"
    shutil.copytree(config.lake, lake)
    _cli("catalog", "sync", "--lake", str(lake))
    port, log = free_port(), tmp_path / "thriftserver.log"
    with open(log, "w") as sink:
        server = subprocess.Popen([sys.executable, "-m", "reviewlake.cli", "catalog", "thriftserver", "--port",
                                   str(port), "--lake", str(lake)], stdout=sink, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        _wait_for_port(port, server, log)
        counted = _beeline(port, "SELECT count(*) AS n FROM gold.product_tags", "n")
        assert int(counted[0]["n"]) == len(read_table(lake, "gold.product_tags"))
        tags = read_table(lake, "gold.product_tags")
        product = tags["product_id"].iloc[0]
        rows = _beeline(port, f"SELECT tag FROM gold.product_tags WHERE product_id = '{product}'", "tag")
        assert sorted(r["tag"] for r in rows) == sorted(tags.loc[tags["product_id"] == product, "tag"])
        scorecard = _beeline(port, "SELECT product_id, n_tags FROM analyst.product_scorecard", "product_id,n_tags")
        summaries = read_table(lake, "gold.product_summaries")
        assert {r["product_id"] for r in scorecard} == set(summaries["product_id"])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
