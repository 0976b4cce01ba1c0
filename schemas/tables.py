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

_DESCRIPTIONS: dict[int, dict[str, str]] = {}


def _schema(*columns: tuple) -> StructType:
    """A StructType from (name, type, nullable, description) tuples; the descriptions (what the column means,
    for the data dictionary) are kept beside it, not in Delta's field metadata."""
    schema = StructType([StructField(name, dtype, nullable) for name, dtype, nullable, *_ in columns])
    _DESCRIPTIONS[id(schema)] = {column[0]: column[3] if len(column) > 3 else "" for column in columns}
    return schema


def column_descriptions(schema: StructType) -> dict[str, str]:
    """Column name -> what it means, for a schema of this module."""
    return dict(_DESCRIPTIONS.get(id(schema), {}))


S, L, D, TS, B = StringType(), LongType(), DoubleType(), TimestampType(), BooleanType()

# Every parsed column of bronze is a string: typing happens in clean, where a bad value is quarantined with a
# reason instead of turning into a silent null at read time.
BRONZE_PARSED_COLUMNS = (
    "review_id", "product_id", "user_id", "reviewer_name", "rating", "title", "text",
    "timestamp", "review_time_text", "category", "product_title", "verified", "helpful_votes",
)
# What each parsed column holds (source fields per format: schemas/inputs.py). All are the source value as text,
# null where the format has no such field or the line is malformed.
_BRONZE_PARSED_DESCRIPTIONS = {
    "review_id": "source review id (CSV review_id only; the Amazon formats have none)",
    "product_id": "source product id: asin (amazon2014/2018), parent_asin (amazon2023), product_id (CSV)",
    "user_id": "source reviewer id (reviewerID / user_id), not yet pseudonymised",
    "reviewer_name": "reviewerName (amazon2014/2018 only); personal data, never copied to silver",
    "rating": "star rating as written (overall / rating); validated and typed by clean",
    "title": "review title as written (summary / title), not yet cleaned or redacted",
    "text": "review text as written (reviewText / text), not yet cleaned or PII-redacted",
    "timestamp": "review time as written: epoch seconds (amazon2014/2018), epoch ms (amazon2023), epoch s/ms or "
                 "ISO 8601 (CSV)",
    "review_time_text": "Amazon's 'MM D, YYYY' reviewTime (amazon2014/2018); used by clean when timestamp is missing",
    "category": "product category (CSV category, or the category field the synthetic amazon2018 files carry)",
    "product_title": "product title (CSV product_title only); clean copies it to silver.products",
    "verified": "verified-purchase flag as written (verified / verified_purchase)",
    "helpful_votes": "helpful votes as written: helpful ('[helpful, total]', amazon2014), vote or helpful_vote",
}

REVIEWS_RAW = _schema(
    ("source_file", S, False, "absolute path of the input file the record was read from"),
    ("line_no", L, False,
     "1-based position in the file: physical line for JSONL (blank lines counted, not stored), record number "
     "for CSV (header excluded)"),
    ("raw", S, True,
     "the line as read (invalid UTF-8 replaced by U+FFFD); for CSV the record as JSON, or its text when malformed"),
    ("source_format", S, False, "format the file was parsed as: amazon2014, amazon2018, amazon2023 or csv"),
    ("file_sha256", S, False,
     "SHA-256 (hex) of the input file's bytes as stored (compressed for .gz); a file already ingested is skipped"),
    ("ingest_batch_id", S, False, "run_id of the ingest run that appended the row"),
    ("ingested_at", TS, False, "when the ingest stage appended the row (UTC)"),
    ("_corrupt_record", S, True,
     "the raw line when it is not a JSON object or a well-formed CSV record (clean quarantines it); null if parsed"),
    *((name, S, True, _BRONZE_PARSED_DESCRIPTIONS[name]) for name in BRONZE_PARSED_COLUMNS),
)

