"""Summarize: silver.reviews (+ gold.review_sentiment) -> gold.product_summaries.

For every product with at least `min_reviews` reviews and new or changed reviews since the last successful
run (or no summary yet), `applyInPandas` hands the product's reviews to udfs.summarizer.summarize: usable
sentences (PII-free, compressed) with their polarity, the product's aspects (udfs.keyphrases), MiniLM
embeddings, MMR selection. Rows are MERGEd on product_id.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from reviewlake.config import SummarySettings, TagSettings
from reviewlake.context import StageContext, StageResult
from reviewlake.tables import table_spec
from reviewlake.views import with_sentiment_score
from udfs.encoder import embed_on_worker
from udfs.keyphrases import product_tags
from udfs.sentences import review_sentences, review_tone
from udfs.summarizer import summarize

REVIEWS, SENTIMENT, SUMMARIES = "silver.reviews", "gold.review_sentiment", "gold.product_summaries"
SUMMARIZER_VERSION = "extractive-mmr-minilm-1"
MAX_ASPECTS = 8
_ROWS = ("product_id string, summary string, pros array<string>, cons array<string>, n_reviews long, "
         "avg_rating double, share_positive double, share_neutral double, share_negative double")


def summarize_product(frame: pd.DataFrame, settings: SummarySettings, tag_settings: TagSettings,
                      run_date: date) -> dict:
    """One gold.product_summaries row (without model_version/run_id) from one product's reviews."""
    frame = frame.sort_values(["review_ts", "review_id"]).assign(
        tone=lambda f: review_tone(f["rating"], f["sentiment_score"]))
    sentences = review_sentences(frame)
    aspects = tuple(product_tags(sentences, tag_settings, run_date)["tag"].head(MAX_ASPECTS))
    result = summarize(sentences, embed_on_worker, settings, aspects)
    labels = frame["label"].where(frame["label"].notna(), pd.cut(
        frame["rating"], [0, 2.5, 3.5, 5], labels=["negative", "neutral", "positive"]).astype(object))
    mix = labels.value_counts(normalize=True)
    return {"product_id": frame["product_id"].iloc[0], "summary": result.summary, "pros": result.pros,
            "cons": result.cons, "n_reviews": len(frame), "avg_rating": frame["rating"].mean(),
            "share_positive": float(mix.get("positive", 0.0)), "share_neutral": float(mix.get("neutral", 0.0)),
            "share_negative": float(mix.get("negative", 0.0))}


def transform(reviews: DataFrame, settings: SummarySettings, tag_settings: TagSettings, run_date: date) -> DataFrame:
    """Summaries of every product in `reviews` (columns of silver.reviews + sentiment_score, label)."""
    def per_product(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame([summarize_product(frame, settings, tag_settings, run_date)])

    enough = reviews.groupBy("product_id").count().where(F.col("count") >= settings.min_reviews).select("product_id")
    return (reviews.join(enough, "product_id")
            .select("product_id", "review_id", "review_ts", "review_date", "text", "rating", "sentiment_score",
                    "label")
            .groupBy("product_id").applyInPandas(per_product, _ROWS))


def run(ctx: StageContext) -> StageResult:
    """Summarize products with new or changed reviews (every product on the first run)."""
    settings = ctx.config.summarize
    reviews = ctx.read(REVIEWS)
    sentiment = ctx.read(SENTIMENT) if ctx.lake.exists(SENTIMENT) else None
    changed = ctx.read_new(REVIEWS).select("product_id").distinct()
    if ctx.lake.exists(SUMMARIES):
        missing = reviews.select("product_id").distinct().join(ctx.read(SUMMARIES).select("product_id"),
                                                                "product_id", "left_anti")
        changed = changed.unionByName(missing).distinct()
    scored = with_sentiment_score(reviews.join(changed, "product_id"), sentiment)
    if sentiment is not None:
        scored = scored.join(sentiment.select("review_id", "label"), "review_id", "left")
    else:
        scored = scored.withColumn("label", F.lit(None).cast("string"))
    rows = (transform(scored, settings, ctx.config.tags, ctx.params.run_date)
            .withColumn("model_version", F.lit(SUMMARIZER_VERSION)).withColumn("run_id", F.lit(ctx.run_id))
            .select(*table_spec(SUMMARIES).schema.fieldNames()))
    write = ctx.merge(SUMMARIES, rows, mode="upsert")
    written = write.inserted + write.updated
    ctx.say(f"  {written:,} product summaries written ({write.inserted:,} new, {write.updated:,} refreshed)")
    return StageResult(rows_in=written, rows_out=written, message=f"{written:,} summaries",
                       details={"inserted": write.inserted, "updated": write.updated,
                                "summarizer": SUMMARIZER_VERSION, "min_reviews": settings.min_reviews})


if __name__ == "__main__":
    from reviewlake.cli import run_stage_main

    run_stage_main("summarize")
