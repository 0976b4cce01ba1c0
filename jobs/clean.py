"""Clean: bronze.reviews_raw -> silver.reviews, silver.products, silver.quarantine.

Reads only bronze rows added since the last successful clean (change data feed). Every row read ends in
exactly one bucket (conservation, recorded per ingest batch): upserted into silver.reviews, collapsed as a
duplicate of another review, or quarantined with a reason code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from reviewlake.config import CleanRules
from reviewlake.context import StageContext, StageResult
from schemas import inputs
from udfs import text_normalization as tn

BRONZE, REVIEWS, PRODUCTS, QUARANTINE = ("bronze.reviews_raw", "silver.reviews", "silver.products",
                                         "silver.quarantine")
# What clean needs of silver.reviews to spot duplicates: content identity and where each row came from.
ORIGIN = ("ingest_batch_id", "source_file", "source_line_no")
EXISTING_COLUMNS = ("review_id", "user_id", "product_id", "text_hash", *ORIGIN)
# Formats whose records always name their author: a missing reviewer id there is a broken record.
FORMATS_WITH_USER_ID = ("amazon2014", "amazon2018", "amazon2023")

# Checked in this order; a row gets the first reason that applies.
QUARANTINE_REASONS = {
    "malformed_record": "the line is not a parseable record",
    "invalid_type": "an id, title or text field is a number, list or object, not text (the input's schema changed)",
    "missing_product_id": "product id is missing or empty",
    "missing_user_id": "reviewer id is missing or empty",
    "invalid_rating": "rating is not a number from 1 to 5 in steps of 0.5",
    "invalid_timestamp": "timestamp is unparseable, before the minimum year or after the run date",
    "empty_review": "neither text nor rating",
    "text_too_long": "text is longer than the configured maximum",
}

# Fields a JSON record must give as strings (or null). Spark parses a number, list or object there as its JSON
# text, which would be a silent cast: such records are quarantined instead.
STRING_FIELDS = ("product_id", "user_id", "title", "text")


def non_string_field(source_format: Column, raw: Column) -> Column:
    """True where a JSON record gives one of STRING_FIELDS as anything but a string or null."""
    verdict = F.lit(False)
    for fmt in inputs.JSONL_FORMATS:
        names = "|".join(re.escape(inputs.FORMATS[fmt][f]) for f in STRING_FIELDS if f in inputs.FORMATS[fmt])
        pattern = rf'"(?:{names})"\s*:(?!\s*(?:"|null\b))'
        verdict = F.when(source_format == fmt, raw.rlike(pattern)).otherwise(verdict)
    return verdict


_TEXT_STRUCT = StructType([StructField("text", StringType()), StructField("language", StringType()),
                           StructField("text_hash", StringType())])


@F.pandas_udf(_TEXT_STRUCT)
def clean_text_udf(texts: pd.Series) -> pd.DataFrame:
    """Normalised+redacted text, language guess and duplicate hash (udfs.text_normalization)."""
    cleaned = texts.map(tn.clean_review_text, na_action="ignore")
    return pd.DataFrame({
        "text": cleaned,
        "language": cleaned.map(tn.detect_language, na_action="ignore").fillna("und"),
        "text_hash": cleaned.map(tn.review_text_hash, na_action="ignore").fillna(tn.review_text_hash("")),
    })


@F.pandas_udf(StringType())
def clean_title_udf(titles: pd.Series) -> pd.Series:
    return titles.map(tn.clean_review_text, na_action="ignore")


@F.pandas_udf(StringType())
def redact_udf(records: pd.Series) -> pd.Series:
    return records.map(tn.redact_pii, na_action="ignore")


@dataclass
class Cleaned:
    """Output of `transform`: rows for silver.reviews, for silver.quarantine, and collapsed duplicates."""

    reviews: DataFrame
    quarantined: DataFrame
    duplicates: DataFrame   # (ingest_batch_id, source_file, line_no, duplicate_of)


def _blank_to_null(column: str) -> Column:
    value = F.trim(F.col(column))
    return F.when(value == "", None).otherwise(value)


def parse_rating(raw: Column) -> Column:
    """'5', '4.0', ' 3.5 ' -> double; anything else -> null (validity is checked separately)."""
    # spark.sql.ansi.enabled is off (session factory): an unparseable string casts to null, not an error.
    value = F.trim(raw).cast("double")
    return F.when(F.isnan(value), None).otherwise(value)


def parse_timestamp(raw: Column, review_time_text: Column) -> Column:
    """Epoch seconds or milliseconds, ISO 8601, or Amazon's 'MM D, YYYY' -> timestamp; else null."""
    numeric = F.trim(raw).rlike(r"^-?\d+(\.\d+)?$")
    epoch = F.trim(raw).cast("double")
    from_epoch = F.when(F.abs(epoch) >= 1e11, epoch / 1000).otherwise(epoch).cast("timestamp")
    from_text = F.coalesce(
        F.try_to_timestamp(F.trim(raw)),
        F.try_to_timestamp(F.trim(raw), F.lit("yyyy-MM-dd HH:mm:ss")),
        F.try_to_timestamp(F.trim(raw), F.lit("yyyy-MM-dd'T'HH:mm:ssXXX")),
    )
    from_review_time = F.try_to_timestamp(F.trim(review_time_text), F.lit("MM d, yyyy"))
    return (
        F.when(raw.isNull(), from_review_time)
        .when(numeric, from_epoch)
        .otherwise(from_text)
    )


