"""Hostile data at every durable door: accepted and returned exactly equal, or refused, typed.

The rule, for enqueue (memory, SQLite, Redis), durable publish and start_saga:
a value is either accepted and comes back `==` to what was given, or the call
raises a `StanchionError` subclass and nothing is stored. Never a raw
TypeError, ValueError, UnicodeEncodeError, RecursionError or JSONDecodeError;
nothing accepted is lost; the workers keep running. Plain JSON within the
limits is always accepted (checked against an independent reference).

And the crash-loop property: whatever is found in storage and whatever a
consumer does with it, each bad item is isolated (dead-lettered or
quarantined) on its own, and no supervisor ever sees a crash.
"""

from __future__ import annotations

import itertools
import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from actors import MAX_DEPTH, MAX_SIZE, CorruptData, ServiceActor, StanchionError, capture_logs
from actors.backends import MemoryTaskStore, SqliteSagaLog, SqliteTaskStore
from actors.backends.redis import RedisTaskStore
from actors.bus import EventBus
from actors.retry import RetryPolicy
from actors.saga import SagaCommand, SagaDefinition, Sagas, SagaStatus, SagaStep
from actors.supervision import ActorSystem, ChildSpec
from actors.taskqueue import (
    QueueSpec,
    Task,
    TaskQueue,
    TaskQueueConfig,
    TaskQueueService,
    TaskStore,
)
from tests.conftest import named
from tests.hypothesis_profiles import examples

SETTINGS = settings(max_examples=examples(50), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example])
Q = "hostile"
_prefixes = itertools.count()

# -- hostile values ---------------------------------------------------------------------


class Custom:
    """An object with nothing JSON about it, whose repr even fails."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def cycle() -> list[Any]:
    looped: list[Any] = [1]
    looped.append(looped)
    return looped


def wrap(leaf: Any, levels: int, as_dict: bool) -> Any:
    value = leaf
    for _ in range(levels):
        value = {"k": value} if as_dict else [value]
    return value


class Deep:
    """A value nested `levels` deep, built at the call: hypothesis prints it without recursing."""

    def __init__(self, levels: int, as_dict: bool) -> None:
        self.levels, self.as_dict = levels, as_dict

    def __repr__(self) -> str:
        return f"Deep({self.levels}, as_dict={self.as_dict})"


def unwrap(value: Any) -> Any:
    """`value` with a `Deep` (itself, or one of its dict values) built for real."""
    if isinstance(value, Deep):
        return wrap(1, value.levels, value.as_dict)
    if type(value) is dict:
        return {k: unwrap(v) if isinstance(v, Deep) else v for k, v in value.items()}
    return value


SPECIAL_TEXT = ["\ud800", "\udfff tail", "a\ud83d", "\x00", "\x1b[2J", "\u2028\u2029",
                "\ufeff", "Zo\u00eb \U0001f600", "\u0000\x7f\x9f", ""]
TEXT = st.one_of(st.text(st.characters(exclude_categories=()), max_size=12),
                 st.sampled_from(SPECIAL_TEXT))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(),
                    st.floats(allow_nan=True, allow_infinity=True), TEXT)
ODD = st.one_of(
    st.binary(max_size=6), st.builds(bytearray, st.binary(max_size=4)),
    st.builds(tuple, st.lists(st.integers(), max_size=3)),
    st.builds(set, st.lists(st.integers(), max_size=3)),
    st.builds(frozenset, st.lists(TEXT, max_size=2)),
    st.builds(Custom), st.builds(object), st.builds(cycle),
    st.builds(lambda: 10 ** 5000), st.just(complex(1, 2)), st.just(math.nan), st.just(-math.inf),
)
KEYS = st.one_of(TEXT, TEXT, st.integers(), st.none(), st.booleans(), st.floats(),
                 st.tuples(st.integers()), st.builds(Custom))
LEAVES = st.one_of(SCALARS, SCALARS, SCALARS, ODD)
VALUES = st.recursive(
    LEAVES,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(KEYS, children, max_size=4)),
    max_leaves=16,
)
DEEP = st.builds(wrap, SCALARS, st.integers(MAX_DEPTH - 4, MAX_DEPTH + 4), st.booleans())
HUGE = st.builds(lambda n: "x" * n, st.sampled_from([MAX_SIZE - 2, MAX_SIZE - 1, MAX_SIZE + 3]))
VERY_DEEP = st.builds(Deep, st.sampled_from([MAX_DEPTH, MAX_DEPTH + 1, 998, 5000]),
                      st.booleans())
PAYLOADS = st.one_of(VALUES, VALUES, VALUES, DEEP, VERY_DEEP, HUGE)


def plain(value: Any, depth: int = 0) -> bool:
    """The reference: exact-or-subclass JSON types, finite floats, str keys, the limits."""
    if value is None or isinstance(value, bool | str):
        return True
    if isinstance(value, int):
        return value.bit_length() < 14_000  # Python prints ints of up to 4,300 digits
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | dict) and depth >= MAX_DEPTH:
        return False
    if isinstance(value, list):
        return all(plain(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain(v, depth + 1) for k, v in value.items())
    return False


def fits(value: Any, *, overhead: int = 0) -> bool:
    """Whether the value is plain and its JSON (escaped where UTF-8 can't hold it) fits."""
    if not plain(value):
        return False
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value, separators=(",", ":"))
    return len(text) + overhead <= MAX_SIZE


