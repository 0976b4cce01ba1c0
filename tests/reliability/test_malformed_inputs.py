"""The malformed-input corpus (tests/data/malformed/build_corpus.py) through ingest and clean: every record of
every readable file ends in exactly one place (silver.reviews, a collapsed duplicate, or silver.quarantine
under its class's reason), nothing is silently altered, and a file that cannot be read is refused whole with a
message naming it, before anything is written."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import date

import pytest
from pyspark.sql import functions as F

from jobs import clean, ingest
from reviewlake.context import RunParams
from reviewlake.errors import UserError
from tests.conftest import make_context
from tests.data.malformed.build_corpus import build

RUN_DATE = date(2024, 6, 1)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("malformed")
    expected = build(root / "all")
    readable, refused = root / "readable", root / "refused"
    readable.mkdir()
    refused.mkdir()
    for name, expectation in expected.items():
        shutil.move(root / "all" / name, (refused if "refused" in expectation else readable) / name)
    return readable, refused, expected


def test_corpus_has_the_classes_the_issue_lists(corpus):
    _, _, expected = corpus
    assert len(expected) >= 12


def test_every_record_of_every_class_lands_once_with_its_reason(spark, config, corpus):
    readable, _, expected = corpus
    files = sorted(str(p) for p in readable.iterdir())
    ingest.run(make_context(spark, config, "ingest", RunParams(inputs=tuple(files)), run_id="ingest-1"))
    ctx = make_context(spark, config, "clean", RunParams(run_date=RUN_DATE), run_id="clean-1")
    clean.run(ctx)

    def by_file(table: str, *columns: str) -> dict[str, list]:
        rows = ctx.lake.read(table).withColumn("_file", F.element_at(F.split("source_file", "/"), -1)).collect()
        grouped: dict[str, list] = {}
        for row in rows:
            grouped.setdefault(row["_file"], []).append(row)
        return grouped

    bronze = by_file("bronze.reviews_raw")
    silver = by_file("silver.reviews")
    quarantine = by_file("silver.quarantine")
    for name, want in ((n, e) for n, e in expected.items() if "refused" not in e):
        records = want["good"] + want["duplicates"] + sum(want["quarantined"].values())
        assert len(bronze.get(name, [])) == records, f"{name}: records read"
        assert len(silver.get(name, [])) == want["good"], f"{name}: reviews kept"
        reasons = Counter(r["reason_code"] for r in quarantine.get(name, []))
        assert reasons == Counter(want["quarantined"]), f"{name}: quarantine reasons"
        kept = {r["source_line_no"]: r for r in silver.get(name, [])}
        raw = {r["line_no"]: r["raw"] for r in bronze.get(name, [])}
        for line, checks in want.get("lines", {}).items():
            row = kept.get(line)
            assert row is not None, f"{name} line {line} should be in silver.reviews"
            for fragment in checks.get("contains", []):
                assert fragment in row["text"], f"{name} line {line}: {fragment!r} not in {row['text']!r}"
            for fragment in checks.get("absent", []):
                assert fragment not in row["text"], f"{name} line {line}: {fragment!r} in {row['text']!r}"
            if "text" in checks:
                assert row["text"] == checks["text"]
            if "review_id" in checks:
                assert row["review_id"] == checks["review_id"]
            if "date" in checks:
                assert str(row["review_date"]) == checks["date"]
            if "raw_contains" in checks:
                assert checks["raw_contains"] in raw[line], f"{name}: bronze keeps the whole record"


@pytest.mark.parametrize("name", ["truncated.jsonl.gz", "binary.jsonl", "gzip_named_plain.jsonl"])
def test_an_unreadable_file_is_refused_whole_before_anything_is_written(spark, config, corpus, name, tmp_path):
    readable, refused, expected = corpus
    good = tmp_path / "good.jsonl"
    shutil.copy(readable / "bom.jsonl", good)
    ctx = make_context(spark, config, "ingest", RunParams(inputs=(str(good), str(refused / name))))
    before = ctx.lake.version("bronze.reviews_raw")
    with pytest.raises(UserError) as refusal:
        ingest.run(ctx)
    message = str(refusal.value)
    assert expected[name]["refused"] in message and "\n" not in message
    assert ctx.lake.version("bronze.reviews_raw") == before
