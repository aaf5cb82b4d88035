"""Dead letters: messages that could not be delivered, kept for inspection and replay."""

from __future__ import annotations

import builtins
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from actors.core import _validate
from actors.core._logging import LibraryLogger

_log = LibraryLogger("stanchion.deadletters")

#: The most dead letters a store may retain (they are also logged, so none is lost).
MAX_DEAD_LETTER_CAPACITY = 100_000_000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message that could not be delivered.

    `reason` is one of: `stopped` (the service was stopped with the message
    still queued), `poison` (it crashed the service too many times in a row),
    `unknown_service`, or a pattern-specific reason such as `overflow`.
    """

    service: str
    message: Any
    reason: str
    error: str | None = None
    at: float = field(default_factory=time.time)
    context: Mapping[str, Any] = field(default_factory=dict)


class DeadLetterStore:
    """A bounded, thread-safe store of dead letters; the oldest are evicted first.

    Every letter is also logged as a `message.dead_lettered` event, so an
    eviction loses the object but never the record. `capacity` is an integer
    from 1 to 100,000,000 (`ConfigError` otherwise).

    Example:
        >>> store = DeadLetterStore(capacity=2)
        >>> store.add(DeadLetter("sms", "hello", reason="stopped"))
        >>> [letter.reason for letter in store.list()]
        ['stopped']
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = _validate.integer("capacity", capacity, minimum=1,
                                          maximum=MAX_DEAD_LETTER_CAPACITY)
        self._letters: deque[DeadLetter] = deque(maxlen=capacity)
        self._lock = threading.Condition()
        self._total = 0

    def add(self, letter: DeadLetter) -> None:
        """Record a dead letter and log it."""
        with self._lock:
            self._letters.append(letter)
            self._total += 1
            self._lock.notify_all()
        _log.warning(
            "message.dead_lettered",
            service=letter.service,
            reason=letter.reason,
            error=letter.error,
            message_type=type(letter.message).__name__,
            **{k: v for k, v in letter.context.items() if k not in ("service", "reason")},
        )

    def list(
        self, service: str | None = None, reason: str | None = None
    ) -> builtins.list[DeadLetter]:
        """The retained letters, oldest first, optionally filtered."""
        with self._lock:
            letters = list(self._letters)
        return [
            letter
            for letter in letters
            if (service is None or letter.service == service)
            and (reason is None or letter.reason == reason)
        ]

    def drain(self, service: str | None = None) -> builtins.list[DeadLetter]:
        """Remove and return the retained letters (for replay), optionally for one service."""
        with self._lock:
            taken = [x for x in self._letters if service is None or x.service == service]
            kept = [x for x in self._letters if not (service is None or x.service == service)]
            self._letters.clear()
            self._letters.extend(kept)
        return taken

    def wait_for(self, *, service: str | None = None, reason: str | None = None,
                 count: int = 1, timeout: float = 5.0) -> bool:
        """Wait until at least `count` retained letters match; `False` on timeout."""

        def matching() -> bool:
            return sum(
                1 for x in self._letters
                if (service is None or x.service == service)
                and (reason is None or x.reason == reason)
            ) >= count

        with self._lock:
            return self._lock.wait_for(matching, timeout)

    @property
    def total(self) -> int:
        """How many letters were ever recorded, including evicted ones."""
        return self._total

    def __len__(self) -> int:
        return len(self._letters)


_default_store = DeadLetterStore()


def default_dead_letters() -> DeadLetterStore:
    """The store used by actors started outside an `ActorSystem`."""
    return _default_store