def crashes(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] in (
        "supervisor.child_exited", "supervisor.gave_up", "actor.start_failed")]


# -- enqueue, on every store ------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[TaskStore]:
    config = TaskQueueConfig(sqlite_path=tmp_path_factory.mktemp("hostile") / "t.sqlite3")
    opened: TaskStore
    if request.param == "memory":
        opened = MemoryTaskStore(config)
    elif request.param == "sqlite":
        opened = SqliteTaskStore(config)
    else:
        opened = RedisTaskStore(request.getfixturevalue("redis_url"), config,
                                prefix=f"hostile{next(_prefixes)}")
    yield opened
    opened.close()


def test_enqueue_accepts_exactly_or_refuses_typed(store: TaskStore) -> None:
    tasks = TaskQueue(store)
    accepted = 0

    @SETTINGS
    @given(PAYLOADS)
    @example(Deep(998, as_dict=False))
    @example({"text": "\ud800", "\udfff": ["\x00"]})
    @example("x" * MAX_SIZE)
    @example(cycle())
    def check(payload: Any) -> None:
        nonlocal accepted
        payload = unwrap(payload)
        try:
            tasks.enqueue(Q, payload)
        except StanchionError:
            assert not fits(payload)
            return
        assert fits(payload)
        accepted += 1
        [claimed] = tasks.claim(Q, "worker")
        assert claimed.task.payload == payload
        assert tasks.ack([claimed]) == [True]

    check()
    stats = store.stats(Q, time.time())
    assert (stats.depth, stats.in_flight, stats.delayed, stats.dead_lettered) == (0, 0, 0, 0)
    assert accepted > 10


@SETTINGS
@given(st.one_of(TEXT, st.integers(), st.none(), st.binary(max_size=4)))
def test_queue_names_are_accepted_or_refused_typed(queue: Any) -> None:
    tasks = TaskQueue(MemoryTaskStore())
    try:
        tasks.enqueue(queue, 1)
    except StanchionError:
        return
    assert [c.task.payload for c in tasks.claim(queue, "w")] == [1]


