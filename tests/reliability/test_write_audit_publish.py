"""Write-audit-publish: rows clean writes to silver.reviews reach downstream stages only once the quality gate
has passed them. A failing gate, or a run that leaves the gate out, publishes nothing new."""

from __future__ import annotations

from datetime import date

import pytest
from pyspark.sql import functions as F

from reviewlake.context import RunParams
from reviewlake.errors import PipelineFailure
from reviewlake.pipeline import run_pipeline
from reviewlake.synthetic import generate
from tests.conftest import make_context

RUN_DATE = date(2026, 1, 1)
LEAK = "write me at leak@example.com"


def _downstream(spark, config, stage: str = "sentiment"):
    return make_context(spark, config, stage, RunParams(run_date=RUN_DATE))


def test_downstream_stages_read_only_what_the_gate_passed(spark, config, lake, tmp_path):
    generate(300, 5, tmp_path / "in")
    quiet = {"say": lambda _m: None}
    run_pipeline(config, RunParams(inputs=(str(tmp_path / "in" / "reviews.jsonl.gz"),),
                                   stages=("ingest", "clean", "quality"), run_date=RUN_DATE), run_id="good", **quiet)
    audited = lake.version("silver.reviews")
    before = _downstream(spark, config).read("silver.reviews")
    n_reviews = before.count()
    victim = before.orderBy("review_id").first()

    # A write the gate has not seen (here one that breaks it: an e-mail address in a text).
    lake.merge("silver.reviews", lake.read("silver.reviews").where(F.col("review_id") == victim["review_id"])
               .withColumn("text", F.lit(LEAK)))
    assert lake.version("silver.reviews") > audited
    unaudited = _downstream(spark, config)
    assert unaudited.published_version("silver.reviews") == audited
    assert unaudited.read("silver.reviews").where(F.col("text") == LEAK).count() == 0
    assert unaudited.read_new("silver.reviews").count() == n_reviews   # first run: all published rows, no leak
    # The writer and the gate itself see the latest version.
    assert make_context(spark, config, "quality").published_version("silver.reviews") == lake.version("silver.reviews")

    # The gate fails on it: still nothing new published.
    with pytest.raises(PipelineFailure, match="quality"):
        run_pipeline(config, RunParams(stages=("quality",), run_date=RUN_DATE), run_id="bad", **quiet)
    assert _downstream(spark, config, "tags").read("silver.reviews").where(F.col("text") == LEAK).count() == 0

    # Repaired and passed again: the repaired version is published, and read_new sees the change.
    lake.merge("silver.reviews", lake.read("silver.reviews", audited)
               .where(F.col("review_id") == victim["review_id"]).withColumn("text", F.lit("Repaired text.")))
    run_pipeline(config, RunParams(stages=("quality",), run_date=RUN_DATE), run_id="repaired", **quiet)
    published = _downstream(spark, config)
    assert published.published_version("silver.reviews") == lake.version("silver.reviews")
    texts = {r["review_id"]: r["text"] for r in published.read("silver.reviews").collect()}
    assert texts[victim["review_id"]] == "Repaired text." and LEAK not in texts.values()
    assert len(texts) == n_reviews
