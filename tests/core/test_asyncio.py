"""Awaiting actors from asyncio without blocking the event loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from actors import AskTimeout, MailboxFull, ServiceActor
from actors.supervision import ActorSystem, ChildSpec


class Slow(ServiceActor):
    mailbox_size = 2
    ask_timeout = 2.0

    def __init__(self, gate: threading.Event) -> None:
        super().__init__()
        self.gate = gate
        self.entered = threading.Event()

    def on_receive(self, message: str) -> str:
        if message == "wait":
            self.entered.set()
            self.gate.wait(5)
        if message == "fail":
            raise KeyError("no such order")
        return message.upper()


def test_awaiting_does_not_block_the_event_loop():
    gate = threading.Event()

    async def scenario(system: ActorSystem) -> tuple[str, int]:
        ref = system.service("slow")
        ticks = 0
        pending = asyncio.ensure_future(ref.ask_async("wait"))
        while not pending.done():  # the loop keeps running while the actor works
            ticks += 1
            if ticks == 5:
                gate.set()
            await asyncio.sleep(0.001)
        return await pending, ticks

    with ActorSystem([ChildSpec("slow", Slow, args=(gate,))]) as system:
        reply, ticks = asyncio.run(scenario(system))
    assert reply == "WAIT"
    assert ticks >= 5


def test_await_has_the_deadline_and_errors_of_ask():
    gate = threading.Event()

    async def scenario(system: ActorSystem) -> None:
        ref = system.service("slow")
        with pytest.raises(AskTimeout):
            await ref.ask_async("wait", timeout=0.05)
        gate.set()
        with pytest.raises(KeyError, match="no such order"):
            await ref.ask_async("fail")
        assert await ref.ask(" proxy-style ", block=False) == " PROXY-STYLE "
        gate.clear()
        actor = ref._actor_weakref()
        actor.entered.clear()
        ref.tell("wait")
        assert actor.entered.wait(5)
        ref.tell("x")
        ref.tell("y")
        with pytest.raises(MailboxFull):
            await ref.ask_async("z")
        gate.set()

    with ActorSystem([ChildSpec("slow", Slow, args=(gate,))]) as system:
        asyncio.run(scenario(system))
