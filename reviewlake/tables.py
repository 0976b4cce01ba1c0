"""The table registry: every lake table declared once (name, layer, schema, key, partitioning)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql.types import StructType

from schemas import tables as s


@dataclass(frozen=True)
class TableSpec:
    """One Delta table of the lake."""

    name: str                      # "<layer>.<table>", as analysts write it in SQL
    schema: StructType
    keys: tuple[str, ...]
    description: str
    partition_by: tuple[str, ...] = ()
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def layer(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def table(self) -> str:
        return self.name.split(".", 1)[1]

    def path(self, lake: Path) -> Path:
        """Directory of the table under a lake root."""
        return Path(lake) / self.layer / self.table


# Change data feed on the tables that later stages read incrementally.
_CDF = {"delta.enableChangeDataFeed": "true"}

REGISTRY: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec("bronze.reviews_raw", s.REVIEWS_RAW, ("source_file", "line_no"),
                  "raw records as ingested, append-only, with lineage", properties=_CDF),
        TableSpec("silver.reviews", s.REVIEWS, ("review_id",),
                  "one cleaned, PII-redacted row per review", properties=_CDF),
        TableSpec("silver.products", s.PRODUCTS, ("product_id",), "products with title and category"),
        TableSpec("silver.quarantine", s.QUARANTINE, ("ingest_batch_id", "source_file", "line_no"),
                  "rejected records with a reason code"),
        TableSpec("silver.review_sentences", s.REVIEW_SENTENCES, ("review_id", "sentence_idx"),
                  "one row per review sentence (Spark NLP): tokens, lemmas, candidate keyphrases, lexicon polarity",
                  properties=_CDF),
        TableSpec("silver.sentence_vectors", s.SENTENCE_VECTORS, ("sentence_hash",),
                  "MiniLM vector per distinct sentence text (sha-256), with the encoder it came from"),
        TableSpec("silver.sentence_aspects", s.SENTENCE_ASPECTS, ("sentence_hash",),
                  "aspect terms and their targeted polarity per distinct sentence text (sha-256), with the version of "
                  "the models that found them"),
        TableSpec("silver.product_vectors", s.PRODUCT_VECTORS, ("product_id",),
                  "MiniLM vector per product (its newest reviews, title, tags), reused while its texts are unchanged"),
        TableSpec("gold.review_sentiment", s.REVIEW_SENTIMENT, ("review_id",), "sentiment label per review",
                  properties=_CDF),
        TableSpec("gold.product_summaries", s.PRODUCT_SUMMARIES, ("product_id",),
                  "summary, pros and cons per product"),
        TableSpec("gold.product_tags", s.PRODUCT_TAGS, ("product_id", "tag"), "tags mined per product"),
        TableSpec("gold.tag_vocabulary", s.TAG_VOCABULARY, ("category", "tag"),
                  "every tag per category: products, mentions, sentiment, discussed/negative ranks"),
        TableSpec("gold.product_faq", s.PRODUCT_FAQ, ("product_id", "question"),
                  "answers to the category's most discussed aspect questions per product: leaning, review counts "
                  "per side, confidence, evidence"),
        TableSpec("gold.user_recommendations", s.USER_RECOMMENDATIONS, ("user_id", "rank"),
                  "top-N recommendations per user"),
        TableSpec("gold.product_similarity", s.PRODUCT_SIMILARITY, ("product_id", "rank"),
                  "nearest products per product"),
        TableSpec("gold.metric_anomalies", s.METRIC_ANOMALIES,
                  ("entity_type", "entity_id", "metric", "period_start"), "anomaly scores of review metrics"),
        TableSpec("gold.product_ts_clusters", s.PRODUCT_TS_CLUSTERS, ("product_id",),
                  "products grouped by the shape of their weekly review counts"),
        TableSpec("ops.pipeline_runs", s.PIPELINE_RUNS, ("run_id", "job"), "run ledger: one row per stage run"),
        TableSpec("ops.model_metrics", s.MODEL_METRICS, ("model", "model_version", "metric", "dataset"),
                  "evaluation metrics of trained models"),
    )
}


def table_spec(name: str) -> TableSpec:
    """Look a table up by its `<layer>.<table>` name."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known: {', '.join(REGISTRY)}") from None
