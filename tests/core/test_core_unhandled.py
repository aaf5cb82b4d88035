"""A service without `on_receive` says so, instead of answering `None`."""

from __future__ import annotations

from typing import Any

import pytest

from actors import ServiceActor, UnhandledMessage
from actors.supervision import ActorSystem, ChildSpec


class ProxyOnly(ServiceActor):
    """Meant to be used through proxy(); it defines no on_receive."""

    def total(self, a: int, b: int) -> int:
        return a + b


class Partial(ServiceActor):
    def on_receive(self, message: Any) -> Any:
        if message == "known":
            return "handled"
        return super().on_receive(message)


def test_an_ask_gets_a_typed_error_naming_the_service_and_what_to_do(no_thread_leaks):
    with ActorSystem([ChildSpec("calc", ProxyOnly)]) as system:
        calc = system.service("calc")
        with pytest.raises(UnhandledMessage) as info:
            calc.ask({"op": "total"}, timeout=5)
        assert "service 'calc' (ProxyOnly) has no handler for a dict message" in str(info.value)
        assert "define on_receive" in str(info.value)
        assert calc.proxy().total(2, 3).get(timeout=5) == 5  # the proxy path still works


def test_a_tell_is_dead_lettered_with_a_clear_reason_and_the_service_keeps_running(
        events, no_thread_leaks):
    with ActorSystem([ChildSpec("p", Partial)]) as system:
        ref = system.service("p")
        ref.tell("unknown")
        assert system.dead_letters.wait_for(service="p", reason="unhandled", timeout=5)
        assert ref.ask("known", timeout=5) == "handled"
        assert ref.restarts == 0  # not a crash
        letter = system.dead_letters.list(service="p", reason="unhandled")[0]
        assert letter.message == "unknown"
        assert "has no handler for a str message" in (letter.error or "")
    dead = [e for e in events if e.get("event") == "message.dead_lettered"
            and e.get("reason") == "unhandled"]
    assert len(dead) == 1
    assert not [e for e in events if e.get("event") == "actor.crashed"]


def test_started_alone_an_ask_is_refused_the_same_way():
    ref = ProxyOnly.start()
    try:
        with pytest.raises(UnhandledMessage):
            ref.ask("hello", timeout=5)
    finally:
        ref.stop()
