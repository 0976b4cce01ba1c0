"""Clean transform on tiny hand-written bronze rows: reasons, dedupe, PII, pseudonyms, conservation."""

from datetime import date, datetime

from pyspark.sql import functions as F

from jobs import clean
from reviewlake.config import CleanRules
from schemas.tables import REVIEWS_RAW
from tests.conftest import make_context

RUN_DATE = date(2024, 6, 1)


def bronze(spark, *rows):
    base = {"source_file": "/in/All_Beauty_5.json.gz", "source_format": "amazon2018", "file_sha256": "h",
            "ingest_batch_id": "b1", "ingested_at": datetime(2024, 6, 1), "raw": "{}"}
    full = []
    for i, row in enumerate(rows, start=1):
        record = {"line_no": i, "product_id": "P1", "user_id": f"U{i}", "rating": "5.0",
                  "text": f"Review number {i} is good", "timestamp": "1600000000"} | base | row
        full.append(tuple(record.get(f.name) for f in REVIEWS_RAW.fields))
    return spark.createDataFrame(full, REVIEWS_RAW)


def _transform(spark, frame, existing=None):
    if existing is None:
        existing = spark.createDataFrame([], "review_id string, user_id string, product_id string, text_hash string, "
                                             "ingest_batch_id string, source_file string, source_line_no long")
    out = clean.transform(frame, CleanRules(), "salt", RUN_DATE, "c1", existing)
    return out, {r["line_no"]: r["reason_code"] for r in out.quarantined.collect()}


REASON_CASES = [
    ({"_corrupt_record": "{oops", "product_id": None}, "malformed_record"),
    ({"raw": '{"asin": "P1", "reviewText": {"body": "nested"}}'}, "invalid_type"),
    ({"raw": '{"asin": 123, "reviewText": "fine"}'}, "invalid_type"),
    ({"raw": '{"parent_asin": "P1", "title": ["a"]}', "source_format": "amazon2023"}, "invalid_type"),
    ({"product_id": "  "}, "missing_product_id"),
    ({"user_id": None}, "missing_user_id"),
    ({"rating": "6"}, "invalid_rating"),
    ({"rating": "0"}, "invalid_rating"),
    ({"rating": "4.25"}, "invalid_rating"),
    ({"rating": "five"}, "invalid_rating"),
    ({"rating": "NaN"}, "invalid_rating"),
    ({"timestamp": "not a time"}, "invalid_timestamp"),
    ({"timestamp": "86400"}, "invalid_timestamp"),          # 1970
    ({"timestamp": "4102444800"}, "invalid_timestamp"),     # 2100, after the run date
    ({"timestamp": None}, "invalid_timestamp"),             # amazon formats always carry one
    ({"text": "", "rating": None}, "empty_review"),
    ({"text": "word " * 5000}, "text_too_long"),
]
VALID_CASES = [
    {"raw": '{"asin": "P1", "reviewText": "[Update] {still} fine", "summary": null, "overall": 5.0}'},
    {"raw": '{"review_id": 5, "text": [1]}', "source_format": "csv"},   # a CSV line is not JSON
    {"rating": "4.5"}, {"rating": None}, {"text": "", "rating": "3"}, {"rating": " 2 "},
    {"timestamp": "1600000000000"},                              # epoch milliseconds
    {"timestamp": None, "review_time_text": "09 1, 2016", "source_format": "amazon2014"},
    {"timestamp": "2020-05-01T10:00:00Z", "source_format": "csv"},
    {"timestamp": None, "source_format": "csv", "user_id": None},  # CSV: both optional
]


def test_each_quarantine_reason_and_valid_variant(spark):
    # One frame for all cases: line i is case i, so a single Spark job checks the whole table.
    rows = [case for case, _ in REASON_CASES] + VALID_CASES
    out, reasons = _transform(spark, bronze(spark, *rows))
    assert reasons == {i: reason for i, (_, reason) in enumerate(REASON_CASES, start=1)}
    kept = sorted(r["source_line_no"] for r in out.reviews.collect())
    assert kept == list(range(len(REASON_CASES) + 1, len(rows) + 1))
    for row in out.quarantined.collect():
        assert row["reason_text"].startswith(clean.QUARANTINE_REASONS[row["reason_code"]])


def test_parsed_values_pii_pseudonym_and_category(spark):
    out, _ = _transform(spark, bronze(spark, {
        "text": "<b>Great</b> &amp; cheap, and it works. Mail sam@example.com or call +1 555 123 4567",
        "title": "Donâ€™t buy", "user_id": "U1", "reviewer_name": "Sam Smith", "helpful_votes": "[3, 4]",
        "verified": "true", "rating": "4.0", "timestamp": "1600000000"}))
    row = out.reviews.first()
    assert row["text"] == "Great & cheap, and it works. Mail [EMAIL] or call [PHONE]"
    assert row["title"] == "Don't buy"
    assert row["user_id"].startswith("u_") and len(row["user_id"]) == 18 and "U1" not in row["user_id"]
    assert row["rating"] == 4.0
    assert row["review_ts"] == datetime(2020, 9, 13, 12, 26, 40)
    assert row["review_date"] == date(2020, 9, 13)
    assert row["category"] == "All Beauty"
    assert (row["helpful_votes"], row["verified"], row["language"]) == (3, True, "en")
    assert "reviewer_name" not in out.reviews.columns
    # Same salt, same user -> same pseudonym; different salt -> different.
    other = clean.transform(bronze(spark, {"user_id": "U1"}), CleanRules(), "pepper", RUN_DATE, "c1",
                            out.reviews.select(*clean.EXISTING_COLUMNS).limit(0))
    assert other.reviews.first()["user_id"] != row["user_id"]


