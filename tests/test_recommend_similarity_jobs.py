"""Recommend and similarity stages on Spark + Delta over a small synthetic lake: serving-table rules, metrics,
re-runs as no-ops, incremental product vectors, answers from the saved index."""

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from reviewlake.config import RecommendSettings, SimilaritySettings
from reviewlake.context import RunParams
from reviewlake.pipeline import run_pipeline
from tests.conftest import add_review_like_first, read_table, synthetic_lake
from udfs import recommender as rec

RUN_DATE = date(2024, 1, 2)


@pytest.fixture(scope="module")
def small_lake(spark, base_config, tmp_path_factory):
    """6,000 synthetic reviews through ingest, clean, sentences, sentiment (fast tier), recommend and similarity."""
    config, _truth, results = synthetic_lake(
        base_config, tmp_path_factory.mktemp("recsim"), 6000, 5,
        ("ingest", "clean", "sentences", "sentiment", "recommend", "similarity"), RUN_DATE,
        recommend=RecommendSettings(factors=(16, 32), regularization=(0.05,), alpha=(10.0,)),
        similarity=SimilaritySettings(reviews_per_product=3))
    return config, results


def _likes_per_user(lake_root) -> pd.Series:
    silver = read_table(lake_root, "silver.reviews")
    sentiment = read_table(lake_root, "gold.review_sentiment")[["review_id", "score"]]
    joined = silver.merge(sentiment, on="review_id", how="left")
    joined["liked"] = rec.review_preference(joined["rating"].to_numpy(float),
                                            joined["score"].to_numpy(float)) >= rec.LIKE_THRESHOLD
    return joined.drop_duplicates(["user_id", "product_id", "liked"]).groupby("user_id")["liked"].sum()


def test_every_user_gets_top_k_never_a_seen_item_with_documented_strategies(small_lake):
    config, _ = small_lake
    recs = read_table(config.lake, "gold.user_recommendations")
    silver = read_table(config.lake, "silver.reviews")
    k = config.recommend.top_k
    per_user = recs.groupby("user_id")["rank"].agg(["count", "min", "max"])
    assert set(per_user.index) == set(silver["user_id"]) | {rec.UNKNOWN_USER}
    assert (per_user["count"] == k).all() and (per_user["min"] == 1).all() and (per_user["max"] == k).all()

    seen = recs.merge(silver[["user_id", "product_id"]].drop_duplicates(), on=["user_id", "product_id"])
    assert seen.empty, "already reviewed products must never be recommended"
    assert not recs.duplicated(["user_id", "product_id"]).any()

    first = recs[recs["rank"] == 1].set_index("user_id")["strategy"]
    likes = _likes_per_user(config.lake)
    expected = np.where(likes >= config.recommend.min_als_likes, "als",
                        np.where(likes > 0, "similar-items", "category"))
    assert first.loc[likes.index].tolist() == expected.tolist()
    assert set(recs[recs["user_id"] == rec.UNKNOWN_USER]["strategy"]) == {"popularity"}
    assert set(recs["strategy"]) <= set(rec.STRATEGIES)
    assert recs["model_version"].nunique() == 1


def test_als_beats_popularity_on_the_held_out_newest_interactions(small_lake):
    config, results = small_lake
    metrics = read_table(config.lake, "ops.model_metrics")
    recall = metrics[metrics["metric"] == "recall_at_20"].set_index("model")["value"]
    assert recall["recommend.als"] > recall["recommend.popularity"] * 1.2
    version = results["recommend"].details["model_version"]
    assert (config.lake / "models" / "recommend" / version / "als.npz").exists()


def test_similarity_table_and_saved_index_agree(small_lake):
    from queries.similar import similar_products

    config, results = small_lake
    table = read_table(config.lake, "gold.product_similarity")
    products = read_table(config.lake, "silver.products")
    assert set(table["product_id"]) == set(read_table(config.lake, "silver.reviews")["product_id"])
    assert (table.groupby("product_id").size() == config.similarity.neighbours).all()
    assert (table["product_id"] != table["similar_product_id"]).all()
    assert set(table["index_type"]) == {"flat-exact"}

    some = table["product_id"].iloc[0]
    from_table = table[table["product_id"] == some].sort_values("rank")
    answered = similar_products(config.lake, product_id=some, k=config.similarity.neighbours, device="cpu")
    assert answered["product_id"].tolist() == from_table["similar_product_id"].tolist()

    # Same-category neighbours dominate: category words and aspects are what the texts share.
    category = products.set_index("product_id")["category"]
    same = (table["product_id"].map(category) == table["similar_product_id"].map(category)).mean()
    assert same > 0.9

    by_text = similar_products(config.lake, text="blender with a powerful motor and sharp blades", k=3,
                               device="cpu")
    assert by_text["category"].tolist() == ["Kitchen"] * 3


def test_reruns_are_no_ops_and_new_reviews_refresh_only_their_product(small_lake, spark):
    config, results = small_lake
    again = run_pipeline(config, RunParams(stages=("recommend", "similarity"), run_date=RUN_DATE),
                         say=lambda _m: None, run_id="again")
    assert [o.result.message.startswith("unchanged") for o in again] == [True, True]

    add_review_like_first(spark, config.lake, review_id="new-review-1", text="Brand new words about this thing.",
                          text_hash="new-hash", review_ts=datetime(2023, 12, 31, 12), updated_at=datetime(2024, 1, 1))
    refreshed = run_pipeline(config, RunParams(stages=("similarity",), run_date=RUN_DATE), say=lambda _m: None,
                             run_id="refresh")[0].result
    assert refreshed.details["vectors_recomputed"] == 1
    assert refreshed.details["model_version"] != results["similarity"].details["model_version"]

    # A review without a user id (valid CSV input) used to reach ALS as user code -1 and crash the stage.
    add_review_like_first(spark, config.lake, review_id="anonymous-1", user_id=None, text_hash="anon",
                          review_ts=datetime(2023, 12, 31, 13), updated_at=datetime(2024, 1, 1))
    anonymous = run_pipeline(config, RunParams(stages=("recommend",), run_date=RUN_DATE), say=lambda _m: None,
                             run_id="anonymous")[0]
    assert anonymous.status == "succeeded"
    assert anonymous.result.details["reviews_without_user"] == 1
    assert None not in set(read_table(config.lake, "gold.user_recommendations")["user_id"])


def test_similar_without_an_index_is_a_user_error(tmp_path):
    from queries.similar import similar_products
    from reviewlake.errors import UserError

    with pytest.raises(UserError, match="run the similarity stage first"):
        similar_products(tmp_path, product_id="B000000001")
    with pytest.raises(UserError, match="either a product id or --text"):
        similar_products(tmp_path)
