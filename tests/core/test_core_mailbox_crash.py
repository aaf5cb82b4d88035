"""The mailbox's crash path cannot fail, lose or reorder tells, whatever senders do meanwhile."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest
from pykka._envelope import Envelope

from actors import MailboxFull, ServiceActor, ServiceCrashed
from actors.core._deadletters import DeadLetterStore
from actors.core._future import ReplyFuture
from actors.core._mailbox import Mailbox
from actors.retry import RetryPolicy
from actors.supervision import ActorSystem, ChildSpec
from tests.conftest import named

FAST = RetryPolicy(max_attempts=None, base_delay=0.0, max_delay=0.0, jitter="none")


class Recorder(ServiceActor):
    """Blocks on "block_then_crash" until released, then crashes (only the first time)."""

    def __init__(self, handled: list[Any], entered: threading.Event,
                 release: threading.Event, done: threading.Event, crashed: list[bool]) -> None:
        super().__init__()
        self.handled = handled
        self.entered = entered
        self.release = release
        self.done = done
        self.crashed = crashed

    def on_receive(self, message: Any) -> Any:
        if message == "block_then_crash":
            self.entered.set()
            self.release.wait(10)
            if not self.crashed:
                self.crashed.append(True)
                raise RuntimeError("crashed with messages queued")
        self.handled.append(message)
        if message == "last":
            self.done.set()
        return message


def test_a_sender_taking_freed_places_during_the_crash_path_cannot_break_it(events,
                                                                           no_thread_leaks):
    handled: list[Any] = []
    entered, release, done = threading.Event(), threading.Event(), threading.Event()
    spec = ChildSpec("w", Recorder, args=(handled, entered, release, done, []),
                     mailbox_size=8, ask_timeout=30.0)
    with ActorSystem([spec], restart_backoff=FAST, rng=random.Random(1)) as system:
        ref = system.service("w")
        mailbox: Mailbox = ref._mailbox
        ref.tell("block_then_crash")
        assert entered.wait(5)
        for n in range(5):
            ref.tell(f"t{n}")
        pending_ask = ref.ask("q", block=False)

        # Force the interleaving: right after the crash path has drained the work
        # queue, another thread takes every place that is free at that moment.
        drain = mailbox._drain_work
        raced: list[str] = []

        def drain_then_race(*args: Any, **kwargs: Any) -> Any:
            items = drain(*args, **kwargs)
            if not raced:
                free = mailbox._slots.qsize()

                def sender() -> None:
                    for n in range(free):
                        ref.tell(f"late{n}")
                        raced.append(f"late{n}")

                racer = threading.Thread(target=sender)
                racer.start()
                racer.join(5)
            return items

        mailbox._drain_work = drain_then_race  # type: ignore[method-assign]
        release.set()  # the handler crashes with 5 tells and 1 ask queued

        with pytest.raises(ServiceCrashed):
            pending_ask.get(timeout=5)
        assert raced  # the race happened
        ref.tell("last")
        assert done.wait(5), f"handled so far: {handled}"
        # Nothing lost, nothing reordered: the crashed message first (redelivered),
        # then the queued tells, then what was sent during the crash path.
        assert handled == ["block_then_crash", "t0", "t1", "t2", "t3", "t4", *raced, "last"]
        assert ref.stats().depth == 0
        assert ref.ask("still served", timeout=5) == "still served"
    assert not named(events, "runtime.fault")


def _item(message: Any, *, ask: bool = False) -> Envelope[Any]:
    return Envelope(message, reply_to=ReplyFuture(1.0, "m") if ask else None)


def test_tells_kept_after_a_crash_hold_their_places_so_the_bound_stays_exact():
    mailbox = Mailbox("m", 4, DeadLetterStore())
    for n in range(3):
        mailbox.put(_item(f"t{n}"))
    ask = _item("q", ask=True)
    mailbox.put(ask)
    assert mailbox.stats().depth == 4

    assert mailbox.fail_pending_asks(RuntimeError("crash")) == 1
    assert ask.reply_to is not None
    assert ask.reply_to.done()
    assert mailbox.stats().depth == 3  # the three tells still count, the ask is gone
    mailbox.put(_item("after"))  # the ask's place is free again
    with pytest.raises(MailboxFull):
        mailbox.put(_item("one too many"))  # the kept tells still hold theirs

    taken = [mailbox.take()[0].message for _ in range(4)]
    assert taken == ["t0", "t1", "t2", "after"]
    assert mailbox.stats().depth == 0
    assert mailbox.empty()


def test_closing_after_a_crash_dead_letters_the_kept_tells_and_frees_their_places():
    store = DeadLetterStore()
    mailbox = Mailbox("m", 2, store)
    mailbox.put(_item("t0"))
    mailbox.put(_item("t1"))
    mailbox.fail_pending_asks(RuntimeError("crash"))
    assert mailbox.close() == 2
    assert [letter.message for letter in store.list()] == ["t0", "t1"]
    assert mailbox.stats().depth == 0


def test_mailbox_full_is_not_chained_to_the_internal_queue_error():
    mailbox = Mailbox("m", 1, DeadLetterStore())
    mailbox.put(_item("fills it"))
    with pytest.raises(MailboxFull) as info:
        mailbox.put(_item("rejected"))
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
