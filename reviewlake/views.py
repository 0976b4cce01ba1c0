"""Read-side joins that several stages share (each stage reads the tables itself and passes them in)."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def with_sentiment_score(reviews: DataFrame, sentiment: DataFrame | None) -> DataFrame:
    """`reviews` plus `sentiment_score` from gold.review_sentiment (null where absent or not scored yet)."""
    if sentiment is None:
        return reviews.withColumn("sentiment_score", F.lit(None).cast("double"))
    return reviews.join(sentiment.select("review_id", F.col("score").alias("sentiment_score")), "review_id", "left")


def rescored_products(rescored: DataFrame, reviews: DataFrame) -> DataFrame:
    """product_id of the reviews in `rescored` (gold.review_sentiment rows written since a stage last ran): a new
    sentiment model re-scores every review, and what summaries and tags say of tone must follow it."""
    return rescored.select("review_id").join(reviews.select("review_id", "product_id"), "review_id") \
        .select("product_id").distinct()


def with_product_names(reviews: DataFrame, products: DataFrame | None) -> DataFrame:
    """`reviews` plus product_title and product_category (silver.products, else the review's category)."""
    if products is None:
        return reviews.withColumn("product_title", F.lit(None).cast("string")) \
            .withColumn("product_category", F.col("category"))
    names = products.select("product_id", F.col("title").alias("product_title"),
                            F.col("category").alias("_product_category"))
    return (reviews.join(names, "product_id", "left")
            .withColumn("product_category", F.coalesce("_product_category", "category")).drop("_product_category"))


def product_sentences(sentences: DataFrame, reviews: DataFrame, aspects: DataFrame | None = None) -> DataFrame:
    """silver.review_sentences rows of `reviews` with the review's product, time, date, rating and
    sentiment_score (`reviews`: silver.reviews columns plus sentiment_score, and product_title /
    product_category when with_product_names added them), and aspect_terms and aspect_polarity from
    silver.sentence_aspects (null where a sentence has none stored: outside the searched word counts, or no
    aspects table)."""
    names = [c for c in ("product_title", "product_category") if c in reviews.columns]
    rows = (sentences.select("review_id", "sentence_idx", "sentence", "sentence_hash", "n_words", "keyphrases",
                             "lexicon_polarity")
            .join(reviews.select("review_id", "product_id", "review_ts", "review_date", "rating", "sentiment_score",
                                 *names), "review_id"))
    if aspects is None:
        return (rows.withColumn("aspect_terms", F.lit(None).cast("array<string>"))
                .withColumn("aspect_polarity", F.lit(None).cast("array<float>")))
    return rows.join(aspects.select("sentence_hash", "aspect_terms", "aspect_polarity"), "sentence_hash", "left")


def with_newest_vectors(rows: DataFrame, vectors: DataFrame, per_product: int, min_words: int,
                        max_words: int) -> DataFrame:
    """`rows` (product_sentences) plus `vector` from silver.sentence_vectors for each product's newest
    `per_product` sentences of min_words..max_words words (null elsewhere: only those are ever embedded)."""
    embeddable = F.col("n_words").between(min_words, max_words)
    newest = Window.partitionBy("product_id", "_embeddable").orderBy(
        F.col("review_ts").desc_nulls_last(), F.col("review_id").desc(), F.col("sentence_idx").desc())
    ranked = rows.withColumn("_embeddable", embeddable).withColumn("_rank", F.row_number().over(newest))
    recent = F.col("_embeddable") & (F.col("_rank") <= per_product)
    with_vector = ranked.where(recent).join(vectors.select("sentence_hash", "vector"), "sentence_hash", "left")
    without = ranked.where(~recent).withColumn("vector", F.lit(None).cast("array<float>"))
    return with_vector.unionByName(without).drop("_embeddable", "_rank")
