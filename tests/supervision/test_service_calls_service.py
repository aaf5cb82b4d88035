"""One service calling another: `ServiceActor.service(name)` gives the peer's stable ref."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from actors import ConfigError, ServiceActor, ServiceStopped, UnknownService
from actors.supervision import ActorSystem, ChildSpec, SupervisorSpec


class Payments(ServiceActor):
    def __init__(self, started: threading.Semaphore | None = None) -> None:
        super().__init__()
        self.started = started

    def on_start(self) -> None:
        if self.started is not None:
            self.started.release()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, list):  # a crash once: the redelivered message is handled
            if not message:
                message.append("crashed")
                raise RuntimeError("payments crashed (scripted)")
            return "redelivered"
        return f"charged {message}"


class Orders(ServiceActor):
    """Looks its peer up once, in on_start, and calls it per order."""

    def on_start(self) -> None:
        self.payments = self.service("payments")

    def on_receive(self, message: Any) -> Any:
        return self.payments.ask(message, timeout=5)


def test_a_service_asks_another_through_the_ref_it_looked_up(no_thread_leaks):
    tree = [SupervisorSpec("shop", [ChildSpec("payments", Payments)]),
            ChildSpec("orders", Orders, pool_size=2)]
    with ActorSystem(tree, rng=random.Random(1)) as system:
        orders = system.service("orders")
        assert orders.ask(25, timeout=5) == "charged 25"
        assert orders.ask(30, timeout=5) == "charged 30"  # the other pool member too


def test_the_ref_stays_valid_across_the_peers_restart(no_thread_leaks):
    started = threading.Semaphore(0)
    with ActorSystem([ChildSpec("payments", Payments, args=(started,)),
                      ChildSpec("orders", Orders)], rng=random.Random(1)) as system:
        assert started.acquire(timeout=5)
        payments = system.service("payments")
        payments.tell([])  # a told message that raises crashes the service: a restart
        assert started.acquire(timeout=5)  # the new incarnation is up
        # Orders looked the ref up once, before the crash: its mailbox outlives incarnations.
        assert system.service("orders").ask(7, timeout=5) == "charged 7"
        assert payments.restarts == 1


def test_a_peer_that_does_not_exist_is_named_with_the_known_ones(no_thread_leaks):
    class Lost(ServiceActor):
        def on_receive(self, message: Any) -> Any:
            return self.service(message)

    with (ActorSystem([ChildSpec("lost", Lost)]) as system,
          pytest.raises(UnknownService, match=r"no service named 'nobody' .*known: lost")):
        system.service("lost").ask("nobody", timeout=5)


def test_started_alone_it_says_there_is_no_system():
    class Alone(ServiceActor):
        def on_receive(self, message: Any) -> Any:
            return self.service(message)

    ref = Alone.start()
    try:
        with pytest.raises(UnknownService, match="'Alone' was started alone, outside an "
                           "ActorSystem, so it has no peers"):
            ref.ask("payments", timeout=5)
    finally:
        ref.stop()


@pytest.mark.parametrize("name", [None, 5, ["payments"], {"a": 1}])
def test_a_peer_name_that_is_not_a_string_is_refused_with_config_error(no_thread_leaks, name):
    class Asks(ServiceActor):
        def on_receive(self, message: Any) -> Any:
            return self.service(message)

    with (ActorSystem([ChildSpec("asks", Asks)]) as system,
          pytest.raises(ConfigError, match="expected a service name")):
        system.service("asks").ask(name, timeout=5)


def test_a_peer_name_with_a_lone_surrogate_is_just_unknown(no_thread_leaks):
    class Asks(ServiceActor):
        def on_receive(self, message: Any) -> Any:
            return self.service(message)

    with (ActorSystem([ChildSpec("asks", Asks)]) as system,
          pytest.raises(UnknownService, match="no service named")):
        system.service("asks").ask("pay\ud800", timeout=5)


def test_after_the_system_stops_a_looked_up_peer_refuses_with_service_stopped():
    class Peer(ServiceActor):
        def on_receive(self, message: Any) -> Any:
            return self.service("peer") if message == "self-ref" else message

    system = ActorSystem([ChildSpec("peer", Peer)])
    with system:
        ref = system.service("peer").ask("self-ref", timeout=5)
    with pytest.raises(ServiceStopped):
        ref.ask("hello", timeout=5)


def test_an_unknown_service_error_quotes_a_huge_name_bounded() -> None:
    error = UnknownService("x" * 100_000, ["payments"])
    assert len(str(error)) < 1_000
    assert error.name == "x" * 100_000  # the field keeps the whole name
