"""`reviewlake maintain`: OPTIMIZE compacts, VACUUM inside a 7-day retention keeps time travel working, a
shorter retention is refused unless asked for explicitly (and then really ends time travel)."""

import subprocess
import sys
from datetime import datetime

import pytest

from reviewlake.errors import UserError
from reviewlake.maintenance import maintain


def _products(spark, version: int):
    return spark.createDataFrame([(f"p{i}", f"title {version}", "Toys", "test", datetime(2024, 1, 1))
                                  for i in range(5)],
                                 "product_id string, title string, category string, category_source string, "
                                 "updated_at timestamp")


def test_maintain_compacts_keeps_time_travel_and_guards_retention(spark, config, lake):
    for version in range(4):
        lake.merge("silver.products", _products(spark, version))
    first_write = 1
    assert {r["title"] for r in lake.read("silver.products", first_write).collect()} == {"title 0"}
    done = maintain(spark, lake, names=("silver.products",), say=lambda _m: None)
    assert done[0].files_after <= done[0].files_before and done[0].files_after >= 1
    # Inside the 7-day window every version's files stay: time travel still reads the first write.
    assert {r["title"] for r in lake.read("silver.products", first_write).collect()} == {"title 0"}
    assert {r["title"] for r in lake.read("silver.products").collect()} == {"title 3"}

    with pytest.raises(UserError, match="allow-short-retention"):
        maintain(spark, lake, retention_hours=0, names=("silver.products",))
    refused = subprocess.run([sys.executable, "-m", "reviewlake.cli", "maintain", "--retention-hours", "1", "--lake",
                              str(config.lake)], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "7 days" in refused.stderr and "Traceback" not in refused.stderr
    # Asked for explicitly, a zero retention deletes the old files: the first write is gone for good.
    maintain(spark, lake, retention_hours=0, allow_short_retention=True, names=("silver.products",),
             say=lambda _m: None)
    assert {r["title"] for r in lake.read("silver.products").collect()} == {"title 3"}
    with pytest.raises(Exception, match="(?i)file|exist"):
        lake.read("silver.products", first_write).collect()
    assert spark.conf.get("spark.databricks.delta.retentionDurationCheck.enabled") == "true"
