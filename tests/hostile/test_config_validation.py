"""Every public config and spec of the patterns is checked when it is built (issue #11, item 6).

A wrong type (a bool is no int, 1.5 no pool size, a dict no policy), a value
out of range, NaN or infinity (unless documented) is a `ConfigError` naming
the field, raised at construction: never a raw TypeError, and never a value
that reaches a thread later. Infinity matters most: the first
`call_later(inf)` killed the system's only timer thread, after which no
timeout, retry or restart ever fired.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from actors import ConfigError, ServiceActor, StanchionError
from actors.backends import MemorySagaLog, MemoryTaskStore
from actors.breaker import BreakerConfig, BreakerGate, CircuitBreaker, CountWindow, ForceOpen
from actors.bulkhead import LatencyRecorder, ServiceCaller
from actors.bus import EventBus, EventBusConfig, matches, validate_event_name, validate_pattern
from actors.logtool import LogQuery, Record, select
from actors.ratelimit import RateLimitConfig, TokenBucket
from actors.retry import RetryBudget, RetryBudgetConfig, RetryPolicy
from actors.saga import SagaDefinition, SagaMachine, Sagas, SagaStep
from actors.sms import NotificationService, SendLedger, SmsClient, SmsConfig, parse_retry_after
from actors.supervision import ActorSystem, ChildSpec
from actors.taskqueue import (
    NewTask,
    QueueSpec,
    RetryAfter,
    TaskQueue,
    TaskQueueConfig,
    TaskQueueService,
    TaskSchedule,
    attempts_exhausted,
)
from actors.testing import FakeSmsProvider, Fault, FaultScript, ScriptedService
from examples.peaksale import StoryConfig
from examples.peaksale.view import BreakerView, DemoSnapshot, LiveView
from examples.profiles import ProfileUpdate
from examples.shop import CHECKOUT, CheckoutLedger, checkout_services


def refused(field: str, build: Callable[[], object]) -> ConfigError:
    """`build()` raises a ConfigError naming `field` (and no raw TypeError/ValueError)."""
    with pytest.raises(ConfigError) as caught:
        build()
    assert caught.value.field == field, str(caught.value)
    assert f"{field}=" in str(caught.value)
    return caught.value


def timer_thread_alive(system: ActorSystem) -> bool:
    """Whether the system's one timer thread still runs timers."""
    fired = threading.Event()
    system.scheduler.call_later(0.01, fired.set)
    return fired.wait(5.0)


class Echo(ServiceActor):
    def on_receive(self, message: Any) -> Any:
        return message


@pytest.fixture
def system() -> Iterator[ActorSystem]:
    with ActorSystem([ChildSpec("echo", Echo)], rng=random.Random(1)) as running:
        yield running


# -- the cases named in the issue ------------------------------------------------------------


def test_a_saga_step_with_an_infinite_timeout_is_refused() -> None:
    error = refused("timeout", lambda: SagaStep("charge", "payments", "charge",
                                                timeout=math.inf))
    assert "finite" in error.expected


def test_a_queue_spec_with_an_infinite_poll_interval_is_refused() -> None:
    refused("poll_interval", lambda: QueueSpec("q", "svc", poll_interval=math.inf))
    refused("delivery_timeout", lambda: QueueSpec("q", "svc", delivery_timeout=math.inf))
    refused("poll_interval", lambda: QueueSpec("q", "svc", poll_interval="0.2"))  # type: ignore[arg-type]
    refused("poll_interval", lambda: QueueSpec("q", "svc", poll_interval=1e12))


def test_pool_sizes_are_integers_in_range() -> None:
    for size in (1.5, True, "4", None, 0, -1, 2**70):
        refused("workers", lambda size=size: QueueSpec("q", "svc", workers=size))
        refused("senders", lambda size=size: SmsConfig("http://sms.test", senders=size))
        refused("outbox_workers",
                lambda size=size: SmsConfig("http://sms.test", outbox_workers=size))
        refused("max_connections", lambda size=size: SmsClient("http://sms.test",
                                                               max_connections=size))


