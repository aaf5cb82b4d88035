"""The transactional outbox: stores, the relay's pure core, the relay actor, dedupe."""

from __future__ import annotations

import random
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from actors import ConfigError
from actors.backends.memory import MemoryOutbox
from actors.backends.redis import RedisOutbox
from actors.backends.sqlite import SqliteOutbox
from actors.bus import EventBus
from actors.outbox import (
    Deduplicator,
    OutboxConfig,
    OutboxError,
    OutboxMessage,
    OutboxPayloadNotSerializable,
    OutboxRelay,
    RelayCore,
    to_bus,
)
from actors.retry import RetryPolicy
from actors.supervision import ActorSystem
from tests.conftest import named
from tests.hypothesis_profiles import examples


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def message(i: int, aggregate: str, seq: int = 1) -> OutboxMessage:
    return OutboxMessage(f"e{i}", aggregate, seq, "t", {"i": i}, 0.0, str(i))


# -- configuration ---------------------------------------------------------------------------

@pytest.mark.parametrize(("field", "value"), [
    ("batch_size", 0), ("batch_size", 10_001), ("batch_size", 1.5),
    ("poll_interval", 0), ("poll_interval", float("nan")), ("poll_interval", "1"),
    ("retry", RetryPolicy(max_attempts=3)), ("retry", None),
])
def test_bad_config_names_the_field(field: str, value: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        OutboxConfig(**{field: value})
    assert caught.value.field == field


# -- the pure core ---------------------------------------------------------------------------

def test_a_failed_row_holds_back_its_aggregate_only_until_its_backoff() -> None:
    clock = Clock()
    core = RelayCore(OutboxConfig(retry=RetryPolicy(max_attempts=None, base_delay=1.0,
                                                    max_delay=1.0, jitter="none")),
                     clock=clock, rng=random.Random(1))
    rows = [message(1, "a", 1), message(2, "b", 1), message(3, "a", 2)]
    down = {"e1"}

    def publish(m: OutboxMessage) -> None:
        if m.event_id in down:
            raise ConnectionError("refused")

    assert [m.event_id for m in core.run_round(rows, publish)] == ["e2"]
    rest = [rows[0], rows[2]]
    down.clear()
    assert core.run_round(rest, publish) == []  # still in backoff
    assert core.waiting(clock.now) == ["a"]
    assert core.next_retry_in(clock.now) == 1.0
    clock.now += 1.0
    assert [m.event_id for m in core.run_round(rest, publish)] == ["e1", "e3"]
    assert core.blocked_aggregates() == []
    assert (core.published, core.failed) == (3, 1)


@settings(max_examples=examples(60))
@given(rows=st.lists(st.sampled_from("abc"), min_size=1, max_size=30),
       failures=st.lists(st.booleans(), max_size=80), batch=st.integers(1, 8))
def test_every_row_is_announced_once_in_order_per_aggregate(
        rows: list[str], failures: list[bool], batch: int) -> None:
    """Random publish failures and batch sizes: with marking working, each row goes out
    exactly once, and each aggregate's rows go out in seq order."""
    clock = Clock()
    outbox = MemoryOutbox()
    for aggregate in rows:
        with outbox.transaction() as tx:
            tx.add(aggregate, "t", {})
    core = RelayCore(OutboxConfig(), clock=clock, rng=random.Random(0))
    schedule = iter(failures)
    announced: list[OutboxMessage] = []

    def publish(m: OutboxMessage) -> None:
        if next(schedule, False):
            raise ConnectionError("refused")
        announced.append(m)

    for _ in range(1000):
        pending = outbox.pending(batch, exclude=core.waiting(clock.now))
        outbox.mark_sent(core.run_round(pending, publish))
        if outbox.stats().pending == 0:
            break
        clock.now += 10.0  # past any backoff
    assert outbox.stats().pending == 0
    assert sorted(m.event_id for m in announced) == sorted({m.event_id for m in announced})
    assert len(announced) == len(rows)
    for aggregate in "abc":
        seqs = [m.seq for m in announced if m.aggregate == aggregate]
        assert seqs == list(range(1, len(seqs) + 1))


# -- SQLite: the row commits or rolls back with the state ------------------------------------

def open_service(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY)")
    return conn


def test_sqlite_rows_commit_and_roll_back_with_the_state(tmp_path: Path) -> None:
    path = tmp_path / "orders.sqlite3"
    outbox = SqliteOutbox(path)
    conn = open_service(path)
    try:
        conn.execute("BEGIN")
        conn.execute("INSERT INTO orders VALUES ('o-1')")
        outbox.add(conn, "o-1", "order.created", {"id": "o-1"})
        conn.execute("COMMIT")
        conn.execute("BEGIN")
        conn.execute("INSERT INTO orders VALUES ('o-2')")
        outbox.add(conn, "o-2", "order.created", {"id": "o-2"})
        conn.execute("ROLLBACK")
        conn.execute("BEGIN")
        outbox.add(conn, "o-1", "order.paid", {"id": "o-1"})
        with pytest.raises(sqlite3.IntegrityError):  # the state change fails: nothing announced
            conn.execute("INSERT INTO orders VALUES ('o-1')")
        conn.execute("ROLLBACK")
        conn.execute("BEGIN")
        second = outbox.add(conn, "o-1", "order.paid", {"id": "o-1"})
        conn.execute("COMMIT")
        assert second.seq == 2
        rows = outbox.pending(10)
        assert [(m.aggregate, m.seq, m.topic) for m in rows] == [
            ("o-1", 1, "order.created"), ("o-1", 2, "order.paid")]
        assert outbox.pending(10, exclude=["o-1"]) == []
        outbox.mark_sent(rows[:1])
        stats = outbox.stats()
        assert (stats.pending, stats.sent) == (1, 1)
        assert [m.seq for m in outbox.pending(10)] == [2]
    finally:
        conn.close()
        outbox.close()


def test_sqlite_refuses_misuse_with_typed_errors(tmp_path: Path) -> None:
    path = tmp_path / "orders.sqlite3"
    outbox = SqliteOutbox(path)
    conn = open_service(path)
    try:
        with pytest.raises(OutboxError, match="BEGIN"):
            outbox.add(conn, "o-1", "order.created", {})  # autocommit: would commit alone
        conn.execute("BEGIN")
        with pytest.raises(OutboxPayloadNotSerializable):
            outbox.add(conn, "o-1", "order.created", {"at": object()})
        with pytest.raises(ConfigError):
            outbox.add(conn, "", "order.created", {})
        conn.execute("ROLLBACK")
        assert outbox.stats().pending == 0
    finally:
        conn.close()
        outbox.close()
    with pytest.raises(OutboxError, match="closed"):
        outbox.pending(1)
    with pytest.raises(ConfigError):
        SqliteOutbox(path, table="outbox; DROP TABLE orders")
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"not a database" * 100)
    with pytest.raises(ConfigError):
        SqliteOutbox(garbage)


