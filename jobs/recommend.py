"""Recommend: silver.reviews (+ gold.review_sentiment, silver.products) -> gold.user_recommendations,
ops.model_metrics, models/recommend/ in the lake.

Interactions are weighted by stars and text sentiment (udfs.recommender.review_preference). implicit's ALS is
tuned on a validation split, evaluated against a popularity baseline on each user's newest interactions, then
refitted on everything and served: top-k per user with a strategy per row (als, similar-items, category,
popularity) plus one popularity list for users the lake has never seen (user id `__unknown__`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from reviewlake.config import RecommendSettings
from reviewlake.context import StageContext, StageResult
from reviewlake.model_store import ModelStore
from reviewlake.tables import table_spec
from reviewlake.views import with_sentiment_score
from udfs import recommender as rec

REVIEWS, SENTIMENT, PRODUCTS = "silver.reviews", "gold.review_sentiment", "silver.products"
RECOMMENDATIONS = "gold.user_recommendations"


def interaction_frame(reviews: DataFrame, sentiment: DataFrame | None, products: DataFrame | None) -> DataFrame:
    """One row per review: user_id, product_id, category, review_ts (epoch s), rating, sentiment_score."""
    frame = with_sentiment_score(reviews.select("review_id", "user_id", "product_id", "category",
                                                F.unix_timestamp("review_ts").alias("review_ts"), "rating"),
                                 sentiment)
    if products is not None:
        frame = (frame.join(products.select("product_id", F.col("category").alias("product_category")),
                            "product_id", "left")
                 .withColumn("category", F.coalesce("product_category", "category")).drop("product_category"))
    return frame.select("user_id", "product_id", F.coalesce("category", F.lit("unknown")).alias("category"),
                        "review_ts", "rating", "sentiment_score")


@dataclass
class Indexed:
    """Interactions with integer user/item codes and the ids they stand for."""

    user: np.ndarray
    item: np.ndarray
    ts: np.ndarray
    preference: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    item_category: np.ndarray
    category_names: np.ndarray

    @property
    def liked(self) -> np.ndarray:
        return self.preference >= rec.LIKE_THRESHOLD

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.user_ids), len(self.item_ids)

    def matrix(self, rows: np.ndarray, liked_only: bool = True):
        keep = rows & self.liked if liked_only else rows
        values = self.preference[keep] if liked_only else np.ones(int(keep.sum()), dtype=np.float32)
        return rec.interaction_matrix(self.user[keep], self.item[keep], values, self.shape)


def index_interactions(frame: pd.DataFrame) -> Indexed:
    """Integer codes (sorted ids, so the same data gives the same codes) and preferences. Every row needs a
    user id (a missing one would be code -1)."""
    if frame["user_id"].isna().any():
        raise ValueError("interactions without a user id cannot be indexed; leave them out first")
    user, user_ids = pd.factorize(frame["user_id"], sort=True)
    item, item_ids = pd.factorize(frame["product_id"], sort=True)
    per_item = pd.DataFrame({"item": item, "category": frame["category"].to_numpy()}).drop_duplicates("item")
    item_category_name = per_item.set_index("item")["category"].reindex(range(len(item_ids))).fillna("unknown")
    category, category_names = pd.factorize(item_category_name, sort=True)
    preference = rec.review_preference(frame["rating"].to_numpy(float), frame["sentiment_score"].to_numpy(float))
    return Indexed(user=user, item=item, ts=frame["review_ts"].fillna(0).to_numpy(np.int64),
                   preference=preference.astype(np.float32), user_ids=np.asarray(user_ids),
                   item_ids=np.asarray(item_ids), item_category=category, category_names=np.asarray(category_names))


def held_out_likes(data: Indexed, held: np.ndarray, users: np.ndarray) -> list[set[int]]:
    """Per user in `users`: the items they liked in the held-out rows (what a good ranking should find)."""
    liked_held = held & data.liked
    by_user: dict[int, set[int]] = {}
    for u, i in zip(data.user[liked_held].tolist(), data.item[liked_held].tolist(), strict=True):
        by_user.setdefault(u, set()).add(i)
    return [by_user.get(int(u), set()) for u in users]


def evaluate_split(data: Indexed, held: np.ndarray, params: rec.AlsParams, prefer: str, k: int
                   ) -> tuple[dict[str, float], dict[str, float], str]:
    """Fit on rows not held out; ALS and popularity metrics on the held-out likes of users who have some."""
    train = ~held
    train_likes, train_seen = data.matrix(train), data.matrix(train, liked_only=False)
    users = np.unique(data.user[held & data.liked])
    relevant = held_out_likes(data, held, users)
    user_factors, item_factors, backend = rec.fit_als(train_likes, params, prefer)
    als_top, _ = rec.score_users(user_factors[users], item_factors, train_seen[users], k)
    popular_top, _ = rec.score_users(np.ones((len(users), 1), np.float32),
                                     rec.popularity_scores(train_likes)[:, None], train_seen[users], k)
    n_items = data.shape[1]
    return (rec.ranking_metrics(als_top, relevant, n_items, recall_k=k),
            rec.ranking_metrics(popular_top, relevant, n_items, recall_k=k), backend)


def search_params(data: Indexed, held: np.ndarray, settings: RecommendSettings,
                  say: Callable[[str], None]) -> tuple[rec.AlsParams, list]:
    """Grid search on a validation split carved out of the training rows (each user's newest again)."""
    train = ~held
    validation = np.zeros_like(held)
    validation[train] = rec.temporal_split(data.user[train], data.ts[train], settings.holdout_share,
                                           settings.min_user_interactions)
    trials = []
    for factors, regularization, alpha in itertools.product(settings.factors, settings.regularization,
                                                            settings.alpha):
        params = rec.AlsParams(factors, regularization, alpha, settings.iterations)
        # The test split's rows are dropped: the search neither trains on nor scores them.
        als, _, _ = evaluate_split(_drop(data, held), validation[train], params, settings.device, settings.top_k)
        trials.append((params, als))
        say(f"    factors={factors} reg={regularization} alpha={alpha}: "
            f"recall@{settings.top_k} {als[f'recall_at_{settings.top_k}']:.3f} ndcg@10 {als['ndcg_at_10']:.3f}")
    best = max(trials, key=lambda t: (t[1][f"recall_at_{settings.top_k}"], t[1]["ndcg_at_10"]))
    return best[0], trials


def _drop(data: Indexed, rows: np.ndarray) -> Indexed:
    keep = ~rows
    return Indexed(user=data.user[keep], item=data.item[keep], ts=data.ts[keep], preference=data.preference[keep],
                   user_ids=data.user_ids, item_ids=data.item_ids, item_category=data.item_category,
                   category_names=data.category_names)


def serve(data: Indexed, user_factors: np.ndarray, item_factors: np.ndarray, settings: RecommendSettings
          ) -> pd.DataFrame:
    """Top-k per known user (strategy per row) and the popularity list of the unknown user."""
    k = settings.top_k
    everything = np.ones(len(data.user), dtype=bool)
    likes, seen = data.matrix(everything), data.matrix(everything, liked_only=False)
    n_likes = np.diff(likes.indptr)
    catalogue = rec.Catalogue.build(rec.popularity_scores(likes), data.item_category)
    primary_items = np.full((data.shape[0], k), -1, dtype=np.int64)
    primary_scores = np.zeros((data.shape[0], k), dtype=np.float32)
    strategy = np.where(n_likes >= settings.min_als_likes, "als", np.where(n_likes > 0, "similar-items", "category"))

    als_users = np.flatnonzero(strategy == "als")
    ids, scores = rec.score_users(user_factors[als_users], item_factors, seen[als_users], k)
    primary_items[als_users, : ids.shape[1]], primary_scores[als_users, : ids.shape[1]] = ids, scores
    # Light users: the sum of their liked items' normalised factors ranks items by total cosine similarity.
    light_users = np.flatnonzero(strategy == "similar-items")
    item_unit = rec.normalise_rows(item_factors)
    profile = likes[light_users].astype(bool).astype(np.float32) @ item_unit
    ids, scores = rec.score_users(np.asarray(profile), item_unit, seen[light_users], k)
    primary_items[light_users, : ids.shape[1]], primary_scores[light_users, : ids.shape[1]] = ids, scores

    user_categories = pd.DataFrame({"u": data.user, "c": data.item_category[data.item]}).value_counts()
    touched: dict[int, list[int]] = {}
    for (u, c), _count in user_categories.items():  # value_counts sorts by count: most touched first
        touched.setdefault(int(u), []).append(int(c))
    columns: dict[str, list] = {"user_id": [], "rank": [], "product_id": [], "score": [], "strategy": []}
    for u in range(data.shape[0]):
        row_seen = set(seen.indices[seen.indptr[u]:seen.indptr[u + 1]].tolist())
        items, item_scores, strategies = rec.fill_to_k(primary_items[u].tolist(), primary_scores[u].tolist(),
                                                       str(strategy[u]), row_seen, touched.get(u, []), catalogue, k)
        _extend(columns, str(data.user_ids[u]), items, item_scores, strategies, data.item_ids)
    items, item_scores, strategies = rec.fill_to_k([], [], "popularity", set(), [], catalogue, k)
    _extend(columns, rec.UNKNOWN_USER, items, item_scores, strategies, data.item_ids)
    return pd.DataFrame(columns)


def _extend(columns: dict[str, list], user_id: str, items: list[int], scores: list[float], strategies: list[str],
            item_ids: np.ndarray) -> None:
    columns["user_id"] += [user_id] * len(items)
    columns["rank"] += list(range(1, len(items) + 1))
    columns["product_id"] += item_ids[items].tolist()
    columns["score"] += scores
    columns["strategy"] += strategies


def run(ctx: StageContext) -> StageResult:
    """Tune, evaluate, refit and serve; a no-op when the inputs have not changed since the last success."""
    settings = ctx.config.recommend
    inputs = [t for t in (REVIEWS, SENTIMENT, PRODUCTS) if ctx.lake.exists(t)]
    store = ModelStore(ctx.lake_root, "recommend")
    if store.current() and ctx.inputs_unchanged(*inputs) and ctx.lake.exists(RECOMMENDATIONS):
        ctx.say(f"  inputs unchanged since the last run; keeping model {store.current()}")
        return StageResult(message=f"unchanged; model {store.current()}", details={"model_version": store.current()})
    store.discard_staging()
    frame = interaction_frame(ctx.read(REVIEWS), ctx.read(SENTIMENT) if SENTIMENT in inputs else None,
                              ctx.read(PRODUCTS) if PRODUCTS in inputs else None).toPandas()
    # A review without a user id (valid CSV input) is nobody's taste: it cannot be a row of the user matrix.
    anonymous = int(frame["user_id"].isna().sum())
    if anonymous:
        ctx.say(f"  {anonymous:,} reviews without a user id are left out of the interactions")
        frame = frame[frame["user_id"].notna()].reset_index(drop=True)
    data = index_interactions(frame)
    ctx.say(f"  {len(frame):,} reviews -> {int(data.liked.sum()):,} likes from {data.shape[0]:,} users on "
            f"{data.shape[1]:,} products (sentiment {'used' if SENTIMENT in inputs else 'absent: stars only'})")
    held = rec.temporal_split(data.user, data.ts, settings.holdout_share, settings.min_user_interactions)

    started = time.perf_counter()
    params, trials = search_params(data, held, settings, ctx.say)
    als_metrics, popular_metrics, backend = evaluate_split(data, held, params, settings.device, settings.top_k)
    ctx.say(f"  test split ({int(als_metrics['users_evaluated']):,} users, newest {settings.holdout_share:.0%}): "
            f"ALS recall@{settings.top_k} {als_metrics[f'recall_at_{settings.top_k}']:.3f} vs popularity "
            f"{popular_metrics[f'recall_at_{settings.top_k}']:.3f}; ndcg@10 {als_metrics['ndcg_at_10']:.3f} vs "
            f"{popular_metrics['ndcg_at_10']:.3f} ({backend} ALS, {asdict(params)})")

    fit_started = time.perf_counter()
    user_factors, item_factors, backend = rec.fit_als(data.matrix(np.ones(len(data.user), dtype=bool)), params,
                                                      settings.device)
    fit_seconds = time.perf_counter() - fit_started
    silver_version = ctx.tables_read.get(REVIEWS)
    version = store.save(rec.AlsArtifacts(data.user_ids, data.item_ids, user_factors, item_factors), {
        "kind": "als", "params": asdict(params), "backend": backend, "training_table": REVIEWS,
        "training_table_version": silver_version, "test_metrics": als_metrics, "popularity_metrics": popular_metrics,
        "search": [{"params": asdict(p), "validation": m} for p, m in trials]})
    store.promote(version, "refitted on all interactions")
    dataset = f"{REVIEWS}@v{silver_version}:per-user-newest-{settings.holdout_share:.0%}"
    ctx.record_metrics(dataset, {("recommend.als", version): {**als_metrics, "fit_seconds_all": fit_seconds},
                                 ("recommend.popularity", version): popular_metrics})

    served = serve(data, user_factors, item_factors, settings)
    served["model_version"], served["run_id"] = version, ctx.run_id
    served = served.astype({"rank": "int32", "score": "float64"})
    ctx.overwrite(RECOMMENDATIONS, ctx.spark.createDataFrame(served, schema=table_spec(RECOMMENDATIONS).schema))
    mix = served.groupby("strategy").size().to_dict()
    ctx.say(f"  {served['user_id'].nunique():,} users x top-{settings.top_k} written in "
            f"{time.perf_counter() - started:.1f}s; rows by strategy: {mix}")
    return StageResult(rows_in=len(frame), rows_out=len(served), message=f"model {version}", details={
        "model_version": version, "reviews_without_user": anonymous, "backend": backend, "params": asdict(params),
        "test": als_metrics,
        "popularity": popular_metrics, "rows_by_strategy": mix})


if __name__ == "__main__":
    from reviewlake.cli import run_stage_main

    run_stage_main("recommend")
