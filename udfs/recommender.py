"""Implicit-feedback recommendation core (no Spark): interaction weights, ALS factory, split, metrics, serving.

The Spark job (jobs/recommend.py) turns silver.reviews into integer-indexed interactions and calls these
functions on numpy/scipy data, so everything here is testable on tiny known-answer matrices.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

# A review counts as a "like" (a positive for ALS) at this preference or above; below it the product is
# still "seen" (never recommended back) but teaches the model nothing positive.
LIKE_THRESHOLD = 0.3
STAR_SHARE, TEXT_SHARE = 0.6, 0.4
UNKNOWN_USER = "__unknown__"
STRATEGIES = ("als", "similar-items", "category", "popularity")


def review_preference(rating: np.ndarray, sentiment_score: np.ndarray) -> np.ndarray:
    """Preference in [0, 1] per review from stars and text sentiment (NaN where unknown).

    Stars: 5 -> 1.0, 4 -> 0.6, 3 -> 0.2, 1-2 -> 0 (a 1-star review is not a like, whatever its text says).
    Text sentiment s in [-1, 1] scales the stars by 0.6 + 0.4 * max(s, 0): a 5-star review with a negative
    text (sarcasm, a complaint) drops to 0.6. Stars only: the stars; text only: max(s, 0); neither: 0.2
    (the user bought it, no more).
    """
    stars = np.clip((np.asarray(rating, dtype=float) - 2.5) / 2.5, 0.0, 1.0)
    text = np.clip(np.asarray(sentiment_score, dtype=float), 0.0, 1.0)
    scaled = stars * (STAR_SHARE + TEXT_SHARE * text)
    combined = np.where(np.isnan(stars), text, np.where(np.isnan(text), stars, scaled))
    return np.where(np.isnan(combined), 0.2, combined)


def interaction_matrix(user_index: np.ndarray, item_index: np.ndarray, values: np.ndarray,
                       shape: tuple[int, int]) -> sparse.csr_matrix:
    """users x items CSR; repeated (user, item) pairs keep the largest value."""
    frame = pd.DataFrame({"u": user_index, "i": item_index, "v": values}).groupby(["u", "i"], sort=False).max()
    rows, cols = frame.index.get_level_values(0), frame.index.get_level_values(1)
    return sparse.csr_matrix((frame["v"].to_numpy(np.float32), (rows, cols)), shape=shape)


@dataclass(frozen=True)
class AlsParams:
    factors: int = 64
    regularization: float = 0.05
    alpha: float = 10.0
    iterations: int = 15


def make_als(params: AlsParams, prefer: str = "auto", seed: int = 7):
    """implicit's ALS on the GPU when CUDA is usable (and not refused), else on the CPU; returns (model, backend)."""
    import implicit

    use_gpu = prefer != "cpu" and implicit.gpu.HAS_CUDA
    if prefer == "gpu" and not use_gpu:
        raise RuntimeError("GPU ALS requested but implicit was built without CUDA or sees no GPU")
    kwargs = dict(factors=params.factors, regularization=params.regularization, alpha=params.alpha,
                  iterations=params.iterations, random_state=seed, calculate_training_loss=False)
    if use_gpu:
        try:
            return implicit.gpu.als.AlternatingLeastSquares(**kwargs), "gpu"
        except Exception:  # a broken CUDA runtime must not stop the nightly run: fall back like implicit does
            pass
    return implicit.cpu.als.AlternatingLeastSquares(**kwargs), "cpu"


def fit_als(matrix: sparse.csr_matrix, params: AlsParams, prefer: str = "auto", seed: int = 7):
    """Fit on a users x items confidence matrix; returns (user_factors, item_factors, backend) as numpy."""
    import implicit.cpu.als  # noqa: F401  (loads its BLAS, so the limit below reaches it)
    from threadpoolctl import threadpool_limits

    # implicit parallelises over users itself; a multi-threaded BLAS underneath only oversubscribes the cores.
    with threadpool_limits(1, "blas"):
        model, backend = make_als(params, prefer, seed)
        model.fit(matrix, show_progress=False)
    if backend == "gpu":
        model = model.to_cpu()
    return np.asarray(model.user_factors), np.asarray(model.item_factors), backend


def temporal_split(users: np.ndarray, timestamps: np.ndarray, holdout_share: float = 0.2,
                   min_interactions: int = 3) -> np.ndarray:
    """Boolean mask of held-out rows: each user's newest ceil(share * n) interactions, for users with at least
    `min_interactions` (lighter users stay whole in training)."""
    frame = pd.DataFrame({"u": users, "t": timestamps, "row": np.arange(len(users))})
    frame = frame.sort_values(["u", "t", "row"])
    size = frame.groupby("u")["row"].transform("size").to_numpy()
    newest_rank = frame.groupby("u").cumcount(ascending=False).to_numpy()
    held = (size >= min_interactions) & (newest_rank < np.ceil(holdout_share * size))
    mask = np.zeros(len(users), dtype=bool)
    mask[frame["row"].to_numpy()[held]] = True
    return mask


