"""Group series by shape: smooth, z-normalise, k-means for k in a range, keep the best silhouette, and
describe each cluster's centroid in words (rising, declining, seasonal, volatile; flat ones apart). No Spark."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Clustering:
    """Cluster per entity plus what each cluster looks like."""

    labels: pd.Series            # entity -> cluster id
    k: int
    silhouette: float
    descriptions: dict[int, str]


def z_normalise(profiles: np.ndarray) -> np.ndarray:
    """Each row to mean 0, sd 1 (constant rows become all zeros: a flat shape, not a division by zero)."""
    centred = profiles - profiles.mean(axis=1, keepdims=True)
    sd = profiles.std(axis=1, keepdims=True)
    return np.divide(centred, sd, out=np.zeros_like(centred), where=sd > 1e-9)


def smooth(profiles: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average per row: period-to-period noise out, shape kept."""
    if window <= 1:
        return profiles
    return pd.DataFrame(profiles).T.rolling(window, center=True, min_periods=1).mean().T.to_numpy()


def describe(centroid: np.ndarray, season: int) -> str:
    """Words for a centroid of z-normalised profiles."""
    t = np.linspace(-1, 1, len(centroid))
    fit = np.polyfit(t, centroid, 1) if len(centroid) > 1 else np.zeros(2)
    if fit[0] > 0.5:
        return "rising"
    if fit[0] < -0.5:
        return "declining"
    if len(centroid) > 2 * season:
        detrended = centroid - np.polyval(fit, t)
        lagged = np.corrcoef(detrended[:-season], detrended[season:])[0, 1]
        if np.isfinite(lagged) and lagged > 0.3:
            return "seasonal"
    return "volatile"


def cluster_shapes(profiles: pd.DataFrame, k_range: range = range(2, 7), season: int = 52,
                   seed: int = 0, flat_cv: float = 0.1) -> Clustering:
    """Rows of `profiles` are entities, columns consecutive periods.

    Rows whose smoothed profile barely moves (coefficient of variation below `flat_cv`) form a "flat"
    cluster up front: z-normalising them would blow their noise up into shapes that k-means then splits.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    raw = profiles.to_numpy(dtype=float)
    smoothed = smooth(raw, min(8, max(1, raw.shape[1] // 8)))
    level = np.maximum(np.abs(raw).mean(axis=1), 1e-9)
    flat = smoothed.std(axis=1) / level < flat_cv
    moving = z_normalise(smoothed[~flat])
    best = None
    for k in k_range:
        if k >= len(moving):
            break
        model = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(moving)
        score = float(silhouette_score(moving, model.labels_, random_state=seed,
                                       sample_size=min(len(moving), 5000)))
        if best is None or score > best[0]:
            best = (score, k, model)
    labels = np.zeros(len(raw), dtype=int)
    descriptions: dict[int, str] = {}
    k, score = 0, float("nan")
    if best is not None:
        score, k, model = best
        labels[~flat] = model.labels_
        descriptions = {c: describe(model.cluster_centers_[c], season) for c in range(k)}
    elif len(moving):
        descriptions, k = {0: describe(moving.mean(axis=0), season)}, 1
    if flat.any():
        labels[flat] = k
        descriptions[k] = "flat"
        k += 1
    return Clustering(pd.Series(labels, index=profiles.index), k, score, descriptions)