def test_retry_policies_are_policies_not_dicts() -> None:
    for policy in ({"max_attempts": 3}, None, "full", 5):
        refused("retry", lambda policy=policy: EventBusConfig(retry=policy))
        refused("retry", lambda policy=policy: SagaStep("a", "svc", "do", retry=policy))
        refused("retry", lambda policy=policy: TaskQueueConfig(retry=policy))
        refused("retry_budget", lambda policy=policy: SmsConfig("http://sms.test",
                                                                  retry_budget=policy))
        refused("policy", lambda policy=policy: TaskSchedule(
            policy, clock=lambda: 0.0, rng=random.Random(0)))
        refused("policy", lambda policy=policy: attempts_exhausted(policy, 3))


def test_retry_policy_fields_are_typed_finite_and_in_range() -> None:
    refused("max_attempts", lambda: RetryPolicy(max_attempts="3"))  # type: ignore[arg-type]
    refused("max_attempts", lambda: RetryPolicy(max_attempts=2.5))  # type: ignore[arg-type]
    refused("max_attempts", lambda: RetryPolicy(max_attempts=True))
    refused("base_delay", lambda: RetryPolicy(base_delay=math.nan))
    refused("max_delay", lambda: RetryPolicy(max_delay=math.inf))
    refused("max_delay", lambda: RetryPolicy(base_delay=2.0, max_delay=1.0))
    refused("multiplier", lambda: RetryPolicy(multiplier=math.inf))
    refused("jitter", lambda: RetryPolicy(jitter=["full"]))  # type: ignore[arg-type]
    policy = RetryPolicy(max_attempts=3)
    refused("attempts_made", lambda: policy.should_retry("2"))  # type: ignore[arg-type]
    refused("retry_number", lambda: policy.delay(1.0, random.Random(0)))  # type: ignore[arg-type]
    refused("rng", lambda: policy.delay(1, None))  # type: ignore[arg-type]


def test_delivery_and_dead_letter_settings_are_integers() -> None:
    refused("buffer_size", lambda: EventBusConfig(buffer_size=True))
    refused("dead_letter_capacity", lambda: EventBusConfig(dead_letter_capacity=True))
    refused("dead_letter_capacity", lambda: EventBusConfig(dead_letter_capacity=2**70))
    refused("max_backlog", lambda: EventBusConfig(max_backlog=10.0))  # type: ignore[arg-type]


def test_backoff_and_budget_settings() -> None:
    refused("wait_in_open", lambda: BreakerConfig(wait_in_open=1e300))
    refused("max_wait_in_half_open", lambda: BreakerConfig(max_wait_in_half_open=math.inf))
    refused("window_size", lambda: BreakerConfig(window_type="time", window_size=10**9))
    refused("size", lambda: CountWindow(2**40))
    refused("ratio", lambda: RetryBudgetConfig(ratio=math.inf))
    refused("window", lambda: RetryBudgetConfig(window="10"))  # type: ignore[arg-type]
    refused("delay", lambda: RetryAfter(math.nan))
    refused("delay", lambda: RetryAfter(1e300))
    refused("reason", lambda: RetryAfter(1.0, reason=None))  # type: ignore[arg-type]
    refused("capacity", lambda: LatencyRecorder(2**70))


def test_policy_objects_clocks_and_random_sources_are_checked() -> None:
    refused("clock", lambda: TokenBucket(1, 1, clock=None))  # type: ignore[arg-type]
    refused("clock", lambda: CircuitBreaker("sms", clock=5))  # type: ignore[arg-type]
    refused("rng", lambda: CircuitBreaker("sms", rng="seed"))  # type: ignore[arg-type]
    refused("config", lambda: RetryBudget({"ratio": 0.1}))  # type: ignore[arg-type]
    refused("clock", lambda: RetryBudget(clock="now"))  # type: ignore[arg-type]
    refused("rng", lambda: SagaMachine(CHECKOUT, rng=None))  # type: ignore[arg-type]
    refused("config", lambda: MemoryTaskStore({"visibility_timeout": 1}))  # type: ignore[arg-type]
    refused("store", lambda: TaskQueue("memory"))  # type: ignore[arg-type]
    refused("policy", lambda: TaskSchedule({}, clock=lambda: 0.0,  # type: ignore[arg-type]
                                           rng=random.Random(0)))
    refused("clock", lambda: SendLedger(clock=None))  # type: ignore[arg-type]
    refused("script", lambda: ScriptedService("fail"))  # type: ignore[arg-type]


