"""One writer thread that commits the saga log's writes in batches, then calls back.

Shared by the durable saga logs (SQLite, Redis): callers on any thread submit
a write and return at once; the writer takes everything waiting, commits it in
one transaction (or one pipeline), and calls each write's `done` with its
outcome. Durability therefore costs one commit per batch, not per write. A
batch that fails is rolled back and its writes are tried again one at a
time, so one bad write fails only itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Literal

from actors.core import ConfigError, LibraryLogger, text_problem
from actors.saga._errors import SagaLogClosed

_log = LibraryLogger("stanchion.saga")

Done = Callable[[BaseException | None], None]
"""Called once the write is durable (`None`) or failed (the error)."""

Row = tuple[str, str, str, str, float, float]
"""id, definition, status, state (JSON text), created_at, updated_at."""

Op = tuple[Literal["create", "save"], Row, Done | None]

Commit = Callable[[list[Op]], list[BaseException | None]]


class WriteBatcher:
    """Runs `commit(batch)` on a thread of its own for every batch of waiting writes."""

    def __init__(self, commit: Commit, *, max_batch: int, name: str) -> None:
        self._commit = commit
        self._max_batch = max_batch
        self._pending: list[Op] = []
        self._cond = threading.Condition()
        self._submitted = 0
        self._committed = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, op: Op) -> None:
        """Queue a write; raises `SagaLogClosed` once the log is closed."""
        with self._cond:
            if self._closed:
                raise SagaLogClosed("the saga log is closed; open a new one")
            self._pending.append(op)
            self._submitted += 1
            self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every write submitted so far is committed (or failed)."""
        with self._cond:
            target = self._submitted
            return self._cond.wait_for(lambda: self._committed >= target, timeout)

    def close(self, timeout: float = 30.0) -> bool:
        """Commit what is waiting, then stop the thread; `False` if it did not end in time."""
        with self._cond:
            if self._closed:
                return True
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._pending) or self._closed)
                if not self._pending and self._closed:
                    return
                batch = self._pending[:self._max_batch]
                del self._pending[:self._max_batch]
            results = self._commit_safely(batch)
            with self._cond:
                self._committed += len(batch)
                self._cond.notify_all()
            for (_, _, done), error in zip(batch, results, strict=True):
                if done is not None:
                    try:
                        done(error)
                    except Exception as exc:  # noqa: BLE001 - one callback must not stop the log
                        _log.error("saga.log_callback_failed", error=repr(exc))

    def _commit_safely(self, batch: list[Op]) -> list[BaseException | None]:
        try:
            return self._commit(batch)
        except Exception as exc:  # noqa: BLE001 - every write of the batch learns the outcome
            if len(batch) == 1:
                return [exc]
        # One write's failure must not fail the others: each is tried again on its
        # own (`commit` rolled the batch back), so only the write that fails learns it.
        return [self._commit_safely([op])[0] for op in batch]


def row(saga: Any, state: str) -> Row:
    """The stored row of a saga whose JSON `state` is already encoded.

    Raises `ConfigError` (before the write joins a batch) for an id or a
    definition name that no backend can store as text (a lone surrogate).
    """
    for field, text in (("saga_id", saga.id), ("definition", saga.definition)):
        if not text.isascii():
            problem = text_problem(text)
            if problem is not None:
                raise ConfigError(field, text, f"text without {problem}")
    return (saga.id, saga.definition, str(saga.status), state, saga.created_at,
            saga.updated_at)