def test_running_workers_deliver_every_accepted_payload_exactly(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    store = SqliteTaskStore(TaskQueueConfig(
        sqlite_path=tmp_path_factory.mktemp("workers") / "t.sqlite3"))
    delivered: dict[str, Any] = {}
    arrived = threading.Condition()

    def deliver(task: Task) -> None:
        with arrived:
            delivered[task.id] = task.payload
            arrived.notify_all()

    with capture_logs() as events, ActorSystem() as system:
        service = TaskQueueService.start(system, store, [QueueSpec(Q, deliver)])

        @SETTINGS
        @given(PAYLOADS)
        @example(Deep(998, as_dict=True))
        @example(["\ud800"])
        def check(payload: Any) -> None:
            payload = unwrap(payload)
            try:
                task_id = service.enqueue(Q, payload)
            except StanchionError:
                return
            with arrived:
                assert arrived.wait_for(lambda: task_id in delivered, timeout=10)
            assert delivered[task_id] == payload

        check()
        assert service.wait_until_drained(Q, timeout=10)
    store.close()
    assert crashes(events) == []


# -- durable publish ---------------------------------------------------------------------


def test_durable_publish_accepts_exactly_or_refuses_typed(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    store = SqliteTaskStore(TaskQueueConfig(
        sqlite_path=tmp_path_factory.mktemp("bus") / "bus.sqlite3"))
    received: list[Any] = []
    arrived = threading.Condition()

    def handler(payload: Any) -> None:
        with arrived:
            received.append(payload)
            arrived.notify_all()

    with capture_logs() as events, ActorSystem() as system:
        bus = EventBus.start(system, store=store)
        bus.subscribe("hostile.*", handler, name="audit", durable=True)

        @SETTINGS
        @given(PAYLOADS)
        @example(Deep(998, as_dict=False))
        @example({"text": "\ud800"})
        def check(payload: Any) -> None:
            payload = unwrap(payload)
            before = len(received)
            try:
                bus.publish("hostile.event", payload)
            except StanchionError:
                assert not fits(payload, overhead=80)
                return
            assert fits(payload)
            with arrived:
                assert arrived.wait_for(lambda: len(received) > before, timeout=10)
            assert received[before] == payload

        check()
    store.close()
    assert bus.dead_letters() == []
    assert crashes(events) == []


# -- start_saga -----------------------------------------------------------------------------


class Echo(ServiceActor):
    """A step that succeeds and adds nothing to the saga's data."""

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, SagaCommand):
            return None
        return super().on_receive(message)


ECHO = SagaDefinition("echo", [SagaStep("echo", "echo", "do", "undo",
                                        retry=RetryPolicy(max_attempts=1))])


def test_start_saga_accepts_exactly_or_refuses_typed(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    log = SqliteSagaLog(tmp_path_factory.mktemp("sagas") / "sagas.sqlite3")
    with capture_logs() as events, ActorSystem([ChildSpec("echo", Echo)]) as system:
        sagas = Sagas.start(system, [ECHO], log)

        @SETTINGS
        @given(st.one_of(st.dictionaries(KEYS, PAYLOADS, max_size=3),
                         st.dictionaries(TEXT, VALUES, max_size=3), ODD, SCALARS),
               st.one_of(st.none(), st.none(), TEXT))
        @example({"note": "\ud800", "\udfff": 1}, None)
        @example({"deep": Deep(998, as_dict=False)}, None)
        @example({"a": 1}, "id \ud800")
        def check(data: Any, saga_id: str | None) -> None:
            data = unwrap(data)
            try:
                started = sagas.start_saga("echo", data, saga_id=saga_id)
            except StanchionError:
                assert saga_id is not None or not (isinstance(data, dict)
                                                   and fits(data, overhead=1000))
                return
            assert isinstance(data, dict)
            assert fits(data)
            final = sagas.wait(started, timeout=10)
            assert final.status is SagaStatus.COMPLETED
            assert final.data == data

        check()
    log.close()
    assert crashes(events) == []


# -- the crash-loop property -------------------------------------------------------------------


STORED = st.one_of(
    st.binary(max_size=24),
    st.text(st.characters(exclude_categories=()), max_size=24),
    st.integers(MAX_DEPTH - 2, 1500).map(lambda n: "[" * n + "]" * n),
    st.integers(MAX_DEPTH - 2, 1500).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.sampled_from(['{"name": 1}', "[NaN]", "1" * 5000, "null", '"\\ud800"', "{}", "[]"]),
)


class Unprintable(Exception):
    def __repr__(self) -> str:
        raise RuntimeError("no repr either")


class Consumer:
    """A destination that chokes on some payloads in the ways real code does."""

    def __init__(self) -> None:
        self.delivered: list[Any] = []

    def __call__(self, task: Task) -> None:
        payload = task.payload
        if payload == "good":
            self.delivered.append(payload)
        elif isinstance(payload, dict):
            raise CorruptData("has the wrong shape for this consumer")
        elif isinstance(payload, list):
            raise RecursionError("the consumer recursed too deeply")
        elif payload is None:
            raise Unprintable
        else:
            raise ValueError(payload)


def test_whatever_is_stored_one_bad_item_is_isolated_before_any_supervisor_notices(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("crashloop") / "t.sqlite3"
    store = SqliteTaskStore(TaskQueueConfig(
        sqlite_path=path, retry=RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.002,
                                            jitter="none")))
    consumer = Consumer()
    writer = sqlite3.connect(path, isolation_level=None)

    def store_directly(raw: Any) -> None:
        """A row written by a foreign writer: no codec, no checks, one atomic insert."""
        now = time.time()
        writer.execute("INSERT INTO tasks (queue, payload, priority, not_before, visible_at, "
                       "enqueued_at) VALUES (?, ?, 0, ?, ?, ?)", (Q, raw, now, now, now))

    with capture_logs() as events, ActorSystem() as system:
        service = TaskQueueService.start(system, store, [QueueSpec(Q, consumer,
                                                                   poll_interval=0.01)])
        rounds = itertools.count(1)

        @SETTINGS
        @given(STORED)
        @example("[" * 998 + "]" * 998)
        @example(b"\xff\xfe")
        def check(raw: Any) -> None:
            done = next(rounds)
            service.enqueue(Q, "good")
            store_directly(raw)
            service.enqueue(Q, "good")
            assert wait_for(lambda: len(consumer.delivered) >= 2 * done
                            and service.metrics(Q).stats.dead_lettered
                            + max(0, len(consumer.delivered) - 2 * done) >= done, timeout=15)

        check()
        assert service.wait_until_drained(Q, timeout=15)
    writer.close()
    store.close()
    assert crashes(events) == []
    assert {e["reason"] for e in named(events, "task.dead_lettered")} <= {"corrupt",
                                                                          "max_attempts"}


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            return False
        pause.wait(0.005)
    return True
