"""The bounded mailbox: the bulkhead between a service and its callers.

A mailbox belongs to a service name, not to one actor: every incarnation of a
service (after a restart) and every member of a pool consumes the same
mailbox, so queued messages survive a crash and one logical service is one
bulkhead.

Work messages go into a C-implemented `queue.SimpleQueue`. The bound is a
`bytearray` holding one byte per free place: a sender pops one (or is
rejected at once with `MailboxFull` when there is none) and a consumer appends
it back when it takes the message. Each is a single C call that neither
releases the GIL nor runs Python code, so the bound is exact without a lock on
the send path. A bytearray is not a container the garbage collector walks, and
takes one byte a place where a queue of tokens would take eight.

Consumers read three front lanes before the work queue, in this order:
control messages (stop and the runtime's own, which bypass the bound, so a
stop never waits behind a full mailbox of work); messages that crashed their
handler and are redelivered (they gave their token back when first taken);
and tells kept, in order, after a crash failed the queued asks (each still
holds its token, so the bound stays exact). The crash path only moves items
and returns tokens; it never takes one, so a sender racing with it cannot make
it fail.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from queue import Empty, SimpleQueue
from typing import Any

import pykka
from pykka._envelope import Envelope
from pykka.messages import _ActorStop

from actors.core import _context, _validate
from actors.core._deadletters import DeadLetter, DeadLetterStore
from actors.core._errors import MailboxFull, ServiceStopped
from actors.core._logging import LibraryLogger

_log = LibraryLogger("stanchion.mailbox")

#: The largest mailbox accepted: each place is a byte allocated up front.
MAX_MAILBOX_SIZE = 10_000_000

#: At most one `mailbox.rejected` line per mailbox in this many seconds; each line
#: counts the refusals since the previous one, and closing the mailbox logs the rest.
REJECTION_LOG_INTERVAL = 1.0

_now = time.monotonic  # the rejection log's clock (tests move it on)

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


class Queued(Envelope[Any]):
    """An envelope that carries its sender's context: one object per queued message.

    Every object the garbage collector tracks that stays in the queue makes its
    collections more frequent; an (envelope, context, 0) tuple per message
    would double them. `take` builds the `Item` tuple, which lives only while
    the message is handled.
    """

    __slots__ = ("context",)

    context: Mapping[str, Any]

_new_object = object.__new__

def as_item(taken: Item | Queued) -> Item:
    """The `Item` of what a consumer took: a `Queued` message has never crashed."""
    if taken.__class__ is Queued:
        return taken, taken.context, 0
    return taken  # type: ignore[return-value]


class _FreePlaces:
    """A read-only view of how many places are free (`qsize`, as a queue spells it)."""

    __slots__ = ("_places",)

    def __init__(self, places: bytearray) -> None:
        self._places = places

    def qsize(self) -> int:
        """How many places are free."""
        return len(self._places)


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
        _validate.integer("mailbox_size", capacity, minimum=1, maximum=MAX_MAILBOX_SIZE)
        _validate.integer("max_message_crashes", max_message_crashes, minimum=1)
        self.service = service
        self.capacity = capacity
        self.dead_letters = dead_letters
        self.max_message_crashes = max_message_crashes
        self._work: SimpleQueue[Queued | Item | _Wake] = SimpleQueue()
        # One byte per free place: a sender pops one or is rejected; a consumer
        # appends it back. Both are atomic C calls (see the module docstring).
        self._places = bytearray(capacity)
        self._slots = _FreePlaces(self._places)
        self._take_slot = self._places.pop  # IndexError when no place is free
        self._free_slot = self._places.append
        self._enqueue = self._work.put
        self._dequeue = self._work.get
        self._control: deque[Envelope[Any]] = deque()
        # Crashed messages, redelivered first; they hold no token.
        self._redeliver: deque[Item] = deque()
        # Tells kept in order when a crash failed the queued asks; each holds its token.
        self._requeued: deque[Item] = deque()
        self._lock = threading.Lock()
        self._closed = False
        self._rejected = 0
        self._rejected_unlogged = 0
        self._next_rejection_log = 0.0
        self._crashes = 0
        self._counters: list[_Counter] = []
        self._retired_processed = 0
        self._failure: tuple[BaseException, str] | None = None

    # -- send side (runs in the sender's thread) --------------------------------

    def put(self, envelope: Envelope[Any], /) -> None:
        """Queue a message, or raise `MailboxFull` / `ServiceStopped` at once."""
        if envelope.message.__class__ in _CONTROL_CLASSES:
            self.put_control(envelope)
            return
        if self._closed:
            raise self._stopped()
        try:
            self._take_slot()
        except IndexError:
            raise self._rejection() from None
        self._enqueue((envelope, _context.capture(), 0))
        if self._closed:  # closed while we were queueing: hand it to close()'s rules
            self._drain_closed()

    def post(self, message: Any, reply_to: pykka.Future[Any] | None = None, /) -> None:
        """`put` a plain message (wrapped here, so callers never build envelopes).

        The send path of `tell` and `ask`: the same checks as `put`, and the
        envelope is built only once the message has its place.
        """
        if message.__class__ in _CONTROL_CLASSES:
            self.put_control(Envelope(message, reply_to))
            return
        if self._closed:
            raise self._stopped()
        try:
            self._take_slot()
        except IndexError:
            raise self._rejection() from None
        # Envelope's __init__ is a Python call; filling the slots directly is cheaper.
        envelope: Queued = _new_object(Queued)
        envelope.message = message
        envelope.reply_to = reply_to
        envelope.context = _context.capture()
        self._enqueue(envelope)
        if self._closed:  # closed while we were queueing: hand it to close()'s rules
            self._drain_closed()

    def offer(self, envelope: Envelope[Any], /) -> bool:
        """Queue a message if there is room; `False` (nothing logged) if full or closed.

        For signals that coalesce, such as wake-ups: a full mailbox already holds
        enough of them, so a refusal is not an event worth a log line.
        """
        return self.offer_item((envelope, _context.capture(), 0))

    def post_control(self, message: Any, /) -> None:
        """`put_control` a plain message: ahead of all work, never rejected for capacity."""
        self.put_control(Envelope(message))

    def offer_item(self, item: Item, /) -> bool:
        """`offer` for a prepared item, which a fan-out may share between mailboxes."""
        if self._closed:
            return False
        try:
            self._take_slot()
        except IndexError:
            return False
        self._enqueue(item)
        if self._closed:
            self._drain_closed()
        return True

    def _rejection(self) -> MailboxFull:
        now = _now()
        with self._lock:
            self._rejected += 1
            self._rejected_unlogged += 1
            due = now >= self._next_rejection_log
            if due:
                self._next_rejection_log = now + REJECTION_LOG_INTERVAL
        if due:
            self._log_rejections()
        return MailboxFull(self.service, self.capacity, self.capacity)

    def _log_rejections(self) -> None:
        """One `mailbox.rejected` line for the refusals not logged yet (if any)."""
        with self._lock:
            count, self._rejected_unlogged = self._rejected_unlogged, 0
            total = self._rejected
        if count:
            _log.warning("mailbox.rejected", service=self.service, depth=self.capacity,
                         capacity=self.capacity, count=count, total=total)

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
            if self._control or self._redeliver or self._requeued:
                try:
                    return self._control.popleft(), _context.capture(), 0
                except IndexError:
                    pass
                try:
                    return self._redeliver.popleft()
                except IndexError:
                    pass
                try:
                    requeued = self._requeued.popleft()
                except IndexError:
                    pass
                else:
                    self._free_slot(0)
                    return requeued
            item = self._dequeue()
            if item.__class__ is Queued:
                self._free_slot(0)
                return item, item.context, 0
            if item.__class__ is tuple:
                self._free_slot(0)
                return item

    def consumer_lanes(self) -> tuple[deque[Any], deque[Any], deque[Any],
                                      Callable[[], Any], Callable[[int], None]]:
        """The consumer's side of `take`, for an actor loop that inlines its common case.

        Returns the three front lanes (control, redelivered, requeued), the work
        queue's blocking `get` and the call that gives a place back. While all
        three lanes are empty a consumer may `get` itself: a `Queued` message or
        an `Item` tuple (give its place back with `give_back(0)` before handling
        it), or a wake-up of no class of those two (look at the lanes again).
        Whenever a lane holds something, it calls `take`.
        """
        return (self._control, self._redeliver, self._requeued, self._dequeue,
                self._free_slot)

    def get(self) -> Envelope[Any]:
        """Pykka's inbox protocol: the next envelope (context and crash count dropped)."""
        return self.take()[0]

    def empty(self) -> bool:
        """Pykka's inbox protocol: whether nothing is queued."""
        return self.depth == 0 and not self._control

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

    def _drain_work(self, *, free_slots: bool = True) -> list[Item]:
        """Take every queued work item; with `free_slots=False` they keep their tokens."""
        items: list[Item] = []
        while True:
            try:
                queued = self._work.get_nowait()
            except Empty:
                return items
            if isinstance(queued, Queued):
                item: Item = (queued, queued.context, 0)
            elif isinstance(queued, tuple):
                item = queued
            else:
                continue  # a wake-up
            if free_slots:
                self._free_slot(0)
            items.append(item)

    def fail_pending_asks(self, error: BaseException) -> int:
        """Fail every queued request-reply message with `error`; keep the tells in order.

        Called when a single-actor service crashes: its callers learn at once
        instead of waiting for their timeout. The tells move, in order and with
        their tokens, to a lane read before the work queue, so a message sent
        meanwhile cannot overtake them and a sender taking a freed place cannot
        make this fail. Returns how many asks were failed.
        """
        failed: list[Envelope[Any]] = []
        with self._lock:
            for item in self._drain_work(free_slots=False):
                if item[0].reply_to is not None:
                    failed.append(item[0])
                    self._free_slot(0)
                else:
                    self._requeued.append(item)
            for queued in list(self._redeliver):
                if queued[0].reply_to is not None:
                    self._redeliver.remove(queued)
                    failed.append(queued[0])
            if self._control or self._requeued:
                self._enqueue(_WAKE)  # a consumer blocked on the work queue looks again
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
        self._log_rejections()
        for envelope in controls:
            if envelope.reply_to is not None:
                envelope.reply_to.set(None)
        return self._drain_closed(reason)

    def _drain_closed(self, reason: str = "stopped") -> int:
        with self._lock:
            pending: list[Item] = list(self._redeliver)
            self._redeliver.clear()
            while self._requeued:
                pending.append(self._requeued.popleft())
                self._free_slot(0)
            pending.extend(self._drain_work())
        error = self._stopped("it was stopped with this message still queued")
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

    def record_failure(self, cause: BaseException, detail: str) -> None:
        """Remember why the service failed for good: senders are told it, not just "stopped"."""
        self._failure = (cause, detail)

    def _stopped(self, detail: str = "") -> ServiceStopped:
        if self._failure is None:
            return ServiceStopped(self.service, detail)
        cause, why = self._failure
        error = ServiceStopped(self.service, why, "its own error is this exception's cause: "
                               "fix that, then start the system again")
        error.__cause__ = cause
        return error

    def reopen(self) -> None:
        """Accept messages again (a service started anew after a full stop)."""
        with self._lock:
            self._closed = False
            self._failure = None

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
        """How many work messages wait: places taken, plus crashed messages awaiting redelivery."""
        return self.capacity - len(self._places) + len(self._redeliver)

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


def work_item(message: Any) -> Item:
    """A queued item for `message` in the caller's context, to `offer_item` to many mailboxes."""
    return (Envelope(message), _context.capture(), 0)


def is_control(message: Any) -> bool:
    """Whether `message` bypasses the mailbox bound."""
    return message.__class__ in _CONTROL_CLASSES
