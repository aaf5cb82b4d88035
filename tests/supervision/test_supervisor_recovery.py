"""Crash recovery: nothing lost, clear errors, poison messages, intensity, nesting."""

from __future__ import annotations

import threading

import pytest

from actors import AskTimeout, ServiceCrashed
from actors.retry import RetryPolicy
from actors.supervision import ActorSystem, ChildSpec, SupervisorGaveUp, SupervisorSpec
from tests.conftest import named
from tests.supervision.supervision_helpers import FailsInConstructor, FailsToStart, Probe, Worker

FAST = RetryPolicy(max_attempts=None, base_delay=0.0, max_delay=0.0, jitter="none")


def test_pending_tells_move_to_the_new_incarnation_and_asks_fail_at_once(no_thread_leaks):
    probe, gate = Probe(), threading.Event()
    spec = ChildSpec("w", Worker, args=(probe, gate), ask_timeout=30.0)
    with ActorSystem([spec], restart_backoff=FAST) as system:
        ref = system.service("w")
        probe.crashes_left = 0
        ref.tell("block_then_crash")
        probe.wait_for("blocked", "w")
        for n in range(5):
            ref.tell(f"t{n}")
        pending_ask = ref.ask("q", block=False)
        gate.set()  # the handler now raises: the actor crashes with 5 tells and 1 ask queued
        with pytest.raises(ServiceCrashed, match=r"crashed .* before handling this request"):
            pending_ask.get(timeout=5)  # well before the 30 s ask timeout
        probe.wait_for("handled", "w:t4")
        handled = [m for _, m in probe.handled]
        assert handled[:5] == ["t0", "t1", "t2", "t3", "t4"]


def test_a_message_that_keeps_crashing_goes_to_dead_letters(events, no_thread_leaks):
    probe = Probe()
    probe.crashes_left = 100
    with ActorSystem([ChildSpec("w", Worker, args=(probe,))], restart_backoff=FAST) as system:
        ref = system.service("w")
        ref.tell("crash")
        probe.wait_for("started", "w", 4)  # first start + 3 restarts
        assert ref.ask("after", timeout=5) == "after"
        poison = system.dead_letters.list(service="w", reason="poison")
        assert [letter.message for letter in poison] == ["crash"]
        assert "told to crash" in (poison[0].error or "")
    assert len(named(events, "actor.crashed")) == 3
    assert named(events, "message.dead_lettered")[0]["reason"] == "poison"


def test_send_during_restart_reaches_the_new_incarnation(no_thread_leaks):
    probe = Probe()
    slow_restart = RetryPolicy(max_attempts=None, base_delay=0.3, max_delay=0.3, jitter="none")
    with ActorSystem([ChildSpec("w", Worker, args=(probe,))],
                     restart_backoff=slow_restart) as system:
        ref = system.service("w")  # looked up once, kept across the restart
        first = ref._actor_weakref()
        ref.tell("crash")
        assert first.join(5)  # the first incarnation is gone; the restart waits 0.3 s
        assert probe.count("started", "w") == 1
        assert ref.ask("during", timeout=5) == "during"
        assert probe.count("started", "w") == 2


def test_failure_in_on_start_after_a_crash_is_detected_and_restarted(events, no_thread_leaks):
    probe, failures = Probe(), [0]
    spec = ChildSpec("db", FailsToStart, args=(probe, failures))
    with ActorSystem([spec], restart_backoff=FAST, max_restarts=5) as system:
        probe.wait_for("started", "db")
        failures[0] = 2  # the next two starts fail (a first start must succeed)
        system.service("db").tell("crash")
        probe.wait_for("started", "db", 2)
        assert system.service("db").ask("ok") == "ok"
    assert probe.count("start_failed", "db") == 2
    assert len(named(events, "actor.start_failed")) == 2