def _helpful_votes(raw: Column) -> Column:
    # amazon2014 stores [helpful, total]; the others a plain count, sometimes with thousands separators.
    first = F.regexp_extract(raw, r"^\s*\[?\s*([\d,]+)", 1)
    return F.regexp_replace(first, ",", "").cast("int")


def category_from_file_name(source_file: Column) -> Column:
    """'.../All_Beauty_5.json.gz' -> 'All Beauty': Amazon's per-category dumps name their category."""
    stem = F.regexp_extract(source_file, r"([^/\\]+?)(?:_5)?\.(?:json|jsonl|csv)(?:\.gz)?$", 1)
    return F.when(stem.isin("", "reviews"), None).otherwise(F.regexp_replace(stem, "_", " "))


def transform(raw: DataFrame, rules: CleanRules, salt: str, run_date: date, batch_id: str,
              existing: DataFrame) -> Cleaned:
    """Pure clean step: bronze rows -> silver rows, quarantined rows, duplicate rows.

    `existing` is silver.reviews' EXISTING_COLUMNS: a new review with the same user, product and text as an
    existing one under another id is a duplicate of it, not a new review; so is a review id already in silver
    that comes again from another bronze record (the first arrival wins; the same record read again by a rerun
    is not a newcomer).
    """
    latest_allowed = datetime.combine(run_date + timedelta(days=rules.future_tolerance_days + 1), time())
    earliest_allowed = datetime(rules.min_review_year, 1, 1)
    text = clean_text_udf(F.col("text"))
    staged = raw.select(
        "*",
        _blank_to_null("product_id").alias("_product_id"),
        _blank_to_null("user_id").alias("_user_id"),
        parse_rating(F.col("rating")).alias("_rating"),
        parse_timestamp(_blank_to_null("timestamp"), _blank_to_null("review_time_text")).alias("_ts"),
        text.alias("_text"),
    )
    rating_present = _blank_to_null("rating").isNotNull()
    has_timestamp = _blank_to_null("timestamp").isNotNull() | _blank_to_null("review_time_text").isNotNull()
    text_length = F.coalesce(F.length("_text.text"), F.lit(0))
    checks = {
        "malformed_record": F.col("_corrupt_record").isNotNull(),
        "invalid_type": non_string_field(F.col("source_format"), F.col("raw")),
        "missing_product_id": F.col("_product_id").isNull(),
        "missing_user_id": F.col("_user_id").isNull() & F.col("source_format").isin(*FORMATS_WITH_USER_ID),
        "invalid_rating": rating_present & (
            F.col("_rating").isNull() | (F.col("_rating") < 1) | (F.col("_rating") > 5)
            | ((F.col("_rating") * 2) != F.floor(F.col("_rating") * 2))),
        "invalid_timestamp": (has_timestamp & F.col("_ts").isNull())
        | (F.col("_ts") < F.lit(earliest_allowed)) | (F.col("_ts") >= F.lit(latest_allowed))
        | (~has_timestamp & F.col("source_format").isin(*FORMATS_WITH_USER_ID)),
        "empty_review": (text_length == 0) & ~rating_present,
        "text_too_long": text_length > rules.max_text_chars,
    }
    reason = F.lit(None).cast("string")
    for code in reversed(list(checks)):
        reason = F.when(checks[code], F.lit(code)).otherwise(reason)
    staged = staged.withColumn("_reason", reason).cache()

    pseudonym = F.when(F.col("_user_id").isNotNull(), F.concat(
        F.lit("u_"), F.substring(F.sha2(F.concat(F.lit(salt), F.col("_user_id")), 256), 1, 16)))
    quarantined = staged.where(F.col("_reason").isNotNull()).select(
        F.lit(batch_id).alias("batch_id"), "source_file", "line_no", "ingest_batch_id",
        quarantine_record(pseudonym).alias("record"),
        F.col("_reason").alias("reason_code"),
        _reason_text().alias("reason_text"),
        F.lit("clean").alias("stage"),
        F.current_timestamp().alias("quarantined_at"),
    )

    derived_id = F.concat(F.lit("r_"), F.substring(F.sha2(F.concat_ws(
        "|", F.col("_product_id"), F.coalesce(F.col("_user_id"), F.lit("")),
        F.coalesce(F.col("_ts").cast("string"), F.lit("")), F.col("_text.text_hash")), 256), 1, 24))
    title = F.substring(clean_title_udf(F.col("title")), 1, rules.max_title_chars)
    valid = staged.where(F.col("_reason").isNull()).select(
        F.coalesce(_blank_to_null("review_id"), derived_id).alias("review_id"),
        F.col("_product_id").alias("product_id"),
        pseudonym.alias("user_id"),
        F.col("_rating").alias("rating"),
        title.alias("title"),
        F.col("_text.text").alias("text"),
        F.col("_ts").alias("review_ts"),
        F.to_date("_ts").alias("review_date"),
        F.coalesce(_blank_to_null("category"), category_from_file_name(F.col("source_file"))).alias("category"),
        F.col("_text.language").alias("language"),
        F.col("_text.text_hash").alias("text_hash"),
        F.lower(F.trim("verified")).isin("true", "1", "y", "yes").alias("verified"),
        _helpful_votes(F.col("helpful_votes")).alias("helpful_votes"),
        F.col("source_format").alias("source"),
        "source_file",
        F.col("line_no").alias("source_line_no"),
        "ingest_batch_id",
        F.lit(batch_id).alias("clean_batch_id"),
        F.current_timestamp().alias("updated_at"),
        _blank_to_null("product_title").alias("_product_title"),
    )
    reviews, duplicates = _collapse_duplicates(valid, existing)
    return Cleaned(reviews=reviews, quarantined=quarantined, duplicates=duplicates)


