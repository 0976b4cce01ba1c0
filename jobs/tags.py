"""Tags: silver.review_sentences, silver.reviews (+ silver.products) -> gold.product_tags, gold.tag_vocabulary,
models/tags/ in the lake.

Per product with new or changed reviews: its review sentences (split by Spark NLP in the sentences stage;
PII-free, 4-40 words) with their lexicon polarity and YAKE keyphrases go through udfs.keyphrases.product_tags
in `applyInPandas` (keyphrase candidates, aspect-like filter, lemma and MiniLM merging, mention counts,
sentiment, trend). The products' old tags are replaced. Then the
global vocabulary (per category: products, mentions, sentiment of every tag) is rebuilt, and every tag is
embedded once for `reviewlake search` (udfs.tag_search), saved as a model version in the lake.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from reviewlake.config import TagSettings
from reviewlake.context import StageContext, StageResult
from reviewlake.model_store import ModelStore
from reviewlake.tables import table_spec
from reviewlake.views import product_sentences, rescored_products, with_product_names, with_sentiment_score
from udfs.encoder import embed_on_worker
from udfs.keyphrases import nouns_of_product_frame, product_tags
from udfs.sentences import review_tone, usable_sentences
from udfs.tag_search import TagVectors

REVIEWS, PRODUCTS, SENTIMENT = "silver.reviews", "silver.products", "gold.review_sentiment"
SENTENCES, ASPECTS = "silver.review_sentences", "silver.sentence_aspects"
TAGS, VOCABULARY = "gold.product_tags", "gold.tag_vocabulary"
_TAG_ROWS = "product_id string, tag string, weight double, n_mentions long, tag_sentiment double, " \
            "first_seen date, trend double"


def tag_products(reviews: DataFrame, sentences: DataFrame, aspects: DataFrame | None, settings: TagSettings,
                 run_date: date) -> DataFrame:
    """gold.product_tags rows (without run_id) for every product in `reviews` (with sentiment_score), from
    their silver.review_sentences rows and those sentences' silver.sentence_aspects terms."""
    def per_product(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.sort_values(["review_ts", "review_id", "sentence_idx"]).assign(
            tone=lambda f: review_tone(f["rating"], f["sentiment_score"]))
        tags = product_tags(usable_sentences(frame), settings, run_date, embed_on_worker,
                            nouns_of_product_frame(frame))
        tags.insert(0, "product_id", frame["product_id"].iloc[0])
        return tags

    return product_sentences(sentences, reviews, aspects).groupBy("product_id").applyInPandas(per_product, _TAG_ROWS)


def vocabulary(tags: DataFrame, products: DataFrame | None) -> DataFrame:
    """Per (category, tag): products carrying it, mentions, mention-weighted sentiment, share of products
    where it is negative; ranks for 'most discussed' and 'most negative'."""
    with_category = tags if products is None else tags.join(products.select("product_id", "category"),
                                                            "product_id", "left")
    if products is None:
        with_category = with_category.withColumn("category", F.lit(None).cast("string"))
    grouped = (with_category.withColumn("category", F.coalesce("category", F.lit("unknown")))
               .groupBy("category", "tag").agg(
                   F.countDistinct("product_id").alias("n_products"),
                   F.sum("n_mentions").alias("n_mentions"),
                   (F.sum(F.col("tag_sentiment") * F.col("n_mentions")) / F.sum("n_mentions")).alias("sentiment"),
                   F.avg((F.col("tag_sentiment") < -0.05).cast("double")).alias("share_products_negative"),
                   F.min("first_seen").alias("first_seen")))
    from pyspark.sql import Window

    by_category = Window.partitionBy("category")
    return (grouped
            .withColumn("rank_discussed", F.row_number().over(by_category.orderBy(F.desc("n_mentions"), "tag")))
            .withColumn("rank_negative", F.row_number().over(by_category.orderBy("sentiment", "tag"))))


def run(ctx: StageContext) -> StageResult:
    """Recompute tags of products with new or changed reviews; rebuild the vocabulary and the search vectors."""
    settings = ctx.config.tags
    reviews = ctx.read(REVIEWS)
    known = ctx.read(TAGS).select("product_id").distinct() if ctx.lake.exists(TAGS) else None
    changed = ctx.read_new(REVIEWS).select("product_id").unionByName(
        ctx.read_new(SENTENCES).select("product_id")).unionByName(
        rescored_products(ctx.read_new(SENTIMENT), reviews) if ctx.lake.exists(SENTIMENT)
        else reviews.select("product_id").limit(0)).distinct()
    if known is None:
        # No tags table (the first run, or it was removed to rebuild it): every product.
        changed = changed.unionByName(reviews.select("product_id"))
    else:
        # Products with reviews but no tags yet (e.g. tags added to an existing lake) are new too.
        changed = changed.unionByName(reviews.select("product_id").distinct().join(known, "product_id", "left_anti"))
    changed = changed.distinct().cache()
    n_changed = changed.count()
    if not n_changed and ctx.lake.exists(TAGS):
        ctx.say("  no product has new or changed reviews")
        changed.unpersist()
        return StageResult(message="no changes")
    sentiment = ctx.read(SENTIMENT) if ctx.lake.exists(SENTIMENT) else None
    products = ctx.read(PRODUCTS) if ctx.lake.exists(PRODUCTS) else None
    named = with_product_names(with_sentiment_score(reviews.join(changed, "product_id"), sentiment), products)
    aspects = ctx.read(ASPECTS) if ctx.lake.exists(ASPECTS) else None
    fresh = tag_products(named, ctx.read(SENTENCES), aspects, settings, ctx.params.run_date) \
        .withColumn("run_id", F.lit(ctx.run_id))
    schema = table_spec(TAGS).schema
    kept = None if known is None else ctx.read(TAGS).join(changed, "product_id", "left_anti")
    table = fresh if kept is None else kept.unionByName(fresh)
    # Materialised before the overwrite: the new table is computed from the one being replaced.
    table = ctx.spark.createDataFrame(table.select(*schema.fieldNames()).toPandas(), schema=schema)
    ctx.overwrite(TAGS, table)
    changed.unpersist()
    tags = ctx.read(TAGS).cache()
    n_tags = tags.count()
    products = ctx.read(PRODUCTS) if ctx.lake.exists(PRODUCTS) else None
    ctx.overwrite(VOCABULARY, vocabulary(tags, products).withColumn("run_id", F.lit(ctx.run_id))
                  .select(*table_spec(VOCABULARY).schema.fieldNames()))
    store = ModelStore(ctx.lake_root, "tags")
    store.discard_staging()
    unique = sorted(r["tag"] for r in tags.select("tag").distinct().collect())
    previous = TagVectors.load(store.path(store.current())) if store.current() else None
    vectors = TagVectors.build(unique, embed_on_worker, previous)
    version = store.save(vectors, {"kind": "tag-vectors", "tags": len(unique),
                                   "built_from": {TAGS: ctx.tables_written.get(TAGS)}, "settings": asdict(settings)})
    store.promote(version, "tags rebuilt")
    per_product = tags.groupBy("product_id").count().toPandas()["count"]
    tags.unpersist()
    ctx.say(f"  {n_changed:,} products re-tagged; {n_tags:,} tags on {len(per_product):,} products "
            f"(median {per_product.median():.0f} per product), {len(unique):,} distinct tags")
    return StageResult(rows_in=n_changed, rows_out=n_tags, message=f"{len(unique):,} distinct tags",
                       details={"products_retagged": n_changed, "tags": n_tags, "distinct_tags": len(unique),
                                "search_vectors": version})


if __name__ == "__main__":
    from reviewlake.cli import run_stage_main

    run_stage_main("tags")
