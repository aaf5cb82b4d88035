"""The saga log: every saga's state, written before each command and after each reply.

Writes are asynchronous with a completion callback, so one coordinator thread
can keep many sagas moving while their writes share commits: the coordinator
appends the new state and sends the next command only in the callback, once
the state is durable. The logs themselves live in `actors.backends`:
`MemorySagaLog` (tests) runs callbacks at once; `SqliteSagaLog` and
`RedisSagaLog` commit in batches through the group-commit writer every
durable store shares (`actors.core.GroupCommit`, via `BatchedSagaLog`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from actors.core import (
    CorruptData,
    DataNotSerializable,
    GroupCommit,
    LibraryLogger,
    codec,
    context,
    require,
    short_repr,
)
from actors.saga._batching import Done, Op, Row, row
from actors.saga._errors import SagaDataNotSerializable, SagaLogClosed
from actors.saga._machine import Saga, SagaStatus, StepRecord, StepStatus

_log = LibraryLogger("stanchion.saga")


@dataclass(frozen=True, slots=True)
class CorruptSaga:
    """A saga the log holds but cannot read: quarantined, left for an operator.

    `reason` says what is wrong (`state is not valid JSON: ...`, `state has
    the wrong shape: ...`); `raw` is a printable form of what is stored.
    Recovery skips it; the other sagas recover as usual.
    """

    saga_id: str
    reason: str
    raw: str


def encode(saga: Saga) -> str:
    """The saga as JSON text; `SagaDataNotSerializable` if it is not plain JSON within the limits.

    The state is the envelope of the saga's data, so it may nest one level
    deeper than the data (`actors.core._codec`). Its parts were checked where they
    entered (its own fields are plain by construction, its data at
    `Sagas.start_saga`, each reply before it is merged), so each write skips
    the type walk; the size limit and the faithful-text rule still hold.
    """
    try:
        return codec.encode(saga.to_json(), max_depth=codec.MAX_STORED_DEPTH,
                             parts_checked=True)
    except DataNotSerializable as exc:
        raise SagaDataNotSerializable(saga.id, exc) from exc


def decode(raw: object) -> Saga:
    """The saga stored as `raw`; `CorruptData` if it is not a saga's state, whatever it holds."""
    try:
        state = codec.decode(raw)
    except CorruptData as exc:
        raise CorruptData(f"state {exc.reason}") from None
    try:
        return _saga_from_state(state)
    except CorruptData as exc:
        raise CorruptData(f"state has the wrong shape: {exc.reason}") from None


def _saga_from_state(state: object) -> Saga:
    """Check every field's type, so a saga that loads can be driven without a crash."""
    doc = _mapping(state, "the state")
    steps = doc["steps"]
    if type(steps) is not list:
        raise CorruptData(f"steps is {short_repr(steps)}, not a list")
    return Saga(_text(doc, "id"), _text(doc, "definition"),
                _enum(SagaStatus, doc["status"], "status"), dict(_mapping(doc["data"], "data")),
                [_step(step) for step in steps], _time(doc, "created_at"),
                _time(doc, "updated_at"), _flag(doc, "stuck"),
                # Only observability reads it: a damaged one is dropped, not quarantined.
                trace if context.is_traceparent(trace := doc.get("trace")) else None)


_SAGA_KEYS = ("id", "definition", "status", "data", "steps", "created_at", "updated_at",
              "stuck")
_STEP_KEYS = ("name", "status", "attempts", "compensation_attempts", "may_have_happened",
              "started_at", "finished_at", "error")


