"""Ingest: formats, sniffing, line numbers, corrupt lines, idempotent replays."""

import gzip
import json

import pytest

from jobs import ingest
from reviewlake.context import RunParams
from reviewlake.errors import UserError
from tests.conftest import make_context

A2014 = {"reviewerID": "U1", "asin": "P1", "reviewerName": "Ann", "helpful": [2, 3], "reviewText": "Nice",
         "overall": 5.0, "summary": "Good", "unixReviewTime": 1400000000, "reviewTime": "05 13, 2014"}
A2018 = {"overall": 4.0, "verified": True, "reviewTime": "09 1, 2016", "reviewerID": "U2", "asin": "P2",
         "style": {"Size:": " 7"}, "reviewerName": "Bo", "reviewText": "Fine", "summary": "ok",
         "unixReviewTime": 1472688000, "vote": "1,204"}
A2023 = {"rating": 2.0, "title": "Meh", "text": "Broke", "images": [], "asin": "C3", "parent_asin": "P3",
         "user_id": "U3", "timestamp": 1588687728923, "helpful_vote": 0, "verified_purchase": True}


def _write_jsonl(path, records, gz=False):
    data = "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n"
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(data)
    else:
        path.write_text(data)
    return path


@pytest.mark.parametrize(("record", "fmt"), [(A2014, "amazon2014"), (A2018, "amazon2018"), (A2023, "amazon2023")])
def test_sniff_json_formats(tmp_path, record, fmt):
    assert ingest.sniff_format(_write_jsonl(tmp_path / "x.jsonl.gz", ["not json", record], gz=True)) == fmt


def test_gzip_without_gz_name_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="gzip"):
        ingest.sniff_format(_write_jsonl(tmp_path / "x.jsonl", [A2018], gz=True))


def test_sniff_csv_and_unknown(tmp_path):
    (tmp_path / "r.csv").write_text("product_id,text\np,t\n")
    assert ingest.sniff_format(tmp_path / "r.csv") == "csv"
    with pytest.raises(UserError, match="no JSON object"):
        ingest.sniff_format(_write_jsonl(tmp_path / "bad.jsonl", ["a", "b"]))
    with pytest.raises(UserError, match="match no known format"):
        ingest.sniff_format(_write_jsonl(tmp_path / "other.jsonl", [{"foo": 1}]))


def test_resolve_inputs(tmp_path):
    _write_jsonl(tmp_path / "a.jsonl", [A2018])
    (tmp_path / "sub").mkdir()
    _write_jsonl(tmp_path / "sub" / "b.json.gz", [A2018], gz=True)
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in ingest.resolve_inputs(str(tmp_path))] == ["a.jsonl", "b.json.gz"]
    assert [p.name for p in ingest.resolve_inputs(str(tmp_path / "*.jsonl"))] == ["a.jsonl"]
    with pytest.raises(UserError, match="not found"):
        ingest.resolve_inputs(str(tmp_path / "missing.jsonl"))
    with pytest.raises(UserError, match="matches no file"):
        ingest.resolve_inputs(str(tmp_path / "*.parquet"))


def test_csv_without_required_columns_is_a_user_error(tmp_path):
    (tmp_path / "r.csv").write_text("asin,review\np,t\n")
    with pytest.raises(UserError, match="required column"):
        ingest.plan_inputs((str(tmp_path / "r.csv"),), "auto", {})


def test_ingest_all_formats_keeps_corrupt_lines_and_replays_as_no_op(spark, config, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    _write_jsonl(inputs / "a14.json.gz", [A2014, '{"broken": ', A2014 | {"reviewerID": "U9"}], gz=True)
    _write_jsonl(inputs / "a18.jsonl", [A2018])
    _write_jsonl(inputs / "a23.jsonl", [A2023, "[1, 2]"])
    (inputs / "r.csv").write_text('review_id,product_id,text,rating\nR1,P9,"multi\nline, quoted",4.5\n'
                                  "R2,P9,,\n")
    ctx = make_context(spark, config, "ingest", RunParams(inputs=(str(inputs),)))
    result = ingest.run(ctx)
    assert result.rows_out == 3 + 1 + 2 + 2
    rows = ctx.lake.read("bronze.reviews_raw").collect()
    bronze = {(r["source_file"].rsplit("/", 1)[1], r["line_no"]): r for r in rows}
    assert bronze[("a14.json.gz", 1)]["helpful_votes"] == "[2,3]"
    assert bronze[("a14.json.gz", 2)]["_corrupt_record"] == '{"broken": '
    assert bronze[("a14.json.gz", 3)]["user_id"] == "U9"
    a18 = bronze[("a18.jsonl", 1)]
    assert (a18["product_id"], a18["rating"], a18["helpful_votes"], a18["verified"]) == ("P2", "4.0", "1,204", "true")
    a23 = bronze[("a23.jsonl", 1)]
    assert (a23["product_id"], a23["timestamp"], a23["source_format"]) == ("P3", "1588687728923", "amazon2023")
    assert bronze[("a23.jsonl", 2)]["_corrupt_record"] == "[1, 2]"
    assert bronze[("r.csv", 1)]["text"] == "multi\nline, quoted"
    assert bronze[("r.csv", 2)]["review_id"] == "R2"
    assert {r["ingest_batch_id"] for r in bronze.values()} == {"run-1"}

    version = ctx.lake.version("bronze.reviews_raw")
    replay = make_context(spark, config, "ingest", RunParams(inputs=(str(inputs),)), run_id="run-2")
    again = ingest.run(replay)
    assert again.rows_out == 0
    assert len(again.details["skipped"]) == 4
    assert ctx.lake.version("bronze.reviews_raw") == version


def test_changed_file_at_known_path_is_refused(spark, config, tmp_path):
    path = _write_jsonl(tmp_path / "a.jsonl", [A2018])
    ingest.run(make_context(spark, config, "ingest", RunParams(inputs=(str(path),))))
    _write_jsonl(path, [A2018, A2018 | {"reviewerID": "U7"}])
    with pytest.raises(UserError, match="different content"):
        ingest.run(make_context(spark, config, "ingest", RunParams(inputs=(str(path),)), run_id="run-2"))


def test_line_numbers_follow_file_order_across_split_blocks(spark, config, tmp_path):
    records = [A2018 | {"reviewerID": f"U{i}", "reviewText": "x" * 200} for i in range(3000)]
    path = _write_jsonl(tmp_path / "big.jsonl", records)
    spark.conf.set("spark.sql.files.maxPartitionBytes", "65536")
    try:
        lines, blank = ingest.read_jsonl(spark, path)
        assert lines.rdd.getNumPartitions() > 5
        parsed = ingest.parse_jsonl(lines, "amazon2018").select("line_no", "user_id").collect()
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    assert blank == 0
    assert sorted((r["line_no"], r["user_id"]) for r in parsed) == [(i + 1, f"U{i}") for i in range(3000)]


def test_product_metadata_with_nested_categories(spark, tmp_path):
    path = _write_jsonl(tmp_path / "meta.jsonl", [
        {"asin": "P1", "title": "Blender", "categories": [["Home", "Kitchen", "Blenders"]]},
        {"asin": "P2", "title": "Shoe"},
    ])
    rows = {r["product_id"]: r for r in ingest.product_metadata(spark, str(path)).collect()}
    assert rows["P1"]["category"] == "Blenders"
    assert rows["P2"]["category"] is None and rows["P2"]["title"] == "Shoe"
