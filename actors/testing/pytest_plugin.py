"""pytest fixtures for embedders: an actor system, captured logs, faults, a fake SMS provider.

Registered through the `pytest11` entry point, so installing stanchion makes
them available in any test suite. It runs in every pytest session of every
environment stanchion is installed in, so it imports nothing at import time
beyond pytest: each fixture imports what it needs when a test uses it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from actors.supervision import ActorSystem, ChildSpec, SupervisorSpec
    from actors.testing import FakeSmsProvider, FaultScript

SystemFactory = Callable[..., "ActorSystem"]


@pytest.fixture
def stanchion_system() -> Iterator[SystemFactory]:
    """Start an `ActorSystem` from specs; every system started is shut down after the test.

    The test fails if a system's actor threads did not all stop.

    Example (in your tests)::

        def test_checkout(stanchion_system):
            system = stanchion_system([ChildSpec("orders", Orders)])
            assert system.service("orders").ask(order) == "accepted"
    """
    from actors.supervision import ActorSystem  # noqa: PLC0415 - imported when the fixture is used

    started: list[ActorSystem] = []

    def start(children: Sequence[ChildSpec | SupervisorSpec] = (), **options: Any) -> ActorSystem:
        system = ActorSystem(children, **options).start()
        started.append(system)
        return system

    before = set(threading.enumerate())
    yield start
    clean = [system.shutdown() for system in reversed(started)]
    leftover = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
    assert all(clean), f"actor threads did not stop: {leftover}"


@pytest.fixture
def stanchion_logs() -> Iterator[list[dict[str, Any]]]:
    """Every structured event written during the test, as it would be written."""
    from actors.core import capture_logs  # noqa: PLC0415 - imported when the fixture is used

    with capture_logs() as events:
        yield events


@pytest.fixture
def stanchion_faults() -> Iterator[Callable[[str], FaultScript]]:
    """Make `FaultScript`s from text ("ok, fail, slow:0.2, hang"); hung calls end at teardown."""
    from actors.testing import FaultScript  # noqa: PLC0415 - imported when the fixture is used

    scripts: list[FaultScript] = []

    def make(text: str = "", *, repeat_last: bool = False) -> FaultScript:
        script = FaultScript.parse(text, repeat_last=repeat_last)
        scripts.append(script)
        return script

    yield make
    for script in scripts:
        script.release()


@pytest.fixture
def fake_sms_provider() -> Iterator[FakeSmsProvider]:
    """A started `FakeSmsProvider` on 127.0.0.1 (seed 0, no faults); stopped after the test.

    Point an `SmsClient` (or a `NotificationService`) at `base_url`, turn its
    knobs (`outage`, `set_latency`, `set_error_rate`, `set_quota`, `reject`)
    during the test, and assert on what it received (`requests`, `delivered`,
    `texts_to`, `counters`).

    Example (in your tests)::

        def test_code_is_texted(fake_sms_provider):
            send_login_code(fake_sms_provider.base_url, "+15551234567")
            [text] = fake_sms_provider.texts_to("+15551234567")
            assert "code" in text.body
    """
    from actors.testing import FakeSmsProvider  # noqa: PLC0415 - an HTTP server: only when used

    provider = FakeSmsProvider(seed=0)
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say so when the `supervisor` package is not stanchion's (supervisord shares the name).

    The tests ran anyway: nothing in stanchion imports `supervisor`. Only code that
    does `from supervisor import ...` fails, and this says why and what to do.
    """
    from actors.testing._install import facade_problem  # noqa: PLC0415 - stdlib only

    problem = facade_problem()
    if problem is not None:
        terminalreporter.write_sep("=", "stanchion: the `supervisor` package is not stanchion's",
                                   yellow=True)
        terminalreporter.write_line(problem)
