"""Supervisor strategies and restart types, observed through actor lifecycle events."""

from __future__ import annotations

import pytest

from actors import ServiceStopped
from actors.retry import RetryPolicy
from actors.supervision import ActorSystem, ChildSpec, RestartType, Strategy
from tests.supervision.supervision_helpers import Probe, Worker

FAST = RetryPolicy(max_attempts=None, base_delay=0.0, max_delay=0.0, jitter="none")


def three_workers(probe: Probe, strategy: Strategy) -> ActorSystem:
    return ActorSystem(
        [ChildSpec(name, Worker, args=(probe,)) for name in ("a", "b", "c")],
        strategy=strategy, restart_backoff=FAST, max_restarts=10,
    )


def test_one_for_one_restarts_only_the_crashed_child(no_thread_leaks):
    probe = Probe()
    with three_workers(probe, Strategy.ONE_FOR_ONE) as system:
        for name in "abc":
            probe.wait_for("started", name)
        system.service("b").tell("crash")
        probe.wait_for("started", "b", 2)
        assert system.service("b").ask("ping") == "ping"
        assert [probe.count("started", n) for n in "abc"] == [1, 2, 1]
        assert system.service("b").restarts == 1


def test_one_for_all_restarts_every_child_in_order(no_thread_leaks):
    probe = Probe()
    with three_workers(probe, Strategy.ONE_FOR_ALL) as system:
        for name in "abc":
            probe.wait_for("started", name)
        system.service("b").tell("crash")
        probe.wait_for("started", "c", 2)  # a, b, c restart in start order
        for name in "abc":
            assert system.service(name).ask("ping") == "ping"
        assert [probe.count("started", n) for n in "abc"] == [2, 2, 2]
        # The survivors were stopped in reverse start order before the restart.
        stops = [name for kind, name in probe.log if kind == "stopped"]
        assert stops == ["c", "a"]
        restarted = [name for kind, name in probe.log if kind == "started"][3:]
        assert restarted == ["a", "b", "c"]


def test_rest_for_one_restarts_the_child_and_those_after_it(no_thread_leaks):
    probe = Probe()
    with three_workers(probe, Strategy.REST_FOR_ONE) as system:
        for name in "abc":
            probe.wait_for("started", name)
        system.service("b").tell("crash")
        probe.wait_for("started", "c", 2)
        assert system.service("c").ask("ping") == "ping"
        assert [probe.count("started", n) for n in "abc"] == [1, 2, 2]


@pytest.mark.parametrize(
    ("restart", "message", "restarted"),
    [
        (RestartType.PERMANENT, "crash", True),
        (RestartType.PERMANENT, "stop_self", True),
        (RestartType.TRANSIENT, "crash", True),
        (RestartType.TRANSIENT, "stop_self", False),
        (RestartType.TEMPORARY, "crash", False),
        (RestartType.TEMPORARY, "stop_self", False),
    ],
)
def test_restart_types(restart, message, restarted, events, no_thread_leaks):
    probe = Probe()
    spec = ChildSpec("w", Worker, args=(probe,), restart=restart)
    with ActorSystem([spec], restart_backoff=FAST) as system:
        probe.wait_for("started", "w")
        ref = system.service("w")
        ref.tell(message)
        if restarted:
            probe.wait_for("started", "w", 2)
            assert ref.ask("ping") == "ping"
        else:
            assert ref.actor_stopped.wait(5), "the service should be terminated for good"
            with pytest.raises(ServiceStopped):
                ref.tell("ping")
            assert probe.count("started", "w") == 1
            assert [c.terminated for c in system.which_children()] == [True]