REVIEWS = _schema(
    ("review_id", S, False,
     "review id from the source (CSV), else 'r_' + 24 hex of SHA-256 of product, reviewer, time and text_hash"),
    ("product_id", S, False, "product id from the source, trimmed"),
    ("user_id", S, True,
     "pseudonymised reviewer: 'u_' + 16 hex of a salted SHA-256 of the source id; null when the source has none"),
    ("rating", D, True, "star rating in [1, 5] in steps of 0.5; null when the review has no rating"),
    ("title", S, True,
     "review title: HTML stripped, Unicode-normalised, PII-redacted, at most 1,000 characters; null if none"),
    ("text", S, True,
     "review text: HTML stripped, Unicode-normalised, e-mails, phones and personal URLs redacted; empty or null "
     "if rating-only"),
    ("review_ts", TS, True,
     "when the review was written (UTC), from epoch s/ms, ISO 8601 or 'MM D, YYYY'; null when the source gave no time"),
    ("review_date", DateType(), True, "UTC calendar date of review_ts; null when review_ts is null"),
    ("category", S, True,
     "product category: the record's, else from an Amazon per-category file name, else silver.products'; "
     "null if unknown"),
    ("language", S, True, "language guess from stop words: ISO 639-1 code (en, es, fr, de, it, pt) or 'und'"),
    ("text_hash", S, False,
     "20 hex of SHA-1 of the text's lower-cased words (case/spacing-insensitive): same user+product+hash = duplicate"),
    ("verified", B, True,
     "true when the source marks a verified purchase (true/1/y/yes), else false; null when the source has no flag"),
    ("helpful_votes", IntegerType(), True,
     "helpful votes (amazon2014: the first number of [helpful, total]); null when absent or unparseable"),
    ("source", S, False, "input format of the record: amazon2014, amazon2018, amazon2023 or csv"),
    ("source_file", S, False, "input file of the copy the row was cleaned from (the earliest of a batch's duplicates)"),
    ("source_line_no", L, False, "line_no of that copy in bronze.reviews_raw (1-based)"),
    ("ingest_batch_id", S, False, "run_id of the ingest run that brought that copy into bronze"),
    ("clean_batch_id", S, False, "run_id of the clean run that last upserted the row"),
    ("updated_at", TS, False, "when the clean stage last upserted the row (UTC)"),
)

PRODUCTS = _schema(
    ("product_id", S, False, "product id, as in silver.reviews"),
    ("title", S, True, "product title from --products metadata, else the CSV reviews' product_title; null if unknown"),
    ("category", S, True,
     "category from --products metadata (most specific entry of a list), else from the product's reviews; "
     "null if unknown"),
    ("category_source", S, True,
     "origin: 'metadata' (row loaded from --products) or 'review' (category filled by clean); null when none known"),
    ("updated_at", TS, False, "when the row was inserted or last upserted from metadata (UTC); gap fills keep it"),
)

QUARANTINE = _schema(
    ("batch_id", S, False, "run_id of the clean run that first quarantined the record (a rerun keeps the row)"),
    ("source_file", S, False, "input file of the rejected record (bronze.reviews_raw.source_file)"),
    ("line_no", L, False, "1-based line (JSONL) or record (CSV) number in that file, as in bronze"),
    ("ingest_batch_id", S, True, "run_id of the ingest run that brought the record into bronze"),
    ("record", S, True,
     "the rejected record's parsed fields as JSON, reviewer id pseudonymised (u_...), no reviewer name, title and "
     "text with e-mails, phone numbers and personal URLs redacted (text cut to 2,000 chars); null for a line "
     "that never parsed (the raw line stays only in bronze.reviews_raw at source_file, line_no)"),
    ("reason_code", S, False,
     "first failed check: malformed_record, missing_product_id, missing_user_id, invalid_rating, "
     "invalid_timestamp, empty_review or text_too_long"),
    ("reason_text", S, False,
     "the reason in words, with the offending value where there is one (rating, timestamp, text length)"),
    ("stage", S, False, "stage that rejected the record (always 'clean' today)"),
    ("quarantined_at", TS, False, "when the record was quarantined (UTC)"),
)