def test_duplicates_collapse_to_the_earliest(spark):
    frame = bronze(
        spark,
        {"user_id": "U1", "text": "Same words here", "timestamp": "1600000000"},
        {"user_id": "U1", "text": "Same words here", "timestamp": "1600000000"},       # exact duplicate
        {"user_id": "U1", "text": "  SAME   words here ", "timestamp": "1600090000"},  # near duplicate
        {"user_id": "U2", "text": "Same words here", "timestamp": "1600000000"},       # other user: kept
    )
    out, reasons = _transform(spark, frame)
    assert reasons == {}
    kept = sorted(r["source_line_no"] for r in out.reviews.collect())
    assert kept == [1, 4]
    dupes = {r["line_no"]: r["duplicate_of"] for r in out.duplicates.collect()}
    first_id = out.reviews.where("source_line_no = 1").first()["review_id"]
    assert dupes == {2: first_id, 3: first_id}


def test_duplicate_of_a_review_already_in_silver(spark):
    first, _ = _transform(spark, bronze(spark, {"user_id": "U1", "text": "Loved it", "timestamp": "1600000000"}))
    existing = first.reviews.select(*clean.EXISTING_COLUMNS)
    resubmitted = bronze(spark, {"user_id": "U1", "text": "loved  IT", "timestamp": "1600500000", "line_no": 7})
    out, _ = _transform(spark, resubmitted, existing)
    assert out.reviews.count() == 0
    assert out.duplicates.first()["duplicate_of"] == existing.first()["review_id"]


def test_a_review_id_seen_before_keeps_its_first_copy(spark):
    """CSV review ids are the source's: the same id from a later batch with other words does not overwrite the
    silver row (the earliest arrival wins, as the README says); the same bronze record read again does."""
    first, _ = _transform(spark, bronze(spark, {"review_id": "R1", "text": "First words", "source_format": "csv"}))
    existing = first.reviews.select(*clean.EXISTING_COLUMNS)
    later = bronze(spark, {"review_id": "R1", "text": "Edited words", "source_format": "csv",
                           "ingest_batch_id": "b2", "line_no": 5})
    out, _ = _transform(spark, later, existing)
    assert out.reviews.count() == 0
    assert [(r["line_no"], r["duplicate_of"]) for r in out.duplicates.collect()] == [(5, "R1")]
    replay, _ = _transform(spark, bronze(spark, {"review_id": "R1", "text": "First words", "source_format": "csv"}),
                           existing)
    assert replay.reviews.count() == 1 and replay.duplicates.count() == 0


def test_run_is_incremental_and_conserves_rows(spark, config, lake):
    lake.append("bronze.reviews_raw", bronze(spark, {}, {"rating": "9"}, {"user_id": "U1"}))
    first = clean.run(make_context(spark, config, "clean", run_id="c1"))
    assert (first.rows_in, first.rows_out, first.rows_quarantined) == (3, 2, 1)
    assert first.details["conservation_by_batch"] == {
        "b1": {"read": 3, "upserted": 2, "duplicates": 0, "quarantined": 1}}
    # A rerun before any success was recorded (the first attempt died after writing) re-reads the same bronze
    # rows: the quarantine keeps one row per bronze record (it had one per clean run), silver one per review.
    retry = clean.run(make_context(spark, config, "clean", run_id="c1-retry"))
    assert retry.rows_quarantined == 1
    assert lake.read("silver.quarantine").count() == 1 and lake.read("silver.reviews").count() == 2
    # The ledger is what makes the next run incremental.
    from reviewlake.ledger import RunLedger

    RunLedger(lake).record(run_id="c1", job="clean", status="succeeded", started_at=datetime(2024, 6, 1),
                           params_json="{}", tables_read={"bronze.reviews_raw": lake.version("bronze.reviews_raw")})
    lake.append("bronze.reviews_raw", bronze(spark, {"line_no": 10, "user_id": "U10", "ingest_batch_id": "b2"}))
    second = clean.run(make_context(spark, config, "clean", run_id="c2"))
    assert (second.rows_in, second.rows_out) == (1, 1)
    assert lake.read("silver.reviews").count() == 3
    assert lake.read("silver.quarantine").where(F.col("reason_code") == "invalid_rating").count() == 1


def test_quarantine_keeps_no_personal_data(spark):
    """A rejected record keeps its fields for inspection, but not the reviewer's name, raw id, e-mail or phone;
    a line that never parsed keeps nothing but its place in bronze."""
    raw = '{"reviewerID": "A1REALID", "reviewerName": "Jane Q. Public", "reviewText": "mail jane@example.com"}'
    frame = bronze(spark,
                   {"user_id": "A1REALID", "reviewer_name": "Jane Q. Public", "rating": "7", "raw": raw,
                    "title": "Call 555-123-4567", "text": "Broke. Mail me at jane.doe@example.com please"},
                   {"_corrupt_record": raw[:40], "raw": raw[:40], "product_id": None})
    out, reasons = _transform(spark, frame)
    assert reasons == {1: "invalid_rating", 2: "malformed_record"}
    rows = {r["line_no"]: r for r in out.quarantined.collect()}
    kept = rows[1]["record"]
    for secret in ("A1REALID", "Jane", "Public", "jane.doe@example.com", "555-123-4567"):
        assert secret not in kept, secret
        assert secret not in (rows[1]["reason_text"] or "")
    import json

    fields = json.loads(kept)
    assert fields["rating"] == "7" and fields["product_id"] == "P1" and fields["user_id"].startswith("u_")
    assert "Broke." in fields["text"] and "reviewer_name" not in fields
    assert rows[2]["record"] is None and rows[2]["source_file"] and rows[2]["line_no"] == 2