def test_names_are_printable_trimmed_and_bounded() -> None:
    for bad in ("reserve\n", "a\x00b", "\ud800", "", "x" * 201, 7):
        refused("name", lambda bad=bad: SagaStep(bad, "svc", "do"))
        refused("name", lambda bad=bad: SagaDefinition(bad, [SagaStep("a", "svc", "do")]))
        refused("queue", lambda bad=bad: QueueSpec(bad, "svc"))
        refused("queue", lambda bad=bad: NewTask(bad, {}))
        refused("name", lambda bad=bad: CircuitBreaker(bad))
        refused("name", lambda bad=bad: RateLimitConfig(1, 1, name=bad))
    refused("compensation", lambda: SagaStep("a", "svc", "do", compensation="undo\r\n"))


def test_step_lists_and_children_like_lists_are_checked() -> None:
    refused("steps", lambda: SagaDefinition("s", None))  # type: ignore[arg-type]
    refused("steps", lambda: SagaDefinition("s", "abc"))  # type: ignore[arg-type]
    refused("steps", lambda: SagaDefinition("s", [SagaStep("a", "svc", "do"), {"name": "b"}]))
    refused("steps", lambda: FaultScript(["ok"]))  # type: ignore[list-item]
    refused("repeat_last", lambda: FaultScript(repeat_last=1))  # type: ignore[arg-type]


def test_task_fields() -> None:
    refused("not_before", lambda: NewTask("q", {}, not_before="soon"))  # type: ignore[arg-type]
    refused("not_before", lambda: NewTask("q", {}, not_before=math.inf))
    refused("sqlite_path", lambda: TaskQueueConfig(sqlite_path="tasks\x00.db"))
    refused("sqlite_path", lambda: TaskQueueConfig(sqlite_path=3))  # type: ignore[arg-type]
    refused("busy_timeout", lambda: TaskQueueConfig(busy_timeout=1e9))
    refused("fields", lambda: ProfileUpdate("u-1", 1, None))  # type: ignore[arg-type]
    refused("version", lambda: ProfileUpdate("u-1", True, {}))
    schedule = TaskSchedule(RetryPolicy(), clock=lambda: 0.0, rng=random.Random(0))
    refused("attempts_made", lambda: schedule.after_failure("1"))  # type: ignore[arg-type]
    refused("retry_after", lambda: schedule.after_failure(1, math.inf))
    refused("delay", lambda: schedule.due_at("5"))  # type: ignore[arg-type]


def test_fault_injection_knobs() -> None:
    refused("seconds", lambda: Fault("slow", math.inf))
    refused("seconds", lambda: Fault("slow", "1"))  # type: ignore[arg-type]
    refused("kind", lambda: Fault(["slow"]))  # type: ignore[arg-type]
    refused("script", lambda: FaultScript.parse("slow:inf"))
    refused("script", lambda: FaultScript.parse("slow:nan"))
    refused("script", lambda: FaultScript.parse(None))  # type: ignore[arg-type]


def test_sms_settings_client_and_provider_knobs() -> None:
    refused("base_url", lambda: SmsConfig("http://"))
    refused("base_url", lambda: SmsConfig("http://sms.test:99999"))
    refused("base_url", lambda: SmsClient("http://[::1"))
    refused("base_url", lambda: SmsClient("http://sms test"))
    refused("api_key", lambda: SmsClient("http://sms.test", api_key="kéy"))
    refused("api_key", lambda: SmsClient("http://sms.test", api_key="key\n"))
    refused("send_timeout", lambda: SmsConfig("http://sms.test", send_timeout=1e12))
    refused("queue_reserve", lambda: SmsConfig("http://sms.test", queue_reserve=1))
    refused("seed", lambda: FakeSmsProvider(seed="x"))  # type: ignore[arg-type]
    refused("clock", lambda: FakeSmsProvider(clock=None))  # type: ignore[arg-type]
    provider = FakeSmsProvider()
    refused("number", lambda: provider.reject(["+15551234567"]))  # type: ignore[arg-type]
    refused("latency", lambda: provider.set_latency(math.inf))
    refused("value", lambda: parse_retry_after(7))  # type: ignore[arg-type]
    assert parse_retry_after("Wed, 21 Oct 99999 07:28:10 GMT") is None


