"""udfs.similarity_index: exact answers, approximate recall against exact, save/load round trip (no Spark)."""

import numpy as np
import pytest

from udfs.similarity_index import ProductIndex, exact_neighbours, recall_at_k


def _clustered(n: int, dim: int = 32, clusters: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    return (centres[rng.integers(0, clusters, n)] + 0.6 * rng.normal(size=(n, dim))).astype(np.float32)


def test_exact_index_known_neighbours_without_self():
    vectors = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [-1, 0]], dtype=np.float32)
    index = ProductIndex.build(np.array(["a", "b", "c", "d", "e"]), vectors, prefer="cpu")
    assert index.report.index_type == "flat-exact" and index.report.recall_at_10 == 1.0
    rows, scores = index.neighbours_of_all(k=1)
    assert index.ids[rows[:, 0]].tolist() == ["b", "a", "d", "c", "c"]  # e is orthogonal to c, opposite b
    assert (scores[:, 0] <= 1.0 + 1e-6).all()


def test_exact_neighbour_scores_are_symmetric():
    vectors = _clustered(300)
    index = ProductIndex.build(np.arange(300).astype(str), vectors, prefer="cpu")
    rows, scores = index.neighbours_of_all(k=10)
    pairs = {(i, int(j)): float(s) for i in range(300) for j, s in zip(rows[i], scores[i], strict=True)}
    shared = [(p, s) for p, s in pairs.items() if (p[1], p[0]) in pairs]
    assert shared, "clustered data must have mutual neighbours"
    for (i, j), s in shared:
        assert s == pytest.approx(pairs[(j, i)], abs=1e-5)
    assert all(i != j for (i, j) in pairs)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_index_reaches_recall_target_against_exact(kind):
    vectors = _clustered(4000)
    index = ProductIndex.build(np.arange(4000).astype(str), vectors, exact_max=1000, approximate=kind,
                               min_recall=0.95, prefer="cpu")
    assert index.report.index_type.startswith(kind)
    assert index.report.recall_at_10 >= 0.95
    # Check the reported recall independently, on other queries than the tuning sample.
    queries = index.vectors[::7]
    found, _ = index.search(queries, 10)
    assert recall_at_k(found, exact_neighbours(index.vectors, queries, 10)) >= 0.93


def test_saved_index_answers_like_the_built_one(tmp_path):
    vectors = _clustered(2000)
    built = ProductIndex.build(np.arange(2000).astype(str), vectors, exact_max=500, approximate="ivf",
                               prefer="cpu")
    built.save(tmp_path)
    loaded = ProductIndex.load(tmp_path, prefer="cpu")
    assert loaded.report.search_param == built.report.search_param
    queries = vectors[:50]
    np.testing.assert_array_equal(loaded.search(queries, 10)[0], built.search(queries, 10)[0])
    assert loaded.row_of("17") == 17
