"""Read-side joins that several stages share (each stage reads the tables itself and passes them in)."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def with_sentiment_score(reviews: DataFrame, sentiment: DataFrame | None) -> DataFrame:
    """`reviews` plus `sentiment_score` from gold.review_sentiment (null where absent or not scored yet)."""
    if sentiment is None:
        return reviews.withColumn("sentiment_score", F.lit(None).cast("double"))
    return reviews.join(sentiment.select("review_id", F.col("score").alias("sentiment_score")), "review_id", "left")
