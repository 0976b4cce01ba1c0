"""Summarize: silver.review_sentences, silver.sentence_vectors, silver.reviews (+ gold.review_sentiment)
-> gold.product_summaries.

For every product with at least `min_reviews` reviews and new or changed reviews or sentences since the last
successful run (or no summary yet), `applyInPandas` hands the product's sentences (split by Spark NLP in the
sentences stage) to udfs.summarizer.summarize: usable sentences (PII-free) with their polarity, the product's
aspects (udfs.keyphrases, from the sentences' keyphrases), the MiniLM vectors the sentences stage stored for
its newest sentences, MMR selection. Review counts and the sentiment mix come from Spark aggregates. Rows are
MERGEd on product_id.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from reviewlake.config import SentenceSettings, SummarySettings, TagSettings
from reviewlake.context import StageContext, StageResult
from reviewlake.tables import table_spec
from reviewlake.views import (
    product_sentences,
    rescored_products,
    with_newest_vectors,
    with_product_names,
    with_sentiment_score,
)
from udfs.encoder import embed_on_worker, embed_with_known
from udfs.keyphrases import nouns_of_product_frame, product_tags
from udfs.sentences import review_tone, usable_sentences
from udfs.summarizer import summarize

REVIEWS, SENTIMENT, SUMMARIES = "silver.reviews", "gold.review_sentiment", "gold.product_summaries"
PRODUCTS = "silver.products"
SENTENCES, VECTORS, ASPECTS = "silver.review_sentences", "silver.sentence_vectors", "silver.sentence_aspects"
SUMMARIZER_VERSION = "extractive-mmr-minilm-tfidf-3"
MAX_ASPECTS = 8
_TEXT_ROWS = "product_id string, summary string, pros array<string>, cons array<string>"


def summarize_product(frame: pd.DataFrame, settings: SummarySettings, tag_settings: TagSettings,
                      run_date: date) -> dict:
    """Summary, pros and cons of one product from its sentence rows (product_sentences + vector)."""
    frame = frame.sort_values(["review_ts", "review_id", "sentence_idx"]).assign(
        tone=lambda f: review_tone(f["rating"], f["sentiment_score"]))
    sentences = usable_sentences(frame)
    aspects = tuple(product_tags(sentences, tag_settings, run_date, product=nouns_of_product_frame(frame))["tag"]
                    .head(MAX_ASPECTS))
    stored = {s: v for s, v in zip(sentences["sentence"], sentences["vector"], strict=True) if v is not None}
    result = summarize(sentences, embed_with_known(stored, embed_on_worker), settings, aspects)
    return {"product_id": frame["product_id"].iloc[0], "summary": result.summary, "pros": result.pros,
            "cons": result.cons}


def review_mix(reviews: DataFrame) -> DataFrame:
    """Per product: n_reviews, avg_rating and the sentiment mix (the label, else the stars' class)."""
    stars = (F.when(F.col("rating") < 2.5, "negative").when(F.col("rating") <= 3.5, "neutral")
             .when(F.col("rating").isNotNull(), "positive"))
    label = F.coalesce(F.col("label"), stars)
    share = {name: F.sum((label == name).cast("double")) / F.count(label)
             for name in ("positive", "neutral", "negative")}
    return reviews.groupBy("product_id").agg(
        F.count("*").alias("n_reviews"), F.avg("rating").alias("avg_rating"),
        *(F.coalesce(value, F.lit(0.0)).alias(f"share_{name}") for name, value in share.items()))


def transform(reviews: DataFrame, sentences: DataFrame, vectors: DataFrame, aspects: DataFrame | None,
              settings: SummarySettings,
              tag_settings: TagSettings, sentence_settings: SentenceSettings, run_date: date) -> DataFrame:
    """Summaries of every product in `reviews` (silver.reviews columns + sentiment_score, label) with at least
    `min_reviews` reviews."""
    def per_product(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame([summarize_product(frame, settings, tag_settings, run_date)])

    mix = review_mix(reviews).where(F.col("n_reviews") >= settings.min_reviews)
    rows = with_newest_vectors(product_sentences(sentences, reviews.join(mix.select("product_id"), "product_id"),
                                                 aspects),
                               vectors, settings.max_sentences, sentence_settings.embed_min_words,
                               sentence_settings.embed_max_words)
    texts = rows.groupBy("product_id").applyInPandas(per_product, _TEXT_ROWS)
    # A product whose reviews have no sentence (rating-only) still gets its counts, with an empty summary.
    return mix.join(texts, "product_id", "left").withColumn("summary", F.coalesce("summary", F.lit(""))) \
        .withColumn("pros", F.coalesce("pros", F.array().cast("array<string>"))) \
        .withColumn("cons", F.coalesce("cons", F.array().cast("array<string>")))


def run(ctx: StageContext) -> StageResult:
    """Summarize products with new or changed reviews (every product on the first run)."""
    settings = ctx.config.summarize
    reviews = ctx.read(REVIEWS)
    sentiment = ctx.read(SENTIMENT) if ctx.lake.exists(SENTIMENT) else None
    changed = ctx.read_new(REVIEWS).select("product_id").unionByName(
        ctx.read_new(SENTENCES).select("product_id")).unionByName(
        rescored_products(ctx.read_new(SENTIMENT), reviews) if ctx.lake.exists(SENTIMENT)
        else reviews.select("product_id").limit(0)).distinct()
    if ctx.lake.exists(SUMMARIES):
        missing = reviews.select("product_id").distinct().join(ctx.read(SUMMARIES).select("product_id"),
                                                                "product_id", "left_anti")
        changed = changed.unionByName(missing).distinct()
    else:   # the first run, or the table was removed to rebuild it: every product
        changed = changed.unionByName(reviews.select("product_id")).distinct()
    scored = with_sentiment_score(reviews.join(changed, "product_id"), sentiment)
    if sentiment is not None:
        scored = scored.join(sentiment.select("review_id", "label"), "review_id", "left")
    else:
        scored = scored.withColumn("label", F.lit(None).cast("string"))
    scored = with_product_names(scored, ctx.read(PRODUCTS) if ctx.lake.exists(PRODUCTS) else None)
    aspects = ctx.read(ASPECTS) if ctx.lake.exists(ASPECTS) else None
    rows = (transform(scored, ctx.read(SENTENCES), ctx.read(VECTORS), aspects, settings, ctx.config.tags,
                      ctx.config.sentences, ctx.params.run_date)
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
