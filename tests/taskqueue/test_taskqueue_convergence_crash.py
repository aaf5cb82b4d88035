"""SIGKILL the process during delivery, several times: nothing accepted is lost, all converge."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.procs.destination_db import read_destination
from tests.procs.taskqueue_crash_child import DESTINATIONS, updates

ROOT = Path(__file__).resolve().parents[2]
USERS, VERSIONS, SEED = 60, 10, 3


def run_child(work: Path, start: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.procs.taskqueue_crash_child", str(work), str(start),
         str(USERS), str(VERSIONS), str(SEED)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_sigkill_during_delivery_loses_no_accepted_task(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    accepted_ids: list[str] = []
    accepted_upto = 0
    kills = 0
    while True:
        child = run_child(tmp_path, accepted_upto)
        try:
            assert child.stdout is not None
            kill_after = rng.randint(1, 6) if kills < 4 else None  # chunks to wait, then SIGKILL
            seen = 0
            for line in child.stdout:
                word, *rest = line.split()
                if word == "accepted":
                    accepted_upto = int(rest[0])
                    accepted_ids.extend(rest[1].split(","))
                    seen += 1
                    if kill_after is not None and seen >= kill_after:
                        break
                elif word == "drained":
                    break
            else:
                pytest.fail(f"child ended early: {child.stderr.read() if child.stderr else ''}")
        finally:
            child.kill()  # SIGKILL: no cleanup, whatever was not committed is gone
            child.wait(30)
        if kill_after is None:
            break
        kills += 1

    assert kills == 4
    items = updates(USERS, VERSIONS, SEED)
    assert accepted_upto == len(items)
    expected = {f"u{u}": VERSIONS for u in range(USERS)}
    applied: set[str] = set()
    for dest in DESTINATIONS:
        done, versions = read_destination(tmp_path / f"{dest}.sqlite3")
        applied |= done
        assert versions == expected, f"{dest} did not converge"
    missing = set(accepted_ids) - applied
    assert not missing, f"{len(missing)} accepted tasks never delivered"
