"""The bounded mailbox: the bulkhead between a service and its callers.

A mailbox belongs to a service name, not to one actor: every incarnation of a
service (after a restart) and every member of a pool consumes the same
mailbox, so queued messages survive a crash and one logical service is one
bulkhead.

Work messages go into a C-implemented `queue.SimpleQueue`; a lock on the send
path makes the capacity check and the put one step, so the bound is exact and
a full mailbox rejects at once instead of blocking. Control messages (stop and
the runtime's own) bypass the bound in a separate lane that consumers read
first, so a stop never waits behind a full mailbox of work.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from queue import Empty, SimpleQueue
from typing import Any, NoReturn

import structlog
from pykka._envelope import Envelope
from pykka.messages import _ActorStop

from actors import _context
from actors._deadletters import DeadLetter, DeadLetterStore
from actors._errors import MailboxFull, ServiceStopped, require

_log = structlog.get_logger("stanchion.mailbox")

# Exact classes that bypass the bound; a set lookup on the class is the cheapest test.
_CONTROL_CLASSES: set[type] = {_ActorStop}

# A queued item: the envelope, the sender's correlation context, and how many
# times this message has already crashed the service.
Item = tuple[Envelope[Any], Mapping[str, Any], int]


class ControlMessage:
    """Base class of runtime messages that bypass the mailbox bound."""

    __slots__ = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _CONTROL_CLASSES.add(cls)


class Disposable:
    """Base class of wake-up messages that carry no work: dropped, not dead-lettered, on stop."""

    __slots__ = ()


class _Wake:
    """Posted into the work queue to wake a consumer blocked on it."""

    __slots__ = ()


_WAKE = _Wake()


@dataclass(frozen=True, slots=True)
class MailboxStats:
    """A snapshot of a service's mailbox, read without a message round trip."""

    service: str
    capacity: int
    depth: int
    processed: int
    rejected: int
    crashes: int
    consumers: int


class _Counter:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


