"""Request-reply: every call has a deadline, and a handler's error goes back to the caller."""

from __future__ import annotations

import math
import threading

import pykka
import pytest

from actors import AskTimeout, ServiceActor


class Slow(ServiceActor):
    ask_timeout = 0.2

    def __init__(self, release: threading.Event) -> None:
        super().__init__()
        self.release = release

    def on_receive(self, message: str) -> str:
        if message == "hang":
            self.release.wait(10)
        if message == "fail":
            raise ValueError("bad request: 'fail' is not a command")
        return message

    def method(self) -> str:
        self.release.wait(10)
        return "done"


@pytest.fixture
def slow():
    release = threading.Event()
    ref = Slow.start(release)
    yield ref, release
    release.set()
    ref.stop(timeout=5)


def test_ask_uses_the_service_default_timeout(slow):
    ref, _ = slow
    with pytest.raises(AskTimeout) as info:
        ref.ask("hang")
    assert info.value.timeout == pytest.approx(0.2)
    assert isinstance(info.value, pykka.Timeout)
    assert "did not reply within 0.2s" in str(info.value)


def test_per_call_timeout_overrides_the_default(slow):
    ref, release = slow
    with pytest.raises(AskTimeout) as info:
        ref.ask("hang", timeout=0.05)
    assert info.value.timeout == pytest.approx(0.05)
    release.set()
    assert ref.ask("ok", timeout=5) == "ok"


def test_proxy_future_get_has_the_default_deadline(slow):
    ref, release = slow
    future = ref.proxy().method()
    with pytest.raises(AskTimeout):
        future.get()
    release.set()
    assert future.get(timeout=math.inf) == "done"  # waiting forever is explicit


def test_handler_exception_returns_to_caller_and_actor_keeps_serving(slow):
    ref, _ = slow
    with pytest.raises(ValueError, match="'fail' is not a command"):
        ref.ask("fail", timeout=5)
    assert ref.ask("still here", timeout=5) == "still here"
    assert ref.is_alive()
