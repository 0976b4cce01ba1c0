"""The whole pipeline on a few thousand synthetic reviews, checked against the generator's ground truth;
then a replay, and the real Amazon sample."""

import json
from collections import Counter
from datetime import date

import pytest
from deltalake import DeltaTable

from reviewlake.context import RunParams
from reviewlake.pipeline import run_pipeline
from reviewlake.synthetic import generate

RUN_DATE = date(2026, 11, 1)


def _silver_snapshot(lake_root):
    frame = DeltaTable(str(lake_root / "silver" / "reviews")).to_pandas()
    return frame.drop(columns=["updated_at"]).sort_values("review_id").reset_index(drop=True)


@pytest.mark.slow
def test_synthetic_pipeline_matches_ground_truth_and_replays_as_no_op(spark, config, lake, tmp_path):
    truth = generate(3000, 21, tmp_path / "in")
    reviews_file = str(tmp_path / "in" / truth["reviews_file"])
    params = RunParams(inputs=(reviews_file,), products=str(tmp_path / "in" / truth["products_file"]),
                       stages=("ingest", "clean", "quality"), run_date=RUN_DATE)
    outcomes = run_pipeline(config, params, say=lambda _m: None, run_id="first")
    assert [o.status for o in outcomes] == ["succeeded"] * 3
    clean_result = outcomes[1].result

    # Conservation: every line is in exactly one bucket, per batch and in total.
    totals = clean_result.details["totals"]
    assert totals["read"] == truth["n_lines"]
    assert totals["read"] == totals["upserted"] + totals["duplicates"] + totals["quarantined"]

    silver = DeltaTable(str(config.lake / "silver/reviews")).to_pandas()
    quarantine = DeltaTable(str(config.lake / "silver/quarantine")).to_pandas()
    in_silver = set(silver["source_line_no"])
    quarantined = dict(zip(quarantine["line_no"], quarantine["reason_code"], strict=True))
    expected_reasons = Counter()
    for defect in truth["defects"]:
        line, expected = defect["line_no"], defect["expected"]
        if expected == "kept":
            assert line in in_silver, defect
        elif expected == "duplicate":
            assert line not in in_silver and line not in quarantined, defect
        else:
            assert quarantined.get(line) == expected, defect
            expected_reasons[expected] += 1
    # Nothing is quarantined that the generator did not break.
    assert Counter(quarantined.values()) == expected_reasons
    assert totals["duplicates"] == sum(d["expected"] == "duplicate" for d in truth["defects"])

    # PII never reaches silver; reviewer names are gone; categories come from metadata.
    assert not silver["text"].str.contains(r"@example\.com|\(555\)", regex=True).any()
    assert silver["user_id"].str.match(r"^u_[0-9a-f]{16}$").all()
    assert not any("SYN" in u for u in silver["user_id"])
    assert silver["category"].notna().all()
    mojibake_lines = {d["line_no"] for d in truth["defects"] if d["kind"] == "mojibake"}
    fixed = silver[silver["source_line_no"].isin(mojibake_lines)]["text"]
    assert len(fixed) and fixed.str.contains("Don't miss it – it's great.", regex=False).all()

    ledger = DeltaTable(str(config.lake / "ops/pipeline_runs")).to_pandas()
    assert set(ledger["job"]) == {"ingest", "clean", "quality"}
    clean_row = ledger[ledger["job"] == "clean"].iloc[0]
    assert clean_row["tables_written"]  # versions written are recorded
    assert json.loads(clean_row["details"])["conservation_by_batch"]["first"]["read"] == truth["n_lines"]

    # Replay: zero new bronze rows, silver content identical.
    before = _silver_snapshot(config.lake)
    bronze_version = lake.version("bronze.reviews_raw")
    replay = run_pipeline(config, params, say=lambda _m: None, run_id="replay")
    assert replay[0].result.rows_out == 0
    assert replay[1].result.rows_in == 0
    assert lake.version("bronze.reviews_raw") == bronze_version
    assert before.equals(_silver_snapshot(config.lake))


@pytest.mark.slow
def test_real_amazon_sample(spark, config, real_data_dir):
    params = RunParams(inputs=(str(real_data_dir / "*.json.gz"),), stages=("ingest", "clean", "quality"),
                       run_date=RUN_DATE)
    outcomes = run_pipeline(config, params, say=lambda _m: None, run_id="real")
    assert [o.status for o in outcomes] == ["succeeded"] * 3
    totals = outcomes[1].result.details["totals"]
    assert totals["read"] == sum(1 for f in real_data_dir.glob("*.json.gz") for _ in __import__("gzip").open(f))
    silver = DeltaTable(str(config.lake / "silver/reviews")).to_pandas()
    # These 5-core files repeat reviews verbatim; each survives once.
    assert totals["duplicates"] > 0
    assert not silver.duplicated(["user_id", "product_id", "text_hash"]).any()
    assert set(silver["category"]) == {"All Beauty", "Appliances"}
    assert silver["rating"].between(1, 5).all()
    # Stop-word language guess: very short reviews ("Five stars") stay undetermined, the rest are English.
    detected = silver[silver["language"] != "und"]["language"]
    assert (detected == "en").mean() > 0.97
    assert len(detected) / len(silver) > 0.7