def test_failure_in_the_constructor_after_a_crash_is_detected_and_restarted(no_thread_leaks):
    probe, failures = Probe(), [0]
    spec = ChildSpec("ctor", FailsInConstructor, args=(probe, failures))
    with ActorSystem([spec], restart_backoff=FAST) as system:
        probe.wait_for("started", "ctor")
        failures[0] = 1
        system.service("ctor").tell("crash")
        probe.wait_for("started", "ctor", 2)
    assert probe.count("constructor_failed", "ctor") == 1


def test_intensity_exceeded_fails_to_the_parent_which_restarts_the_subtree(events,
                                                                           no_thread_leaks):
    probe = Probe()
    inner = SupervisorSpec("inner", [ChildSpec("w", Worker, args=(probe,)),
                                     ChildSpec("peer", Worker, args=(probe,))],
                           max_restarts=2, within_seconds=60, restart_backoff=FAST)
    with ActorSystem([inner], restart_backoff=FAST, max_restarts=5) as system:
        ref = system.service("w")
        for n in range(3):
            ref.tell(("crash_once", n))  # three different crashes: the third exceeds 2 in 60 s
        probe.wait_for("started", "peer", 2)  # the parent restarted inner, and inner its children
        assert ref.ask("alive", timeout=5) == "alive"
    gave_up = named(events, "supervisor.gave_up")
    assert len(gave_up) == 1
    assert gave_up[0]["supervisor"] == "inner"
    assert "more than 2 restarts within 60s" in gave_up[0]["error"]
    exited = [e for e in named(events, "supervisor.child_exited") if e["child"] == "inner"]
    assert exited
    assert "SupervisorGaveUp" in exited[0]["reason"]


def test_root_giving_up_fails_the_system(no_thread_leaks):
    probe = Probe()
    probe.crashes_left = 10
    system = ActorSystem([ChildSpec("w", Worker, args=(probe,))], max_restarts=0,
                         restart_backoff=FAST)
    with system:
        system.service("w").tell("crash")
        assert system.wait_failed(5)
        assert system.failed
        assert isinstance(system.failure, SupervisorGaveUp)
        assert not system.running
        with pytest.raises(Exception, match="stopped"):
            system.service("w").tell("anything")


class Slowpoke(Worker):
    pass


def test_pool_serves_one_name_with_n_actors_and_a_shared_bound(no_thread_leaks):
    probe = Probe()
    barrier = threading.Barrier(3, timeout=5)

    class Pooled(Worker):
        def on_receive(self, message):
            if message == "meet":
                barrier.wait()  # only passes if 3 members handle messages at the same time
                return "met"
            return super().on_receive(message)

    spec = ChildSpec("pool", Pooled, args=(probe,), pool_size=3, mailbox_size=10)
    with ActorSystem([spec]) as system:
        pool = system.service("pool")
        futures = [pool.ask("meet", block=False) for _ in range(3)]
        assert [f.get(timeout=5) for f in futures] == ["met"] * 3
        stats = pool.stats()
        assert (stats.capacity, stats.consumers) == (10, 3)


def test_pool_member_crash_restarts_only_that_member(no_thread_leaks):
    probe = Probe()
    spec = ChildSpec("pool", Worker, args=(probe,), pool_size=3)
    with ActorSystem([spec], restart_backoff=FAST) as system:
        probe.wait_for("started", "pool", 3)
        system.service("pool").tell("crash")
        probe.wait_for("started", "pool", 4)
        assert probe.count("stopped", "pool") == 0  # the other members kept running
        assert system.service("pool").ask("x") == "x"


def test_asks_to_a_hung_service_time_out_without_blocking_other_services(no_thread_leaks):
    probe, gate = Probe(), threading.Event()
    specs = [ChildSpec("hung", Worker, args=(probe, gate), ask_timeout=0.1, mailbox_size=2),
             ChildSpec("healthy", Worker, args=(probe,))]
    with ActorSystem(specs, shutdown_timeout=5) as system:
        system.service("hung").tell("block")
        probe.wait_for("blocked", "hung")
        with pytest.raises(AskTimeout):
            system.service("hung").ask("x")
        assert system.service("healthy").ask("y", timeout=1) == "y"
        gate.set()
