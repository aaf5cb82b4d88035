"""The saga log, memory and SQLite alike: create, save, query, reopen, refuse bad data."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import pytest

from actors.backends import MemorySagaLog, SqliteSagaLog
from actors.backends.redis import RedisSagaLog, RedisUnavailable
from actors.saga import (
    DuplicateSaga,
    FailureReason,
    SagaDataNotSerializable,
    SagaDefinition,
    SagaLog,
    SagaMachine,
    SagaStatus,
    SagaStep,
)
from tests.redis_server import redis_server

PAY = SagaDefinition("pay", [SagaStep("reserve", "inventory", "reserve", "release"),
                             SagaStep("charge", "payments", "charge", "refund")])


class Outcome:
    """Collects a write's completion for the test thread."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.done = threading.Event()

    def __call__(self, error: BaseException | None) -> None:
        self.error = error
        self.done.set()

    def wait(self) -> BaseException | None:
        assert self.done.wait(10)
        return self.error


_prefixes = itertools.count()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def log(request, tmp_path: Path):
    store: SagaLog
    if request.param == "memory":
        store = MemorySagaLog()
    elif request.param == "sqlite":
        store = SqliteSagaLog(tmp_path / "sagas.sqlite3")
    else:  # a fresh key space per test on the module's server
        store = RedisSagaLog(request.getfixturevalue("redis_url"),
                             prefix=f"sagatest{next(_prefixes)}")
    yield store
    store.close()


def test_create_save_get_and_query_by_state(log):
    machine = SagaMachine(PAY, clock=lambda: 1.0)
    saga, _ = machine.start("s1", {"sku": "a", "amount": 3})
    created = Outcome()
    log.create(saga, created)
    assert created.wait() is None
    machine.step_succeeded(saga, "reserve", {"reservation": "r-1"})
    saved = Outcome()
    log.save(saga, saved)
    assert saved.wait() is None
    stored = log.get("s1")
    assert stored == saga
    assert stored.record("reserve").status == "succeeded"
    other, _ = machine.start("s2", {"amount": 1})
    log.create(other, Outcome())
    machine.step_failed(other, "reserve", FailureReason.REJECTED, "out of stock")
    log.save(other)
    assert log.flush()
    assert [s.id for s in log.by_status(SagaStatus.RUNNING)] == ["s1"]
    assert [s.id for s in log.by_status(SagaStatus.COMPENSATED)] == ["s2"]
    assert [s.id for s in log.unfinished()] == ["s1"]
    assert log.get("missing") is None


def test_duplicate_ids_and_non_json_data_are_refused(log):
    machine = SagaMachine(PAY, clock=lambda: 1.0)
    saga, _ = machine.start("s1", {"amount": 1})
    first, second = Outcome(), Outcome()
    log.create(saga, first)
    log.create(saga, second)
    assert first.wait() is None
    assert isinstance(second.wait(), DuplicateSaga)
    bad, _ = machine.start("s2", {"when": {1, 2}})
    with pytest.raises(SagaDataNotSerializable, match="must be plain JSON"):
        log.create(bad, Outcome())
    assert log.get("s2") is None


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_durable_log_survives_reopening_and_batches_writes(
        backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    def open_log() -> SagaLog:
        if backend == "sqlite":
            return SqliteSagaLog(tmp_path / "sagas.sqlite3")
        return RedisSagaLog(request.getfixturevalue("redis_url"), prefix="reopen")

    log = open_log()
    machine = SagaMachine(PAY, clock=lambda: 1.0)
    for n in range(500):
        saga, _ = machine.start(f"s{n}", {"n": n})
        log.create(saga, lambda error: None)
    assert log.flush()
    assert log.transactions < 500  # many creates shared a commit (a pipeline on Redis)
    log.close()
    reopened = open_log()
    assert len(reopened.unfinished()) == 500
    assert reopened.get("s42").data == {"n": 42}
    reopened.close()


def test_redis_writes_fail_with_a_clear_error_while_redis_is_down(tmp_path: Path) -> None:
    with redis_server(tmp_path / "redis") as server:
        log = RedisSagaLog(server.url, prefix="down", socket_timeout=0.5, retries=1)
        server.stop()
        saga, _ = SagaMachine(PAY, clock=lambda: 1.0).start("s1", {})
        outcome = Outcome()
        log.create(saga, outcome)
        error = outcome.wait()
        assert isinstance(error, RedisUnavailable)
        assert "is unavailable during saga log write" in str(error)
        assert "check that redis-server is running" in str(error)
        log.close()
