"""Consumer-side dedupe by event id: the relay delivers at least once."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from actors.core import LibraryLogger, validate as check

_log = LibraryLogger("stanchion.outbox")


class Deduplicator:
    """Remembers the last `capacity` event ids seen; wraps a handler to skip repeats.

    An announcement may arrive twice (a relay that crashed after publishing,
    before marking the row sent). Wrap the consumer's handler: the first
    delivery runs it, a repeat is skipped (logged as `outbox.duplicate_skipped`).
    An id is remembered only once the handler returned, so a failed delivery
    is retried. For dedupe that survives a restart, record the event id in
    the consumer's own transaction instead.

    Example:
        >>> seen = []
        >>> handle = Deduplicator().wrap(lambda envelope: seen.append(envelope["seq"]))
        >>> for seq in (1, 2, 1):
        ...     handle({"event_id": f"e{seq}", "seq": seq})
        >>> seen
        [1, 2]
    """

    def __init__(self, capacity: int = 100_000) -> None:
        check.integer("capacity", capacity, minimum=1, maximum=100_000_000)
        self.capacity = capacity
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self.duplicates = 0

    def seen(self, event_id: str) -> bool:
        """Whether `event_id` was already handled."""
        with self._lock:
            return event_id in self._seen

    def remember(self, event_id: str) -> None:
        """Record `event_id` as handled (the oldest id is forgotten past `capacity`)."""
        with self._lock:
            self._seen[event_id] = None
            self._seen.move_to_end(event_id)
            if len(self._seen) > self.capacity:
                self._seen.popitem(last=False)

    def wrap(self, handler: Callable[[Any], object]) -> Callable[[Any], None]:
        """`handler(envelope)`, run once per `envelope["event_id"]`."""
        check.callable_("handler", handler, "a function taking an outbox envelope")

        def once(envelope: Any) -> None:
            event_id = envelope.get("event_id") if isinstance(envelope, Mapping) else None
            if not isinstance(event_id, str):
                handler(envelope)  # not an outbox envelope: nothing to dedupe on
                return
            if self.seen(event_id):
                with self._lock:
                    self.duplicates += 1
                _log.debug("outbox.duplicate_skipped", event_id=event_id,
                           aggregate=envelope.get("aggregate"), seq=envelope.get("seq"))
                return
            handler(envelope)
            self.remember(event_id)

        return once