REVIEW_SENTENCES = _schema(
    ("review_id", S, False, "review the sentence belongs to (silver.reviews)"),
    ("sentence_idx", IntegerType(), False,
     "0-based position of the sentence in the review (Spark NLP SentenceDetector); gaps where empty ones were dropped"),
    ("product_id", S, False, "product of the review"),
    ("sentence", S, False, "the sentence text (from PII-redacted silver text), whitespace collapsed, never empty"),
    ("sentence_hash", S, False,
     "SHA-256 (hex) of the sentence text: key of silver.sentence_vectors and silver.sentence_aspects"),
    ("n_words", IntegerType(), False,
     "number of space-separated words; only sentences of 4-40 words get vectors and aspect terms"),
    ("tokens", ArrayType(S), True, "Spark NLP tokens of the sentence, lower-cased, those with at least one letter"),
    ("lemmas", ArrayType(S), True,
     "lemmas (lemminflect dictionary) of the content words: lower-cased, letters with inner ' or -, 2+ chars, "
     "stop words removed"),
    ("lemma_bigrams", ArrayType(S), True, "pairs of consecutive lemmas, joined by a space"),
    ("keyphrases", ArrayType(S), True,
     "YAKE keyphrases (1-3 words, up to 10 per review, scored over the whole review) in this sentence, lower-cased"),
    ("lexicon_polarity", D, True, "VADER compound score of the sentence in [-1, 1]; null where not scored"),
    ("pipeline_version", S, False, "model store version of the fitted Spark NLP pipeline that split the sentence"),
    ("run_id", S, True, "run_id of the sentences run that wrote the row"),
)

SENTENCE_VECTORS = _schema(
    ("sentence_hash", S, False, "SHA-256 (hex) of the sentence text (silver.review_sentences.sentence_hash)"),
    ("encoder", S, False,
     "what computed the vector: 'all-MiniLM-L6-v2/onnx-int8-cpu' or 'all-MiniLM-L6-v2/torch-cuda-fp16'"),
    ("vector", ArrayType(FloatType(), False), False, "384-d MiniLM sentence embedding, L2-normalised (unit length)"),
    ("run_id", S, True, "run_id of the sentences run that computed the vector"),
)

SENTENCE_ASPECTS = _schema(
    ("sentence_hash", S, False, "SHA-256 (hex) of the sentence text (silver.review_sentences.sentence_hash)"),
    ("extractor", S, False, "model store version of the aspect-term extractor and aspect-sentiment models used"),
    ("aspect_terms", ArrayType(S, False), False, "aspect terms found in the sentence, lower-cased; empty when none"),
    ("run_id", S, True, "run_id of the sentences run that wrote the row"),
    # Added after the table first shipped: nullable, so Lake.ensure adds it to existing tables.
    ("aspect_polarity", ArrayType(FloatType(), False), True,
     "per aspect term, in the same order: how the sentence judges it, P(pos) - P(neg) in [-1, 1]; null on older rows"),
)

REVIEW_SENTIMENT = _schema(
    ("review_id", S, False, "scored review (silver.reviews)"),
    ("label", S, False, "most probable class of title + text: negative, neutral or positive"),
    ("score", D, False, "prob_positive - prob_negative, in [-1, 1]"),
    ("prob_negative", D, True, "probability the review is negative, in [0, 1] (the three probabilities sum to 1)"),
    ("prob_neutral", D, True, "probability the review is neutral, in [0, 1]"),
    ("prob_positive", D, True, "probability the review is positive, in [0, 1]"),
    ("model_version", S, False, "sentiment model store version that scored it (e.g. vader-3.3.2 on a cold start)"),
    ("scored_at", TS, False, "when the review was scored (UTC)"),
    ("run_id", S, True, "run_id of the sentiment run that scored it"),
)

