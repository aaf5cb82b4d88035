"""With the defaults, one poison message never stops a sibling or the system."""

from __future__ import annotations

import random

from actors.supervision import ActorSystem, ChildSpec
from tests.conftest import named
from tests.supervision.supervision_helpers import Probe, Worker


def test_a_poison_message_and_an_unrelated_crash_leave_the_system_running(events,
                                                                          no_thread_leaks):
    probe = Probe()
    probe.crashes_left = 100  # "crash" is poison: it crashes every incarnation it reaches
    specs = [ChildSpec("a", Worker, args=(probe,)), ChildSpec("b", Worker, args=(probe,))]
    # Default intensity (3 restarts in 5 s), backoff and max_message_crashes (3).
    with ActorSystem(specs, rng=random.Random(7)) as system:
        a, b = system.service("a"), system.service("b")
        a.tell("crash")
        assert system.dead_letters.wait_for(service="a", reason="poison", timeout=5)
        b.tell(("crash_once", "b"))  # one unrelated crash, well inside the 5 s window
        probe.wait_for("started", "b", 2)
        assert a.ask("still here", timeout=5) == "still here"
        assert b.ask("still here", timeout=5) == "still here"
        assert system.running
        assert not system.failed
        assert (a.restarts, b.restarts) == (3, 1)
    assert not named(events, "supervisor.gave_up")
    scheduled = named(events, "supervisor.restart_scheduled")
    assert [(e["child"], e["counted"]) for e in scheduled] == [
        ("a", True), ("a", False), ("a", False), ("b", True)]


def test_distinct_crashes_still_exhaust_the_intensity(no_thread_leaks):
    probe = Probe()
    with ActorSystem([ChildSpec("a", Worker, args=(probe,))], max_restarts=2,
                     rng=random.Random(7)) as system:
        a = system.service("a")
        for n in range(3):
            a.tell(("crash_once", n))
        assert system.wait_failed(5)
