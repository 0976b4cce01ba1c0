"""udfs.recommender on tiny hand-made inputs with known answers (no Spark)."""

import numpy as np
import pytest
from scipy import sparse

from udfs import recommender as rec


def test_review_preference_weights_stars_by_text():
    nan = np.nan
    rating = np.array([5, 5, 4, 3, 1, 1, nan, nan, nan])
    score = np.array([nan, 1.0, -0.5, 1.0, 1.0, nan, 0.8, -0.3, nan])
    got = rec.review_preference(rating, score)
    np.testing.assert_allclose(got, [1.0, 1.0, 0.36, 0.2, 0.0, 0.0, 0.8, 0.0, 0.2])
    liked = got >= rec.LIKE_THRESHOLD
    assert liked.tolist() == [True, True, True, False, False, False, True, False, False]


def test_interaction_matrix_keeps_the_strongest_repeat():
    m = rec.interaction_matrix(np.array([0, 0, 1]), np.array([2, 2, 0]), np.array([0.4, 0.9, 1.0]), (2, 3))
    np.testing.assert_allclose(m.toarray(), [[0, 0, 0.9], [1.0, 0, 0]])


def test_temporal_split_holds_out_each_users_newest():
    users = np.array(["a"] * 5 + ["b"] * 2 + ["c"] * 10)
    ts = np.array([5, 1, 4, 2, 3] + [1, 2] + list(range(10)))
    held = rec.temporal_split(users, ts, holdout_share=0.2, min_interactions=3)
    assert ts[held & (users == "a")].tolist() == [5]
    assert not held[users == "b"].any()           # too light to hold anything out
    assert sorted(ts[held & (users == "c")].tolist()) == [8, 9]


def test_ranking_metrics_known_values():
    recommended = np.array([[1, 2, 3], [4, 5, 6]])
    relevant = [{3, 9}, set()]   # the second user has nothing held out and is not counted
    got = rec.ranking_metrics(recommended, relevant, n_items=10, recall_k=3, ndcg_k=3)
    assert got["recall_at_3"] == pytest.approx(0.5)
    ideal = 1 + 1 / np.log2(3)
    assert got["ndcg_at_3"] == pytest.approx((1 / np.log2(4)) / ideal)
    assert got["catalogue_coverage"] == pytest.approx(0.3)
    assert got["users_evaluated"] == 1


def _two_blocks() -> sparse.csr_matrix:
    """Users 0-9 like items 0-4 and users 10-19 like items 5-9; user u misses item u % 5 of its block."""
    dense = np.zeros((20, 10), dtype=np.float32)
    for u in range(20):
        block = range(0, 5) if u < 10 else range(5, 10)
        for i in block:
            if i % 5 != u % 5:
                dense[u, i] = 1.0
    return sparse.csr_matrix(dense)


def test_als_known_answer_recommends_the_missing_item_of_the_users_block():
    likes = _two_blocks()
    users, items, backend = rec.fit_als(likes, rec.AlsParams(factors=4, regularization=0.01, alpha=10,
                                                             iterations=20), prefer="cpu")
    assert backend == "cpu"
    top, _ = rec.score_users(users, items, likes, k=1)
    expected = [u % 5 + (0 if u < 10 else 5) for u in range(20)]
    assert top[:, 0].tolist() == expected


def test_score_users_never_returns_seen_items_and_pads_when_catalogue_is_exhausted():
    seen = sparse.csr_matrix(np.array([[1, 1, 0], [0, 0, 0]], dtype=np.float32))
    ids, scores = rec.score_users(np.ones((2, 1), np.float32), np.array([[3.0], [2.0], [1.0]], np.float32),
                                  seen, k=3)
    assert ids.tolist() == [[2, -1, -1], [0, 1, 2]]


def test_fill_to_k_pads_with_touched_categories_then_popularity_never_seen():
    popularity = np.array([10, 9, 8, 7, 6, 5], dtype=np.float32)
    category = np.array([0, 0, 1, 1, 2, 2])
    catalogue = rec.Catalogue.build(popularity, category)
    items, scores, strategies = rec.fill_to_k([5], [0.9], "als", seen={2}, touched_categories=[1],
                                              catalogue=catalogue, k=4)
    assert items == [5, 3, 0, 1]
    assert strategies == ["als", "category", "popularity", "popularity"]
    assert scores[0] == pytest.approx(0.9)
