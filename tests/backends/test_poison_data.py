"""Poison data: refused at the door, or, once stored, quarantined alone while everything goes on.

Each test writes what a buggy client, an older or foreign writer or a damaged
disk could leave behind, straight into the storage (SQLite rows, Redis keys),
and checks that the one bad item is quarantined, the others are delivered or
recovered, no actor crashes, and no supervisor comes near giving up.
"""

from __future__ import annotations

import itertools
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from actors import MAX_DEPTH, MAX_SIZE, ConfigError, ServiceActor, capture_logs
from actors.backends import MemorySagaLog, MemoryTaskStore, SqliteSagaLog, SqliteTaskStore
from actors.backends.redis import RedisSagaLog, RedisTaskStore
from actors.bus import EventBus
from actors.retry import RetryPolicy
from actors.saga import (
    DuplicateSaga,
    SagaCommand,
    SagaDataNotSerializable,
    SagaDefinition,
    SagaLog,
    SagaLogError,
    SagaMachine,
    Sagas,
    SagaStatus,
    SagaStep,
)
from actors.saga._log import encode as encode_saga
from actors.supervision import ActorSystem, ChildSpec
from actors.taskqueue import (
    NewTask,
    PayloadNotSerializable,
    QueueSpec,
    Task,
    TaskQueue,
    TaskQueueConfig,
    TaskQueueService,
    TaskStore,
    TaskStoreError,
)
from examples.shop import checkout_services
from tests.backends.redis_layout import overwrite_task, stream_keys
from tests.conftest import named
from tests.saga.saga_helpers import fast_checkout, order, running_shop

Q = "poison"
DEEP = 998  # deep enough to exhaust the recursion limit from any worker thread's stack
_prefixes = itertools.count()


def nested(levels: int) -> Any:
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    return value


def crashes(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] in (
        "supervisor.child_exited", "supervisor.gave_up", "actor.start_failed")]


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    event = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            return False
        event.wait(0.01)
    return True


# -- stores under test --------------------------------------------------------------------


def make_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest,
               **overrides: Any) -> TaskStore:
    overrides.setdefault("visibility_timeout", 30.0)
    config = TaskQueueConfig(sqlite_path=tmp_path / "tasks.sqlite3", **overrides)
    if kind == "memory":
        return MemoryTaskStore(config)
    if kind == "sqlite":
        return SqliteTaskStore(config)
    return RedisTaskStore(request.getfixturevalue("redis_url"), config,
                          prefix=f"poison{next(_prefixes)}")


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TaskStore]:
    opened = make_store(request.param, tmp_path, request)
    yield opened
    opened.close()


@pytest.fixture(params=["sqlite", "redis"])
def durable_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TaskStore]:
    opened = make_store(request.param, tmp_path, request)
    yield opened
    opened.close()


def overwrite(store: TaskStore, task_id: str, **columns: Any) -> None:
    """Write straight into the storage, bypassing every check (a foreign writer)."""
    if isinstance(store, SqliteTaskStore):
        with sqlite3.connect(store.config.sqlite_path, isolation_level=None) as conn:
            for column, value in columns.items():
                conn.execute(f"UPDATE tasks SET {column} = ? WHERE id = ?",
                             (value, int(task_id)))
        conn.close()
        return
    assert isinstance(store, RedisTaskStore)
    overwrite_task(store, Q, task_id, **columns)


# -- the door: what a worker could not decode is never accepted ----------------------------


def test_a_payload_nested_past_the_limit_is_refused_at_enqueue(store: TaskStore) -> None:
    tasks = TaskQueue(store)
    with pytest.raises(PayloadNotSerializable, match="nested too deeply"):
        tasks.enqueue(Q, {"deep": nested(DEEP)})
    with pytest.raises(PayloadNotSerializable, match=f"more than {MAX_DEPTH} levels"):
        tasks.enqueue(Q, nested(MAX_DEPTH + 1))
    tasks.enqueue(Q, nested(MAX_DEPTH))
    [claimed] = tasks.claim(Q, "w1")
    assert claimed.task.payload == nested(MAX_DEPTH)
    assert store.stats(Q, time.time()).depth == 0


def test_a_payload_larger_than_the_limit_is_refused_at_enqueue(store: TaskStore) -> None:
    with pytest.raises(PayloadNotSerializable, match="characters of JSON"):
        TaskQueue(store).enqueue(Q, {"blob": "x" * MAX_SIZE})


