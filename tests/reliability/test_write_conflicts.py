"""Delta's optimistic concurrency refuses a commit when another writer committed first; the lake retries such a
write on the new table version. Two writers MERGE into one table at once, round after round: both finish,
nothing is lost or doubled, and the conflicts really happened."""

from __future__ import annotations

import threading
from datetime import datetime

from reviewlake.lake import Lake, is_write_conflict

ROUNDS, KEYS = 8, 25


def _rows(spark, writer: str, round_no: int):
    return spark.createDataFrame(
        [(f"{writer}-{i}", f"{writer} round {round_no}", "kitchen", "metadata", datetime(2024, 6, 1))
         for i in range(KEYS)],
        "product_id string, title string, category string, category_source string, updated_at timestamp")


def test_two_concurrent_writers_both_land_after_retrying_conflicts(spark, config):
    lakes = {writer: Lake(spark, config.lake) for writer in ("a", "b")}
    lakes["a"].ensure("silver.products")
    failures: list[BaseException] = []
    start = threading.Barrier(2)

    def write(writer: str) -> None:
        try:
            start.wait()
            for round_no in range(ROUNDS):
                lakes[writer].merge("silver.products", _rows(spark, writer, round_no), mode="upsert")
        except BaseException as error:   # reported by the test below, not lost in the thread
            failures.append(error)

    threads = [threading.Thread(target=write, args=(w,)) for w in lakes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    rows = lakes["a"].read("silver.products").collect()
    assert len(rows) == 2 * KEYS
    assert {r["title"] for r in rows} == {f"a round {ROUNDS - 1}", f"b round {ROUNDS - 1}"}
    assert sum(lake.conflicts_retried for lake in lakes.values()) > 0, "the writers never collided"


def test_only_concurrency_errors_count_as_conflicts():
    # Delta's own exception classes are covered by the collision above; a wrapped error counts by its name.
    assert is_write_conflict(RuntimeError("io.delta.exceptions.ConcurrentAppendException: Files were added"))
    assert not is_write_conflict(ValueError("merge mode must be one of ..."))
    assert not is_write_conflict(RuntimeError("[DELTA_TABLE_NOT_FOUND] table not found"))
