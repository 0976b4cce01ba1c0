"""The generator is deterministic and its ground truth describes the files it wrote."""

import csv
import gzip
import json

from reviewlake import synthetic_vocab as vocab
from reviewlake.synthetic import generate


def _lines(path):
    with gzip.open(path, "rb") as handle:
        return handle.read().splitlines()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    generate(600, 3, tmp_path / "a")
    generate(600, 3, tmp_path / "b")
    generate(600, 4, tmp_path / "c")
    a, b, c = ((tmp_path / d / "reviews.jsonl.gz").read_bytes() for d in "abc")
    assert a == b
    assert a != c
    assert (tmp_path / "a/ground_truth.json").read_text() == (tmp_path / "b/ground_truth.json").read_text()


def test_ground_truth_matches_the_lines(tmp_path):
    truth = generate(3000, 11, tmp_path)
    lines = _lines(tmp_path / "reviews.jsonl.gz")
    assert len(lines) == truth["n_lines"]
    kinds = {d["kind"] for d in truth["defects"]}
    assert {"malformed_json", "exact_duplicate", "near_duplicate", "html", "email", "phone", "invalid_utf8",
            "huge_text", "bad_timestamp", "out_of_range_rating", "mojibake"} <= kinds
    for defect in truth["defects"]:
        line = lines[defect["line_no"] - 1]
        if defect["kind"] == "malformed_json":
            try:
                json.loads(line)
                raise AssertionError(f"line {defect['line_no']} should be malformed")
            except ValueError:
                pass
        elif defect["kind"] == "invalid_utf8":
            try:
                line.decode("utf-8")
                raise AssertionError("expected invalid UTF-8")
            except UnicodeDecodeError:
                pass
        elif defect["kind"] == "missing_product_id":
            assert "asin" not in json.loads(line)
        elif defect["kind"] == "out_of_range_rating":
            assert not 1 <= json.loads(line)["overall"] <= 5
        elif defect["kind"] == "email":
            assert "@example.com" in json.loads(line)["reviewText"]
    assert {a["kind"] for a in truth["anomalies"]} == {"volume_spike", "rating_drop"}


def test_reviews_follow_ratings_mostly_and_users_have_tastes(tmp_path):
    truth = generate(4000, 5, tmp_path)
    records = []
    for line in _lines(tmp_path / "reviews.jsonl.gz"):
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    negative_words = vocab.NEGATIVE_PREDICATES + vocab.NEGATIVE_CLOSERS
    low = [r for r in records if r.get("overall") in (1.0, 2.0)]
    high = [r for r in records if r.get("overall") == 5.0]
    share = lambda rs: sum(any(w in r.get("reviewText", "") for w in negative_words) for r in rs) / len(rs)  # noqa: E731
    # Planted aspect opinions put a named complaint into about a third of 5-star reviews, as on real sites.
    assert share(low) > 0.8 > 0.45 > share(high)
    # Users stay within the categories they like: the latent structure ALS can learn.
    liked = truth["user_liked_categories"]
    inside = [r["category"] in liked[r["reviewerID"]] for r in records
              if r.get("reviewerID") in liked and "category" in r]
    assert sum(inside) / len(inside) > 0.95


def test_csv_output_has_the_contract_columns(tmp_path):
    truth = generate(500, 2, tmp_path, fmt="csv")
    with open(tmp_path / "reviews.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == truth["n_lines"]
    assert {"product_id", "text", "review_id", "rating", "timestamp"} <= set(rows[0])
    assert all(d["kind"] not in {"malformed_json", "invalid_utf8"} for d in truth["defects"])
