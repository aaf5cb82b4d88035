"""`BreakerGate` in front of a real service in an ActorSystem: forwarding, fail fast, timeouts."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from actors import (
    AskTimeout,
    CircuitOpen,
    ConfigError,
    MailboxFull,
    ServiceActor,
    ServiceStopped,
    UnknownService,
)
from actors.breaker import (
    BreakerConfig,
    BreakerGate,
    BreakerState,
    BreakerTransition,
    Disable,
    ForceOpen,
    GetMetrics,
    NotACommand,
    Reset,
)
from actors.bus import EventBus
from actors.supervision import ActorSystem, ChildSpec

TRIP_FAST = BreakerConfig(window_size=4, minimum_calls=2, wait_jitter=0.0)


class Hold:
    """Lets a test keep the provider busy, and know when it is."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()


class HttpError(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


class Provider(ServiceActor):
    """Echoes; raises exceptions it is sent; blocks on "hang" until released."""

    def __init__(self, hold: Hold) -> None:
        super().__init__()
        self.hold = hold

    def on_receive(self, message: Any) -> Any:
        if message == "hang":
            self.hold.entered.set()
            self.hold.release.wait(10)
            return "late"
        if isinstance(message, Exception):
            raise message
        return message


@pytest.fixture
def hold() -> Iterator[Hold]:
    held = Hold()
    yield held
    held.release.set()


@pytest.fixture
def system(hold: Hold, no_thread_leaks: None) -> Iterator[ActorSystem]:
    with ActorSystem([ChildSpec("sms", Provider, args=(hold,), mailbox_size=4)],
                     rng=random.Random(1)) as running:
        yield running
        hold.release.set()


def trip(gate: BreakerGate) -> None:
    while gate.breaker.state is BreakerState.CLOSED:
        with pytest.raises(ConnectionError):
            gate.ask(ConnectionError("provider down"), timeout=5.0)


def test_forwards_to_the_target_and_records_the_outcome(system):
    gate = BreakerGate.start(system, "sms-breaker", target="sms", config=TRIP_FAST)
    assert gate.ask({"to": "+15550001111", "text": "hi"}, timeout=2.0) == {
        "to": "+15550001111", "text": "hi"}
    future = gate.ask("hello", timeout=2.0, block=False)
    assert future.get(timeout=5.0) == "hello"
    metrics = gate.metrics()
    assert (metrics.state, metrics.calls, metrics.succeeded, metrics.failed) == (
        BreakerState.CLOSED, 2, 2, 0)


def test_target_errors_are_counted_and_caller_faults_ignored(system):
    gate = BreakerGate.start(system, "sms-breaker", target="sms",
                             config=BreakerConfig(minimum_calls=5, window_size=10))
    with pytest.raises(HttpError):
        gate.ask(HttpError(400), timeout=2.0)
    with pytest.raises(ConnectionError):
        gate.ask(ConnectionError("reset"), timeout=2.0)
    future = gate.ask(HttpError(503), timeout=2.0, block=False)
    with pytest.raises(HttpError):
        future.get(timeout=5.0)
    metrics = gate.metrics()
    assert (metrics.calls, metrics.failed, metrics.ignored) == (2, 2, 1)


def test_fails_fast_while_open_without_touching_any_mailbox(system):
    gate = BreakerGate.start(system, "sms-breaker", target="sms", config=TRIP_FAST)
    trip(gate)
    target, gate_actor = system.service("sms").stats(), system.service("sms-breaker").stats()
    for _ in range(200):
        with pytest.raises(CircuitOpen) as info:
            gate.ask("hello", timeout=2.0)
        assert info.value.breaker == "sms-breaker"
        assert 0 < info.value.retry_after <= 5.0
    with pytest.raises(CircuitOpen):
        gate.ask("hello", timeout=2.0, block=False)
    assert system.service("sms").stats() == target  # nothing queued, nothing processed
    assert system.service("sms-breaker").stats() == gate_actor
    assert gate.metrics().not_permitted == 201


def test_mailbox_full_on_the_target_is_not_counted(system, hold):
    gate = BreakerGate.start(system, "sms-breaker", target="sms", config=TRIP_FAST)
    busy = gate.ask("hang", timeout=10.0, block=False)
    assert hold.entered.wait(5)
    sms = system.service("sms")
    for n in range(4):
        sms.tell(n)  # fill the mailbox behind the busy handler
    for _ in range(5):
        with pytest.raises(MailboxFull):
            gate.ask("one more", timeout=2.0)
    metrics = gate.metrics()
    assert (metrics.state, metrics.calls, metrics.failed_total, metrics.released) == (
        BreakerState.CLOSED, 0, 0, 5)
    hold.release.set()
    assert busy.get(timeout=5.0) == "late"
    assert gate.metrics().succeeded == 1


def test_a_stopped_target_is_not_counted(system):
    gate = BreakerGate.start(system, "sms-breaker", target="sms", config=TRIP_FAST)
    system.service("sms").stop(timeout=5.0)
    with pytest.raises(ServiceStopped):
        gate.ask("hello", timeout=2.0)
    assert (gate.metrics().calls, gate.metrics().released) == (0, 1)


def test_a_timeout_counts_as_a_failure_and_the_late_reply_is_not_counted(system, hold):
    gate = BreakerGate.start(system, "sms-breaker", target="sms",
                             config=BreakerConfig(minimum_calls=5, window_size=10))
    with pytest.raises(AskTimeout):
        gate.ask("hang", timeout=0.05)
    metrics = gate.metrics()
    assert (metrics.calls, metrics.failed, metrics.succeeded) == (1, 1, 0)
    hold.release.set()
    # Processed after "hang", so its reply (and the gate's callback) has run by then.
    assert system.service("sms").ask("ping", timeout=5.0) == "ping"
    metrics = gate.metrics()
    assert (metrics.calls, metrics.failed, metrics.succeeded) == (1, 1, 0)


def test_a_timeout_counts_as_a_failure_without_blocking_the_caller(system, hold):
    gate = BreakerGate.start(system, "sms-breaker", target="sms",
                             config=BreakerConfig(minimum_calls=5, window_size=10))
    future = gate.ask("hang", timeout=0.05, block=False)
    with pytest.raises(AskTimeout):
        future.get(timeout=5.0)
    assert (gate.metrics().calls, gate.metrics().failed) == (1, 1)


def test_a_timeout_that_trips_the_breaker_makes_later_callers_fail_fast(system):
    gate = BreakerGate.start(system, "sms-breaker", target="sms",
                             config=BreakerConfig(window_size=2, minimum_calls=1))
    with pytest.raises(AskTimeout):
        gate.ask("hang", timeout=0.05)
    with pytest.raises(CircuitOpen):
        gate.ask("hello")


def test_transitions_are_published_on_the_bus(system):
    bus = EventBus.start(system)
    received: list[dict[str, Any]] = []
    cond = threading.Condition()

    def on_event(payload: dict[str, Any]) -> None:
        with cond:
            received.append(payload)
            cond.notify_all()

    bus.subscribe("breaker.#", on_event)
    gate = BreakerGate.start(system, "sms-breaker", target="sms", config=TRIP_FAST, bus=bus)
    trip(gate)
    gate.force_open("maintenance")
    gate.reset()
    with cond:
        assert cond.wait_for(lambda: len(received) == 3, 5.0), received
    assert [e["event"] for e in received] == [
        "breaker.opened", "breaker.forced_open", "breaker.reset"]
    opened = received[0]
    assert opened["breaker"] == "sms-breaker"
    assert (opened["from_state"], opened["to_state"], opened["failure_rate"]) == (
        "closed", "open", 100.0)
    assert opened["wait"] == 5.0
    assert received[1]["reason"] == "maintenance"
    bus.stop()


def test_operator_commands_through_the_gate_and_its_actor(system):
    gate = BreakerGate.start(system, "sms-breaker", target="sms", config=TRIP_FAST)
    assert gate.force_open().state is BreakerState.FORCED_OPEN
    with pytest.raises(CircuitOpen) as info:
        gate.ask("hello")
    assert info.value.state == "forced_open"
    actor = system.service("sms-breaker")
    assert actor.ask(Reset(), timeout=2.0).state is BreakerState.CLOSED
    assert actor.ask(Disable(), timeout=2.0).state is BreakerState.DISABLED
    assert actor.ask(ForceOpen(), timeout=2.0).state is BreakerState.FORCED_OPEN
    assert actor.ask(GetMetrics(), timeout=2.0).state is BreakerState.FORCED_OPEN
    with pytest.raises(NotACommand, match=r"BreakerGate\.ask"):
        actor.ask("hello", timeout=2.0)
    assert gate.disable().state is BreakerState.DISABLED
    assert gate.ask("hello") == "hello"


def test_breaker_state_survives_a_restart_of_the_gate_actor(system):
    gate = BreakerGate.start(system, "sms-breaker", target="sms", config=TRIP_FAST)
    gate.force_open()
    actor = system.service("sms-breaker")
    actor.tell("not a command")  # crashes the actor; its supervisor restarts it
    assert system.dead_letters.wait_for(service="sms-breaker", timeout=5.0)
    [dead] = [d for d in system.dead_letters.list() if d.service == "sms-breaker"]
    assert dead.message == "not a command"
    assert gate.metrics().state is BreakerState.FORCED_OPEN  # kept across the crash
    assert gate.reset(timeout=5.0).state is BreakerState.CLOSED  # served by the new incarnation
    assert actor.restarts == 1


def test_half_open_probes_that_never_finish_reopen_without_traffic(system):
    now = [1000.0]
    opened = threading.Event()
    gate = BreakerGate.start(
        system, "sms-breaker", target="sms", clock=lambda: now[0],
        config=BreakerConfig(window_size=2, minimum_calls=1, wait_jitter=0.0,
                             permitted_calls_in_half_open=1, max_wait_in_half_open=0.02))

    def on_transition(event: BreakerTransition) -> None:
        if event.from_state == "half_open" and event.to_state == "open":
            opened.set()

    gate.breaker.add_listener(on_transition)
    trip(gate)
    now[0] += 5.0
    gate.breaker.acquire()  # a probe whose outcome never comes
    now[0] += 1.0
    assert opened.wait(5.0), "the gate actor did not apply the half-open deadline"
    assert gate.metrics().state is BreakerState.OPEN


def test_bad_gate_arguments(system):
    with pytest.raises(UnknownService):
        BreakerGate.start(system, "sms-breaker", target="nope")
    with pytest.raises(ConfigError, match="timeout"):
        BreakerGate.start(system, "sms-breaker", target="sms", timeout=0)
    with pytest.raises(ConfigError, match="window_size"):
        BreakerGate.start(system, "sms-breaker", target="sms",
                          config=BreakerConfig(window_size=-1))


def test_a_stopped_gate_actor_still_gates_calls_on_the_callers_thread(system):
    gate = BreakerGate.start(system, "sms-breaker", target="sms", config=TRIP_FAST)
    assert gate.stop(timeout=5.0)
    assert gate.ask("hello", timeout=2.0) == "hello"
    trip(gate)
    with pytest.raises(CircuitOpen):
        gate.ask("hello")
    with pytest.raises(ServiceStopped):
        gate.force_open()
