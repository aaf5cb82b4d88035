"""Lifecycle edges: a tree that cannot start, a stuck handler at exit, `system.failed`."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest

from actors import ServiceActor, ServiceStopped, UnknownService
from actors.retry import RetryPolicy
from actors.supervision import ActorSystem, ChildSpec, ServiceStartFailed, SupervisorSpec
from tests.conftest import named
from tests.supervision.supervision_helpers import FailsInConstructor, FailsToStart, Probe, Worker

FAST = RetryPolicy(max_attempts=None, base_delay=0.0, max_delay=0.0, jitter="none")


# -- a child that cannot start ------------------------------------------------------------


@pytest.mark.parametrize("failing", [FailsToStart, FailsInConstructor])
def test_a_child_that_cannot_start_fails_the_start_with_its_own_error(failing, events,
                                                                      no_thread_leaks):
    probe = Probe()
    system = ActorSystem([ChildSpec("ok", Worker, args=(probe,)),
                          ChildSpec("db", failing, args=(probe, [1])),
                          ChildSpec("after", Worker, args=(probe,))],
                         restart_backoff=FAST, rng=random.Random(1))
    entered = False
    with pytest.raises(ServiceStartFailed) as info, system:
        entered = True
    assert not entered
    error = info.value
    assert error.service == "db"
    assert isinstance(error.__cause__, RuntimeError)
    assert error.cause is error.__cause__
    assert "service 'db' could not start" in str(error)
    assert "RuntimeError(" in str(error)
    assert "look the service up" not in str(error)
    assert not system.running
    assert probe.count("stopped", "ok") == 1  # what did start was stopped again
    assert probe.count("start_failed", "db") + probe.count("constructor_failed", "ctor") == 1
    assert [e["service"] for e in named(events, "system.start_failed")] == ["db"]
    assert not named(events, "system.failed")


def test_a_nested_child_that_cannot_start_is_named_in_the_error(no_thread_leaks):
    probe = Probe()
    inner = SupervisorSpec("shop", [ChildSpec("inventory", Worker, args=(probe,)),
                                    ChildSpec("db", FailsToStart, args=(probe, [1]))])
    with pytest.raises(ServiceStartFailed, match="service 'db' could not start") as info:
        ActorSystem([inner], rng=random.Random(1)).start()
    assert info.value.service == "db"
    assert str(info.value.__cause__) == "cannot connect to the database"


def test_a_start_that_takes_too_long_fails_instead_of_waiting_forever(no_thread_leaks):
    release = threading.Event()

    class Slow(ServiceActor):
        def on_start(self) -> None:
            release.wait(10)

    system = ActorSystem([ChildSpec("slow", Slow, shutdown_timeout=0.2)], start_timeout=0.2)
    began = time.monotonic()
    try:
        with pytest.raises(ServiceStartFailed, match=r"did not finish starting within 0.2s"):
            system.start()
        # start_timeout, then the stuck child's shutdown_timeout while stopping what started
        assert time.monotonic() - began < 0.2 + 0.2 + 1.0
    finally:
        release.set()


def test_start_child_that_cannot_start_raises_and_leaves_the_system_running(events,
                                                                            no_thread_leaks):
    probe = Probe()
    with ActorSystem([ChildSpec("ok", Worker, args=(probe,))], max_restarts=0,
                     rng=random.Random(1)) as system:
        with pytest.raises(ServiceStartFailed) as info:
            system.start_child(ChildSpec("db", FailsToStart, args=(probe, [1])))
        assert info.value.service == "db"
        assert isinstance(info.value.__cause__, RuntimeError)
        with pytest.raises(UnknownService):
            system.service("db")  # taken out again: the name is free
        with pytest.raises(ServiceStartFailed, match="'db'"):
            system.start_child(SupervisorSpec("shop", [ChildSpec("db", FailsInConstructor,
                                                                 args=(probe, [1]))]))
        # max_restarts=0, yet the root did not give up: a failed first start is no restart.
        assert system.running
        db = system.start_child(ChildSpec("db", FailsToStart, args=(probe, [0])))
        assert db.ask("up", timeout=5) == "up"
        assert system.service("ok").ask("fine", timeout=5) == "fine"


def test_start_child_returns_once_the_whole_subtree_has_started(no_thread_leaks):
    started = threading.Event()

    class Marks(ServiceActor):
        def on_start(self) -> None:
            started.set()

        def on_receive(self, message: Any) -> Any:
            return message

    with ActorSystem() as system:
        system.start_child(SupervisorSpec("shop", [ChildSpec("marks", Marks)]))
        assert started.is_set()  # no wait needed: start_child waited for on_start


# -- a stuck handler at exit ---------------------------------------------------------------


def test_leaving_the_block_with_a_stuck_handler_takes_that_childs_shutdown_timeout(
        events, no_thread_leaks):
    probe, gate = Probe(), threading.Event()
    specs = [ChildSpec("stuck", Worker, args=(probe, gate), shutdown_timeout=0.2),
             ChildSpec("fine", Worker, args=(probe,))]
    system = ActorSystem(specs, shutdown_timeout=30.0)
    try:
        with system:
            system.service("stuck").tell("block")
            probe.wait_for("blocked", "stuck")
            left_at = time.monotonic()
        took = time.monotonic() - left_at
        assert took < 0.2 + 1.0, f"leaving the block took {took:.2f}s"
        assert [e["stuck"] for e in named(events, "system.shutdown_incomplete")] == [["stuck"]]
        assert probe.count("stopped", "fine") == 1
    finally:
        gate.set()  # let the abandoned handler return, so its thread ends


# -- system.failed -----------------------------------------------------------------------


def test_failed_is_a_plain_bool_and_wait_failed_waits(no_thread_leaks):
    probe = Probe()
    probe.crashes_left = 10
    with ActorSystem([ChildSpec("w", Worker, args=(probe,))], max_restarts=0,
                     restart_backoff=FAST) as system:
        assert system.failed is False
        assert not system.wait_failed(0)
        assert system.failure is None
        system.service("w").tell("crash")
        assert system.wait_failed(5)
        assert system.failed is True
        assert system.failure is not None
        with pytest.raises(ServiceStopped):
            system.service("w").tell("anything")
