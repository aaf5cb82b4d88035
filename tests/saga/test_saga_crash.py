"""A crash mid-saga is recovered: SIGKILL at random moments, several times.

A child process runs checkouts against the saga log (SQLite, or Redis) and
the services' SQLite ledger; the test kills it with SIGKILL at seeded random moments, starts
it again on the same files (the new coordinator recovers the unfinished
sagas), and finally lets it settle. Every saga reported as started must then
be in the log and ended, and the books must balance.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.backends import SqliteSagaLog
from actors.backends.redis import RedisSagaLog
from actors.saga import ENDS, SagaLog
from examples.shop import CheckoutLedger, check_books
from tests.redis_server import redis_server

pytestmark = pytest.mark.slow

ROUNDS = 5
ROOT = Path(__file__).resolve().parents[2]


def _child(workdir: Path, seed: int, count: int, url: str | None) -> subprocess.Popen[str]:
    extra = [url] if url else []
    return subprocess.Popen([sys.executable, "-m", "tests.procs.saga_crash_child", str(workdir),
                             str(seed), str(count), *extra], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _read_until(child: subprocess.Popen[str], marker: str, lines: list[str]) -> None:
    assert child.stdout is not None
    for line in child.stdout:
        lines.append(line.strip())
        if line.strip() == marker:
            return
    raise AssertionError(f"the child exited (code {child.wait()}) before printing {marker!r}")


@pytest.fixture(params=["sqlite", "redis"])
def log_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """None for the SQLite log in the work directory, or a fresh Redis server's URL."""
    if request.param == "sqlite":
        yield None
        return
    with redis_server(tmp_path / "redis", appendonly=True) as server:
        yield server.url


def _open_log(tmp_path: Path, url: str | None) -> SagaLog:
    return RedisSagaLog(url, prefix="crash") if url else SqliteSagaLog(tmp_path / "sagas.sqlite3")


def test_sagas_survive_repeated_sigkill_and_end_consistent(tmp_path: Path,
                                                           log_url: str | None) -> None:
    rng = random.Random(20261125)
    lines: list[str] = []
    for round_ in range(ROUNDS):
        child = _child(tmp_path, seed=round_, count=300, url=log_url)
        try:
            _read_until(child, "ready", lines)
            time.sleep(rng.uniform(0.1, 0.8))  # a random moment to die, not a wait for anything
            child.send_signal(signal.SIGKILL)
            assert child.stdout is not None
            lines.extend(line.strip() for line in child.stdout)
        finally:
            child.kill()
            child.wait(10)
        assert child.returncode == -signal.SIGKILL
    # The settling coordinator is yet another process: recovery does not depend on
    # anything the killed ones held in memory.
    settler = _child(tmp_path, seed=ROUNDS, count=0, url=log_url)
    try:
        _read_until(settler, "settled", lines)
        assert settler.wait(60) == 0
    finally:
        settler.kill()
        settler.wait(10)

    started = {line.split()[1] for line in lines if line.startswith("S ")}
    recovered = sum(int(line.split()[1]) for line in lines if line.startswith("recovered"))
    assert len(started) > 100, "the child did not get far enough to test anything"
    assert recovered > 0, "no kill landed mid-saga; nothing was recovered"
    log = _open_log(tmp_path, log_url)
    ledger = CheckoutLedger(tmp_path / "ledger.sqlite3")
    try:
        sagas = log.by_status(limit=10**6)
        by_id = {saga.id: saga for saga in sagas}
        assert started <= set(by_id), f"lost: {sorted(started - set(by_id))[:5]}"
        assert all(saga.status in ENDS for saga in sagas)
        books = check_books(ledger, sagas)
        assert books.ok, books.problems
        assert books.outstanding_amount == 0
        assert {str(s.status) for s in sagas} >= {"completed", "compensated"}
    finally:
        log.close()
        ledger.close()