def _mapping(value: object, what: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise CorruptData(f"{what} is {short_repr(value)}, not an object")
    keys = _SAGA_KEYS if what == "the state" else _STEP_KEYS if what == "a step" else ()
    missing = [key for key in keys if key not in value]
    if missing:
        raise CorruptData(f"{what} has no {', '.join(missing)}")
    return value


def _step(value: object) -> StepRecord:
    doc = _mapping(value, "a step")
    error = doc["error"]
    if error is not None and type(error) is not str:
        raise CorruptData(f"a step's error is {short_repr(error)}")
    return StepRecord(_text(doc, "name"), _enum(StepStatus, doc["status"], "a step's status"),
                      _count(doc, "attempts"), _count(doc, "compensation_attempts"),
                      _flag(doc, "may_have_happened"), _time(doc, "started_at", optional=True),
                      _time(doc, "finished_at", optional=True), error)


def _text(doc: Mapping[str, Any], key: str) -> str:
    value = doc[key]
    if type(value) is not str or not value:
        raise CorruptData(f"{key} is {short_repr(value)}, not a name")
    return value


def _enum(kind: type[SagaStatus] | type[StepStatus], value: Any, what: str) -> Any:
    try:
        return kind(value)
    except (ValueError, TypeError):
        raise CorruptData(f"{what} is {short_repr(value)}") from None


def _count(doc: Mapping[str, Any], key: str) -> int:
    value = doc[key]
    if type(value) is not int or value < 0:
        raise CorruptData(f"{key} is {short_repr(value)}, not a count")
    return value


def _flag(doc: Mapping[str, Any], key: str) -> bool:
    value = doc[key]
    if type(value) is not bool:
        raise CorruptData(f"{key} is {short_repr(value)}, not true or false")
    return value


def _time(doc: Mapping[str, Any], key: str, *, optional: bool = False) -> Any:
    value = doc[key]
    if value is None and optional:
        return None
    if type(value) not in (int, float) or not math.isfinite(value):
        raise CorruptData(f"{key} is {short_repr(value)}, not a time")
    return float(value)


class Quarantine:
    """The sagas a log found it cannot read: each logged once (`saga.corrupt`), then listed."""

    def __init__(self) -> None:
        self._found: dict[str, CorruptSaga] = {}
        self._lock = threading.Lock()

    def load(self, saga_id: str, raw: object) -> Saga | None:
        """The saga stored as `raw` under `saga_id`, or `None` (quarantined) if unreadable."""
        try:
            saga = decode(raw)
        except CorruptData as exc:
            self.add(saga_id, exc.reason, raw)
            return None
        if saga.id != saga_id:
            self.add(saga_id, f"state belongs to saga {short_repr(saga.id)}", raw)
            return None
        return saga

    def add(self, saga_id: str, reason: str, raw: object) -> None:
        """Record an unreadable saga (or storage key); logged the first time it is found."""
        entry = CorruptSaga(saga_id, reason, codec.describe_raw(raw))
        with self._lock:
            known = self._found.get(saga_id)
            self._found[saga_id] = entry
        if known is None or known.reason != reason:
            _log.error("saga.corrupt", saga_id=saga_id, reason=reason,
                       raw=short_repr(entry.raw))

    def listing(self) -> list[CorruptSaga]:
        with self._lock:
            return list(self._found.values())


class SagaLog(Protocol):
    """Where sagas are kept; every backend (memory, SQLite, Redis) honours this.

    Reads never fail for one unreadable saga: a stored state that cannot be
    decoded, or decodes to something that is not a saga, is quarantined
    (logged `saga.corrupt`, skipped, listed by `corrupt()`) and the others
    are returned as usual.
    """

    def create(self, saga: Saga, done: Done) -> None:
        """Store a new saga; `done(DuplicateSaga)` if its id exists. Encode first with `encode`."""
        ...

    def save(self, saga: Saga, done: Done | None = None) -> None:
        """Store the saga's new state; `done(None)` once it is durable."""
        ...

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything written so far is durable."""
        ...

    def get(self, saga_id: str) -> Saga | None:
        """The saga's last durable state (`None` if unknown or unreadable)."""
        ...

    def by_status(self, status: SagaStatus | None = None, limit: int = 1000) -> list[Saga]:
        """Sagas by state, oldest first."""
        ...

    def unfinished(self) -> list[Saga]:
        """Sagas that are neither completed, compensated nor compensation_failed."""
        ...

    def corrupt(self) -> list[CorruptSaga]:
        """The sagas found unreadable by this log's reads (recovery reads every unfinished one)."""
        ...

    def quarantine(self, saga_id: str, reason: str) -> None:
        """Record a saga that was read but cannot be resumed (e.g. steps unlike its definition)."""
        ...

    def close(self) -> None:
        """Finish pending writes and release the storage."""
        ...


class BatchedSagaLog:
    """The write side shared by the durable logs: writes committed in batches, then called back.

    The batching is `actors.core.GroupCommit`, the writer every durable store
    shares: writes waiting at one moment go in one commit, and each `done` is
    called once its write is durable. A subclass opens its storage, then calls
    `__init__`, and either implements `_commit(batch)` (apply every write of
    the batch at once and return, per write, `None` or the error, e.g.
    `DuplicateSaga` for a create whose id exists; or undo the batch and raise,
    and each write is tried again on its own), or overrides `_make_writer` and
    `_item` to hand its own writer something else per write (the SQLite log
    hands the SQLite writer a function per write). Every write is encoded and
    checked on the caller's thread, before it joins a batch, so data that
    cannot be stored fails only its caller.
    """

    def __init__(self, *, max_batch: int, name: str) -> None:
        require(isinstance(max_batch, int) and max_batch >= 1, "max_batch", max_batch,
                "an integer >= 1")
        self._quarantine = Quarantine()
        self._writes: GroupCommit[Any] = self._make_writer(max_batch, name)

    @property
    def transactions(self) -> int:
        """Commits made so far (each holding one or more writes)."""
        return self._writes.transactions

    def create(self, saga: Saga, done: Done) -> None:
        self._submit("create", row(saga, encode(saga)), done)

    def save(self, saga: Saga, done: Done | None = None) -> None:
        self._submit("save", row(saga, encode(saga)), done)

    def _submit(self, kind: str, stored: Row, done: Done | None) -> None:
        error = self._error

        def finished(result: object, failure: BaseException | None) -> None:
            if done is not None:
                done(error(failure) if failure is not None
                     else result if isinstance(result, BaseException) else None)

        op: Op = (kind, stored, done)  # type: ignore[assignment]  # kind is create or save
        self._writes.submit_async(kind, self._item(op), finished)

    def flush(self, timeout: float = 30.0) -> bool:
        return self._writes.flush(timeout)

    def corrupt(self) -> list[CorruptSaga]:
        return self._quarantine.listing()

    def quarantine(self, saga_id: str, reason: str) -> None:
        self._quarantine.add(saga_id, reason, "")

    def _make_writer(self, max_batch: int, name: str) -> GroupCommit[Any]:
        return GroupCommit(self._commit, max_batch=max_batch, name=name,
                           closed_error=_closed, timeout_error=_timed_out)

    def _item(self, op: Op) -> object:
        """What the writer is handed for `op` (the op itself, for `_commit`)."""
        return op

    def _error(self, error: BaseException) -> BaseException:
        """The error a write's `done` is given for a failed commit (a store's typed error)."""
        return error

    def _commit(self, batch: list[Op]) -> list[BaseException | None]:
        raise NotImplementedError


def _closed(_operation: str) -> SagaLogClosed:
    return SagaLogClosed("the saga log is closed; open a new one")


def _timed_out(operation: str, timeout: float) -> SagaLogClosed:  # only waiting writes time out
    return SagaLogClosed(f"the saga log did not commit a {operation} within {timeout} s")
