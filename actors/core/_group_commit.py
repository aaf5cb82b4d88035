"""`GroupCommit`: the one group-commit writer of every durable store (SQLite and Redis).

Callers hand it writes; it applies every write waiting at one moment with one
`commit(items)` call (one SQLite transaction, one Redis script or pipeline),
so concurrent callers share the costly part, and each caller learns its own
outcome only once the commit holding its write is done.

Two ways in, one queue and one commit order:

- `submit` (leader-follower, the caller waits): the first caller to find no
  commit under way becomes the leader and commits, on its own thread, every
  write waiting at that moment (its own included); callers arriving meanwhile
  wait, then are either committed by that leader or elect the next one. An
  uncontended call is one commit on the caller's thread, no thread hop.
- `submit_async` (the caller goes on): the write joins the same queue and
  `done(result, error)` is called once it is committed, by whichever thread
  led that commit (a writer thread started on first use, or a `submit` caller
  that was leading anyway).

No fixed sleep anywhere: a batch is whatever waited while the last commit ran.
If `commit` raises for a batch of several writes, each is committed again on
its own, so one bad write fails only its own caller.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from actors.core import _validate as validate
from actors.core._logging import LibraryLogger

T = TypeVar("T")

Done = Callable[[Any, BaseException | None], None]
"""Called once an async write is committed: `(result, None)` or `(None, error)`."""

_log = LibraryLogger("stanchion.storage")
_UNSET: Any = object()


def _ignore(_result: object, _error: BaseException | None) -> None:
    return None


class _Write(Generic[T]):
    __slots__ = ("done", "error", "finished", "item", "result")

    def __init__(self, item: T, done: Done | None) -> None:
        self.item = item
        self.done = done
        self.finished = False
        self.result: Any = _UNSET
        self.error: BaseException | None = None


class GroupCommit(Generic[T]):
    """Commits waiting writes together: `commit(items)` returns one result per item.

    Args:
        commit: applies `items` atomically and returns their results in order,
            or raises (having undone the batch) and each item is tried alone.
        max_batch: most writes per commit.
        closed_error: `closed_error(operation)` is raised by a submit after `close`.
        timeout_error: `timeout_error(operation, timeout)` when a waiting
            `submit` was not committed in time.
        name: the writer thread's name (started on the first `submit_async`).
    """

    def __init__(self, commit: Callable[[list[T]], Sequence[Any]], *, max_batch: int,
                 closed_error: Callable[[str], BaseException],
                 timeout_error: Callable[[str, float], BaseException],
                 name: str = "group-commit-writer",
                 on_close: Callable[[], None] | None = None) -> None:
        self._commit_items = commit
        self._max_batch = validate.integer("max_batch", max_batch, minimum=1)
        self._closed_error = closed_error
        self._timeout_error = timeout_error
        self._name = name
        self._on_close = on_close
        self._pending: list[_Write[T]] = []
        self._cond = threading.Condition()
        self._leading = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._async_waiting = 0  # async writes not yet committed (the writer thread's work)
        self.submitted = self.committed = self.transactions = 0

    @property
    def is_closed(self) -> bool:
        return self._closed

    def submit(self, operation: str, item: T, timeout: float) -> Any:
        """Commit `item` (sharing the commit with whatever waits) and return its result."""
        if type(timeout) is not float or not 0.0 < timeout <= validate.MAX_SECONDS:
            timeout = validate.seconds("timeout", timeout)  # NaN/inf would break cond.wait
        write: _Write[T] = _Write(item, None)
        cond = self._cond
        with cond:
            if self._closed:
                raise self._closed_error(operation)
            self.submitted += 1
            solo = not self._leading and not self._pending
            if solo:
                self._leading = True
            else:
                self._pending.append(write)
                deadline = time.monotonic() + timeout
                while not write.finished and self._leading:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not cond.wait(remaining):
                        if write in self._pending:  # not taken by a leader: it never will be
                            self._pending.remove(write)
                            self.submitted -= 1
                        raise self._timeout_error(operation, timeout)
                lead = not write.finished
                if lead:
                    self._leading = True
        if solo:  # nothing else waits: commit this one write here, then hand over
            try:
                self._commit([write])
            finally:
                with cond:
                    self.committed += 1
                    write.finished = True
                    self._leading = False
                    cond.notify_all()  # whoever arrived meanwhile elects a leader
        elif lead:
            self._lead(write)
        if write.error is not None:
            raise write.error
        return write.result

    def submit_async(self, operation: str, item: T, done: Done | None) -> None:
        """Queue `item`; `done(result, error)` is called once it is committed (or failed)."""
        with self._cond:
            if self._closed:
                raise self._closed_error(operation)
            self._pending.append(_Write(item, _ignore if done is None else done))
            self.submitted += 1
            self._async_waiting += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            elif not self._leading:
                self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every write submitted so far is committed (or failed)."""
        timeout = validate.seconds("timeout", timeout, allow_zero=True)
        with self._cond:
            target = self.submitted
            return self._cond.wait_for(lambda: self.committed >= target, timeout)

    def close(self, timeout: float = 30.0) -> bool:
        """Commit what is waiting, stop the writer thread, then call `on_close`.

        `False` if a commit under way did not end within `timeout` (then the
        storage is left to it, not closed under it).
        """
        deadline = time.monotonic() + validate.seconds("timeout", timeout, allow_zero=True)
        with self._cond:
            if self._closed:
                return True
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                return False
        with self._cond:
            if not self._cond.wait_for(lambda: not self._leading,
                                       max(0.0, deadline - time.monotonic())):
                return False  # a commit is stuck; leave the storage to it
            self._leading = True
        try:
            while self._take_and_commit():
                pass
            if self._on_close is not None:
                self._on_close()
        finally:
            with self._cond:
                self._leading = False
                self._cond.notify_all()
        return True

    # -- the leader's side ---------------------------------------------------------------------

    def _lead(self, write: _Write[T]) -> None:
        try:
            while not write.finished:
                if not self._take_and_commit():  # cannot happen: a taken write is finished
                    write.error, write.finished = RuntimeError("write lost by group commit"), True
        finally:
            with self._cond:
                self._leading = False
                self._cond.notify_all()  # waiters elect a leader; the writer thread looks too

    def _run(self) -> None:
        cond = self._cond
        while True:
            with cond:
                cond.wait_for(lambda: self._closed
                              or (self._async_waiting > 0 and not self._leading))
                if self._closed:
                    return  # close() commits what is left
                self._leading = True
            try:
                while self._async_waiting > 0 and self._take_and_commit():
                    pass
            finally:
                with cond:
                    self._leading = False
                    cond.notify_all()

    def _take_and_commit(self) -> bool:
        """Commit the next batch waiting; False if none was waiting. Only the leader calls it."""
        with self._cond:
            batch = self._pending[:self._max_batch]
            del self._pending[:self._max_batch]
        if not batch:
            return False
        self._commit(batch)
        callbacks = 0
        with self._cond:
            self.committed += len(batch)
            for write in batch:
                write.finished = True
                if write.done is not None:
                    callbacks += 1
            self._cond.notify_all()
        if callbacks:
            for write in batch:
                if write.done is not None:
                    try:
                        write.done(None if write.error is not None else write.result,
                                   write.error)
                    except Exception as exc:  # noqa: BLE001 - one callback must not stop the writer
                        _log.error("storage.callback_failed", error=repr(exc))
            with self._cond:
                self._async_waiting -= callbacks
        return True

    def _commit(self, batch: list[_Write[T]]) -> None:
        try:
            self._commit_or_isolate(batch)
        except BaseException as exc:
            # The thread is interrupted (or even undoing failed): every caller of
            # the batch must still be answered, not left waiting.
            for write in batch:
                if write.result is _UNSET and write.error is None:
                    write.error = exc
            if not isinstance(exc, Exception):
                raise

    def _commit_or_isolate(self, batch: list[_Write[T]]) -> None:
        try:
            results = self._commit_items([write.item for write in batch])
        except Exception as exc:  # noqa: BLE001 - handed to the caller(s) below
            if len(batch) == 1:
                batch[0].error = exc
                return
            # One write's failure must not fail the others: each is tried on its own,
            # so the error reaches only the caller whose write caused it.
            for write in batch:
                self._commit_or_isolate([write])
            return
        self.transactions += 1
        for write, result in zip(batch, results, strict=True):
            write.result = result
