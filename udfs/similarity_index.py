"""FAISS nearest-neighbour index over normalised product vectors (inner product = cosine).

Exact `IndexFlatIP` up to a size limit; above it IVF-Flat or HNSW, tuned (nprobe / efSearch) until recall@10
against the exact answer on a sample of queries reaches a target, and the reached recall is reported. On a
machine where FAISS sees a GPU the flat and IVF indexes are moved to it (HNSW has no GPU version).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

RECALL_QUERIES = 1_000


def faiss_gpus() -> int:
    """GPUs FAISS can use (0 for the faiss-cpu build, which has no get_num_gpus)."""
    import faiss

    return faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0


def choose_device(prefer: str = "auto") -> str:
    if prefer == "cpu":
        return "cpu"
    if faiss_gpus() > 0:
        return "gpu"
    if prefer == "gpu":
        raise RuntimeError("a GPU index was requested but FAISS sees no GPU (install the gpu extra's faiss-gpu)")
    return "cpu"


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    return vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)


def exact_neighbours(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Ids of the k best inner products per query (brute force, the reference for recall)."""
    import faiss

    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    return flat.search(queries, k)[1]


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    """Share of the exact top-k that the index returned, averaged over queries."""
    hits = [len(set(f[f >= 0].tolist()) & set(e.tolist())) / len(e) for f, e in zip(found, exact, strict=True)]
    return float(np.mean(hits)) if hits else math.nan


@dataclass
class IndexReport:
    index_type: str
    device: str
    n_vectors: int
    build_seconds: float
    recall_at_10: float                 # against exact search on a query sample (1.0 for the exact index)
    search_param: dict = field(default_factory=dict)


class ProductIndex:
    """A FAISS index plus the product ids of its rows."""

    def __init__(self, index, ids: np.ndarray, vectors: np.ndarray, report: IndexReport) -> None:
        self.index, self.ids, self.vectors, self.report = index, np.asarray(ids).astype(str), vectors, report
        self._row = {pid: row for row, pid in enumerate(self.ids.tolist())}

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, exact_max: int = 50_000, approximate: str = "ivf",
              min_recall: float = 0.95, prefer: str = "auto", seed: int = 0) -> ProductIndex:
        """Exact up to `exact_max` vectors, else IVF/HNSW tuned to `min_recall` recall@10 against exact."""
        import faiss

        vectors = normalise(vectors)
        n, dim = vectors.shape
        device = choose_device(prefer)
        started = time.perf_counter()
        if n <= exact_max:
            index = _to_device(faiss.IndexFlatIP(dim), device)
            index.add(vectors)
            report = IndexReport("flat-exact", device, n, time.perf_counter() - started, 1.0)
            return cls(index, ids, vectors, report)
        if approximate == "hnsw":
            index, device = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT), "cpu"
            index.hnsw.efConstruction = 80
            index.add(vectors)
            knob, settings = "efSearch", (16, 32, 64, 128, 256, 512, 1024)
        elif approximate == "ivf":
            nlist = max(16, int(4 * math.sqrt(n)))
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
            rng = np.random.default_rng(seed)
            index.train(vectors[rng.choice(n, size=min(n, 64 * nlist), replace=False)])
            index = _to_device(index, device)
            index.add(vectors)
            knob, settings = "nprobe", tuple(p for p in (1, 2, 4, 8, 16, 32, 64, 128, 256) if p < nlist) + (nlist,)
        else:
            raise ValueError(f"approximate index must be ivf or hnsw, not {approximate!r}")
        built = time.perf_counter() - started
        rng = np.random.default_rng(seed + 1)
        queries = vectors[rng.choice(n, size=min(n, RECALL_QUERIES), replace=False)]
        exact = exact_neighbours(vectors, queries, 10)
        recall, value = 0.0, settings[-1]
        for value in settings:
            _set_search_param(index, knob, value)
            recall = recall_at_k(index.search(queries, 10)[1], exact)
            if recall >= min_recall:
                break
        kind = f"{approximate}-{'hnsw32' if approximate == 'hnsw' else f'nlist{nlist}'}"
        return cls(index, ids, vectors, IndexReport(kind, device, n, built, recall, {knob: value}))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows and scores of the k nearest vectors per (normalised) query."""
        scores, rows = self.index.search(normalise(queries), k)
        return rows, scores

    def neighbours_of_all(self, k: int, batch: int = 8192) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest *other* products of every product (its own row removed wherever it appears)."""
        rows_out = np.full((len(self.ids), k), -1, dtype=np.int64)
        scores_out = np.zeros((len(self.ids), k), dtype=np.float32)
        for start in range(0, len(self.ids), batch):
            rows, scores = self.search(self.vectors[start:start + batch], k + 1)
            own = np.arange(start, start + len(rows))[:, None]
            for r in range(len(rows)):
                keep = rows[r] != own[r, 0]
                kept_rows, kept_scores = rows[r][keep][:k], scores[r][keep][:k]
                rows_out[start + r, : len(kept_rows)] = kept_rows
                scores_out[start + r, : len(kept_rows)] = kept_scores
        return rows_out, scores_out

    def row_of(self, product_id: str) -> int | None:
        return self._row.get(product_id)

    def save(self, directory: Path) -> None:
        import faiss

        directory = Path(directory)
        cpu_index = faiss.index_gpu_to_cpu(self.index) if self.report.device == "gpu" else self.index
        faiss.write_index(cpu_index, str(directory / "index.faiss"))
        np.save(directory / "vectors.npy", self.vectors)
        (directory / "ids.json").write_text(json.dumps(self.ids.tolist()))
        (directory / "index.json").write_text(json.dumps(asdict(self.report)))

    @classmethod
    def load(cls, directory: Path, prefer: str = "auto") -> ProductIndex:
        import faiss

        directory = Path(directory)
        report = IndexReport(**json.loads((directory / "index.json").read_text()))
        index = faiss.read_index(str(directory / "index.faiss"))
        for knob, value in report.search_param.items():
            _set_search_param(index, knob, value)
        report.device = "cpu" if report.index_type.startswith("hnsw") else choose_device(prefer)
        index = _to_device(index, report.device)
        ids = np.array(json.loads((directory / "ids.json").read_text()))
        return cls(index, ids, np.load(directory / "vectors.npy"), report)


def _to_device(index, device: str):
    if device != "gpu":
        return index
    import faiss

    return faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)


def _set_search_param(index, knob: str, value: int) -> None:
    if knob == "nprobe":  # CPU and GPU IVF indexes both expose nprobe
        index.nprobe = value
    elif knob == "efSearch":
        index.hnsw.efSearch = value