PRODUCT_SUMMARIES = _schema(
    ("product_id", S, False, "summarised product (only products with at least 3 reviews, [summarize] min_reviews)"),
    ("summary", S, True,
     "extractive paragraph of representative review sentences (aims at 40-70 words, never over 80); empty without any"),
    ("pros", ArrayType(S), True, "up to 3 most central praising sentences (polarity >= 0.2), near-repeats skipped"),
    ("cons", ArrayType(S), True, "up to 3 most central complaining sentences (polarity <= -0.2), near-repeats skipped"),
    ("n_reviews", L, False, "number of reviews of the product in silver.reviews"),
    ("avg_rating", D, True, "mean star rating in [1, 5] of its rated reviews; null when none is rated"),
    ("share_positive", D, True,
     "share in [0, 1] of its reviews labelled positive (sentiment label, else stars > 3.5) among those with either"),
    ("share_neutral", D, True,
     "share in [0, 1] of its reviews labelled neutral (sentiment label, else stars 2.5-3.5) among those with either"),
    ("share_negative", D, True,
     "share in [0, 1] of its reviews labelled negative (sentiment label, else stars < 2.5) among those with either"),
    ("model_version", S, False, "summarizer version (extractive-mmr-minilm-tfidf-N)"),
    ("run_id", S, True, "run_id of the summarize run that last recomputed the product"),
)

PRODUCT_TAGS = _schema(
    ("product_id", S, False, "the product these tags describe"),
    ("tag", S, False, "aspect mined from the product's review sentences: lower-case noun phrase of 1-3 words"),
    ("weight", D, True,
     "share in [0, 1] of the product's usable sentences (PII-free, 4-40 words) that mention the tag"),
    ("n_mentions", L, True, "number of the product's usable sentences that mention the tag (at least 2)"),
    ("tag_sentiment", D, True,
     "mean judgement of the tag over those sentences, in [-1, 1]: aspect-targeted polarity, else the sentence's, "
     "blended with the review's tone"),
    ("first_seen", DateType(), True, "date of the earliest review with a sentence mentioning the tag"),
    ("trend", D, True,
     "mention rate in the 30 days before the run date minus the rate before; null when either window has no sentence"),
    ("run_id", S, True, "run_id of the tags run that last re-tagged the product"),
)

PRODUCT_FAQ = _schema(
    ("product_id", S, False, "product asked about (only products with at least 5 reviews, [qa] faq_min_reviews)"),
    ("question", S, False, "'is the <aspect> good?'"),
    ("aspect", S, True,
     "the tag asked about: one of the 8 ([qa] faq_aspects) most discussed tags of the product's category"),
    ("question_type", S, False, "kind of question; always 'yes_no' for these FAQ rows"),
    ("answer", S, False,
     "leaning of the reviews: yes, no, mixed, or 'not discussed' (fewer than 2 reviews mention the aspect)"),
    ("n_yes", L, False, "reviews mentioning the aspect whose mean stance is positive (> 0.1)"),
    ("n_no", L, False, "reviews mentioning the aspect whose mean stance is negative (< -0.1)"),
    ("n_neutral", L, False, "reviews mentioning the aspect with a stance in [-0.1, 0.1]"),
    ("n_reviews", L, False, "all reviews of the product in silver.reviews, mentioning the aspect or not"),
    ("confidence", D, False,
     "posterior probability in [0, 1] of the answer (Beta over yes/no reviews); for 'not discussed', that under "
     "2% of reviews mention it"),
    ("evidence_review_ids", ArrayType(S, False), False, "review_id of each evidence sentence, in the same order"),
    ("evidence_sentences", ArrayType(S, False), False,
     "up to 3 distinct review sentences naming the aspect, best ranked (BM25 + MiniLM) first"),
    ("model_version", S, False, "version of the QA method (qa-hybrid-bm25-minilm-N)"),
    ("run_id", S, True, "run_id of the qa run that last answered the product"),
)

