"""ActorSystem lifecycle, lookups, bad input, and shutdown guarantees."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from actors import ConfigError, ServiceActor, ServiceStopped, SystemNotRunning, UnknownService
from actors.retry import RetryPolicy
from actors.supervision import ActorSystem, ChildSpec, RestartIntensity, SupervisorSpec
from tests.conftest import named
from tests.supervision.supervision_helpers import Probe, Worker

ROOT = Path(__file__).resolve().parents[2]


def test_shutdown_stops_in_reverse_start_order_and_leaves_no_threads(events, no_thread_leaks):
    probe = Probe()
    tree = [
        ChildSpec("db", Worker, args=(probe,)),
        SupervisorSpec("shop", [ChildSpec("orders", Worker, args=(probe,)),
                                ChildSpec("payments", Worker, args=(probe,), pool_size=2)]),
        ChildSpec("web", Worker, args=(probe,)),
    ]
    with ActorSystem(tree) as system:
        assert system.service("payments").ask("ready") == "ready"
        probe.wait_for("started", "web")
    stops = [name for kind, name in probe.log if kind == "stopped"]
    assert stops == ["web", "payments", "payments", "orders", "db"]
    assert named(events, "system.stopped")[0]["clean"] is True


def test_unknown_name_and_stopped_system_give_typed_errors():
    probe = Probe()
    system = ActorSystem([ChildSpec("a", Worker, args=(probe,))])
    with pytest.raises(SystemNotRunning, match="use it inside"):
        system.service("a")
    with system:
        with pytest.raises(UnknownService, match=r"no service named 'b' .*known: a, root"):
            system.service("b")
        ref = system.service("a")
    with pytest.raises(ServiceStopped, match="look the service up again"):
        ref.tell("late")
    with pytest.raises(SystemNotRunning):
        system.service("a")
    with pytest.raises(SystemNotRunning, match="create a new ActorSystem"):
        system.start()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ChildSpec("a", Worker, pool_size=0), "pool_size=0"),
        (lambda: ChildSpec("a", Worker, mailbox_size=-1), "mailbox_size=-1"),
        (lambda: ChildSpec("a", Worker, ask_timeout=0), "ask_timeout=0"),
        (lambda: ChildSpec("", Worker), "name=''"),
        (lambda: ChildSpec("a", object), "actor_class="),  # type: ignore[arg-type]
        (lambda: ChildSpec("a", Worker, restart="sometimes"), "restart='sometimes'"),
        (lambda: SupervisorSpec("s", [], strategy="one_for_some"), "strategy='one_for_some'"),
        (lambda: SupervisorSpec("s", [], max_restarts=-1), "max_restarts=-1"),
        (lambda: SupervisorSpec("s", [], within_seconds=0), "within_seconds=0"),
        (lambda: ActorSystem([ChildSpec("a", Worker), ChildSpec("a", Worker)]), "unique"),
        (
            lambda: ActorSystem([ChildSpec("a", Worker),
                                 SupervisorSpec("s", [ChildSpec("a", Worker)])]),
            "unique across the whole tree",
        ),
        (lambda: RetryPolicy(base_delay=-1), "base_delay=-1"),
    ],
)
def test_bad_configuration_is_a_typed_error_naming_the_field(make, message):
    with pytest.raises(ConfigError, match="invalid: expected") as info:
        make()
    assert message in str(info.value)


def test_start_child_with_a_per_start_mailbox_size_and_stop_it_for_good(no_thread_leaks):
    probe = Probe()
    with ActorSystem([SupervisorSpec("workers", [])]) as system:
        ref = system.start_child(ChildSpec("late", Worker, args=(probe,), mailbox_size=7),
                                 parent="workers")
        assert ref.ask("hi") == "hi"
        assert ref.stats().capacity == 7
        with pytest.raises(ConfigError, match="not already used"):
            system.start_child(ChildSpec("late", Worker, args=(probe,)))
        assert ref.stop(timeout=5) is True
        with pytest.raises(ServiceStopped):
            ref.tell("after stop")
        assert [c.terminated for c in system.which_children("workers")] == [True]


def test_shutdown_does_not_wait_forever_for_a_stuck_handler(events):
    gate = threading.Event()
    probe = Probe()
    spec = ChildSpec("stuck", Worker, args=(probe, gate), shutdown_timeout=0.2)
    system = ActorSystem([spec], shutdown_timeout=1.0)
    with system:
        system.service("stuck").tell("block")
        probe.wait_for("blocked", "stuck")
    assert named(events, "system.shutdown_incomplete")[0]["stuck"] == ["stuck"]
    gate.set()  # let the abandoned thread finish so it does not outlive the test


def test_a_process_with_a_stuck_actor_still_exits(tmp_path):
    script = tmp_path / "stuck.py"
    script.write_text(textwrap.dedent("""
        import threading
        from actors import ServiceActor
        from actors.supervision import ActorSystem, ChildSpec

        class Stuck(ServiceActor):
            def on_receive(self, message):
                threading.Event().wait()  # never returns

        system = ActorSystem([ChildSpec("stuck", Stuck, shutdown_timeout=0.2)],
                             shutdown_timeout=0.5)
        system.start()
        system.service("stuck").tell("go")
        print("exiting", flush=True)
    """))
    result = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True,
                            text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert "exiting" in result.stdout


def test_restart_intensity_counts_restarts_in_a_sliding_window():
    intensity = RestartIntensity(max_restarts=3, within_seconds=5.0)
    assert [intensity.allow(t) for t in (0.0, 1.0, 2.0)] == [True, True, True]
    assert intensity.allow(3.0) is False
    assert intensity.recent(6.5) == 2  # 0.0 and 1.0 have left the window ending at 6.5
    assert RestartIntensity(0, 1.0).allow(0.0) is False


def test_restart_backoff_grows_exponentially_with_jitter():
    policy = RetryPolicy(max_attempts=None, base_delay=0.01, max_delay=2.0, jitter="equal")
    rng = random.Random(7)
    caps = [policy.cap(n) for n in range(1, 10)]
    assert caps[:4] == [0.01, 0.02, 0.04, 0.08]
    assert caps[-1] == 2.0
    delays = [policy.delay(n, rng) for n in range(1, 10)]
    assert all(cap / 2 <= d <= cap for d, cap in zip(delays, caps, strict=True))
    assert len(set(delays)) == len(delays)  # jittered, not fixed
    assert RetryPolicy(base_delay=1.0, max_delay=5.0).cap(10_000) == 5.0  # no overflow


def test_standalone_actor_owns_its_mailbox():
    class Solo(ServiceActor):
        mailbox_size = 3

        def on_receive(self, message):
            return message * 2

    ref = Solo.start()
    assert ref.ask(21, timeout=5) == 42
    assert ref.actor_inbox.stats().capacity == 3
    assert ref.stop(timeout=5) is True


def test_tell_by_name_dead_letters_what_cannot_be_delivered():
    probe = Probe()
    system = ActorSystem([ChildSpec("a", Worker, args=(probe,))])
    with system:
        system.tell("a", "hello")
        probe.wait_for("handled", "a:hello")
        with pytest.raises(UnknownService):
            system.tell("nobody", {"order": 1})
        system.service("a").stop()
        with pytest.raises(ServiceStopped):
            system.tell("a", "too late")
        letters = [(d.service, d.reason, d.message) for d in system.dead_letters.list()]
    assert ("nobody", "unknown_service", {"order": 1}) in letters
    assert ("a", "stopped", "too late") in letters
