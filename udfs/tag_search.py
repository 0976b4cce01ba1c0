"""Tag-based product search (no Spark): exact and semantic (MiniLM) match of a query against product tags,
ranked by match and by what reviewers say about the matched tags.

score(product) = relevance * (1 + sentiment) / 2, where relevance = sum over matched tags of
similarity * sqrt(weight) and sentiment = the similarity- and weight-weighted mean tag_sentiment of those tags.
A tag matches when its words are all in the query (exact, similarity 1) or its cosine similarity to the query
reaches MIN_SIMILARITY.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from udfs.keyphrases import lemma
from udfs.sentences import words

MIN_SIMILARITY = 0.55


@dataclass
class TagVectors:
    """Every distinct tag and its normalised MiniLM embedding (a model version in the lake)."""

    tags: list[str]
    vectors: np.ndarray

    @classmethod
    def build(cls, tags: list[str], embed: Callable[[list[str]], np.ndarray],
              previous: TagVectors | None = None) -> TagVectors:
        """Embed `tags`, reusing the vectors of `previous` for tags it already has."""
        known = {} if previous is None else dict(zip(previous.tags, previous.vectors, strict=True))
        missing = [t for t in tags if t not in known]
        if missing:
            known.update(zip(missing, _normalise(embed(missing)), strict=True))
        vectors = np.stack([known[t] for t in tags]) if tags else np.zeros((0, 384), np.float32)
        return cls(list(tags), vectors.astype(np.float32))

    def save(self, directory: Path) -> None:
        np.savez_compressed(Path(directory) / "tag_vectors.npz", tags=np.array(self.tags, dtype=str),
                            vectors=self.vectors)

    @classmethod
    def load(cls, directory: Path) -> TagVectors:
        data = np.load(Path(directory) / "tag_vectors.npz")
        return cls(data["tags"].tolist(), data["vectors"])


def _normalise(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)


class TagSearch:
    """Loaded once (tags, vectors, titles), then answers queries in milliseconds."""

    def __init__(self, product_tags: pd.DataFrame, vectors: TagVectors, products: pd.DataFrame,
                 embed: Callable[[list[str]], np.ndarray]) -> None:
        self.embed = embed
        self.vectors = vectors
        self.tag_words = [frozenset(lemma(w) for w in words(t)) for t in vectors.tags]
        position = {t: i for i, t in enumerate(vectors.tags)}
        tags = product_tags[product_tags["tag"].isin(position)]
        self.product_codes, self.product_ids = pd.factorize(tags["product_id"], sort=True)
        self.tag_index = tags["tag"].map(position).to_numpy()
        self.tag_names = tags["tag"].to_numpy()
        self.weight = np.sqrt(tags["weight"].to_numpy(float))
        self.sentiment = tags["tag_sentiment"].fillna(0.0).to_numpy(float)
        self.products = products.set_index("product_id") if len(products) else products

    def tag_similarity(self, query: str) -> np.ndarray:
        """Similarity of the query to every distinct tag: 1 for an exact word match, else the cosine."""
        similarity = self.vectors.vectors @ _normalise(self.embed([query]))[0]
        query_words = frozenset(lemma(w) for w in words(query))
        exact = np.array([bool(tw) and tw <= query_words for tw in self.tag_words])
        return np.where(exact, 1.0, similarity)

    def search(self, query: str, k: int = 10) -> pd.DataFrame:
        """Top-k products: rank, product_id, score, relevance, sentiment, matched_tags, title, category."""
        if not query or not words(query):
            raise ValueError("the query has no words")
        similarity = self.tag_similarity(query)[self.tag_index]
        matched = similarity >= MIN_SIMILARITY
        strength = np.where(matched, similarity * self.weight, 0.0)
        n = len(self.product_ids)
        relevance = np.bincount(self.product_codes, strength, n)
        sentiment = np.divide(np.bincount(self.product_codes, strength * self.sentiment, n), relevance,
                              out=np.zeros(n), where=relevance > 0)
        score = relevance * (1 + sentiment) / 2
        order = [i for i in np.lexsort((self.product_ids, -score)) if relevance[i] > 0][:k]
        matched_names = pd.Series(self.tag_names[matched]).groupby(self.product_codes[matched]).agg(
            lambda names: ", ".join(sorted(set(names))))
        found = pd.DataFrame({
            "rank": np.arange(1, len(order) + 1), "product_id": self.product_ids[order],
            "score": score[order].round(4), "relevance": relevance[order].round(4),
            "sentiment": sentiment[order].round(3), "matched_tags": matched_names.reindex(order).to_numpy()})
        if len(self.products):
            found = found.join(self.products[["title", "category"]], on="product_id")
        return found
