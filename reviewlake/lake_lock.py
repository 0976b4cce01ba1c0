"""One writer per lake at a time: an exclusive advisory lock on <lake>/_lock/writer.lock.

The nightly DAG, a manual DAG run and a CLI run may all point at the same lake; their stages must not write
it at the same time (Delta would keep each table consistent, but two runs' stages would interleave: one run's
clean between the other's clean and quality). `fcntl.flock` is held by the process and dropped by the kernel
when the process ends, however it ends (a SIGKILLed driver leaves no stale lock to clean up). The file also
names the holder, so a refusal can say who is writing, and a holder that lets go stamps it released: a file
still naming a holder without that stamp tells the next one its predecessor died mid-run. Local (POSIX)
filesystems only: on an object store, serialise the DAGs with one Airflow pool instead (README).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from reviewlake.errors import UserError

LOCK_FILE = Path("_lock") / "writer.lock"
POLL_S = 2.0
REPORT_EVERY_S = 60.0
_HELD: dict[str, int] = {}     # lock files this process holds, with the nesting depth


@dataclass
class LockGrant:
    """What the lock's file said when it was taken. A holder that died leaves work for the next one (its
    "running" ledger rows); until a holder settles that, every release passes the news on."""

    previous_holder_died: bool   # the last holder never released it (killed, out of memory, host lost)
    settled: bool = False

    def settle(self) -> None:
        """The dead holder's leftovers are dealt with; later holders need not hear of it."""
        self.settled = True


class LakeBusy(UserError):
    """Another process is writing the lake and did not finish within the wait."""


def holder(lake: Path) -> dict:
    """Who holds (or last held) the lock, as written by the holder; {} if unknown."""
    try:
        return json.loads((lake / LOCK_FILE).read_text() or "{}")
    except (OSError, ValueError):
        return {}


def _describe(info: dict) -> str:
    if not info:
        return "another process"
    return (f"run {info.get('run_id', '?')} (stage {info.get('stage', '?')}, pid {info.get('pid', '?')} on "
            f"{info.get('host', '?')}, since {info.get('since', '?')})")


@contextmanager
def lake_lock(lake: Path, run_id: str, stage: str, wait_s: float = 0.0,
              say: Callable[[str], None] = print) -> Iterator[LockGrant]:
    """Hold the lake's writer lock for the block; wait up to `wait_s` for it, then raise LakeBusy.

    Re-entrant within a process: flock sees a second open of the file as another holder, so a nested call
    (a run inside a run) would otherwise refuse itself."""
    path = lake / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    key = str(path.resolve())
    if _HELD.get(key):
        _HELD[key] += 1
        try:
            yield LockGrant(previous_holder_died=False)
        finally:
            _HELD[key] -= 1
        return
    handle = open(path, "a+")     # noqa: SIM115 - held for the whole block, closed in finally
    try:
        deadline = time.monotonic() + wait_s
        next_report = time.monotonic()
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                now = time.monotonic()
                if now >= deadline:
                    raise LakeBusy(f"the lake {lake} is being written by {_describe(holder(lake))}; "
                                   "try again when it has finished") from None
                if now >= next_report:
                    say(f"waiting for the lake lock held by {_describe(holder(lake))}")
                    next_report = now + REPORT_EVERY_S
                time.sleep(min(POLL_S, max(deadline - now, 0.0)))
        previous = holder(lake)
        grant = LockGrant(previous_holder_died=bool(previous) and (
            "released" not in previous or previous.get("unsettled_death", False)))
        mine = {"run_id": run_id, "stage": stage, "pid": os.getpid(), "host": socket.gethostname(),
                "since": datetime.now(UTC).isoformat(timespec="seconds")}
        _write_holder(handle, mine)
        _HELD[key] = 1
        try:
            yield grant
        finally:
            _HELD.pop(key, None)
            released = {**mine, "released": datetime.now(UTC).isoformat(timespec="seconds")}
            if grant.previous_holder_died and not grant.settled:
                released["unsettled_death"] = True
            _write_holder(handle, released)
    finally:
        handle.close()            # releases the lock if held


def _write_holder(handle, info: dict) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps(info))
    handle.flush()
