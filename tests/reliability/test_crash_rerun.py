"""SIGKILL `reviewlake run` inside each of its stages (5 kills, driver and JVM together), rerun, and the lake ends
identical to one uninterrupted run: no partial write survives a kill, the ledger shows every interrupted
attempt. A replay of the uninterrupted run (same input, same run date) adds and changes nothing.
bench/soak.py runs the same harness with more kills."""

from __future__ import annotations

from bench.soak import SALT, compared_tables, content_hashes, crash_chain
from reviewlake.context import RunParams
from reviewlake.ledger import INTERRUPTED_MESSAGE
from reviewlake.pipeline import run_pipeline
from reviewlake.synthetic import generate
from tests.conftest import read_table

STAGES = ("ingest", "clean", "sentiment")
RUN_DATE = "2024-06-01"


def test_killed_runs_then_a_rerun_equal_one_uninterrupted_run(spark, config, tmp_path):
    from dataclasses import replace
    from datetime import date

    generate(300, 3, tmp_path / "in")
    reference = replace(config, lake=tmp_path / "reference", pii_salt=SALT)
    run_pipeline(reference, RunParams(inputs=(str(tmp_path / "in"),), stages=STAGES,
                                      run_date=date.fromisoformat(RUN_DATE)), say=lambda _m: None)
    tables = compared_tables(STAGES)
    hashes = content_hashes(spark, reference.lake, tables)
    final = {name: count for name, (count, _) in hashes.items()}
    assert final["silver.reviews"] > 0 and final["gold.review_sentiment"] == final["silver.reviews"]
    # Replay: the same input and run date again adds nothing and changes nothing.
    replay = run_pipeline(reference, RunParams(inputs=(str(tmp_path / "in"),), stages=STAGES,
                                               run_date=date.fromisoformat(RUN_DATE)), say=lambda _m: None)
    assert replay[0].result.rows_out == 0 and content_hashes(spark, reference.lake, tables) == hashes

    crashed = tmp_path / "crashed"
    kills = crash_chain(crashed, tmp_path / "in", kills=5, seed=11, stages=STAGES, run_date=RUN_DATE)
    landed = [k for k in kills if k.killed]
    assert {k.stage for k in landed} >= {"clean", "sentiment"}, kills
    for kill in kills:   # Delta commits are whole: after any kill a table is empty or complete
        assert all(n in (0, final[t]) for t, n in kill.rows_after.items()), kill

    assert content_hashes(spark, crashed, tables) == hashes
    ledger = read_table(crashed, "ops.pipeline_runs")
    assert not (ledger["status"] == "running").any()
    interrupted = ledger[ledger["message"] == INTERRUPTED_MESSAGE]
    assert len(interrupted) == len(landed) and (interrupted["status"] == "failed").all()
    assert set(interrupted["job"]) == {k.stage for k in landed}
    assert set(tables) == {"bronze.reviews_raw", "silver.products", "silver.reviews", "silver.quarantine",
                           "gold.review_sentiment"} == set(final)
