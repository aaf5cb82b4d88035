"""The per-message fast paths keep every guarantee of the slower ones they replaced.

A queued message is one object (an envelope carrying its sender's context), the
reply future skips Pykka's constructor and allocates its callback list only when
one is added, and `start()` returns a ref that sends straight into the mailbox.
These tests pin what must not change: order, context, errors, callbacks.
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pykka
import pytest
from hypothesis import given, strategies as st
from pykka._envelope import Envelope

from actors import (
    ConfigError,
    MailboxFull,
    ServiceActor,
    ServiceStopped,
    bind_context,
    current_context,
)
from actors.core import work_item
from actors.core._deadletters import DeadLetterStore
from actors.core._future import ReplyFuture
from actors.core._mailbox import Mailbox
from actors.core._service import schedule_as_batch
from actors.supervision import ActorSystem, ChildSpec


@contextmanager
def maybe_bound(request_id: str | None) -> Iterator[None]:
    if request_id is None:
        yield
    else:
        with bind_context(request_id=request_id):
            yield


SENDS = st.lists(
    st.tuples(st.sampled_from(["post", "put", "offer", "offer_item"]),
              st.one_of(st.none(), st.sampled_from(["r-1", "r-2"]))),
    max_size=30,
)


@given(SENDS)
def test_every_send_path_keeps_fifo_order_and_each_senders_context(sends):
    mailbox = Mailbox("m", 64, DeadLetterStore())
    for n, (path, request_id) in enumerate(sends):
        with maybe_bound(request_id):
            if path == "post":
                mailbox.post(n)
            elif path == "put":
                mailbox.put(Envelope(n))
            elif path == "offer":
                assert mailbox.offer(Envelope(n))
            else:
                assert mailbox.offer_item(work_item(n))
    taken = [mailbox.take() for _ in sends]
    assert [item[0].message for item in taken] == list(range(len(sends)))
    assert [dict(item[1]) for item in taken] == [
        {} if request_id is None else {"request_id": request_id} for _, request_id in sends]
    assert all(item[2] == 0 and item[0].reply_to is None for item in taken)
    assert mailbox.depth == 0


def test_a_queued_tell_is_one_object_for_the_garbage_collector():
    mailbox = Mailbox("m", 2_000, DeadLetterStore())
    gc.collect()
    gc.disable()
    try:
        with bind_context(request_id="r-1"):
            before = len(gc.get_objects())
            for n in range(1_000):
                mailbox.post(n)
            grown = len(gc.get_objects()) - before
    finally:
        gc.enable()
    assert grown <= 1_100, f"{grown} tracked objects for 1,000 queued tells"


def test_queued_tells_dead_lettered_on_close_keep_their_context():
    dead = DeadLetterStore()
    mailbox = Mailbox("m", 8, dead)
    with bind_context(request_id="r-9"):
        mailbox.post("a")
    mailbox.post("b")
    asked: ReplyFuture[Any] = ReplyFuture(1.0, "m")
    mailbox.post("c", asked)
    assert mailbox.close() == 2
    letters = dead.list()
    assert [(letter.message, dict(letter.context)) for letter in letters] == [
        ("a", {"request_id": "r-9"}), ("b", {})]
    with pytest.raises(ServiceStopped):
        asked.get(timeout=0)
    with pytest.raises(ServiceStopped):
        mailbox.post("d")


class Echo(ServiceActor):
    """Answers each message with the message and the correlation ids it was handled under."""

    def on_receive(self, message: Any) -> tuple[Any, Mapping[str, Any]]:
        return message, dict(current_context())


def test_context_travels_with_asks_and_tells_through_a_started_ref(no_thread_leaks):
    ref = Echo.start()
    try:
        with bind_context(request_id="r-1"):
            assert ref.ask("a", timeout=5.0) == ("a", {"request_id": "r-1"})
            future = ref.ask("b", block=False)
        assert ref.ask("c", timeout=5.0) == ("c", {})
        assert future.get(timeout=5.0) == ("b", {"request_id": "r-1"})
        assert ref.proxy().on_receive("d").get(timeout=5.0) == ("d", {})
    finally:
        ref.stop()


def test_context_travels_with_asks_through_a_service_ref(no_thread_leaks):
    with ActorSystem([ChildSpec("echo", Echo)]) as system:
        ref = system.service("echo")
        with bind_context(request_id="r-2", order_id="o-2"):
            assert ref.ask("a", timeout=5.0) == ("a", {"request_id": "r-2", "order_id": "o-2"})
        assert ref.ask("b", timeout=5.0) == ("b", {})


def test_a_started_ref_keeps_pykkas_errors_once_the_actor_has_stopped(no_thread_leaks):
    ref = Echo.start()
    assert ref.stop() is True
    with pytest.raises(pykka.ActorDeadError):
        ref.tell("late")
    with pytest.raises(pykka.ActorDeadError):
        ref.ask("late", timeout=1.0)
    future = ref.ask("late", block=False)
    with pytest.raises(pykka.ActorDeadError):
        future.get(timeout=0)


def test_a_started_ref_refuses_at_once_when_the_mailbox_is_full(no_thread_leaks):
    entered, gate = threading.Event(), threading.Event()

    class Blocked(ServiceActor):
        mailbox_size = 2

        def on_receive(self, message: Any) -> None:
            entered.set()
            gate.wait(10)

    ref = Blocked.start()
    try:
        ref.tell("hold")
        assert entered.wait(5)
        ref.tell("one")
        ref.ask("two", block=False)
        with pytest.raises(MailboxFull):
            ref.tell("three")
        with pytest.raises(MailboxFull):
            ref.ask("three", timeout=1.0)
    finally:
        gate.set()
        ref.stop()


def test_reply_future_works_with_pykkas_get_hooks():
    future: ReplyFuture[int] = ReplyFuture(1.0, "m")
    doubled = future.map(lambda value: value * 2)
    future.set(21)
    assert doubled.get(timeout=1.0) == 42
    assert pykka.get_all([future, doubled], timeout=1.0) == [21, 42]


def test_reply_future_callbacks_run_once_whether_added_before_or_after_the_reply():
    calls: list[str] = []
    future: ReplyFuture[int] = ReplyFuture(1.0, "m")
    future.add_done_callback(lambda: calls.append("before-1"))
    future.add_done_callback(lambda: calls.append("before-2"))
    future.set(1)
    future.add_done_callback(lambda: calls.append("after"))
    assert sorted(calls) == ["after", "before-1", "before-2"]

    failed: ReplyFuture[int] = ReplyFuture(1.0, "m")
    failed.set_exception(RuntimeError("no"))
    failed.add_done_callback(lambda: calls.append("failed"))
    assert calls.count("failed") == 1


def test_reply_future_callbacks_added_while_the_reply_is_set_run_exactly_once():
    for _ in range(200):
        future: ReplyFuture[int] = ReplyFuture(1.0, "m")
        calls: list[int] = []
        start = threading.Barrier(3)

        def add(n: int, future: ReplyFuture[int] = future, calls: list[int] = calls,
                start: threading.Barrier = start) -> None:
            start.wait(5)
            future.add_done_callback(lambda: calls.append(n))

        adders = [threading.Thread(target=add, args=(n,)) for n in range(2)]
        for thread in adders:
            thread.start()
        start.wait(5)
        future.set(0)
        for thread in adders:
            thread.join(5)
        assert sorted(calls) == [0, 1]


batch_policy = pytest.mark.skipif(
    not hasattr(os, "SCHED_BATCH") or os.sched_getscheduler(0) != os.SCHED_OTHER,
    reason="Linux scheduling policies, from a thread under the default policy")


class Policy(ServiceActor):
    """Answers with the scheduling policy of its own thread."""

    def on_receive(self, message: Any) -> int:
        return os.sched_getscheduler(0)


def batch_allowed() -> bool:
    """Whether this OS lets a fresh thread switch itself to SCHED_BATCH."""
    allowed: list[bool] = []
    thread = threading.Thread(target=lambda: allowed.append(schedule_as_batch()))
    thread.start()
    thread.join(5)
    return allowed == [True]


@batch_policy
def test_actor_threads_run_under_sched_batch_and_callers_keep_theirs(no_thread_leaks):
    if not batch_allowed():
        pytest.skip("the OS refused SCHED_BATCH")
    ref = Policy.start()
    try:
        assert ref.ask("policy", timeout=5.0) == os.SCHED_BATCH
    finally:
        ref.stop()
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


@batch_policy
def test_batch_scheduling_can_be_turned_off(no_thread_leaks):
    class DefaultPolicy(Policy):
        batch_scheduling = False

    ref = DefaultPolicy.start()
    try:
        assert ref.ask("policy", timeout=5.0) == os.SCHED_OTHER
    finally:
        ref.stop()


@batch_policy
def test_a_thread_under_another_policy_is_left_alone():
    seen: list[tuple[bool, int]] = []

    def idle_thread() -> None:
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except OSError:
            return  # this sandbox refuses the change: nothing to check
        seen.append((schedule_as_batch(), os.sched_getscheduler(0)))

    thread = threading.Thread(target=idle_thread)
    thread.start()
    thread.join(5)
    if not seen:
        pytest.skip("the OS refused SCHED_IDLE")
    assert seen == [(False, os.SCHED_IDLE)]


def test_batch_scheduling_must_be_a_boolean():
    class Wrong(ServiceActor):
        batch_scheduling = "yes"  # type: ignore[assignment]

    with pytest.raises(ConfigError, match=r"Wrong\.batch_scheduling"):
        Wrong.start()
    with pytest.raises(ConfigError, match=r"Wrong\.batch_scheduling"):
        ChildSpec("wrong", Wrong)
