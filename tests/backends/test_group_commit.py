"""`GroupCommit`, the one writer of every durable store: shared commits, answers after them."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest

from actors.backends.redis import RedisTaskStore
from actors.core import GroupCommit
from actors.taskqueue import NewTask

TIMEOUT = 10.0


class Closed(Exception):
    pass


class TimedOut(Exception):
    pass


class Store:
    """A commit function that records its batches and can be held at the start of one."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.threads: list[threading.Thread] = []
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()
        self.closed = False

    def commit(self, items: list[str]) -> Sequence[Any]:
        self.entered.set()
        assert self.hold.wait(TIMEOUT)
        if len(items) > 1 and "bad" in items:
            raise ValueError("a bad item in the batch")  # undone: each is tried alone
        if items == ["bad"]:
            raise ValueError("bad item")
        self.batches.append(list(items))
        self.threads.append(threading.current_thread())
        return [item.upper() for item in items]

    def writer(self, max_batch: int = 100) -> GroupCommit[str]:
        def on_close() -> None:
            self.closed = True

        return GroupCommit(self.commit, max_batch=max_batch, closed_error=Closed,
                           timeout_error=lambda op, t: TimedOut(op), on_close=on_close)


def wait_for_pending(writer: GroupCommit[str], count: int) -> None:
    with writer._cond:
        assert writer._cond.wait_for(lambda: len(writer._pending) >= count, TIMEOUT)