def test_any_text_is_stored_faithfully_and_bad_queue_names_are_refused(
        store: TaskStore) -> None:
    tasks = TaskQueue(store)
    payload = {"lone \ud800": ["\udfff", "\x00\x1b[31m", "Zo\u00eb \U0001f600"]}
    tasks.enqueue(Q, payload)
    [claimed] = tasks.claim(Q, "worker \ud800")
    assert claimed.task.payload == payload
    assert tasks.fail(claimed, "error \ud800") is not None  # any error text is storable
    for bad in ("q\ud800", "q\n", " q", ""):
        with pytest.raises(ConfigError, match="queue"):
            tasks.enqueue(bad, 1)


# -- what is stored anyway is quarantined, and the workers go on ---------------------------


POISONS: dict[str, dict[str, Any]] = {
    "deep": {"payload": "[" * DEEP + "]" * DEEP},
    "not json": {"payload": "{not json"},
    "not utf-8": {"payload": b"\xff\xfe\x00"},
    "huge int": {"payload": "1" * 5000},
    "NaN": {"payload": "[NaN]"},
}


def test_poison_in_storage_is_quarantined_and_the_workers_keep_delivering(
        durable_store: TaskStore) -> None:
    tasks = TaskQueue(durable_store)
    ids = tasks.enqueue_many(Q, ["first", *POISONS, "last"])
    for task_id, columns in zip(ids[1:-1], POISONS.values(), strict=True):
        overwrite(durable_store, task_id, **columns)
    delivered: list[Any] = []

    def deliver(task: Task) -> None:
        delivered.append(task.payload)

    with capture_logs() as events, ActorSystem() as system:
        service = TaskQueueService.start(system, durable_store, [QueueSpec(Q, deliver)])
        assert service.wait_for(Q, lambda m: m.stats.dead_lettered == len(POISONS)
                                and m.delivered == 2, timeout=15)
        service.enqueue(Q, "after")  # the pool still serves the queue
        assert service.wait_for(Q, lambda m: m.delivered == 3, timeout=10)
    assert sorted(delivered) == ["after", "first", "last"]
    letters = service.dead_letters(Q)
    assert {letter.reason for letter in letters} == {"corrupt"}
    assert sorted(letter.task.id for letter in letters) == sorted(ids[1:-1])
    assert all(letter.task.last_error and letter.task.last_error.startswith("payload ")
               for letter in letters)
    assert len(named(events, "task.dead_lettered")) == len(POISONS)
    assert crashes(events) == []


def test_a_row_of_the_wrong_types_is_quarantined_not_a_crash(
        durable_store: TaskStore) -> None:
    tasks = TaskQueue(durable_store)
    good, bad = tasks.enqueue_many(Q, ["good", "bad"])
    if isinstance(durable_store, SqliteTaskStore):
        overwrite(durable_store, bad, attempts="many")
    else:
        overwrite(durable_store, bad, meta="nine o'clock")
    with capture_logs() as events:
        claimed = tasks.claim(Q, "w1", limit=10)
    assert [c.task.id for c in claimed] == [good]
    [letter] = tasks.dead_letters(Q)
    assert (letter.task.id, letter.reason) == (bad, "corrupt")
    assert "malformed" in (letter.task.last_error or "")
    assert named(events, "task.dead_lettered")[0]["reason"] == "corrupt"


def test_redis_values_the_claim_script_cannot_parse_quarantine_their_task(
        request: pytest.FixtureRequest, tmp_path: Path) -> None:
    store = make_store("redis", tmp_path, request)
    assert isinstance(store, RedisTaskStore)
    try:
        now = [1_000_000.0]
        tasks = TaskQueue(store, clock=lambda: now[0])
        [delayed] = tasks.enqueue_many(Q, ["later"], delay=5.0)
        _, garbage_attempts = tasks.enqueue_many(Q, ["good", "odd"])
        overwrite(store, delayed, meta="garbage")  # read by the script when it comes due
        overwrite(store, garbage_attempts, attempts="lots")
        client = redis.Redis.from_url(store.url)
        client.xadd(stream_keys(store, Q)[-1], {"not": "ours"})  # a foreign stream entry
        client.close()
        now[0] += 10.0  # the delayed task is due: the script moves it to its stream
        with capture_logs() as events:
            claimed = tasks.claim(Q, "w1", limit=10)
        assert [c.task.payload for c in claimed] == ["good"]
        assert sorted(letter.task.id for letter in tasks.dead_letters(Q)) == sorted(
            [delayed, garbage_attempts])
        reasons = {e["task_id"]: e["error"] for e in named(events, "task.dead_lettered")}
        assert "meta is malformed" in reasons[delayed]
        assert "attempts is malformed" in reasons[garbage_attempts]
        assert any(task_id.startswith("stream entry") for task_id in reasons)
        assert tasks.claim(Q, "w1", limit=10) == []  # nothing left to trip over
    finally:
        store.close()


