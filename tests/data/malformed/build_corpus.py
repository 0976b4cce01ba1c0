"""Build the malformed-input corpus: one input file per class of broken input, each with what the pipeline
must do with it (the expectations are written here by hand, never derived from the pipeline's code).

    python tests/data/malformed/build_corpus.py OUT_DIR     # writes the files, prints the expectations

Every file also carries good records, so a class that breaks a whole file (instead of its bad rows) shows up.
A file is either ingested, with each record ending in silver.reviews (`good`), collapsed as a duplicate
(`duplicates`) or quarantined under a named reason (`quarantined`); or refused whole (`refused`: the command
exits 2 with a one-line message naming the file and writes nothing).
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

# A valid amazon2023 record; ids and texts are unique per file and line so every row can be traced.
TIMESTAMP_MS = 1_588_687_728_923          # 2020-05-05, in milliseconds as amazon2023 writes it
RUN_DATE = "2024-06-01"


def review(file: str, line: int, **fields) -> dict:
    record = {"rating": 4.0, "title": "Fine", "text": f"Review {line} of {file}: the lid fits well.",
              "parent_asin": f"P-{file}", "user_id": f"U-{file}-{line}", "timestamp": TIMESTAMP_MS,
              "helpful_vote": 0, "verified_purchase": True}
    return record | fields


def jsonl(records: list) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records)


def build(out: Path) -> dict[str, dict]:
    """Write the corpus under `out`; returns {file name: expectation}."""
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {}
    expected: dict[str, dict] = {}

    def add(name: str, content: bytes, **expectation) -> None:
        files[name] = content
        expected[name] = {"good": 0, "duplicates": 0, "quarantined": {}} | expectation

    name = "invalid_json.jsonl"
    add(name, jsonl([review(name, 1), b'{"rating": 5, "text": "unterminated', b"not json at all",
                     b'"a JSON string, not an object"', b"[1, 2, 3]", review(name, 6)]),
        good=2, quarantined={"malformed_record": 4})

    name = "wrong_types.jsonl"
    add(name, jsonl([review(name, 1, rating="five"), review(name, 2, rating=[5]), review(name, 3, rating=True),
                     review(name, 4, timestamp="soon"),
                     # a number, list or object where text belongs is a changed schema, not text to keep
                     review(name, 5, parent_asin=12345), review(name, 6, text={"body": "Nested text."}),
                     review(name, 7, title=["a", "list"]), review(name, 8, user_id=7),
                     # a vote count that is no number is dropped (null), the review kept; null text is no text
                     review(name, 9, helpful_vote="many"), review(name, 10, title=None)]),
        good=2, quarantined={"invalid_rating": 3, "invalid_timestamp": 1, "invalid_type": 4})

    name = "missing_fields.jsonl"
    without = [{k: v for k, v in review(name, i).items() if k != missing}
               for i, missing in enumerate(("parent_asin", "user_id", "timestamp"), start=1)]
    add(name, jsonl([*without, review(name, 4, parent_asin="   "), review(name, 5)]),
        good=1, quarantined={"missing_product_id": 2, "missing_user_id": 1, "invalid_timestamp": 1})

    name = "empty_text.jsonl"
    no_rating = {k: v for k, v in review(name, 2, text="").items() if k != "rating"}
    markup_only = {k: v for k, v in review(name, 3, text="  <br/> <p></p>  ").items() if k != "rating"}
    # a rating without words is a review (rating-only); no words and no rating is nothing
    add(name, jsonl([review(name, 1, text=""), no_rating, markup_only, review(name, 4, text=None)]),
        good=2, quarantined={"empty_review": 2})

    name = "huge_review.jsonl"
    add(name, jsonl([review(name, 1, text="This kettle is great. " * 240_000), review(name, 2)]),
        good=1, quarantined={"text_too_long": 1})

    name = "invalid_utf8.jsonl"
    broken = json.dumps(review(name, 1, text="Works well XX and quietly.")).encode().replace(b"XX", b"\xff\xfe\xc3")
    add(name, jsonl([broken, review(name, 2)]), good=2,
        lines={1: {"contains": ["Works well", "and quietly."]}})

    name = "mojibake.jsonl"
    add(name, jsonl([review(name, 1, text="I donâ€™t regret it, the cafÃ© grinder is great."), review(name, 2)]),
        good=2, lines={1: {"contains": ["regret it", "café grinder"], "absent": ["â€", "Ã©"]}})

    name = "out_of_range_ratings.jsonl"
    add(name, jsonl([review(name, 1, rating=0), review(name, 2, rating=6), review(name, 3, rating=-1),
                     review(name, 4, rating=3.7), review(name, 5, rating="NaN"), review(name, 6, rating=4.5),
                     review(name, 7, rating=1)]),
        good=2, quarantined={"invalid_rating": 5})

    name = "timestamps.jsonl"
    add(name, jsonl([review(name, 1, timestamp=4_102_444_800_000),      # 2100, after the run date
                     review(name, 2, timestamp=0),                      # epoch 0
                     review(name, 3, timestamp=-86_400),                # before epoch
                     review(name, 4, timestamp=TIMESTAMP_MS),           # milliseconds
                     review(name, 5, timestamp=TIMESTAMP_MS // 1000),   # the same instant in seconds
                     review(name, 6, timestamp="2020-05-05T14:08:48Z")]),
        good=3, quarantined={"invalid_timestamp": 3},
        lines={4: {"date": "2020-05-05"}, 5: {"date": "2020-05-05"}, 6: {"date": "2020-05-05"}})

    name = "duplicate_ids.csv"
    add(name, (b"review_id,product_id,user_id,rating,text,timestamp\n"
               b"R-dup,P-csv,U1,5,The first words win.,2020-05-05T10:00:00Z\n"
               b"R-dup,P-csv,U2,1,A different text under the same id.,2020-05-06T10:00:00Z\n"
               b"R-other,P-csv,U3,4,Another review.,2020-05-07T10:00:00Z\n"),
        good=2, duplicates=1, lines={1: {"review_id": "R-dup", "text": "The first words win."}})

    name = "html_injection.jsonl"
    add(name, jsonl([review(name, 1, text='<script>alert("x")</script>Great <b>kettle</b>, '
                                        '<img src=x onerror=alert(1)> boils fast.'),
                     review(name, 2, title="<iframe src=//evil>Nice</iframe>")]),
        good=2, lines={1: {"contains": ["Great kettle", "boils fast."], "absent": ["<", ">", "onerror", "alert"]}})

    name = "embedded_newlines.csv"
    add(name, (b"review_id,product_id,user_id,rating,text,timestamp\n"
               b'R-nl,P-csv2,U1,4,"Line one,\nline two with ""quotes"".",2020-05-05T10:00:00Z\n'
               b'R-crlf,P-csv2,U2,2,"Windows\r\nline end, comma",2020-05-05T10:00:00Z\n'
               b"R-plain,P-csv2,U3,5,Plain.,2020-05-05T10:00:00Z\n"),
        good=3, lines={1: {"review_id": "R-nl", "contains": ["Line one,", 'line two with "quotes".']},
                       2: {"review_id": "R-crlf", "contains": ["Windows", "line end, comma"]},
                       3: {"review_id": "R-plain", "text": "Plain."}})

    name = "bom.jsonl"
    add(name, b"\xef\xbb\xbf" + jsonl([review(name, 1), review(name, 2)]), good=2,
        lines={1: {"contains": ["Review 1 of bom.jsonl"]}})

    name = "bom.csv"
    add(name, b"\xef\xbb\xbf" + (b"review_id,product_id,user_id,rating,text,timestamp\n"
                                  b"R-bom,P-csv3,U1,5,Starts the file.,2020-05-05T10:00:00Z\n"),
        good=1, lines={1: {"review_id": "R-bom", "text": "Starts the file."}})

    name = "extra_fields.jsonl"
    add(name, jsonl([review(name, 1, images=[{"url": "x"}], seller={"id": 7}, unknown_flag=True),
                     review(name, 2, **{"weird key with spaces": 1})]),
        good=2, lines={1: {"raw_contains": "unknown_flag"}})

    # Whole files the pipeline cannot read: refused before anything is written.
    truncated = gzip.compress(jsonl([review("truncated.jsonl.gz", i) for i in range(1, 200)]))
    add("truncated.jsonl.gz", truncated[: len(truncated) // 2], refused="truncated.jsonl.gz")
    add("binary.jsonl", bytes(range(256)) * 40, refused="binary.jsonl")
    add("gzip_named_plain.jsonl", gzip.compress(jsonl([review("gzip_named_plain.jsonl", 1)])),
        refused="gzip_named_plain.jsonl")

    for file_name, content in files.items():
        (out / file_name).write_bytes(content)
    return expected


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: build_corpus.py OUT_DIR")
    print(json.dumps(build(Path(sys.argv[1])), indent=1, ensure_ascii=False))
