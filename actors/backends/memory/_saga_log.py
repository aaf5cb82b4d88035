"""`MemorySagaLog`: the saga log in this process's memory."""

from __future__ import annotations

import threading

from actors.saga.storage import (
    ENDS,
    CorruptSaga,
    Done,
    DuplicateSaga,
    Quarantine,
    Saga,
    SagaLogClosed,
    SagaStatus,
    encode,
)


class MemorySagaLog:
    """Keeps sagas in memory (tests, and embedders who do not need durability).

    States are kept as JSON text, encoded and decoded exactly as the durable
    logs do, so a test sees the same refusals and the same quarantine.
    """

    def __init__(self) -> None:
        self._sagas: dict[str, object] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._quarantine = Quarantine()

    def create(self, saga: Saga, done: Done) -> None:
        text = encode(saga)
        with self._lock:
            self._check_open()
            duplicate = saga.id in self._sagas
            if not duplicate:
                self._sagas[saga.id] = text
        done(DuplicateSaga(saga.id) if duplicate else None)

    def save(self, saga: Saga, done: Done | None = None) -> None:
        text = encode(saga)
        with self._lock:
            self._check_open()
            self._sagas[saga.id] = text
        if done is not None:
            done(None)

    def flush(self, timeout: float = 30.0) -> bool:
        return True

    def get(self, saga_id: str) -> Saga | None:
        with self._lock:
            raw = self._sagas.get(saga_id)
        return self._quarantine.load(saga_id, raw) if raw is not None else None

    def by_status(self, status: SagaStatus | None = None, limit: int = 1000) -> list[Saga]:
        with self._lock:
            stored = list(self._sagas.items())
        sagas = [saga for saga_id, raw in stored
                 if (saga := self._quarantine.load(saga_id, raw)) is not None]
        chosen = [s for s in sagas if status is None or s.status is status]
        return sorted(chosen, key=lambda s: s.created_at)[:limit]

    def unfinished(self) -> list[Saga]:
        return [s for s in self.by_status(limit=10**9) if s.status not in ENDS]

    def corrupt(self) -> list[CorruptSaga]:
        return self._quarantine.listing()

    def quarantine(self, saga_id: str, reason: str) -> None:
        self._quarantine.add(saga_id, reason, "")

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise SagaLogClosed("the saga log is closed")