def test_a_durable_event_record_of_the_wrong_shape_is_dead_lettered_alone(
        tmp_path: Path) -> None:
    store = SqliteTaskStore(TaskQueueConfig(sqlite_path=tmp_path / "bus.sqlite3",
                                            visibility_timeout=1.0))
    received: list[Any] = []
    with capture_logs() as events, ActorSystem() as system:
        bus = EventBus.start(system, store=store)
        bus.subscribe("order.*", received.append, name="audit", durable=True)
        bus.publish("order.created", {"n": 1})
        store.enqueue_many([NewTask("bus:bus:audit", {"written": "by someone else"})],
                           time.time())
        bus.publish("order.created", {"n": 2})
        assert bus.wait_for_dead_letters(1, "audit", timeout=10)
        assert wait_until(lambda: len(received) == 2)
        [dead] = bus.dead_letters("audit")
    store.close()
    assert received == [{"n": 1}, {"n": 2}]
    assert dead.reason == "corrupt"
    assert "is not an event record" in (dead.error or "")
    assert crashes(events) == []


def test_a_durable_payload_is_checked_at_publish_with_the_same_limits(tmp_path: Path) -> None:
    store = SqliteTaskStore(TaskQueueConfig(sqlite_path=tmp_path / "bus.sqlite3"))
    received: list[Any] = []
    with ActorSystem() as system:
        bus = EventBus.start(system, store=store)
        bus.subscribe("a", received.append, name="kept", durable=True)
        with pytest.raises(PayloadNotSerializable, match="nested too deeply"):
            bus.publish("a", nested(DEEP))
        with pytest.raises(PayloadNotSerializable, match="characters of JSON"):
            bus.publish("a", "x" * MAX_SIZE)
        bus.publish("a", {"deepest": nested(MAX_DEPTH - 1), "text": "\ud800"})
        assert wait_until(lambda: len(received) == 1)
    store.close()
    assert received == [{"deepest": nested(MAX_DEPTH - 1), "text": "\ud800"}]


# -- the saga log: text, batches, corrupt rows, garbage files ------------------------------


@pytest.fixture(params=["sqlite", "redis"])
def saga_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SagaLog]:
    log: SagaLog
    if request.param == "sqlite":
        log = SqliteSagaLog(tmp_path / "sagas.sqlite3")
    else:
        log = RedisSagaLog(request.getfixturevalue("redis_url"),
                           prefix=f"poisonsaga{next(_prefixes)}")
    yield log
    log.close()


def test_saga_data_with_lone_surrogates_is_stored_faithfully(saga_log: SagaLog) -> None:
    data = {**order(), "note": "\ud800", "other": {"\udfff": "caf\u00e9"}}
    with running_shop(saga_log) as shop:
        ids = [shop.sagas.start_saga("checkout", data) for _ in range(5)]
        final = shop.sagas.wait_all(ids, timeout=20)
    assert {s.status for s in final} == {SagaStatus.COMPLETED}
    stored = [saga_log.get(saga_id) for saga_id in ids]
    assert [s.data["note"] if s else None for s in stored] == ["\ud800"] * 5
    assert [s.data["other"] if s else None for s in stored] == [{"\udfff": "caf\u00e9"}] * 5


def test_bad_saga_ids_and_data_are_refused_at_the_call(tmp_path: Path) -> None:
    log = SqliteSagaLog(tmp_path / "sagas.sqlite3")
    with running_shop(log) as shop:
        for bad in ("\ud800", "id\n", "x" * 201):
            with pytest.raises(ConfigError, match="saga_id"):
                shop.sagas.start_saga("checkout", order(), saga_id=bad)
        with pytest.raises(SagaDataNotSerializable, match="nested too deeply"):
            shop.sagas.start_saga("checkout", {"deep": nested(DEEP)})
        with pytest.raises(SagaDataNotSerializable, match="characters of JSON"):
            shop.sagas.start_saga("checkout", {"blob": "x" * MAX_SIZE})
        saga_id = shop.sagas.start_saga("checkout", order())
        assert shop.sagas.wait(saga_id, timeout=10).status is SagaStatus.COMPLETED
    log.close()


