"""One writer per lake: a second run is refused (CLI, exit 2, naming the holder) or queues (orchestrated
stages); a writer killed with SIGKILL leaves no stale lock."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from reviewlake.lake_lock import LakeBusy, holder, lake_lock

HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from reviewlake.lake_lock import lake_lock
    with lake_lock(Path(sys.argv[1]), "holder-run", "clean"):
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
""")


def _hold(lake, seconds):
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(lake), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "locked"
    return child


def test_a_second_writer_is_refused_and_a_killed_writer_leaves_no_stale_lock(tmp_path):
    lake = tmp_path / "lake"
    child = _hold(lake, 60)
    try:
        with pytest.raises(LakeBusy, match="holder-run"), lake_lock(lake, "second-run", "clean"):
            pass
        assert holder(lake)["run_id"] == "holder-run" and holder(lake)["pid"] == child.pid
        cli = subprocess.run([sys.executable, "-m", "reviewlake.cli", "run", "--stages", "quality", "--lake",
                              str(lake)], capture_output=True, text=True, timeout=120)
        assert cli.returncode == 2, cli.stderr
        assert "being written by run holder-run" in cli.stderr and "Traceback" not in cli.stderr
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    # The kernel dropped the dead process's lock: no manual clean-up, the next writer proceeds at once.
    started = time.monotonic()
    with lake_lock(lake, "after-kill", "clean") as grant:
        assert holder(lake)["run_id"] == "after-kill"
        assert "released" not in holder(lake)
        grant.settle()
    assert time.monotonic() - started < 1.0
    # The killed holder never released it (its "running" ledger rows need closing); this one did.
    assert grant.previous_holder_died
    assert holder(lake)["run_id"] == "after-kill" and "released" in holder(lake)
    with lake_lock(lake, "next", "clean") as grant:
        assert not grant.previous_holder_died


def test_news_of_a_dead_holder_passes_on_until_a_holder_settles_it(tmp_path):
    lake = tmp_path / "lake"
    child = _hold(lake, 60)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    with lake_lock(lake, "maintain", "maintain") as grant:    # e.g. `reviewlake maintain`: no ledger to mend
        assert grant.previous_holder_died
    with lake_lock(lake, "run", "clean") as grant:
        assert grant.previous_holder_died
        grant.settle()                                       # the pipeline closed the dead run's ledger rows
    with lake_lock(lake, "later", "clean") as grant:
        assert not grant.previous_holder_died


def test_an_orchestrated_stage_waits_for_the_lake(tmp_path):
    lake = tmp_path / "lake"
    child = _hold(lake, 3)
    messages = []
    started = time.monotonic()
    with lake_lock(lake, "queued-run", "tags", wait_s=60, say=messages.append) as grant:
        waited = time.monotonic() - started
    child.wait()
    assert 1.0 < waited < 30
    assert messages and "holder-run" in messages[0]
    assert not grant.previous_holder_died      # the holder finished and let go


def test_a_first_lock_on_a_lake_has_no_dead_predecessor(tmp_path):
    with lake_lock(tmp_path / "lake", "first", "ingest") as grant:
        assert not grant.previous_holder_died


def test_the_lock_is_reentrant_within_a_process(tmp_path):
    lake = tmp_path / "lake"
    with lake_lock(lake, "outer", "clean"), lake_lock(lake, "inner", "tags"):
        assert holder(lake)["run_id"] == "outer"
    # Released once the outer block ends: another process can take it.
    child = _hold(lake, 0.1)
    child.wait()
    assert child.returncode == 0
