"""A consistent, in-memory view of the served gold tables for the product API (no Spark).

A `Snapshot` pins one Delta version of every served table (and one version of each saved model it reads) and
holds them as pandas frames indexed by key, so a product card is a few dictionary lookups. `SnapshotHolder`
keeps the current snapshot and swaps in a new one, fully loaded, when the lake has moved and then held still
for one polling interval (a pipeline run writes its tables one after another): a request takes the snapshot
once and reads every table at the versions of that one snapshot, never a mix.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from queries.sql import open_table
from reviewlake.model_store import ModelStore
from reviewlake.tables import REGISTRY

log = logging.getLogger(__name__)

# table -> (key column, columns served): only what the API returns is held in memory.
SERVED: dict[str, tuple[str, tuple[str, ...]]] = {
    "silver.products": ("product_id", ("product_id", "title", "category")),
    "gold.product_summaries": ("product_id", ("product_id", "summary", "pros", "cons", "n_reviews", "avg_rating",
                                              "share_positive", "share_neutral", "share_negative")),
    "gold.product_tags": ("product_id", ("product_id", "tag", "weight", "n_mentions", "tag_sentiment", "trend")),
    "gold.product_faq": ("product_id", ("product_id", "question", "aspect", "answer", "confidence", "n_yes", "n_no",
                                        "n_neutral", "evidence_review_ids", "evidence_sentences")),
    "gold.user_recommendations": ("user_id", ("user_id", "rank", "product_id", "score", "strategy")),
    "gold.product_similarity": ("product_id", ("product_id", "rank", "similar_product_id", "score")),
    "gold.metric_anomalies": ("entity_id", ("entity_id", "metric", "period_start", "value", "expected", "score")),
    "gold.product_ts_clusters": ("product_id", ("product_id", "cluster", "description")),
}
# Tables the answerer reads (queries.ask) are pinned with the snapshot but read on demand, not held here.
PINNED_ONLY = ("silver.reviews", "silver.review_sentences", "silver.sentence_aspects", "silver.sentence_vectors",
               "gold.review_sentiment", "gold.tag_vocabulary")
MODELS = ("tags", "similarity")   # saved models the API reads: tag search vectors, the FAISS index


def _row_filter(name: str):
    if name == "gold.metric_anomalies":   # flagged product periods only: the full series would not fit a card
        return (pc.field("entity_type") == "product") & pc.field("is_anomaly")
    return None


def lake_versions(lake: Path) -> dict[str, int | str]:
    """The latest version of every served table that exists, and the current version of each served model."""
    versions: dict[str, int | str] = {}
    for name in (*SERVED, *PINNED_ONLY):
        if (REGISTRY[name].path(lake) / "_delta_log").is_dir():
            versions[name] = open_table(lake, name).version()
    for model in MODELS:
        current = ModelStore(lake, model).current()
        if current is not None:
            versions[f"models/{model}"] = current
    return versions


@dataclass
class Snapshot:
    """The served tables at pinned versions, each indexed by its key."""

    lake: Path
    versions: dict[str, int | str]
    tables: dict[str, pd.DataFrame]
    loaded_at: float
    load_seconds: float
    _positions: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    extras: dict[str, object] = field(default_factory=dict)   # per-snapshot engines (search, index, answerer)
    lock: threading.Lock = field(default_factory=threading.Lock)        # building engines
    answer_lock: threading.Lock = field(default_factory=threading.Lock)  # the answerer is not thread-safe
    responses: dict[tuple, bytes] = field(default_factory=dict)        # encoded answers (the API's cache)

    def has(self, name: str) -> bool:
        return name in self.tables

    def rows(self, name: str, key: str) -> pd.DataFrame:
        """The rows of `name` whose key is `key` (empty when none, or when the table does not exist yet)."""
        frame = self.tables.get(name)
        if frame is None:
            return pd.DataFrame(columns=list(SERVED[name][1]))
        positions = self._positions[name].get(key)
        return frame.iloc[positions] if positions is not None else frame.iloc[0:0]

    def first(self, name: str, key: str) -> dict | None:
        found = self.rows(name, key)
        return None if found.empty else found.iloc[0].to_dict()

    def engine(self, name: str, build):
        """A per-snapshot engine (tag search, FAISS index, answerer), built once on first use."""
        with self.lock:
            if name not in self.extras:
                self.extras[name] = build()
            return self.extras[name]


def load_snapshot(lake: str | Path, versions: dict[str, int | str] | None = None) -> Snapshot:
    """Read every served table at `versions` (default: the latest) into memory."""
    lake = Path(lake)
    started = time.perf_counter()
    versions = dict(versions if versions is not None else lake_versions(lake))
    tables, positions = {}, {}
    for name, (key, columns) in SERVED.items():
        if name not in versions:
            continue
        dataset = open_table(lake, name, int(versions[name])).to_pyarrow_dataset()
        frame = dataset.to_table(columns=list(columns), filter=_row_filter(name)).to_pandas()
        tables[name] = frame
        positions[name] = frame.groupby(key, sort=False).indices
    return Snapshot(lake, versions, tables, time.time(), time.perf_counter() - started, positions)


class SnapshotHolder:
    """The current snapshot, refreshed from the lake by `refresh()` (called by a background thread when
    started)."""

    def __init__(self, lake: str | Path, refresh_seconds: float = 5.0) -> None:
        self.lake = Path(lake)
        self.refresh_seconds = refresh_seconds
        self.snapshot = load_snapshot(self.lake)
        self.swaps = 0
        self._pending: dict[str, int | str] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        """Swap in a new snapshot when the lake's versions moved and were the same at the previous check;
        True when it swapped."""
        versions = lake_versions(self.lake)
        if versions == self.snapshot.versions:
            self._pending = None
            return False
        if versions != self._pending:   # still moving, or first seen: a run may be writing its next table
            self._pending = versions
            return False
        fresh = load_snapshot(self.lake, versions)
        self.snapshot = fresh   # one reference assignment: a request sees the old snapshot or the new one
        self._pending = None
        self.swaps += 1
        log.info("serving new table versions (%.1f s to load): %s", fresh.load_seconds, fresh.versions)
        return True

    def start(self) -> None:
        def poll() -> None:
            while not self._stop.wait(self.refresh_seconds):
                try:
                    self.refresh()
                except Exception:   # a half-written log or a vanished file: keep serving, try again next time
                    log.exception("refreshing the snapshot failed; still serving %s", self.snapshot.versions)

        self._thread = threading.Thread(target=poll, name="snapshot-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.refresh_seconds + 5)