class Outcome:
    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.done = threading.Event()

    def __call__(self, error: BaseException | None) -> None:
        self.error = error
        self.done.set()

    def wait(self) -> BaseException | None:
        assert self.done.wait(10)
        return self.error


def _sagas(count: int, prefix: str) -> list[Any]:
    machine = SagaMachine(fast_checkout(), rng=random.Random(1))
    return [machine.start(f"{prefix}{i}", order())[0] for i in range(count)]


def _raw_row(saga: Any) -> tuple[str, str, str, str, float, float]:
    """A row built by hand: no check on the way (what a buggy caller could queue)."""
    return (saga.id, saga.definition, str(saga.status), encode_saga(saga), saga.created_at,
            saga.updated_at)


def test_one_bad_write_in_a_sqlite_batch_fails_alone(tmp_path: Path) -> None:
    log = SqliteSagaLog(tmp_path / "sagas.sqlite3")
    good = _sagas(4, "good-")
    [bad] = _sagas(1, "bad-\ud800-")
    outcomes = [Outcome() for _ in range(5)]
    with log._writes._cond:  # the writer waits: all five join one batch
        for saga, outcome in zip([*good[:2], bad, *good[2:]], outcomes, strict=True):
            log._submit("create", _raw_row(saga), outcome)
    errors = [outcome.wait() for outcome in outcomes]
    assert errors[:2] + errors[3:] == [None] * 4
    assert isinstance(errors[2], SagaLogError)
    assert not log._conn.in_transaction  # rolled back cleanly
    assert {s.id for s in log.unfinished()} == {s.id for s in good}
    [after] = _sagas(1, "after-")
    outcome = Outcome()
    log.create(after, outcome)
    assert outcome.wait() is None  # the next batch works
    assert log.get("after-0") is not None
    log.close()


def test_one_bad_write_in_a_redis_pipeline_fails_alone(
        request: pytest.FixtureRequest) -> None:
    log = RedisSagaLog(request.getfixturevalue("redis_url"), prefix=f"pipe{next(_prefixes)}")
    client = redis.Redis.from_url(log.url)
    client.set(f"{log.prefix}:saga:by:compensated", "not a sorted set")  # a foreign key
    client.close()
    sagas = _sagas(4, "pipe-")
    sagas[1].status = SagaStatus.COMPENSATED  # its write touches the foreign key
    outcomes = [Outcome() for _ in sagas]
    with log._writes._cond:
        for saga, outcome in zip(sagas, outcomes, strict=True):
            log._submit("save", _raw_row(saga), outcome)
    errors = [outcome.wait() for outcome in outcomes]
    assert [errors[0], errors[2], errors[3]] == [None] * 3
    assert isinstance(errors[1], SagaLogError)
    assert "WRONGTYPE" in str(errors[1])
    log.close()


def _insert_rows(path: Path, rows: list[tuple[str, Any]]) -> None:
    with sqlite3.connect(path, isolation_level=None) as conn:
        for saga_id, state in rows:
            conn.execute("INSERT INTO sagas VALUES (?, 'checkout', 'running', ?, 0, 0)",
                         (saga_id, state))
    conn.close()


def _create(log: SagaLog, sagas: list[Any]) -> None:
    for saga in sagas:
        outcome = Outcome()
        log.create(saga, outcome)
        assert outcome.wait() is None


WRONG_STATES: dict[str, Any] = {
    "bad-json": "{not json",
    "bad-utf8": b"\xff\xfe",
    "bad-deep": "[" * DEEP + "]" * DEEP,
    "bad-shape": '{"id": "bad-shape"}',
    "bad-list": "[]",
    "bad-types": None,  # filled in below: a real state with a string where a count goes
    "bad-steps": None,  # a real state whose steps are not its definition's
}