# Fields of a rejected record kept in silver.quarantine (reviewer_name never is; the raw line stays in bronze).
QUARANTINE_FIELDS = ("review_id", "product_id", "rating", "timestamp", "review_time_text", "category",
                     "product_title", "verified", "helpful_votes")
QUARANTINE_TEXT_CHARS = 2_000


def quarantine_record(pseudonym: Column) -> Column:
    """What silver.quarantine keeps of a rejected record, as JSON: its parsed fields, the reviewer id
    pseudonymised as in silver.reviews, no reviewer name, title and text PII-redacted (the text cut to 2,000
    characters: a 5 MB review is inspected in bronze). Null for a line that never parsed: its only content is
    the raw line, which stays in bronze (source_file, line_no point to it)."""
    # Redact before the final cut: an address cut in two at the boundary would no longer look like one.
    text = F.substring(redact_udf(F.substring(F.col("text"), 1, QUARANTINE_TEXT_CHARS + 200)), 1,
                       QUARANTINE_TEXT_CHARS)
    fields = F.struct(*QUARANTINE_FIELDS[:2], pseudonym.alias("user_id"), *QUARANTINE_FIELDS[2:],
                      redact_udf(F.col("title")).alias("title"), text.alias("text"))
    return F.when(F.col("_corrupt_record").isNull(), F.to_json(fields))