def test_sqlite_consumer_dedupe_survives_a_restart_and_rolls_back_with_the_effect(
        tmp_path: Path) -> None:
    path = tmp_path / "billing.sqlite3"
    outbox = SqliteOutbox(path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        assert outbox.mark_processed(conn, "billing", "e-1")
        conn.execute("ROLLBACK")  # the effect failed: the event counts as not processed
        conn.execute("BEGIN")
        assert outbox.mark_processed(conn, "billing", "e-1")
        conn.execute("COMMIT")
        conn.close()
        conn = sqlite3.connect(path, isolation_level=None)  # a restarted consumer
        conn.execute("BEGIN")
        assert not outbox.mark_processed(conn, "billing", "e-1")
        assert outbox.mark_processed(conn, "audit", "e-1")  # per consumer
        conn.execute("COMMIT")
        with pytest.raises(OutboxError, match="BEGIN"):
            outbox.mark_processed(conn, "billing", "e-2")
    finally:
        conn.close()
        outbox.close()


# -- Redis: the entry is part of the service's MULTI step ------------------------------------

def test_redis_entries_are_part_of_the_multi_step(redis_url: str) -> None:
    outbox = RedisOutbox(redis_url, "orders", prefix="t-outbox")
    client = outbox.client
    try:
        pipe = client.pipeline(transaction=True)
        pipe.hset("t-outbox:orders", "o-1", "created")
        outbox.add(pipe, "o-1", "order.created", {"id": "o-1"})
        pipe.execute()
        pipe = client.pipeline(transaction=True)
        pipe.hset("t-outbox:orders", "o-2", "created")
        outbox.add(pipe, "o-2", "order.created", {"id": "o-2"})
        pipe.reset()  # discarded: neither the state nor the entry
        pipe = client.pipeline(transaction=True)
        outbox.add(pipe, "o-1", "order.paid", {"id": "o-1"})
        pipe.execute()
        rows = outbox.pending(10)
        assert [(m.aggregate, m.seq, m.topic, m.payload) for m in rows] == [
            ("o-1", 1, "order.created", {"id": "o-1"}), ("o-1", 2, "order.paid", {"id": "o-1"})]
        assert client.hget("t-outbox:orders", "o-2") is None
        assert outbox.pending(10, exclude=["o-1"]) == []
        outbox.mark_sent(rows[:1])
        stats = outbox.stats()
        assert (stats.pending, stats.sent) == (1, 1)
        with pytest.raises(OutboxPayloadNotSerializable):
            outbox.add(client.pipeline(transaction=True), "o-1", "t", float("nan"))
    finally:
        outbox.close()


# -- the relay actor -------------------------------------------------------------------------

def test_relay_publishes_to_the_bus_in_order_and_consumers_dedupe(events: Any) -> None:
    outbox = MemoryOutbox()
    seen: list[tuple[str, int]] = []
    envelopes: list[Any] = []
    got = threading.Event()
    dedupe = Deduplicator()

    def consume(envelope: Any) -> None:
        envelopes.append(envelope)
        seen.append((envelope["aggregate"], envelope["seq"]))
        if len(seen) == 6:
            got.set()

    with ActorSystem(rng=random.Random(1)) as system:
        bus = EventBus.start(system)
        bus.subscribe("order.#", dedupe.wrap(consume))
        for i in range(3):
            with outbox.transaction() as tx:
                tx.add("o-1", "order.step", {"i": i})
                tx.add("o-2", "order.step", {"i": i})
        relay = OutboxRelay.start(system, outbox, to_bus(bus),
                                  config=OutboxConfig(batch_size=2, poll_interval=0.01))
        assert relay.wait_until_empty(timeout=10.0)
        assert got.wait(10.0)
        # A relay that crashed after publishing announces those rows again: dedupe drops them.
        handle = dedupe.wrap(consume)
        for envelope in list(envelopes):
            handle(envelope)
        assert dedupe.duplicates == 6
        metrics = relay.metrics()
        relay.stop()
    for aggregate in ("o-1", "o-2"):
        assert [s for a, s in seen if a == aggregate] == [1, 2, 3]
    assert metrics.published == 6
    assert (metrics.pending, metrics.sent) == (0, 6)


def test_a_refusing_destination_is_retried_and_nothing_is_lost(events: Any) -> None:
    outbox = MemoryOutbox()
    with outbox.transaction() as tx:
        tx.add("o-1", "t", {})
        tx.add("o-1", "t", {})
    refusals = [2]
    announced: list[int] = []

    def publish(m: OutboxMessage) -> None:
        if refusals[0]:
            refusals[0] -= 1
            raise ConnectionError("bus down")
        announced.append(m.seq)

    config = OutboxConfig(poll_interval=0.01, retry=RetryPolicy(
        max_attempts=None, base_delay=0.001, max_delay=0.01))
    with ActorSystem() as system:
        relay = OutboxRelay.start(system, outbox, publish, config=config)
        assert relay.wait_until_empty(timeout=10.0)
        relay.stop()
    assert announced == [1, 2]
    failed = named(events, "outbox.publish_failed")
    assert len(failed) == 2
    assert failed[0]["aggregate"] == "o-1"


def test_relay_start_refuses_bad_arguments() -> None:
    with ActorSystem() as system:
        with pytest.raises(ConfigError):
            OutboxRelay.start(system, object(), print)  # type: ignore[arg-type]
        with pytest.raises(ConfigError):
            OutboxRelay.start(system, MemoryOutbox(), "not callable")  # type: ignore[arg-type]
        with pytest.raises(ConfigError):
            OutboxRelay.start(system, MemoryOutbox(), print, config="x")  # type: ignore[arg-type]