TAG_VOCABULARY = _schema(
    ("category", S, False, "product category from silver.products; 'unknown' when the product has none"),
    ("tag", S, False, "tag as in gold.product_tags"),
    ("n_products", L, False, "number of products of the category carrying the tag"),
    ("n_mentions", L, False, "sum of the tag's n_mentions over those products"),
    ("sentiment", D, True, "mention-weighted mean of the products' tag_sentiment, in [-1, 1]"),
    ("share_products_negative", D, True,
     "share in [0, 1] of those products whose tag_sentiment is below -0.05"),
    ("first_seen", DateType(), True, "earliest first_seen of the tag over the category's products"),
    ("rank_discussed", IntegerType(), False, "1-based rank in the category by n_mentions, most mentioned first"),
    ("rank_negative", IntegerType(), False, "1-based rank in the category by sentiment, most negative first"),
    ("run_id", S, True, "run_id of the tags run that rebuilt the table"),
)

USER_RECOMMENDATIONS = _schema(
    ("user_id", S, False,
     "pseudonymised reviewer (silver.reviews.user_id), or '__unknown__' for the list served to users never seen"),
    ("rank", IntegerType(), False, "1-based position in the user's list, best first (up to [recommend] top_k, 20)"),
    ("product_id", S, False, "recommended product; never one the user has already reviewed"),
    ("score", D, True,
     "ranking score, comparable within a strategy only: ALS dot product, summed cosine of liked items, or number "
     "of users liking it (fallbacks)"),
    ("strategy", S, False,
     "als (3+ liked products), similar-items (1-2), category (popular in their categories) or popularity"),
    ("model_version", S, False, "model store version of the ALS model the lists were served from"),
    ("run_id", S, True, "run_id of the recommend run that wrote the table"),
)

PRODUCT_SIMILARITY = _schema(
    ("product_id", S, False, "product whose neighbours these are"),
    ("rank", IntegerType(), False, "1-based neighbour rank, most similar first (the product itself excluded)"),
    ("similar_product_id", S, False, "the neighbouring product"),
    ("score", D, True, "cosine similarity of the two product vectors, in [-1, 1]"),
    ("index_type", S, False, "FAISS index that found it: flat-exact, ivf-nlist<N> or hnsw-hnsw32"),
    ("model_version", S, True, "model store version of the saved FAISS index"),
    ("run_id", S, True, "run_id of the similarity run that wrote the table"),
)

PRODUCT_VECTORS = _schema(
    ("product_id", S, False, "product the vector describes"),
    ("vector", ArrayType(FloatType(), False), False,
     "384-d MiniLM vector, unit length: weighted mean of its newest review texts (1), title (0.5) and tags (0.5)"),
    ("n_texts", IntegerType(), False,
     "number of texts behind the vector: up to 6 newest review texts, the title, the tag list"),
    ("fingerprint", S, False, "SHA-256 (hex) of those texts; the vector is recomputed only when it changes"),
    ("run_id", S, True, "run_id of the similarity run that computed the vector"),
)

