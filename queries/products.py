"""Per-product and per-user reads over a `Snapshot`: what `reviewlake product` prints and the API serves.

Every function returns plain JSON-ready structures (None for missing values, ISO dates) and raises NotFound for
an id the lake does not know.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from queries.snapshot import Snapshot
from reviewlake.errors import NotBuiltYet, NotFound

CARD_TAGS = 12
CARD_SIMILAR = 5
CARD_ANOMALIES = 10


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows: numpy scalars and arrays become Python values, NaN becomes None, dates ISO strings."""
    return json.loads(frame.to_json(orient="records", date_format="iso", date_unit="s"))


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def with_titles(snapshot: Snapshot, frame: pd.DataFrame, id_column: str) -> list[dict[str, Any]]:
    """`records` of the frame, each with the title and category of its product (from silver.products)."""
    out = records(frame)
    for row in out:
        product = snapshot.first("silver.products", row[id_column]) or {}
        row["title"], row["category"] = product.get("title"), product.get("category")
    return out


def known_product(snapshot: Snapshot, product_id: str) -> None:
    if snapshot.first("silver.products", product_id) is None and \
            snapshot.first("gold.product_summaries", product_id) is None:
        raise NotFound(f"unknown product {product_id!r}")


def similar_of(snapshot: Snapshot, product_id: str, k: int = 10) -> list[dict[str, Any]]:
    """The precomputed nearest products (gold.product_similarity), best first."""
    known_product(snapshot, product_id)
    found = snapshot.rows("gold.product_similarity", product_id).sort_values("rank").head(k)
    return with_titles(snapshot, found[["rank", "similar_product_id", "score"]]
                   .rename(columns={"similar_product_id": "product_id"}), "product_id")


def product_card(snapshot: Snapshot, product_id: str) -> dict[str, Any]:
    """Everything the lake says about one product: rating and sentiment mix, summary, pros/cons, tags with
    sentiment, FAQ answers, similar products, flagged anomalies and its review-trend cluster."""
    known_product(snapshot, product_id)
    product = snapshot.first("silver.products", product_id) or {}
    summary = {k: _clean(v) for k, v in (snapshot.first("gold.product_summaries", product_id) or {}).items()}
    tags = snapshot.rows("gold.product_tags", product_id).sort_values(["weight", "tag"], ascending=[False, True])
    faq = snapshot.rows("gold.product_faq", product_id).sort_values("question")
    anomalies = snapshot.rows("gold.metric_anomalies", product_id) \
        .sort_values(["period_start", "metric"], ascending=[False, True]).head(CARD_ANOMALIES)
    cluster = snapshot.first("gold.product_ts_clusters", product_id)
    return {
        "product_id": product_id,
        "title": _clean(product.get("title")),
        "category": _clean(product.get("category")),
        "rating": {"average": summary.get("avg_rating"), "n_reviews": summary.get("n_reviews")},
        "sentiment_mix": {side: summary.get(f"share_{side}") for side in ("positive", "neutral", "negative")},
        "summary": summary.get("summary"),
        "pros": summary.get("pros") or [],
        "cons": summary.get("cons") or [],
        "tags": records(tags.head(CARD_TAGS).drop(columns="product_id")
                        .rename(columns={"tag_sentiment": "sentiment"})),
        "faq": [{"question": r["question"], "aspect": r["aspect"], "answer": r["answer"],
                 "confidence": r["confidence"], "reviews": {"yes": r["n_yes"], "no": r["n_no"],
                                                            "neutral": r["n_neutral"]},
                 "evidence": [{"review_id": i, "sentence": s} for i, s in
                              zip(r["evidence_review_ids"] or [], r["evidence_sentences"] or [], strict=False)]}
                for r in records(faq)],
        "similar": similar_of(snapshot, product_id, CARD_SIMILAR),
        "anomalies": records(anomalies.drop(columns="entity_id")),
        "trend_cluster": None if cluster is None else {"cluster": _clean(cluster["cluster"]),
                                                       "description": cluster["description"]},
        "versions": snapshot.versions,
    }


def user_recommendations(snapshot: Snapshot, user_id: str, k: int = 10) -> dict[str, Any]:
    """A user's top-k recommended products (gold.user_recommendations)."""
    if not snapshot.has("gold.user_recommendations"):
        raise NotBuiltYet("no recommendations yet: run the recommend stage")
    found = snapshot.rows("gold.user_recommendations", user_id)
    if found.empty:
        raise NotFound(f"unknown user {user_id!r}: no recommendations for that user id")
    found = found.sort_values("rank").head(k)
    return {"user_id": user_id, "strategy": found["strategy"].iloc[0],
            "recommendations": with_titles(snapshot, found[["rank", "product_id", "score"]], "product_id"),
            "versions": snapshot.versions}
