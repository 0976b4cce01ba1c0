"""Benchmarks for the recommend and similarity stages, baselines run in the same script.

    python bench/recommend_similarity.py als --lake lake            # implicit ALS vs Spark MLlib ALS
    python bench/recommend_similarity.py faiss --sizes 10000 100000 # FAISS build/query/recall vs exact

`als`: both libraries fit on the same training rows (the recommend stage's temporal split of the lake's
silver.reviews + gold.review_sentiment) with the same factors/regularisation/alpha/iterations; both models'
factors are ranked by the same code (seen items filtered) and scored with Recall@20 / NDCG@10 on the same
held-out newest interactions. Prints fit seconds and the ratio.

`faiss`: clustered synthetic 384-d unit vectors (MiniLM's width); for each size: exact IndexFlatIP build and
all-products top-10 query time, then IVF and HNSW tuned to recall@10 >= 0.95 on 1,000 queries, their build
and all-products query time, the speed-up over exact, and their recall measured against exact on those queries.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd


def bench_als(lake: str, factors: int, regularization: float, alpha: float, iterations: int) -> None:
    from deltalake import DeltaTable

    from jobs.recommend import held_out_likes, index_interactions
    from reviewlake.config import RecommendSettings, load_config
    from reviewlake.spark import get_spark
    from udfs import recommender as rec

    reviews = DeltaTable(f"{lake}/silver/reviews").to_pandas(
        columns=["review_id", "user_id", "product_id", "category", "review_ts", "rating"])
    sentiment = DeltaTable(f"{lake}/gold/review_sentiment").to_pandas(columns=["review_id", "score"])
    frame = reviews.merge(sentiment.rename(columns={"score": "sentiment_score"}), on="review_id", how="left")
    frame["review_ts"] = frame["review_ts"].astype("int64") // 10**9
    frame["category"] = frame["category"].fillna("unknown")
    data = index_interactions(frame)
    settings = RecommendSettings()
    held = rec.temporal_split(data.user, data.ts, settings.holdout_share, settings.min_user_interactions)
    train = ~held
    likes, seen = data.matrix(train), data.matrix(train, liked_only=False)
    users = np.unique(data.user[held & data.liked])
    relevant = held_out_likes(data, held, users)
    params = rec.AlsParams(factors, regularization, alpha, iterations)
    print(f"{len(frame):,} reviews, {likes.nnz:,} training likes, {data.shape[0]:,} users x {data.shape[1]:,} "
          f"products; {len(users):,} test users; params {params}")

    started = time.perf_counter()
    user_f, item_f, backend = rec.fit_als(likes, params)
    implicit_seconds = time.perf_counter() - started
    top, _ = rec.score_users(user_f[users], item_f, seen[users], 20)
    implicit_metrics = rec.ranking_metrics(top, relevant, data.shape[1])

    from pyspark.ml.recommendation import ALS

    spark = get_spark(load_config(), "bench-als")
    coo = likes.tocoo()
    ratings = spark.createDataFrame(
        pd.DataFrame({"user": coo.row.astype("int32"), "item": coo.col.astype("int32"),
                                        "rating": coo.data.astype("float32")})).cache()
    ratings.count()
    # MLlib's alpha and implicit's alpha both scale confidence as 1 + alpha * r.
    mllib = ALS(rank=factors, regParam=regularization, alpha=alpha, maxIter=iterations, implicitPrefs=True,
                userCol="user", itemCol="item", ratingCol="rating", seed=7, coldStartStrategy="drop")
    started = time.perf_counter()
    model = mllib.fit(ratings)
    spark_user = model.userFactors.toPandas()
    spark_item = model.itemFactors.toPandas()
    spark_seconds = time.perf_counter() - started
    spark_user_f = np.zeros((data.shape[0], factors), np.float32)
    spark_item_f = np.zeros((data.shape[1], factors), np.float32)
    spark_user_f[spark_user["id"].to_numpy()] = np.stack(spark_user["features"].to_numpy())
    spark_item_f[spark_item["id"].to_numpy()] = np.stack(spark_item["features"].to_numpy())
    top, _ = rec.score_users(spark_user_f[users], spark_item_f, seen[users], 20)
    spark_metrics = rec.ranking_metrics(top, relevant, data.shape[1])
    popular, _ = rec.score_users(np.ones((len(users), 1), np.float32), rec.popularity_scores(likes)[:, None],
                                 seen[users], 20)
    popular_metrics = rec.ranking_metrics(popular, relevant, data.shape[1])

    print("| model | fit seconds | Recall@20 | NDCG@10 | coverage |")
    print("|---|---|---|---|---|")
    for name, seconds, m in ((f"implicit ALS ({backend})", implicit_seconds, implicit_metrics),
                             ("Spark MLlib ALS (implicitPrefs, local[*])", spark_seconds, spark_metrics),
                             ("popularity", 0.0, popular_metrics)):
        print(f"| {name} | {seconds:.1f} | {m['recall_at_20']:.3f} | {m['ndcg_at_10']:.3f} | "
              f"{m['catalogue_coverage']:.3f} |")
    print(f"implicit fits {spark_seconds / implicit_seconds:.1f}x faster than MLlib (same rows, same params)")
    spark.stop()


def clustered_unit_vectors(n: int, dim: int = 384, clusters: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    vectors = centres[rng.integers(0, clusters, n)] + 0.8 * rng.normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def bench_faiss(sizes: list[int]) -> None:
    from udfs.similarity_index import ProductIndex, exact_neighbours, recall_at_k

    print("| products | index | build s | all-products top-10 query s | speed-up vs exact query | recall@10 vs exact |")
    print("|---|---|---|---|---|---|")
    for n in sizes:
        vectors = clustered_unit_vectors(n)
        ids = np.arange(n).astype(str)
        rng = np.random.default_rng(1)
        sample = rng.choice(n, size=1000, replace=False)
        exact_sample = exact_neighbours(vectors, vectors[sample], 11)
        exact_query = None
        for kind in ("exact", "ivf", "hnsw"):
            index = ProductIndex.build(ids, vectors, exact_max=n if kind == "exact" else 0,
                                       approximate="ivf" if kind == "exact" else kind, min_recall=0.95,
                                       prefer="auto", seed=2)
            started = time.perf_counter()
            index.search(vectors, 11)
            query = time.perf_counter() - started
            exact_query = exact_query or query
            found, _ = index.search(vectors[sample], 11)
            recall = recall_at_k(found[:, 1:], exact_sample[:, 1:])  # drop each product itself
            print(f"| {n:,} | {index.report.index_type} {index.report.search_param or ''} ({index.report.device}) "
                  f"| {index.report.build_seconds:.1f} | {query:.1f} | {exact_query / query:.1f}x | {recall:.3f} |",
                  flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    als = sub.add_parser("als")
    als.add_argument("--lake", default="lake")
    als.add_argument("--factors", type=int, default=64)
    als.add_argument("--regularization", type=float, default=0.05)
    als.add_argument("--alpha", type=float, default=10.0)
    als.add_argument("--iterations", type=int, default=15)
    faiss = sub.add_parser("faiss")
    faiss.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    if args.what == "als":
        bench_als(args.lake, args.factors, args.regularization, args.alpha, args.iterations)
    else:
        bench_faiss(args.sizes)


if __name__ == "__main__":
    main()