def submit_in_threads(writer: GroupCommit[str], items: list[str]) -> tuple[
        list[threading.Thread], dict[str, object]]:
    answers: dict[str, object] = {}

    def call(item: str) -> None:
        try:
            answers[item] = writer.submit("write", item, TIMEOUT)
        except Exception as exc:
            answers[item] = exc

    threads = [threading.Thread(target=call, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    return threads, answers


def test_a_lone_call_commits_on_its_own_thread() -> None:
    store = Store()
    writer = store.writer()
    assert writer.submit("write", "a", TIMEOUT) == "A"
    assert store.threads == [threading.current_thread()]  # no hand-off to another thread
    assert (writer.submitted, writer.committed, writer.transactions) == (1, 1, 1)


def test_callers_arriving_during_a_commit_share_the_next_one() -> None:
    store = Store()
    writer = store.writer()
    store.hold.clear()
    first, first_answer = submit_in_threads(writer, ["a"])
    assert store.entered.wait(TIMEOUT)  # "a" leads and is committing
    rest, answers = submit_in_threads(writer, ["b", "c", "d"])
    wait_for_pending(writer, 3)
    assert not any(item in answers for item in "bcd")  # nobody answered before its commit
    store.hold.set()
    for thread in first + rest:
        thread.join(TIMEOUT)
    assert first_answer == {"a": "A"}
    assert answers == {"b": "B", "c": "C", "d": "D"}
    assert store.batches[0] == ["a"]
    assert sorted(store.batches[1]) == ["b", "c", "d"]  # one commit for the three
    assert writer.transactions == 2


def test_one_bad_write_fails_only_its_caller() -> None:
    store = Store()
    writer = store.writer()
    store.hold.clear()
    first, _ = submit_in_threads(writer, ["a"])
    assert store.entered.wait(TIMEOUT)
    rest, answers = submit_in_threads(writer, ["b", "bad", "c"])
    wait_for_pending(writer, 3)
    store.hold.set()
    for thread in first + rest:
        thread.join(TIMEOUT)
    assert answers["b"] == "B"
    assert answers["c"] == "C"
    assert isinstance(answers["bad"], ValueError)


def test_async_writes_are_called_back_after_their_commit_and_share_it() -> None:
    store = Store()
    writer = store.writer()
    outcomes: list[tuple[object, BaseException | None]] = []
    done = threading.Event()

    def callback(result: object, error: BaseException | None) -> None:
        outcomes.append((result, error))
        if len(outcomes) == 3:
            done.set()

    store.hold.clear()
    leader, _ = submit_in_threads(writer, ["a"])  # a waiting caller leads; async ones join
    assert store.entered.wait(TIMEOUT)
    for item in ("x", "bad", "y"):
        writer.submit_async("write", item, callback)
    assert outcomes == []
    store.hold.set()
    assert done.wait(TIMEOUT)
    leader[0].join(TIMEOUT)
    assert outcomes[0] == ("X", None)
    assert outcomes[1][0] is None
    assert isinstance(outcomes[1][1], ValueError)
    assert outcomes[2] == ("Y", None)
    assert writer.flush(TIMEOUT)
    writer.close(TIMEOUT)


def test_a_waiting_call_times_out_and_its_write_is_never_made() -> None:
    store = Store()
    writer = store.writer()
    store.hold.clear()
    first, _ = submit_in_threads(writer, ["a"])
    assert store.entered.wait(TIMEOUT)
    with pytest.raises(TimedOut):
        writer.submit("write", "late", 0.01)
    store.hold.set()
    first[0].join(TIMEOUT)
    assert writer.submit("write", "b", TIMEOUT) == "B"
    assert all("late" not in batch for batch in store.batches)


def test_close_commits_what_waits_then_refuses() -> None:
    store = Store()
    writer = store.writer()
    results: list[object] = []
    store.hold.clear()
    writer.submit_async("write", "x", lambda result, error: results.append(result))
    assert store.entered.wait(TIMEOUT)
    writer.submit_async("write", "y", lambda result, error: results.append(result))
    store.hold.set()
    assert writer.close(TIMEOUT)
    assert results == ["X", "Y"]
    assert store.closed
    with pytest.raises(Closed):
        writer.submit("write", "z", TIMEOUT)
    with pytest.raises(Closed):
        writer.submit_async("write", "z", None)


def test_max_batch_bounds_a_commit() -> None:
    store = Store()
    writer = store.writer(max_batch=2)
    store.hold.clear()
    first, _ = submit_in_threads(writer, ["a"])
    assert store.entered.wait(TIMEOUT)
    rest, answers = submit_in_threads(writer, ["b", "c", "d", "e", "f"])
    wait_for_pending(writer, 5)
    store.hold.set()
    for thread in first + rest:
        thread.join(TIMEOUT)
    assert len(answers) == 5
    assert all(len(batch) <= 2 for batch in store.batches)
    assert writer.transactions == 4


def test_redis_enqueues_made_at_once_share_one_write(redis_url: str) -> None:
    store = RedisTaskStore(redis_url, prefix="grouped-enqueue")
    evalsha, add_one = store._evalsha, store._add_one
    release = threading.Event()
    entered = threading.Event()
    calls: list[int] = []  # tasks per write to Redis

    def held_one(task: NewTask, now: float) -> str:  # a lone task: XADD, no script
        calls.append(1)
        entered.set()
        assert release.wait(TIMEOUT)
        return add_one(task, now)

    def held(name: str, keys: Any, args: Any, client: Any = None) -> Any:
        if name == "enqueue":
            calls.append((len(args) - 1) // 5)  # tasks in this script call
        return evalsha(name, keys, args, client)

    store._add_one = held_one  # type: ignore[method-assign]
    store._evalsha = held  # type: ignore[method-assign]
    answers: dict[int, list[str]] = {}

    def enqueue(n: int) -> None:
        answers[n] = store.enqueue_many([NewTask("q", {"n": n})], now=0.0)

    threads = [threading.Thread(target=enqueue, args=(n,)) for n in range(5)]
    threads[0].start()
    assert entered.wait(TIMEOUT)
    for thread in threads[1:]:
        thread.start()
    wait_for_pending(store._enqueues, 4)  # type: ignore[arg-type]
    assert len(answers) == 0  # nobody answered before Redis applied its task
    release.set()
    for thread in threads:
        thread.join(TIMEOUT)
    assert calls == [1, 4]
    assert len({task_id for [task_id] in answers.values()}) == 5
    claimed = store.claim("q", "w", 10, now=1.0)
    assert sorted(c.task.payload["n"] for c in claimed) == [0, 1, 2, 3, 4]
    store.close()