def _wrong_states() -> dict[str, Any]:
    states = dict(WRONG_STATES)
    [typed] = _sagas(1, "bad-types")
    text = encode_saga(typed).replace('"attempts":0', '"attempts":"zero"', 1)
    states["bad-types"] = text.replace('"id":"bad-types0"', '"id":"bad-types"')
    [steps] = _sagas(1, "bad-steps")
    steps.steps = steps.steps[:2]
    states["bad-steps"] = encode_saga(steps).replace('"id":"bad-steps0"', '"id":"bad-steps"')
    return states


def test_corrupt_sqlite_rows_are_quarantined_and_the_rest_recover(tmp_path: Path) -> None:
    path = tmp_path / "sagas.sqlite3"
    log = SqliteSagaLog(path)
    good = _sagas(2, "good-")
    _create(log, good)
    _insert_rows(path, list(_wrong_states().items()))
    received: list[Any] = []
    with capture_logs() as events, ActorSystem(checkout_services()) as system:
        bus = EventBus.start(system)
        bus.subscribe("saga.corrupt", received.append)
        sagas = Sagas.start(system, [fast_checkout()], log, bus=bus)
        final = sagas.wait_all([s.id for s in good], timeout=20)
        assert wait_until(lambda: len(received) >= len(WRONG_STATES))
        assert sagas.status("bad-json") is None  # unreadable: no answer, no crash
        corrupt = {c.saga_id: c.reason for c in sagas.corrupt()}
    log.close()
    assert {s.status for s in final} == {SagaStatus.COMPLETED}
    assert set(corrupt) == set(WRONG_STATES)
    assert "not valid JSON" in corrupt["bad-json"]
    assert "not UTF-8" in corrupt["bad-utf8"]
    assert "nested deeper" in corrupt["bad-deep"]
    assert "wrong shape" in corrupt["bad-shape"]
    assert "wrong shape" in corrupt["bad-types"]
    assert "do not match definition" in corrupt["bad-steps"]
    assert {e["saga_id"] for e in named(events, "saga.corrupt")} == set(WRONG_STATES)
    assert {p["saga_id"] for p in received} == set(WRONG_STATES)
    assert crashes(events) == []


def test_corrupt_redis_values_and_keys_are_quarantined_and_the_rest_recover(
        request: pytest.FixtureRequest) -> None:
    log = RedisSagaLog(request.getfixturevalue("redis_url"), prefix=f"rec{next(_prefixes)}")
    good = _sagas(2, "good-")
    _create(log, good)
    client = redis.Redis.from_url(log.url)
    base = f"{log.prefix}:saga:"
    for saga_id, state in _wrong_states().items():
        client.hset(base + "state", saga_id, state)
        client.hset(base + "status", saga_id, "running")
        client.zadd(base + "by:running", {saga_id: 0})
    client.set(base + "by:compensating", "a string where a sorted set goes")
    client.close()
    with capture_logs() as events, running_shop(log) as shop:
        final = shop.sagas.wait_all([s.id for s in good], timeout=20)
        corrupt = {c.saga_id: c.reason for c in shop.sagas.corrupt()}
    log.close()
    assert {s.status for s in final} == {SagaStatus.COMPLETED}
    assert set(corrupt) == {*WRONG_STATES, base + "by:compensating"}
    assert "WRONGTYPE" in corrupt[base + "by:compensating"]
    assert crashes(events) == []


