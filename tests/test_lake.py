"""Delta I/O through delta-spark: merge modes, versions, history, and readability by delta-rs."""

from datetime import datetime

import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from reviewlake.tables import REGISTRY


def _products(spark, rows):
    now = datetime(2024, 1, 1)
    return spark.createDataFrame(
        [(p, t, c, "test", now) for p, t, c in rows],
        "product_id string, title string, category string, category_source string, updated_at timestamp")


def test_every_table_is_declared_with_keys_in_its_schema():
    for spec in REGISTRY.values():
        assert spec.layer in {"bronze", "silver", "gold", "ops"}
        assert set(spec.keys) <= set(spec.schema.fieldNames()), spec.name


def test_merge_modes_and_time_travel(spark, lake):
    name = "silver.products"
    assert lake.version(name) is None
    first = lake.merge(name, _products(spark, [("p1", "Old", None), ("p2", "Two", "Toys")]))
    assert (first.version, first.inserted) == (1, 2)   # version 0 is the CREATE
    lake.merge(name, _products(spark, [("p1", None, "Home"), ("p3", "Three", None)]), mode="fill_nulls")
    rows = {r["product_id"]: (r["title"], r["category"]) for r in lake.read(name).collect()}
    assert rows == {"p1": ("Old", "Home"), "p2": ("Two", "Toys"), "p3": ("Three", None)}
    noop = lake.merge(name, _products(spark, [("p1", "New", "Kitchen")]), mode="insert_only")
    assert (noop.version, noop.inserted) == (2, 0)
    assert lake.read(name).where("product_id = 'p1'").first()["title"] == "Old"
    lake.merge(name, _products(spark, [("p1", "New", "Kitchen")]), mode="upsert")
    assert lake.read(name).where("product_id = 'p1'").first()["title"] == "New"
    assert lake.read(name, version=1).where("product_id = 'p1'").first()["title"] == "Old"
    operations = [r["operation"] for r in lake.history(name).collect()]
    assert operations == ["MERGE", "MERGE", "MERGE", "CREATE TABLE"]
    # Readable without Spark.
    assert DeltaTable(lake.path(name)).to_pandas().shape[0] == 3


def test_changes_since_a_version(spark, lake):
    name = "silver.reviews"
    lake.ensure(name)
    assert lake.read_changes(name, None).count() == 0
    v0 = lake.version(name)
    assert lake.read_changes(name, v0).count() == 0


def test_extra_columns_are_refused_not_dropped(spark, lake):
    frame = _products(spark, [("p1", "t", "c")]).withColumn("surprise", F.lit(1))
    with pytest.raises(ValueError, match="surprise"):
        lake.merge("silver.products", frame)


def test_unknown_merge_mode(spark, lake):
    with pytest.raises(ValueError, match="merge mode"):
        lake.merge("silver.products", _products(spark, []), mode="replace")


def test_a_table_created_before_a_nullable_column_was_added_gains_it(spark, lake):
    """silver.sentence_aspects got aspect_polarity after lakes already held the table: the next write adds the
    column (null for the old rows) instead of failing the MERGE."""
    name = "silver.sentence_aspects"
    schema = REGISTRY[name].schema
    old_schema = StructType([f for f in schema.fields if f.name != "aspect_polarity"])
    spark.createDataFrame([("h1", "v1", ["screen"], "r1")], old_schema).write.format("delta").save(lake.path(name))
    new_rows = spark.createDataFrame([("h2", "v2", ["keyboard"], "r2", [-0.5])], schema)
    lake.merge(name, new_rows)
    stored = {r["sentence_hash"]: r["aspect_polarity"] for r in lake.read(name).collect()}
    assert stored == {"h1": None, "h2": [-0.5]}


def test_a_change_feed_added_to_an_existing_table_is_switched_on_and_read_safely(spark, lake):
    """gold.review_sentiment gained a change data feed in the registry: an older table gets it on the next
    write, and changes since a version from before it count every row as changed (safe) instead of failing."""
    sentiment = "gold.review_sentiment"
    lake.ensure(sentiment)
    spark.sql(f"ALTER TABLE delta.`{lake.path(sentiment)}` SET TBLPROPERTIES ('delta.enableChangeDataFeed' = 'false')")

    def row(review_id):
        return spark.createDataFrame([(review_id, "positive", 0.9, 0.05, 0.0, 0.95, "m1", datetime(2024, 1, 1), "s")],
                                     REGISTRY[sentiment].schema)

    # r1 goes in before the feed is back on; the write of r2 first switches it on (ensure), then writes.
    spark.createDataFrame(row("r1").collect(), REGISTRY[sentiment].schema).write.format("delta").mode("append") \
        .save(str(lake.path(sentiment)))
    without_feed = lake.version(sentiment)
    lake.merge(sentiment, row("r2"))
    properties = spark.sql(f"DESCRIBE DETAIL delta.`{lake.path(sentiment)}`").first()["properties"]
    assert properties["delta.enableChangeDataFeed"] == "true"
    assert sorted(r["review_id"] for r in lake.read_changes(sentiment, without_feed - 1).collect()) == ["r1", "r2"]
    assert [r["review_id"] for r in lake.read_changes(sentiment, lake.version(sentiment) - 1).collect()] == ["r2"]
