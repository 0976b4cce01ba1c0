"""Similarity: silver.reviews, silver.products (+ gold.product_tags) -> silver.product_vectors,
gold.product_similarity, ops.model_metrics, models/similarity/ in the lake.

A product's vector is the normalised weighted mean of MiniLM embeddings of its newest review texts, its title
and its tags (when the tags stage has run). A review's embedding is the mean of its sentences' vectors, which
the sentences stage stored in silver.sentence_vectors (a review with no embedded sentence, such as "Great!",
is embedded whole here). Vectors are recomputed only for products whose texts changed
(a fingerprint of the composed texts), then every vector goes into a FAISS index (udfs.similarity_index),
saved with the table versions it was built from; the top-k neighbours of every product are written to gold.
queries.similar answers ad-hoc queries from the saved index without Spark.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from reviewlake.context import StageContext, StageResult
from reviewlake.model_store import ModelStore
from reviewlake.tables import table_spec
from udfs.encoder import embed_with_known
from udfs.similarity_index import ProductIndex, normalise

REVIEWS, PRODUCTS, TAGS = "silver.reviews", "silver.products", "gold.product_tags"
SENTENCES, SENTENCE_VECTORS = "silver.review_sentences", "silver.sentence_vectors"
VECTORS, SIMILARITY = "silver.product_vectors", "gold.product_similarity"
# Reviews carry what a product is like; title and tags say what it is: both matter, reviews are many.
TEXT_WEIGHTS = {"review": 1.0, "title": 0.5, "tags": 0.5}
MAX_TAGS = 15


def product_texts(reviews: DataFrame, products: DataFrame | None, tags: DataFrame | None,
                  reviews_per_product: int) -> DataFrame:
    """(product_id, kind, text): the newest non-empty review texts, the title and the tag list per product."""
    newest = Window.partitionBy("product_id").orderBy(F.col("review_ts").desc_nulls_last(), "review_id")
    texts = (reviews.where(F.length(F.trim("text")) > 0)
             .withColumn("position", F.row_number().over(newest))
             .where(F.col("position") <= reviews_per_product)
             .select("product_id", F.lit("review").alias("kind"), "text", "review_id"))
    if products is not None:
        texts = texts.unionByName(products.where(F.length(F.trim("title")) > 0).join(
            reviews.select("product_id").distinct(), "product_id").select(
            "product_id", F.lit("title").alias("kind"), F.col("title").alias("text")), allowMissingColumns=True)
    if tags is not None:
        best = Window.partitionBy("product_id").orderBy(F.col("weight").desc(), "tag")
        texts = texts.unionByName(
            tags.withColumn("position", F.row_number().over(best)).where(F.col("position") <= MAX_TAGS)
            .groupBy("product_id").agg(F.concat_ws(", ", F.sort_array(F.collect_list("tag"))).alias("text"))
            .select("product_id", F.lit("tags").alias("kind"), "text"), allowMissingColumns=True)
    return texts


def review_vectors(review_ids: DataFrame, sentences: DataFrame, vectors: DataFrame) -> pd.DataFrame:
    """(review_id, vector): the mean of the stored vectors of each review's sentences (reviews without any
    embedded sentence are absent)."""
    rows = (sentences.join(review_ids, "review_id", "left_semi").select("review_id", "sentence_hash")
            .join(vectors.select("sentence_hash", "vector"), "sentence_hash").select("review_id", "vector").toPandas())
    if rows.empty:
        return pd.DataFrame({"review_id": pd.Series(dtype=str), "vector": pd.Series(dtype=object)})
    ids, row_of = np.unique(rows["review_id"].to_numpy(str), return_inverse=True)
    sums = np.zeros((len(ids), len(rows["vector"].iloc[0])), dtype=np.float32)
    np.add.at(sums, row_of, np.stack(rows["vector"].to_numpy()))
    return pd.DataFrame({"review_id": ids, "vector": list(normalise(sums / np.bincount(row_of)[:, None]))})


def fingerprints(texts: DataFrame) -> DataFrame:
    """(product_id, fingerprint, n_texts): changes exactly when the texts that make the vector change."""
    return texts.groupBy("product_id").agg(
        F.sha2(F.concat_ws("\u241e", F.sort_array(F.collect_list(F.concat_ws("\u241f", "kind", "text")))), 256)
        .alias("fingerprint"), F.count("*").cast("int").alias("n_texts"))


def product_vectors(texts: pd.DataFrame, encode) -> tuple[np.ndarray, np.ndarray]:
    """Product ids and their unit vectors: weighted mean of the embeddings of each product's texts."""
    unique_texts, text_row = np.unique(texts["text"].to_numpy(str), return_inverse=True)
    embeddings = encode(unique_texts.tolist())  # templated review data repeats sentences: encode each once
    ids, product_row = np.unique(texts["product_id"].to_numpy(str), return_inverse=True)
    weights = texts["kind"].map(TEXT_WEIGHTS).to_numpy(np.float32)
    per_kind_count = texts.groupby(["product_id", "kind"])["text"].transform("size").to_numpy(np.float32)
    sums = np.zeros((len(ids), embeddings.shape[1]), dtype=np.float32)
    # Each kind contributes its mean, so ten reviews don't drown the title.
    np.add.at(sums, product_row, embeddings[text_row] * (weights / per_kind_count)[:, None])
    return ids, normalise(sums)