def test_demo_and_story_settings() -> None:
    refused("phase", lambda: DemoSnapshot("a\nb", 0.0))
    refused("elapsed", lambda: DemoSnapshot("a", math.inf))
    refused("BreakerView.state", lambda: BreakerView(None))  # type: ignore[arg-type]
    refused("plain", lambda: LiveView(lambda: DemoSnapshot("a", 0.0), plain="yes"))  # type: ignore[arg-type]
    refused("backend", lambda: StoryConfig(backend=None))  # type: ignore[arg-type]
    refused("backend", lambda: StoryConfig(backend="redis://"))
    refused("seed", lambda: StoryConfig(seed=1.5))  # type: ignore[arg-type]
    assert StoryConfig(workdir="demo-data").workdir.name == "demo-data"  # type: ignore[arg-type]
    refused("reason", lambda: ForceOpen(None))  # type: ignore[arg-type]


def test_checkout_ledger_path_is_checked(tmp_path: Any) -> None:
    refused("path", lambda: CheckoutLedger(tmp_path))  # a directory is no SQLite file
    refused("path", lambda: CheckoutLedger("ledger\x00.db"))
    refused("initial_stock", lambda: CheckoutLedger(initial_stock=True))


def test_log_queries() -> None:
    refused("ids", lambda: LogQuery(ids="o-1"))  # type: ignore[arg-type]
    refused("fields", lambda: LogQuery(fields={"a": 1}))  # type: ignore[dict-item]
    refused("since", lambda: LogQuery(since="yesterday"))  # type: ignore[arg-type]
    # A naive time means UTC, as on the command line; comparing it no longer raises.
    query = LogQuery(since=datetime(2026, 1, 1))
    assert query.since == datetime(2026, 1, 1, tzinfo=UTC)
    record = Record(1, {"event": "x", "timestamp": "2026-06-01T00:00:00Z"})
    assert select([record], query, []) == [record]


# -- names and patterns on the bus -----------------------------------------------------------


def test_event_names_and_patterns_have_a_segment_syntax() -> None:
    refused("event_name", lambda: validate_event_name("order.created\n"))
    refused("event_name", lambda: validate_event_name(["order"]))
    refused("pattern", lambda: validate_pattern("order.*\n"))
    error = refused("pattern", lambda: validate_pattern("order.cre*"))
    assert "segment 2" in error.expected
    assert "'*' for exactly one segment" in error.expected
    error = refused("pattern", lambda: validate_pattern("order..created"))
    assert "segment 2 is empty" in error.expected
    refused("pattern", lambda: matches(["order"], "order"))  # type: ignore[arg-type]
    refused("event_name", lambda: matches("order", {"a"}))  # type: ignore[arg-type]


def test_many_hash_wildcards_match_in_polynomial_time() -> None:
    pattern = ".".join(["#"] * 25 + ["x"])
    name = ".".join(["a"] * 25 + ["y"])
    assert not matches(pattern, name)  # backtracking took ~C(50, 25) steps here
    assert matches(pattern, name[:-1] + "x")


def test_publish_and_subscribe_refuse_hostile_names(system: ActorSystem) -> None:
    bus = EventBus.start(system)
    refused("event_name", lambda: bus.publish(["order"], {}))  # type: ignore[arg-type]
    refused("event_name", lambda: bus.publish("order\n", {}))
    refused("name", lambda: bus.subscribe("order.*", print, name="x" * 65))
    refused("timeout", lambda: bus.subscribe("order.*", print, timeout=math.inf))
    refused("durable", lambda: bus.subscribe("order.*", print, durable="yes"))  # type: ignore[arg-type]
    refused("name", lambda: EventBus.start(system, name="bus\n"))
    refused("config", lambda: EventBus.start(system, {"buffer_size": 1},  # type: ignore[arg-type]
                                             name="bus2"))
    assert timer_thread_alive(system)


