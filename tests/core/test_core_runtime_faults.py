"""A failure in the runtime's own machinery never leaves a service silently dead.

Each test injects a fault into the runtime itself (not into a handler) and checks
that it is logged as `runtime.fault`, that the supervisor restarts the service,
and that no told message is lost.
"""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from actors import ServiceStopped
from actors.core._mailbox import Mailbox
from actors.retry import RetryPolicy
from actors.supervision import ActorSystem, ChildSpec, SupervisorSpec
from actors.supervision._supervisor import Supervisor
from tests.conftest import named
from tests.supervision.supervision_helpers import Probe, Worker

FAST = RetryPolicy(max_attempts=None, base_delay=0.0, max_delay=0.0, jitter="none")


class Injected(Exception):
    """The fault a test injects into the runtime."""


def faults(events: list[dict[str, Any]], service: str) -> list[dict[str, Any]]:
    return [e for e in named(events, "runtime.fault") if e.get("service") == service]


def test_a_fault_in_take_is_logged_and_the_service_restarted(events, monkeypatch,
                                                            no_thread_leaks):
    probe = Probe()
    armed = threading.Event()
    lanes = Mailbox.consumer_lanes

    def faulty_lanes(self: Mailbox) -> Any:
        control, redeliver, requeued, dequeue, give_back = lanes(self)

        def faulty_dequeue() -> Any:  # the loop's own take of a work message
            if self.service == "w" and armed.is_set():
                armed.clear()
                raise Injected("take failed")
            return dequeue()

        return control, redeliver, requeued, faulty_dequeue, give_back

    monkeypatch.setattr(Mailbox, "consumer_lanes", faulty_lanes)
    with ActorSystem([ChildSpec("w", Worker, args=(probe,))], restart_backoff=FAST,
                     rng=random.Random(1)) as system:
        ref = system.service("w")
        probe.wait_for("started", "w")
        armed.set()  # the take the actor is blocked in has passed the check: the next one fails
        for message in ("a", "b", "c"):
            ref.tell(message)
        probe.wait_for("started", "w", 2)
        probe.wait_for("handled", "w:c")
        assert [m for _, m in probe.handled] == ["a", "b", "c"]
        assert ref.restarts == 1
    fault = faults(events, "w")
    assert len(fault) == 1
    assert fault[0]["where"] == "running"
    assert "take failed" in fault[0]["error"]


def test_a_fault_in_the_crash_path_keeps_the_message_and_restarts(events, monkeypatch,
                                                                 no_thread_leaks):
    probe = Probe()  # "crash" crashes once; its redelivery is handled
    failures = [1]
    redeliver = Mailbox.redeliver

    def faulty_redeliver(self: Mailbox, item: Any, error: BaseException) -> None:
        if self.service == "w" and failures[0] > 0:
            failures[0] -= 1
            raise Injected("redeliver failed")
        redeliver(self, item, error)

    monkeypatch.setattr(Mailbox, "redeliver", faulty_redeliver)
    with ActorSystem([ChildSpec("w", Worker, args=(probe,))], restart_backoff=FAST,
                     rng=random.Random(1)) as system:
        ref = system.service("w")
        for message in ("crash", "t0", "t1"):
            ref.tell(message)
        probe.wait_for("handled", "w:t1")
        assert [m for _, m in probe.handled] == ["crash", "t0", "t1"]
        assert ref.restarts == 1
    fault = faults(events, "w")
    assert len(fault) == 1
    assert "redeliver failed" in fault[0]["error"]


def test_a_watcher_that_fails_once_is_retried(events, monkeypatch, no_thread_leaks):
    probe = Probe()
    watcher = Supervisor._watcher
    failures = [1]

    def flaky_watcher(self: Supervisor, name: str, index: int, epoch: int) -> Any:
        on_death = watcher(self, name, index, epoch)

        def flaky(actor: Any, reason: BaseException | None) -> None:
            if failures[0] > 0:
                failures[0] -= 1
                raise Injected("watcher failed")
            on_death(actor, reason)

        return flaky

    monkeypatch.setattr(Supervisor, "_watcher", flaky_watcher)
    with ActorSystem([ChildSpec("w", Worker, args=(probe,))], restart_backoff=FAST,
                     rng=random.Random(1)) as system:
        ref = system.service("w")
        ref.tell("crash")
        probe.wait_for("started", "w", 2)
        assert ref.ask("after", timeout=5) == "after"
    fault = faults(events, "w")
    assert [f["where"] for f in fault] == ["watcher"]


def test_a_watcher_that_keeps_failing_closes_the_mailbox_and_dead_letters(events, monkeypatch,
                                                                          no_thread_leaks):
    probe, gate = Probe(), threading.Event()
    probe.crashes_left = 0

    def broken_watcher(self: Supervisor, name: str, index: int, epoch: int) -> Any:
        def broken(actor: Any, reason: BaseException | None) -> None:
            if name == "w":
                raise Injected("watcher failed")

        return broken

    monkeypatch.setattr(Supervisor, "_watcher", broken_watcher)
    with ActorSystem([ChildSpec("w", Worker, args=(probe, gate))], restart_backoff=FAST,
                     rng=random.Random(1)) as system:
        ref = system.service("w")
        ref.tell("block_then_crash")
        probe.wait_for("blocked", "w")
        ref.tell("queued")
        gate.set()
        assert system.dead_letters.wait_for(service="w", reason="crashed", count=2, timeout=5)
        with pytest.raises(ServiceStopped):
            ref.tell("after")  # senders are told at once instead of queueing forever
    assert [f["where"] for f in faults(events, "w")] == ["watcher", "watcher"]


def test_a_fault_in_a_supervisor_restarts_it_without_leaving_its_children_behind(
        events, monkeypatch, no_thread_leaks):
    probe = Probe()
    armed = threading.Event()
    take = Mailbox.take

    def faulty_take(self: Mailbox) -> Any:
        if self.service == "inner" and armed.is_set():
            armed.clear()
            raise Injected("supervisor take failed")
        return take(self)

    monkeypatch.setattr(Mailbox, "take", faulty_take)
    inner = SupervisorSpec("inner", [ChildSpec("w", Worker, args=(probe,))],
                           restart_backoff=FAST)
    with ActorSystem([inner], restart_backoff=FAST, rng=random.Random(1)) as system:
        probe.wait_for("started", "w")
        armed.set()
        system.which_children("inner")  # one message through inner's loop; its next take fails
        probe.wait_for("started", "w", 2)  # the restarted supervisor started a new w
        assert system.service("inner").restarts == 1
        assert probe.count("stopped", "w") == 1  # the old w was stopped, not orphaned
        assert system.service("w").stats().consumers == 1
        assert system.service("w").ask("alive", timeout=5) == "alive"
    assert [f["where"] for f in faults(events, "inner")] == ["running"]
