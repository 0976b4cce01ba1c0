"""Analyst views, defined once in SQL that both DuckDB (`reviewlake sql`) and Spark SQL (`reviewlake catalog
sync`, the Thrift server) run: `analyst.<name>` over the lake's tables."""

from __future__ import annotations

import re
from dataclasses import dataclass

from reviewlake.errors import UserError

TABLE_REFERENCE = re.compile(r"\b(bronze|silver|gold|ops)\.([A-Za-z_][A-Za-z0-9_]*)\b")
VIEW_REFERENCE = re.compile(r"\banalyst\.([A-Za-z_][A-Za-z0-9_]*)\b")


@dataclass(frozen=True)
class AnalystView:
    name: str
    description: str
    sql: str

    @property
    def tables(self) -> list[str]:
        return sorted({f"{layer}.{table}" for layer, table in TABLE_REFERENCE.findall(self.sql)})


ANALYST_VIEWS = {view.name: view for view in (
    AnalystView("product_scorecard", "one row per product: rating, sentiment mix, tags (how many negative) and "
                                     "FAQ answers (how many yes / no)", """
SELECT s.product_id, p.title, p.category, s.n_reviews, s.avg_rating, s.share_positive, s.share_neutral,
       s.share_negative, t.n_tags, t.negative_tags, f.faq_yes, f.faq_no
FROM gold.product_summaries s
LEFT JOIN silver.products p ON p.product_id = s.product_id
LEFT JOIN (SELECT product_id, COUNT(*) AS n_tags,
                  SUM(CASE WHEN tag_sentiment < 0 THEN 1 ELSE 0 END) AS negative_tags
           FROM gold.product_tags GROUP BY product_id) t ON t.product_id = s.product_id
LEFT JOIN (SELECT product_id, SUM(CASE WHEN answer = 'yes' THEN 1 ELSE 0 END) AS faq_yes,
                  SUM(CASE WHEN answer = 'no' THEN 1 ELSE 0 END) AS faq_no
           FROM gold.product_faq GROUP BY product_id) f ON f.product_id = s.product_id"""),
    AnalystView("category_trends", "per category and month: reviews, mean stars and the share labelled negative",
                """
SELECT COALESCE(r.category, 'unknown') AS category, CAST(DATE_TRUNC('MONTH', r.review_date) AS DATE) AS month,
       COUNT(*) AS reviews, AVG(r.rating) AS avg_rating,
       AVG(CASE WHEN g.label = 'negative' THEN 1.0 ELSE 0.0 END) AS share_negative
FROM silver.reviews r
LEFT JOIN gold.review_sentiment g ON g.review_id = r.review_id
WHERE r.review_date IS NOT NULL
GROUP BY COALESCE(r.category, 'unknown'), CAST(DATE_TRUNC('MONTH', r.review_date) AS DATE)"""),
    AnalystView("negative_tag_watchlist", "per category, the tags negative on at least a fifth of the products "
                                          "that carry them (the 10 most negative)", """
SELECT category, tag, rank_negative, share_products_negative, sentiment, n_products, n_mentions
FROM gold.tag_vocabulary
WHERE rank_negative <= 10 AND share_products_negative >= 0.2"""),
)}


def referenced_views(sql: str) -> list[AnalystView]:
    names = sorted(set(VIEW_REFERENCE.findall(sql)))
    unknown = [n for n in names if n not in ANALYST_VIEWS]
    if unknown:
        raise UserError(f"unknown view(s) {[f'analyst.{n}' for n in unknown]}; known: "
                        f"{', '.join('analyst.' + n for n in ANALYST_VIEWS)}")
    return [ANALYST_VIEWS[n] for n in names]