# -- entry points that set a timer: inf must never reach the timer thread ----------------------


def test_an_infinite_send_timeout_is_refused_and_the_timer_thread_lives(
        system: ActorSystem) -> None:
    with FakeSmsProvider() as provider:
        sms = NotificationService.start(system, SmsConfig(provider.base_url))
        try:
            refused("timeout", lambda: sms.send_sms("+15551234567", "hi", timeout=math.inf))
            refused("timeout", lambda: sms.send_sms("+15551234567", "hi", timeout="1"))  # type: ignore[arg-type]
            assert timer_thread_alive(system)
        finally:
            sms.stop()


def test_an_infinite_gate_timeout_is_refused_and_the_timer_thread_lives(
        system: ActorSystem) -> None:
    gate = BreakerGate.start(system, "echo-breaker", target="echo")
    refused("timeout", lambda: gate.ask("hi", timeout=math.inf, block=False))
    refused("timeout", lambda: gate.ask("hi", timeout=math.nan))
    refused("timeout", lambda: BreakerGate.start(system, "gate2", target="echo", timeout=math.inf))
    refused("target", lambda: BreakerGate.start(system, "gate3", target=["echo"]))  # type: ignore[arg-type]
    assert timer_thread_alive(system)
    assert gate.ask("hi", timeout=2.0) == "hi"


def test_caller_settings(system: ActorSystem) -> None:
    ref = system.service("echo")
    refused("clock", lambda: ServiceCaller(ref, timeout=1.0, fallback=lambda r, e: None,
                                           clock=None))  # type: ignore[arg-type]
    refused("latency_window", lambda: ServiceCaller(ref, timeout=1.0, fallback=lambda r, e: None,
                                                    latency_window=2**70))


def test_saga_and_queue_entry_points_refuse_unhashable_and_infinite_values(
        system: ActorSystem) -> None:
    with ActorSystem(checkout_services()) as shop:
        sagas = Sagas.start(shop, [CHECKOUT], MemorySagaLog())
        refused("definition", lambda: sagas.start_saga(["checkout"], {}))  # type: ignore[arg-type]
        refused("saga_id", lambda: sagas.start_saga("checkout", {}, saga_id="s\n"))
        refused("timeout", lambda: sagas.start_saga("checkout", {}, timeout=math.inf))
        refused("log", lambda: Sagas.start(shop, [CHECKOUT], "memory",  # type: ignore[arg-type]
                                           name="sagas2"))
        refused("mailbox_size", lambda: Sagas.start(shop, [CHECKOUT], MemorySagaLog(),
                                                    name="sagas3", mailbox_size=1.5))  # type: ignore[arg-type]
    tasks = TaskQueueService.start(system, MemoryTaskStore(), [QueueSpec("q", lambda t: None)])
    try:
        refused("queue", lambda: tasks.enqueue(["q"], {}))  # type: ignore[arg-type]
        refused("delay", lambda: tasks.enqueue("q", {}, delay="5"))  # type: ignore[arg-type]
        refused("delay", lambda: tasks.enqueue("q", {}, delay=math.inf))
        refused("at", lambda: tasks.enqueue("q", {}, at=math.nan))
        refused("queue", lambda: tasks.metrics(["q"]))  # type: ignore[arg-type]
        refused("queues", lambda: TaskQueueService.start(system, MemoryTaskStore(),
                                                         [{"queue": "q"}], name="tq2"))  # type: ignore[list-item]
        refused("store", lambda: TaskQueueService.start(system, "memory",  # type: ignore[arg-type]
                                                        [QueueSpec("q", "echo")], name="tq3"))
        with pytest.raises(StanchionError, match="no workers serve queue"):
            tasks.enqueue("elsewhere", {})
    finally:
        tasks.stop()
    assert timer_thread_alive(system)
