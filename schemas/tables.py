"""Schema of every table in the lake (DESIGN.md). Keys and layers live in reviewlake.tables."""

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)


def _schema(*columns: tuple[str, object, bool]) -> StructType:
    return StructType([StructField(name, dtype, nullable) for name, dtype, nullable in columns])


S, L, D, TS, B = StringType(), LongType(), DoubleType(), TimestampType(), BooleanType()

# Every parsed column of bronze is a string: typing happens in clean, where a bad value is quarantined with a
# reason instead of turning into a silent null at read time.
BRONZE_PARSED_COLUMNS = (
    "review_id", "product_id", "user_id", "reviewer_name", "rating", "title", "text",
    "timestamp", "review_time_text", "category", "product_title", "verified", "helpful_votes",
)

REVIEWS_RAW = _schema(
    ("source_file", S, False),
    ("line_no", L, False),
    ("raw", S, True),
    ("source_format", S, False),
    ("file_sha256", S, False),
    ("ingest_batch_id", S, False),
    ("ingested_at", TS, False),
    ("_corrupt_record", S, True),
    *((name, S, True) for name in BRONZE_PARSED_COLUMNS),
)

REVIEWS = _schema(
    ("review_id", S, False),
    ("product_id", S, False),
    ("user_id", S, True),
    ("rating", D, True),
    ("title", S, True),
    ("text", S, True),
    ("review_ts", TS, True),
    ("review_date", DateType(), True),
    ("category", S, True),
    ("language", S, True),
    ("text_hash", S, False),
    ("verified", B, True),
    ("helpful_votes", IntegerType(), True),
    ("source", S, False),
    ("source_file", S, False),
    ("source_line_no", L, False),
    ("ingest_batch_id", S, False),
    ("clean_batch_id", S, False),
    ("updated_at", TS, False),
)

PRODUCTS = _schema(
    ("product_id", S, False),
    ("title", S, True),
    ("category", S, True),
    ("category_source", S, True),
    ("updated_at", TS, False),
)

QUARANTINE = _schema(
    ("batch_id", S, False),
    ("source_file", S, False),
    ("line_no", L, False),
    ("ingest_batch_id", S, True),
    ("record", S, True),
    ("reason_code", S, False),
    ("reason_text", S, False),
    ("stage", S, False),
    ("quarantined_at", TS, False),
)

REVIEW_SENTENCES = _schema(
    ("review_id", S, False),
    ("sentence_idx", IntegerType(), False),
    ("product_id", S, False),
    ("sentence", S, False),
    ("sentence_hash", S, False),
    ("n_words", IntegerType(), False),
    ("tokens", ArrayType(S), True),
    ("lemmas", ArrayType(S), True),
    ("lemma_bigrams", ArrayType(S), True),
    ("keyphrases", ArrayType(S), True),
    ("lexicon_polarity", D, True),
    ("pipeline_version", S, False),
    ("run_id", S, True),
)

SENTENCE_VECTORS = _schema(
    ("sentence_hash", S, False),
    ("encoder", S, False),
    ("vector", ArrayType(FloatType(), False), False),
    ("run_id", S, True),
)

SENTENCE_ASPECTS = _schema(
    ("sentence_hash", S, False),
    ("extractor", S, False),
    ("aspect_terms", ArrayType(S, False), False),
    ("run_id", S, True),
    # Added after the table first shipped: nullable, so Lake.ensure adds it to existing tables.
    ("aspect_polarity", ArrayType(FloatType(), False), True),
)

REVIEW_SENTIMENT = _schema(
    ("review_id", S, False),
    ("label", S, False),
    ("score", D, False),
    ("prob_negative", D, True),
    ("prob_neutral", D, True),
    ("prob_positive", D, True),
    ("model_version", S, False),
    ("scored_at", TS, False),
    ("run_id", S, True),
)