METRIC_ANOMALIES = _schema(
    ("entity_type", S, False, "what the series is about: 'category' or 'product'"),
    ("entity_id", S, False, "category name ('unknown' when the review has none) or product_id"),
    ("metric", S, False,
     "<review_count|mean_rating|negative_share>_<daily|weekly>: the metric and the period length; "
     "tag_mentions:<tag>_weekly: usable sentences of the product naming one of its gold.product_tags tags"),
    ("period_start", DateType(), False, "first day of the period: the day itself, or the Monday of the week"),
    ("value", D, True,
     "metric in the period: review count, mean stars in [1, 5], negative share in [0, 1] or tag mentions; null "
     "without (rated) reviews"),
    ("expected", D, True,
     "baseline from earlier periods only (median of same phase 1-4 seasons back, else of the last 7); null if none"),
    ("score", D, True,
     "surprise = -log10(tail probability of the value under the detector's model of earlier periods) in the "
     "watched direction, unbounded (2: 1 in 100, 4.5: 1 in 30,000); 0 with too little history"),
    ("is_anomaly", B, False,
     "tail probability below [anomalies] false_alarm_rate (default 3e-5, score >= 4.5) in the watched direction "
     "(count and negative share up, rating down) after 14 days / 8 weeks of history"),
    ("detector", S, False, "detector and its version: seasonal-mad-N, windowed-gaussian-N or likelihood-N"),
    ("run_id", S, True, "run_id of the anomalies run that inserted (or backfilled) the row"),
)

PRODUCT_TS_CLUSTERS = _schema(
    ("product_id", S, False, "clustered product (products with at least 10 reviews)"),
    ("cluster", IntegerType(), False,
     "0-based cluster id in this run's clustering; the 'flat' cluster, if any, has the last id"),
    ("description", S, False, "shape of the cluster: rising, declining, seasonal, volatile or flat"),
    ("k", IntegerType(), False, "number of clusters in this run, the flat one included"),
    ("silhouette", D, True,
     "silhouette score of the chosen k-means (non-flat products), in [-1, 1]; null when none was fitted"),
    ("n_weeks", IntegerType(), False, "number of weekly periods in the review-count profiles that were clustered"),
    ("run_id", S, True, "run_id of the anomalies run that rewrote the table"),
)

PIPELINE_RUNS = _schema(
    ("run_id", S, False, "pipeline run id shared by its stages: UTC start time + random suffix, or the Airflow run id"),
    ("job", S, False, "stage name: ingest, clean, quality, sentences, sentiment, ..., anomalies"),
    ("status", S, False, "succeeded, failed, or skipped (an upstream stage failed)"),
    ("started_at", TS, False, "when the stage started (UTC); for a skipped stage, when the failed one started"),
    ("ended_at", TS, True, "when the outcome was recorded (UTC)"),
    ("duration_s", D, True, "ended_at - started_at, in seconds"),
    ("rows_in", L, True, "rows the stage read or processed (its own count); 0 when failed or skipped"),
    ("rows_out", L, True, "rows the stage wrote or produced (its own count); 0 when failed or skipped"),
    ("rows_quarantined", L, True, "rows sent to silver.quarantine (clean only); 0 elsewhere"),
    ("tables_read", MapType(S, L), True, "table name -> Delta version the stage read"),
    ("tables_written", MapType(S, L), True, "table name -> Delta version after the stage's last write to it"),
    ("params", S, True, "the run's parameters as JSON: inputs, input_format, products, run_date, stages, options"),
    ("code_version", S, True,
     "git commit of the running code (REVIEWLAKE_CODE_VERSION wins), else reviewlake-<version>"),
    ("message", S, True, "one-line outcome: the stage's summary, the first line of the error, or why it was skipped"),
    ("details", S, True, "the stage's details as JSON ('{}' when none)"),
)

MODEL_METRICS = _schema(
    ("model", S, False,
     "model family and kind: sentiment.<kind>, recommend.als, recommend.popularity or similarity.faiss"),
    ("model_version", S, False,
     "model store version evaluated; '<kind>-candidate-<run_id>' for a sentiment candidate that was not saved"),
    ("metric", S, False, "metric name, e.g. macro_f1, confusion.<true>.<predicted>, recall_at_20, build_seconds"),
    ("dataset", S, False, "what it was measured on: <table>@v<Delta version>[:split], e.g. the newest 20% held out"),
    ("value", D, True, "the metric's value (shares in [0, 1], seconds, or counts, as the name says)"),
    ("computed_at", TS, False, "when the metrics were recorded (UTC)"),
    ("run_id", S, True, "run_id of the stage run that recorded them"),
)
