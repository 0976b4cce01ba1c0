"""Supported input formats and how their fields map onto bronze's parsed columns.

Each mapping is {bronze column: source field}; a source field missing from a record parses as null.
"""

from __future__ import annotations

AMAZON2014 = {
    "user_id": "reviewerID",
    "product_id": "asin",
    "reviewer_name": "reviewerName",
    "rating": "overall",
    "title": "summary",
    "text": "reviewText",
    "timestamp": "unixReviewTime",
    "review_time_text": "reviewTime",
    "helpful_votes": "helpful",
}

AMAZON2018 = AMAZON2014 | {
    "verified": "verified",
    "helpful_votes": "vote",
    # Not in Amazon's files; the synthetic generator adds it so category survives without metadata.
    "category": "category",
}

AMAZON2023 = {
    "user_id": "user_id",
    "product_id": "parent_asin",
    "rating": "rating",
    "title": "title",
    "text": "text",
    "timestamp": "timestamp",
    "verified": "verified_purchase",
    "helpful_votes": "helpful_vote",
}

CSV = {
    "review_id": "review_id",
    "product_id": "product_id",
    "user_id": "user_id",
    "rating": "rating",
    "title": "title",
    "text": "text",
    "timestamp": "timestamp",
    "category": "category",
    "product_title": "product_title",
}
CSV_REQUIRED_COLUMNS = ("product_id", "text")

FORMATS: dict[str, dict[str, str]] = {
    "amazon2014": AMAZON2014,
    "amazon2018": AMAZON2018,
    "amazon2023": AMAZON2023,
    "csv": CSV,
}
JSONL_FORMATS = ("amazon2014", "amazon2018", "amazon2023")

# Keys that tell the JSON formats apart when --format auto sniffs a file.
SNIFF_KEYS = {
    "amazon2023": {"parent_asin", "helpful_vote", "verified_purchase"},
    "amazon2014": {"helpful"},
    "amazon2018": {"verified", "vote", "style", "image"},
}

# Product metadata (--products): {canonical: candidate source fields, first present wins}.
PRODUCT_METADATA = {
    "product_id": ("product_id", "parent_asin", "asin"),
    "title": ("title", "product_title"),
    "category": ("category", "main_category", "categories"),
}