PRODUCT_SUMMARIES = _schema(
    ("product_id", S, False),
    ("summary", S, True),
    ("pros", ArrayType(S), True),
    ("cons", ArrayType(S), True),
    ("n_reviews", L, False),
    ("avg_rating", D, True),
    ("share_positive", D, True),
    ("share_neutral", D, True),
    ("share_negative", D, True),
    ("model_version", S, False),
    ("run_id", S, True),
)

PRODUCT_TAGS = _schema(
    ("product_id", S, False),
    ("tag", S, False),
    ("weight", D, True),
    ("n_mentions", L, True),
    ("tag_sentiment", D, True),
    ("first_seen", DateType(), True),
    ("trend", D, True),
    ("run_id", S, True),
)

PRODUCT_FAQ = _schema(
    ("product_id", S, False),
    ("question", S, False),
    ("aspect", S, True),
    ("question_type", S, False),
    ("answer", S, False),
    ("n_yes", L, False),
    ("n_no", L, False),
    ("n_neutral", L, False),
    ("n_reviews", L, False),
    ("confidence", D, False),
    ("evidence_review_ids", ArrayType(S, False), False),
    ("evidence_sentences", ArrayType(S, False), False),
    ("model_version", S, False),
    ("run_id", S, True),
)

TAG_VOCABULARY = _schema(
    ("category", S, False),
    ("tag", S, False),
    ("n_products", L, False),
    ("n_mentions", L, False),
    ("sentiment", D, True),
    ("share_products_negative", D, True),
    ("first_seen", DateType(), True),
    ("rank_discussed", IntegerType(), False),
    ("rank_negative", IntegerType(), False),
    ("run_id", S, True),
)

USER_RECOMMENDATIONS = _schema(
    ("user_id", S, False),
    ("rank", IntegerType(), False),
    ("product_id", S, False),
    ("score", D, True),
    ("strategy", S, False),
    ("model_version", S, False),
    ("run_id", S, True),
)

PRODUCT_SIMILARITY = _schema(
    ("product_id", S, False),
    ("rank", IntegerType(), False),
    ("similar_product_id", S, False),
    ("score", D, True),
    ("index_type", S, False),
    ("model_version", S, True),
    ("run_id", S, True),
)

PRODUCT_VECTORS = _schema(
    ("product_id", S, False),
    ("vector", ArrayType(FloatType(), False), False),
    ("n_texts", IntegerType(), False),
    ("fingerprint", S, False),
    ("run_id", S, True),
)

METRIC_ANOMALIES = _schema(
    ("entity_type", S, False),
    ("entity_id", S, False),
    ("metric", S, False),
    ("period_start", DateType(), False),
    ("value", D, True),
    ("expected", D, True),
    ("score", D, True),
    ("is_anomaly", B, False),
    ("detector", S, False),
    ("run_id", S, True),
)

PRODUCT_TS_CLUSTERS = _schema(
    ("product_id", S, False),
    ("cluster", IntegerType(), False),
    ("description", S, False),
    ("k", IntegerType(), False),
    ("silhouette", D, True),
    ("n_weeks", IntegerType(), False),
    ("run_id", S, True),
)

PIPELINE_RUNS = _schema(
    ("run_id", S, False),
    ("job", S, False),
    ("status", S, False),
    ("started_at", TS, False),
    ("ended_at", TS, True),
    ("duration_s", D, True),
    ("rows_in", L, True),
    ("rows_out", L, True),
    ("rows_quarantined", L, True),
    ("tables_read", MapType(S, L), True),
    ("tables_written", MapType(S, L), True),
    ("params", S, True),
    ("code_version", S, True),
    ("message", S, True),
    ("details", S, True),
)

MODEL_METRICS = _schema(
    ("model", S, False),
    ("model_version", S, False),
    ("metric", S, False),
    ("dataset", S, False),
    ("value", D, True),
    ("computed_at", TS, False),
    ("run_id", S, True),
)
