"""The bounded mailbox: rejection at once, control bypass, counters, a multi-thread burst."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pykka
import pytest
from pykka._envelope import Envelope

from actors import ConfigError, MailboxFull, ServiceActor, ServiceStopped
from actors.core._deadletters import default_dead_letters
from actors.core._mailbox import REJECTION_LOG_INTERVAL
from tests.conftest import named


class Gate(ServiceActor):
    """Blocks in its first handler until released, so its mailbox fills deterministically."""

    mailbox_size = 4

    def __init__(self, entered: threading.Event, release: threading.Event) -> None:
        super().__init__()
        self.entered = entered
        self.release = release
        self.seen: list[object] = []
        self.drained = threading.Event()

    def on_receive(self, message: object) -> object:
        if message == "block":
            self.entered.set()
            self.release.wait(10)
        self.seen.append(message)
        if message == "last":
            self.drained.set()
        return message

    def hello(self) -> str:
        return "hello"


@pytest.fixture
def gate():
    entered, release = threading.Event(), threading.Event()
    ref = Gate.start(entered, release)
    ref.tell("block")
    assert entered.wait(5)
    yield ref, release
    release.set()
    ref.stop(timeout=5)


def test_full_mailbox_rejects_tell_ask_and_proxy_at_once(gate, events):
    ref, _ = gate
    for i in range(4):
        ref.tell(i)
    started = time.perf_counter()
    with pytest.raises(MailboxFull) as info:
        ref.tell("overflow")
    with pytest.raises(MailboxFull):
        ref.ask("overflow", timeout=5)
    with pytest.raises(MailboxFull):
        ref.proxy().hello()
    # Three rejections while the actor is blocked: none of them waited for it.
    assert time.perf_counter() - started < 0.5
    assert info.value.capacity == 4
    assert info.value.depth == 4
    assert "run a fallback or retry later" in str(info.value)
    # One line for the burst (the first refusal); the rest are counted, not repeated.
    [rejected] = named(events, "mailbox.rejected")
    assert rejected["service"] == "Gate"
    assert rejected["depth"] == 4
    assert (rejected["count"], rejected["total"]) == (1, 1)


def test_repeated_refusals_are_logged_as_counts_not_one_line_each(gate, events, monkeypatch):
    ref, _ = gate
    for i in range(4):
        ref.tell(i)
    for _ in range(100):
        with pytest.raises(MailboxFull):
            ref.tell("overflow")
    assert [(e["count"], e["total"]) for e in named(events, "mailbox.rejected")] == [(1, 1)]
    later = time.monotonic() + 2 * REJECTION_LOG_INTERVAL
    monkeypatch.setattr("actors.core._mailbox._now", lambda: later)
    with pytest.raises(MailboxFull):
        ref.tell("overflow")  # the next line, once the interval is over, counts the rest
    with pytest.raises(MailboxFull):
        ref.tell("overflow")  # within the next interval: counted
    assert [(e["count"], e["total"]) for e in named(events, "mailbox.rejected")] == [
        (1, 1), (100, 101)]
    assert ref.actor_inbox.stats().rejected == 102


def test_refusals_not_logged_yet_are_logged_when_the_mailbox_closes(gate, events):
    ref, release = gate
    for i in range(4):
        ref.tell(i)
    for _ in range(10):
        with pytest.raises(MailboxFull):
            ref.tell("overflow")
    release.set()
    ref.stop(timeout=5)
    assert [(e["count"], e["total"]) for e in named(events, "mailbox.rejected")] == [
        (1, 1), (9, 10)]


def test_stats_are_read_without_a_round_trip(gate):
    ref, release = gate
    for message in (0, 1, 2, "last"):
        ref.tell(message)
    with pytest.raises(MailboxFull):
        ref.tell(99)
    stats = ref.actor_inbox.stats()  # the actor is blocked: a round trip would hang
    assert (stats.depth, stats.capacity, stats.rejected) == (4, 4, 1)
    release.set()
    assert ref._actor_weakref().drained.wait(5)
    assert ref.ask("sync", timeout=5) == "sync"
    after = ref.actor_inbox.stats()
    assert after.depth == 0
    assert after.processed >= 5  # block, 0, 1, 2, last (+ the ask once its reply is sent)


def test_stop_gets_in_when_full_and_does_not_wait_for_the_backlog(gate):
    ref, release = gate
    for i in range(4):
        ref.tell(i)
    future = ref.stop(block=False)
    release.set()
    assert future.get(timeout=5) is True
    actor = ref._actor_weakref()
    # Stop jumped the queue: the queued work was not handled first.
    assert actor is None or actor.seen == ["block"]


def test_stopped_actor_dead_letters_its_queued_tells(gate):
    ref, release = gate
    actor = ref._actor_weakref()
    before = default_dead_letters().total
    ref.tell("a")
    ref.tell("b")
    ref.stop(block=False)
    release.set()
    assert actor.join(5)
    letters = default_dead_letters().list(service="Gate")[-2:]
    assert default_dead_letters().total - before == 2
    assert [d.message for d in letters] == ["a", "b"]
    assert {d.reason for d in letters} == {"stopped"}
    with pytest.raises(pykka.ActorDeadError):  # ServiceStopped is one too
        ref.tell("late")
    with pytest.raises(ServiceStopped):
        ref.actor_inbox.put(Envelope("late"))


class Collector(ServiceActor):
    mailbox_size = 8

    def __init__(self) -> None:
        super().__init__()
        self.handled: Counter[tuple[int, int]] = Counter()
        self.cond = threading.Condition()

    def on_receive(self, message: tuple[int, int]) -> None:
        with self.cond:
            self.handled[message] += 1
            self.cond.notify_all()

    def wait_handled(self, total: int, timeout: float) -> Counter[tuple[int, int]]:
        """Called from the test thread: wait until `total` messages were handled."""
        with self.cond:
            self.cond.wait_for(lambda: sum(self.handled.values()) >= total, timeout)
            return Counter(self.handled)


def test_sixteen_thread_burst_against_a_small_mailbox():
    ref = Collector.start()
    sent_per_thread = 2_000
    accepted: list[list[tuple[int, int]]] = [[] for _ in range(16)]
    rejected = [0] * 16
    start = threading.Barrier(16)

    def burst(worker: int) -> None:
        start.wait()
        for n in range(sent_per_thread):
            try:
                ref.tell((worker, n))
            except MailboxFull:
                rejected[worker] += 1
            else:
                accepted[worker].append((worker, n))

    threads = [threading.Thread(target=burst, args=(w,)) for w in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a sender blocked: deadlock"
    total_accepted = sum(len(a) for a in accepted)
    handled = ref._actor_weakref().wait_handled(total_accepted, timeout=10)
    assert total_accepted + sum(rejected) == 16 * sent_per_thread
    assert sum(rejected) > 0, "the burst should overflow an 8-place mailbox"
    assert sum(handled.values()) == total_accepted
    assert all(count == 1 for count in handled.values()), "a message was handled twice"
    assert set(handled) == {m for a in accepted for m in a}
    assert ref.ask((-1, -1), timeout=5) is None  # nothing more arrived: the queue is empty
    assert sum(handled.values()) == total_accepted
    stats = ref.actor_inbox.stats()
    assert stats.rejected == sum(rejected)
    ref.stop(timeout=5)


def test_invalid_mailbox_size_is_a_config_error():
    class Bad(ServiceActor):
        mailbox_size = 0

    with pytest.raises(ConfigError, match="mailbox_size=0 is invalid: expected an integer >= 1"):
        Bad.start()


def test_offer_is_a_quiet_send_for_coalescing_signals(gate, events):
    ref, _ = gate
    inbox = ref.actor_inbox
    assert all(inbox.offer(Envelope(n)) for n in range(4))
    assert inbox.offer(Envelope("one too many")) is False  # no exception, no log line
    assert named(events, "mailbox.rejected") == []
    assert inbox.stats().rejected == 0
