"""Analyst views through DuckDB (`reviewlake sql`) and the Spark SQL catalog (`reviewlake catalog sync`, then
Spark SQL in a separate process, as an analyst's session would be) over a copy of the full synthetic lake."""

import json
import shutil
import subprocess
import sys

import pytest

from queries.sql import query
from reviewlake.errors import UserError
from tests.conftest import read_table


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
