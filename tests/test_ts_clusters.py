"""Shape clustering separates planted shapes and names them."""

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from udfs.ts_clusters import cluster_shapes, z_normalise


def planted(n_each=15, weeks=156, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(weeks)
    shapes = {
        "rising": 5 + 0.1 * t,
        "declining": 20 - 0.1 * t,
        "seasonal": 10 + 5 * np.sin(2 * np.pi * t / 52),
        "flat": np.full(weeks, 10.0),
    }
    rows, truth = [], []
    for name, base in shapes.items():
        for i in range(n_each):
            noise = rng.normal(0, 0.5 if name == "flat" else 1.0, weeks)
            rows.append(pd.Series(base * rng.uniform(0.5, 2) + noise, name=f"{name}-{i}"))
            truth.append(name)
    return pd.DataFrame(rows), truth


def test_planted_shapes_are_separated_and_named():
    profiles, truth = planted()
    result = cluster_shapes(profiles)
    assert result.k == 4
    assert adjusted_rand_score(truth, result.labels.to_numpy()) > 0.95
    named = {name: result.descriptions[result.labels[f"{name}-0"]] for name in ("rising", "declining", "seasonal",
                                                                                 "flat")}
    assert named == {"rising": "rising", "declining": "declining", "seasonal": "seasonal", "flat": "flat"}


def test_constant_rows_do_not_divide_by_zero():
    assert np.array_equal(z_normalise(np.array([[3.0, 3.0, 3.0]])), np.zeros((1, 3)))