def top_k_scores(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column ids and scores of the k best per row, best first (rows with fewer finite scores padded with -1)."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    ids = np.take_along_axis(part, order, axis=1)
    best = np.take_along_axis(part_scores, order, axis=1)
    ids = np.where(np.isfinite(best), ids, -1)
    return ids, best


def score_users(user_vectors: np.ndarray, item_factors: np.ndarray, seen: sparse.csr_matrix, k: int,
                chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Top-k items per user by dot product, never an item in that user's row of `seen`."""
    ids = np.full((len(user_vectors), min(k, item_factors.shape[0])), -1, dtype=np.int64)
    scores = np.zeros(ids.shape, dtype=np.float32)
    for start in range(0, len(user_vectors), chunk):
        block = user_vectors[start:start + chunk] @ item_factors.T
        seen_block = seen[start:start + chunk].tocoo()
        block[seen_block.row, seen_block.col] = -np.inf
        ids[start:start + chunk], scores[start:start + chunk] = top_k_scores(block, k)
    return ids, scores


def popularity_scores(matrix: sparse.csr_matrix) -> np.ndarray:
    """Number of users who like each item."""
    return np.asarray((matrix > 0).sum(axis=0)).ravel().astype(np.float32)


def ranking_metrics(recommended: np.ndarray, relevant: Sequence[Iterable[int]], n_items: int,
                    recall_k: int = 20, ndcg_k: int = 10) -> dict[str, float]:
    """Recall@recall_k (hits / min(k, |relevant|)), NDCG@ndcg_k, catalogue coverage, over users with relevant items."""
    recalls, ndcgs, shown = [], [], set()
    discounts = 1.0 / np.log2(np.arange(2, ndcg_k + 2))
    for row, truth in zip(recommended, relevant, strict=True):
        truth = set(truth)
        if not truth:
            continue
        top = [i for i in row[:recall_k] if i >= 0]
        shown.update(top)
        recalls.append(len(truth.intersection(top)) / min(recall_k, len(truth)))
        gains = np.array([1.0 if i in truth else 0.0 for i in row[:ndcg_k]])
        ideal = discounts[: min(ndcg_k, len(truth))].sum()
        ndcgs.append(float((gains * discounts[: len(gains)]).sum() / ideal))
    return {f"recall_at_{recall_k}": float(np.mean(recalls)) if recalls else math.nan,
            f"ndcg_at_{ndcg_k}": float(np.mean(ndcgs)) if ndcgs else math.nan,
            "catalogue_coverage": len(shown) / n_items if n_items else math.nan,
            "users_evaluated": float(len(recalls))}


@dataclass
class Catalogue:
    """What the fallbacks need: item popularity and each item's category (integer codes)."""

    popularity: np.ndarray                 # per item
    item_category: np.ndarray              # per item, category code
    popular: np.ndarray                    # all items, most popular first (ties by item code)
    category_items: dict[int, np.ndarray] = field(default_factory=dict)  # code -> items, most popular first

    @classmethod
    def build(cls, popularity: np.ndarray, item_category: np.ndarray) -> Catalogue:
        # Sorted once here: fill_to_k runs once per user.
        order = np.lexsort((np.arange(len(popularity)), -popularity))
        by_category = {int(c): order[item_category[order] == c] for c in np.unique(item_category)}
        return cls(popularity, item_category, order, by_category)


def fill_to_k(primary: list[int], primary_scores: list[float], strategy: str, seen: set[int],
              touched_categories: list[int], catalogue: Catalogue, k: int
              ) -> tuple[list[int], list[float], list[str]]:
    """Pad a user's list to k: popular items of the categories they touched, then globally popular items."""
    items, scores, strategies = [], [], []
    taken = set(seen)
    for item, score in zip(primary, primary_scores, strict=True):
        if item >= 0 and item not in taken:
            items.append(item), scores.append(score), strategies.append(strategy)
            taken.add(item)
    fallbacks = [("category", catalogue.category_items.get(c, np.array([], dtype=np.int64)))
                 for c in touched_categories]
    fallbacks.append(("popularity", catalogue.popular))
    for name, pool in fallbacks:
        for item in pool:
            if len(items) >= k:
                break
            item = int(item)
            if item not in taken:
                items.append(item), scores.append(float(catalogue.popularity[item])), strategies.append(name)
                taken.add(item)
    return items[:k], scores[:k], strategies[:k]


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.clip(norms, 1e-12, None)


@dataclass
class AlsArtifacts:
    """A trained ALS model as saved in the lake (ids give factor rows their meaning)."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    user_factors: np.ndarray
    item_factors: np.ndarray

    def save(self, directory: Path) -> None:
        np.savez_compressed(Path(directory) / "als.npz", user_ids=self.user_ids.astype(str),
                            item_ids=self.item_ids.astype(str), user_factors=self.user_factors,
                            item_factors=self.item_factors)

    @classmethod
    def load(cls, directory: Path) -> AlsArtifacts:
        data = np.load(Path(directory) / "als.npz")
        return cls(data["user_ids"], data["item_ids"], data["user_factors"], data["item_factors"])