class UnreadableAtFirst(MemorySagaLog):
    """A log whose reads fail for a while (a storage outage at start-up)."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def unfinished(self) -> list[Any]:
        if self.failures > 0:
            self.failures -= 1
            raise SagaLogError("a read", OSError("storage unreachable"))
        return super().unfinished()


def test_a_saga_log_that_cannot_be_read_at_start_is_retried_not_fatal() -> None:
    log = UnreadableAtFirst(failures=3)
    _create(log, _sagas(1, "waiting-"))
    with capture_logs() as events, running_shop(log) as shop:
        saga_id = shop.sagas.start_saga("checkout", order())  # served meanwhile
        assert shop.sagas.wait(saga_id, timeout=10).status is SagaStatus.COMPLETED
        assert shop.sagas.wait("waiting-0", timeout=10).status is SagaStatus.COMPLETED
    assert len(named(events, "saga.recovery_failed")) == 3
    assert crashes(events) == []


def test_a_foreign_redis_key_fails_writes_typed_and_the_coordinator_serves_on(
        request: pytest.FixtureRequest) -> None:
    log = RedisSagaLog(request.getfixturevalue("redis_url"), prefix=f"wt{next(_prefixes)}")
    client = redis.Redis.from_url(log.url)
    client.set(f"{log.prefix}:saga:state", "not a hash")
    with capture_logs() as events, running_shop(log) as shop:
        with pytest.raises(SagaLogError, match="WRONGTYPE"):
            shop.sagas.start_saga("checkout", order())
        client.delete(f"{log.prefix}:saga:state")  # an operator repairs it
        saga_id = shop.sagas.start_saga("checkout", order())
        assert shop.sagas.wait(saga_id, timeout=10).status is SagaStatus.COMPLETED
    client.close()
    log.close()
    assert crashes(events) == []


@pytest.mark.parametrize("content", [
    bytes(random.Random(7).randrange(256) for _ in range(4096)),
    b"just some text, not a database\n" * 100,
])
def test_a_garbage_file_is_a_typed_error_at_open(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "not-a-database"
    path.write_bytes(content)
    with pytest.raises(SagaLogError, match="open of"):
        SqliteSagaLog(path)
    with pytest.raises(TaskStoreError, match="open of"):
        SqliteTaskStore(TaskQueueConfig(sqlite_path=path))
    assert path.read_bytes() == content  # untouched


def test_a_database_with_a_foreign_sagas_table_is_refused_at_open(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE sagas (name TEXT, told_by TEXT)")
    conn.close()
    with pytest.raises(SagaLogError, match="not a saga log's"):
        SqliteSagaLog(path)


# -- replies and duplicates -----------------------------------------------------------------


class DeepReplies(ServiceActor):
    def on_receive(self, message: Any) -> Any:
        if isinstance(message, SagaCommand):
            return None if message.compensate else {"deep": nested(DEEP)}
        return super().on_receive(message)


def test_a_reply_too_deep_to_store_fails_its_step_instead_of_crashing_the_coordinator(
        tmp_path: Path) -> None:
    definition = SagaDefinition("deep", [SagaStep("deep", "deep", "do", "undo",
                                                  retry=RetryPolicy(max_attempts=1))])
    log = SqliteSagaLog(tmp_path / "sagas.sqlite3")
    with capture_logs() as events, running_shop(log, definitions=[definition],
                                                extra=[ChildSpec("deep", DeepReplies)]) as shop:
        saga = shop.sagas.wait(shop.sagas.start_saga("deep", {}), timeout=10)
    log.close()
    assert saga.status is SagaStatus.COMPENSATED
    assert "nested too deeply" in (saga.record("deep").error or "")
    assert crashes(events) == []


class GrowingReplies(ServiceActor):
    """Each step's reply fits alone; together they would outgrow the saga log's limit."""

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, SagaCommand):
            return None if message.compensate else {message.step: "x" * (MAX_SIZE // 3)}
        return super().on_receive(message)


def test_replies_that_fit_alone_but_not_together_fail_the_step_that_overflows(
        tmp_path: Path) -> None:
    steps = [SagaStep(f"s{i}", "grow", "do", "undo", retry=RetryPolicy(max_attempts=1))
             for i in range(4)]
    definition = SagaDefinition("grow", steps)
    log = SqliteSagaLog(tmp_path / "sagas.sqlite3")
    with capture_logs() as events, running_shop(log, definitions=[definition],
                                                extra=[ChildSpec("grow", GrowingReplies)]) as shop:
        saga = shop.sagas.wait(shop.sagas.start_saga("grow", {}), timeout=20)
        other = shop.sagas.wait(shop.sagas.start_saga("grow", {}), timeout=20)
    log.close()
    assert saga.status is SagaStatus.COMPENSATED
    assert other.status is SagaStatus.COMPENSATED
    assert [r.status.value for r in saga.steps][:3] == ["compensated", "compensated", "failed"]
    assert "past" in (saga.record("s2").error or "")
    assert not [e for e in events if e["event"] == "saga.log_write_failed"]
    assert crashes(events) == []


def test_a_duplicate_of_a_corrupt_saga_is_still_a_duplicate(tmp_path: Path) -> None:
    path = tmp_path / "sagas.sqlite3"
    log = SqliteSagaLog(path)
    _insert_rows(path, [("taken", "{not json")])
    [saga] = _sagas(1, "x")
    saga.id = "taken"
    outcome = Outcome()
    log.create(saga, outcome)
    assert isinstance(outcome.wait(), DuplicateSaga)
    log.close()