def _reason_text() -> Column:
    text = F.lit(None).cast("string")
    for code, explanation in QUARANTINE_REASONS.items():
        text = F.when(F.col("_reason") == code, F.lit(explanation)).otherwise(text)
    detail = (
        F.when(F.col("_reason") == "invalid_rating", F.concat(F.lit(": "), F.coalesce(F.col("rating"), F.lit(""))))
        .when(F.col("_reason") == "invalid_timestamp",
              F.concat(F.lit(": "), F.coalesce(F.col("timestamp"), F.col("review_time_text"), F.lit("missing"))))
        .when(F.col("_reason") == "text_too_long",
              F.concat(F.lit(": "), F.length("_text.text").cast("string"), F.lit(" characters")))
        .otherwise(F.lit(""))
    )
    return F.concat(text, detail)


def _collapse_duplicates(valid: DataFrame, existing: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Keep the earliest review per review_id, then per (user, product, text hash), across old and new rows.

    Returns (rows to upsert, duplicate rows with the review_id they collapse into).
    """
    earliest_first = [F.col("review_ts").asc_nulls_last(), F.col("source_file"), F.col("source_line_no")]
    by_id = Window.partitionBy("review_id").orderBy(*earliest_first)
    ranked = valid.withColumn("_rank", F.row_number().over(by_id)).withColumn(
        "_keeper", F.first("review_id").over(by_id))
    same_id = ranked.where(F.col("_rank") > 1).select(
        "ingest_batch_id", "source_file", F.col("source_line_no").alias("line_no"),
        F.col("review_id").alias("duplicate_of"))
    unique_ids = ranked.where(F.col("_rank") == 1).drop("_rank", "_keeper")

    # An id already in silver keeps its first copy; the same bronze record again (a rerun) passes through.
    origin = F.struct(*ORIGIN)
    seen = existing.select("review_id", F.struct(*ORIGIN).alias("_origin"))
    with_seen = unique_ids.join(seen, "review_id", "left")
    arrived_again = F.col("_origin").isNotNull() & (F.col("_origin") != origin)
    again = with_seen.where(arrived_again).select(
        "ingest_batch_id", "source_file", F.col("source_line_no").alias("line_no"),
        F.col("review_id").alias("duplicate_of"))
    unique_ids = with_seen.where(~arrived_again).drop("_origin")

    # A review already in silver under another id wins over a newcomer with the same content.
    content = ["user_id", "product_id", "text_hash"]
    known = existing.select(*content, F.col("review_id").alias("_existing_id")).where(
        F.col("user_id").isNotNull()).dropDuplicates(content)
    with_known = unique_ids.join(known, content, "left")
    by_content = Window.partitionBy(*content).orderBy(*earliest_first)
    ranked = with_known.withColumn("_rank", F.row_number().over(by_content)).withColumn(
        "_first_id", F.first("review_id").over(by_content))
    is_duplicate = F.col("user_id").isNotNull() & (
        (F.col("_existing_id").isNotNull() & (F.col("_existing_id") != F.col("review_id")))
        | (F.col("_existing_id").isNull() & (F.col("_rank") > 1)))
    same_content = ranked.where(is_duplicate).select(
        "ingest_batch_id", "source_file", F.col("source_line_no").alias("line_no"),
        F.coalesce("_existing_id", "_first_id").alias("duplicate_of"))
    keep = ranked.where(~is_duplicate).drop("_rank", "_first_id", "_existing_id")
    return keep, same_id.unionByName(again).unionByName(same_content)


def products_from_reviews(reviews: DataFrame) -> DataFrame:
    """silver.products rows seen in reviews (title from CSV product_title, category from the review)."""
    return reviews.groupBy("product_id").agg(
        F.first("_product_title", ignorenulls=True).alias("title"),
        F.first("category", ignorenulls=True).alias("category"),
    ).select(
        "product_id", "title", "category",
        F.when(F.col("category").isNotNull(), F.lit("review")).alias("category_source"),
        F.current_timestamp().alias("updated_at"),
    )


def conservation(raw: DataFrame, cleaned: Cleaned) -> dict[str, dict[str, int]]:
    """Per ingest batch: rows read, upserted, duplicates, quarantined (read must equal the other three)."""
    def count_by_batch(frame: DataFrame, name: str) -> DataFrame:
        return frame.groupBy("ingest_batch_id").agg(F.count("*").alias(name))

    table = count_by_batch(raw, "read")
    for frame, name in ((cleaned.reviews, "upserted"), (cleaned.duplicates, "duplicates"),
                        (cleaned.quarantined, "quarantined")):
        table = table.join(count_by_batch(frame, name), "ingest_batch_id", "left")
    return {
        row["ingest_batch_id"]: {k: int(row[k] or 0) for k in ("read", "upserted", "duplicates", "quarantined")}
        for row in table.collect()
    }


def run(ctx: StageContext) -> StageResult:
    """Clean the bronze rows added since the last successful clean and MERGE them into silver."""
    raw = ctx.read_new(BRONZE).cache()
    if raw.isEmpty():
        raw.unpersist()
        return StageResult(message="no new bronze rows")
    existing = ctx.read(REVIEWS).select(*EXISTING_COLUMNS)
    cleaned = transform(raw, ctx.config.clean, ctx.config.resolved_pii_salt(), ctx.params.run_date,
                        ctx.run_id, existing)
    reviews = cleaned.reviews.cache()
    quarantined = cleaned.quarantined.cache()
    cleaned = Cleaned(reviews, quarantined, cleaned.duplicates.cache())
    batches = conservation(raw, cleaned)
    broken = {b: c for b, c in batches.items() if c["read"] != c["upserted"] + c["duplicates"] + c["quarantined"]}
    if broken:
        raise RuntimeError(f"conservation violated (rows lost or double counted): {broken}")

    # Metadata already in silver.products (from --products) beats what reviews imply.
    products_known = ctx.read(PRODUCTS).select("product_id", F.col("category").alias("_meta_category"))
    reviews = reviews.join(products_known, "product_id", "left").withColumn(
        "category", F.coalesce("category", "_meta_category")).drop("_meta_category")
    ctx.merge(PRODUCTS, products_from_reviews(reviews), mode="fill_nulls")
    ctx.merge(REVIEWS, reviews.drop("_product_title"), mode="upsert")
    ctx.merge(QUARANTINE, quarantined, mode="insert_only")
    reasons = {r["reason_code"]: r["count"] for r in quarantined.groupBy("reason_code").count().collect()}
    totals = {k: sum(b[k] for b in batches.values()) for k in ("read", "upserted", "duplicates", "quarantined")}
    for frame in (raw, reviews, quarantined, cleaned.duplicates):
        frame.unpersist()
    ctx.say(f"  read {totals['read']:,} = upserted {totals['upserted']:,} + duplicates "
            f"{totals['duplicates']:,} + quarantined {totals['quarantined']:,}")
    if reasons:
        ctx.say("  quarantine: " + ", ".join(f"{k}={v:,}" for k, v in sorted(reasons.items())))
    return StageResult(
        rows_in=totals["read"], rows_out=totals["upserted"], rows_quarantined=totals["quarantined"],
        message=f"{totals['duplicates']:,} duplicates collapsed",
        details={"conservation_by_batch": batches, "totals": totals, "quarantine_reasons": reasons},
    )



if __name__ == "__main__":
    from reviewlake.cli import run_stage_main

    run_stage_main("clean")