def neighbour_rows(index: ProductIndex, k: int, model_version: str, run_id: str) -> pd.DataFrame:
    rows, scores = index.neighbours_of_all(k)
    valid = rows >= 0
    product_row, rank = np.nonzero(valid)
    return pd.DataFrame({
        "product_id": index.ids[product_row], "rank": (rank + 1).astype("int32"),
        "similar_product_id": index.ids[rows[valid]], "score": scores[valid].astype("float64"),
        "index_type": index.report.index_type, "model_version": model_version, "run_id": run_id})


def run(ctx: StageContext) -> StageResult:
    """Refresh changed product vectors, rebuild the index, write neighbours; no-op when inputs are unchanged."""
    from udfs.encoder import SentenceEncoder

    settings = ctx.config.similarity
    store = ModelStore(ctx.lake_root, "similarity")
    inputs = [t for t in (REVIEWS, PRODUCTS, TAGS) if ctx.lake.exists(t)]
    if store.current() and ctx.inputs_unchanged(*inputs) and ctx.lake.exists(SIMILARITY):
        ctx.say(f"  inputs unchanged since the last run; keeping index {store.current()}")
        return StageResult(message=f"unchanged; index {store.current()}", details={"model_version": store.current()})
    store.discard_staging()
    texts = product_texts(ctx.read(REVIEWS), ctx.read(PRODUCTS) if PRODUCTS in inputs else None,
                          ctx.read(TAGS) if TAGS in inputs else None, settings.reviews_per_product).cache()
    prints = fingerprints(texts)
    known = ctx.read(VECTORS).select("product_id", F.col("fingerprint").alias("known")) \
        if ctx.lake.exists(VECTORS) else None
    changed = prints if known is None else prints.join(known, "product_id", "left").where(
        F.col("known").isNull() | (F.col("known") != F.col("fingerprint"))).drop("known")
    changed = changed.cache()
    n_changed = changed.count()
    if n_changed:
        todo_texts = texts.join(changed.select("product_id"), "product_id")
        todo = todo_texts.toPandas()
        started = time.perf_counter()
        stored = pd.DataFrame(columns=["review_id", "vector"])
        if ctx.lake.exists(SENTENCES) and ctx.lake.exists(SENTENCE_VECTORS):
            stored = review_vectors(todo_texts.where(F.col("review_id").isNotNull()).select("review_id"),
                                    ctx.read(SENTENCES), ctx.read(SENTENCE_VECTORS))
        with_stored = todo.merge(stored, on="review_id")
        known = dict(zip(with_stored["text"], with_stored["vector"], strict=True))
        encoder = SentenceEncoder(device=settings.device)
        ids, vectors = product_vectors(todo, embed_with_known(known, encoder.encode))
        seconds = time.perf_counter() - started
        ctx.say(f"  {len(todo):,} texts of {len(ids):,} changed products: {len(known):,} reviews from stored "
                f"sentence vectors, the other {len(set(todo['text']) - set(known)):,} distinct texts embedded on "
                f"{encoder.backend}; {seconds:.1f}s")
        fresh = pd.DataFrame({"product_id": ids, "vector": list(vectors)}).merge(
            changed.toPandas(), on="product_id")
        fresh["run_id"] = ctx.run_id
        ctx.merge(VECTORS, ctx.spark.createDataFrame(fresh[[f.name for f in table_spec(VECTORS).schema]],
                                                     schema=table_spec(VECTORS).schema))
    texts.unpersist()
    changed.unpersist()

    current = ctx.read(VECTORS).select("product_id", "vector").toPandas() if ctx.lake.exists(VECTORS) \
        else pd.DataFrame(columns=["product_id", "vector"])
    if current.empty:
        # Every review quarantined, or none ingested yet: nothing to index, which is not an error.
        ctx.say("  no product has review texts yet; no index built")
        return StageResult(message="no products with review texts; nothing to index")
    index = ProductIndex.build(current["product_id"].to_numpy(), np.stack(current["vector"].to_numpy()),
                               settings.exact_max_products, settings.approximate_index, settings.min_recall_at_10,
                               settings.device)
    report = index.report
    if report.recall_at_10 < settings.min_recall_at_10:
        ctx.say(f"  warning: {report.index_type} reached recall@10 {report.recall_at_10:.3f} < "
                f"{settings.min_recall_at_10} at its widest search setting")
    sources = {name: ctx.tables_read.get(name) for name in (*inputs, VECTORS)}
    version = store.save(index, {"kind": "faiss", "report": report.__dict__, "built_from": sources})
    store.promote(version, "rebuilt from current product vectors")
    started = time.perf_counter()
    neighbours = neighbour_rows(index, settings.neighbours, version, ctx.run_id)
    query_seconds = time.perf_counter() - started
    ctx.overwrite(SIMILARITY, ctx.spark.createDataFrame(neighbours, schema=table_spec(SIMILARITY).schema))
    ctx.record_metrics(f"{VECTORS}@v{sources[VECTORS]}", {("similarity.faiss", version): {
        "recall_at_10_vs_exact": report.recall_at_10, "build_seconds": report.build_seconds,
        "query_all_seconds": query_seconds, "n_products": report.n_vectors}})
    ctx.say(f"  {report.index_type} index on {report.device} over {report.n_vectors:,} products "
            f"(recall@10 vs exact {report.recall_at_10:.3f}, {report.search_param or 'exact'}); "
            f"neighbours of all in {query_seconds:.1f}s")
    return StageResult(rows_in=n_changed, rows_out=len(neighbours), message=f"index {version}", details={
        "model_version": version, "vectors_recomputed": n_changed, "index": report.__dict__})


if __name__ == "__main__":
    from reviewlake.cli import run_stage_main

    run_stage_main("similarity")