class Mailbox:
    """A bounded, never-blocking mailbox shared by a service's incarnations.

    Implements Pykka's inbox protocol (`put`, `get`, `empty`), so a plain
    `pykka.ActorRef` for a service actor sends through the same bound.
    """

    def __init__(
        self,
        service: str,
        capacity: int,
        dead_letters: DeadLetterStore,
        max_message_crashes: int = 3,
    ) -> None:
        require(isinstance(capacity, int) and capacity >= 1, "mailbox_size", capacity,
                "an integer >= 1")
        require(max_message_crashes >= 1, "max_message_crashes", max_message_crashes,
                "an integer >= 1")
        self.service = service
        self.capacity = capacity
        self.dead_letters = dead_letters
        self.max_message_crashes = max_message_crashes
        self._work: SimpleQueue[Item | _Wake] = SimpleQueue()
        # One token per free place: a sender takes one without blocking or is
        # rejected; a consumer returns it. Both are single C calls, so the bound
        # is exact without a Python-level lock on the hot path.
        self._slots: SimpleQueue[None] = SimpleQueue()
        for _ in range(capacity):
            self._slots.put(None)
        self._take_slot = self._slots.get_nowait
        self._free_slot = self._slots.put
        self._enqueue = self._work.put
        self._dequeue = self._work.get
        self._control: deque[Envelope[Any]] = deque()
        self._redeliver: deque[Item] = deque()
        self._lock = threading.Lock()
        self._closed = False
        self._rejected = 0
        self._crashes = 0
        self._counters: list[_Counter] = []
        self._retired_processed = 0

    # -- send side (runs in the sender's thread) --------------------------------

    def put(self, envelope: Envelope[Any], /) -> None:
        """Queue a message, or raise `MailboxFull` / `ServiceStopped` at once."""
        if envelope.message.__class__ in _CONTROL_CLASSES:
            self.put_control(envelope)
            return
        if self._closed:
            raise ServiceStopped(self.service)
        try:
            self._take_slot()
        except Empty:
            self._reject()
        self._enqueue((envelope, _context.capture(), 0))
        if self._closed:  # closed while we were queueing: hand it to close()'s rules
            self._drain_closed()

    def offer(self, envelope: Envelope[Any], /) -> bool:
        """Queue a message if there is room; `False` (nothing logged) if full or closed.

        For signals that coalesce, such as wake-ups: a full mailbox already holds
        enough of them, so a refusal is not an event worth a log line.
        """
        return self.offer_item((envelope, _context.capture(), 0))

    def offer_item(self, item: Item, /) -> bool:
        """`offer` for a prepared item, which a fan-out may share between mailboxes."""
        if self._closed:
            return False
        try:
            self._take_slot()
        except Empty:
            return False
        self._enqueue(item)
        if self._closed:
            self._drain_closed()
        return True

    def _reject(self) -> NoReturn:
        with self._lock:
            self._rejected += 1
        depth = self.capacity
        _log.warning("mailbox.rejected", service=self.service, depth=depth,
                     capacity=self.capacity)
        raise MailboxFull(self.service, depth, self.capacity)

    def put_control(self, envelope: Envelope[Any]) -> None:
        """Queue a control message ahead of all work; never rejected for capacity."""
        with self._lock:
            if self._closed:
                if envelope.reply_to is not None:
                    envelope.reply_to.set(None)
                return
            self._control.append(envelope)
            self._enqueue(_WAKE)

    # -- receive side (runs in consumer threads) --------------------------------

    def take(self) -> Item:
        """Block until there is something to handle: control first, then redeliveries."""
        while True:
            if self._control or self._redeliver:
                try:
                    return self._control.popleft(), _context.capture(), 0
                except IndexError:
                    pass
                try:
                    return self._redeliver.popleft()
                except IndexError:
                    pass
            item = self._dequeue()
            if item.__class__ is tuple:
                self._free_slot(None)
                return item

    def get(self) -> Envelope[Any]:
        """Pykka's inbox protocol: the next envelope (context and crash count dropped)."""
        return self.take()[0]

    def empty(self) -> bool:
        """Pykka's inbox protocol: whether nothing is queued."""
        return self.depth == 0 and not self._control and not self._redeliver

    def redeliver(self, item: Item, error: BaseException) -> None:
        """Put back a message that crashed its handler, or dead-letter it as poison.

        The message is retried first by the next incarnation; after
        `max_message_crashes` crashes in a row it goes to dead letters.
        """
        envelope, context, crashes = item
        crashes += 1
        with self._lock:
            self._crashes += 1
            closed = self._closed
            if not closed and crashes < self.max_message_crashes:
                self._redeliver.appendleft((envelope, context, crashes))
                return
        reason = "stopped" if closed else "poison"
        self.dead_letters.add(DeadLetter(self.service, envelope.message, reason,
                                         error=repr(error), context=context))

    def _drain_work(self) -> list[Item]:
        items: list[Item] = []
        while True:
            try:
                item = self._work.get_nowait()
            except Empty:
                return items
            if item.__class__ is tuple:
                self._free_slot(None)
                items.append(item)

    def fail_pending_asks(self, error: BaseException) -> int:
        """Fail every queued request-reply message with `error`; keep the rest in order.

        Called when a single-actor service crashes: its callers learn at once
        instead of waiting for their timeout. Returns how many asks were failed.
        """
        failed: list[Envelope[Any]] = []
        with self._lock:
            for item in self._drain_work():
                if item[0].reply_to is not None:
                    failed.append(item[0])
                else:
                    self._take_slot()  # cannot be empty: the drain just freed it
                    self._enqueue(item)
            for queued in list(self._redeliver):
                if queued[0].reply_to is not None:
                    self._redeliver.remove(queued)
                    failed.append(queued[0])
            if self._control:
                self._enqueue(_WAKE)
        for envelope in failed:
            if envelope.reply_to is not None:
                envelope.reply_to.set_exception(exc_info=(type(error), error, None))
        return len(failed)

    def close(self, reason: str = "stopped") -> int:
        """Refuse further messages; dead-letter queued tells and fail queued asks.

        Returns how many messages were dead-lettered.
        """
        with self._lock:
            self._closed = True
            controls = list(self._control)
            self._control.clear()
        for envelope in controls:
            if envelope.reply_to is not None:
                envelope.reply_to.set(None)
        return self._drain_closed(reason)

    def _drain_closed(self, reason: str = "stopped") -> int:
        with self._lock:
            pending: list[Item] = list(self._redeliver)
            self._redeliver.clear()
            pending.extend(self._drain_work())
        error = ServiceStopped(self.service, "it was stopped with this message still queued")
        dead = 0
        for envelope, context, _ in pending:
            if isinstance(envelope.message, Disposable):
                continue
            if envelope.reply_to is not None:
                envelope.reply_to.set_exception(exc_info=(type(error), error, None))
            else:
                self.dead_letters.add(DeadLetter(self.service, envelope.message, reason,
                                                 context=context))
                dead += 1
        return dead

    def reopen(self) -> None:
        """Accept messages again (a service started anew after a full stop)."""
        with self._lock:
            self._closed = False

    # -- counters ----------------------------------------------------------------

    def attach_consumer(self) -> _Counter:
        """Register a consumer and return its private processed counter."""
        counter = _Counter()
        with self._lock:
            self._counters.append(counter)
        return counter

    def detach_consumer(self, counter: _Counter) -> None:
        """Fold a finished consumer's count into the total."""
        with self._lock:
            if counter in self._counters:
                self._counters.remove(counter)
                self._retired_processed += counter.value

    @property
    def closed(self) -> bool:
        """Whether the mailbox refuses messages."""
        return self._closed

    @property
    def depth(self) -> int:
        """How many work messages wait (exact: capacity minus free places)."""
        return self.capacity - self._slots.qsize() + len(self._redeliver)

    def stats(self) -> MailboxStats:
        """Counters and depth, read without a message round trip."""
        with self._lock:
            processed = self._retired_processed + sum(c.value for c in self._counters)
            consumers = len(self._counters)
        return MailboxStats(
            service=self.service,
            capacity=self.capacity,
            depth=self.depth,
            processed=processed,
            rejected=self._rejected,
            crashes=self._crashes,
            consumers=consumers,
        )


def is_control(message: Any) -> bool:
    """Whether `message` bypasses the mailbox bound."""
    return message.__class__ in _CONTROL_CLASSES
