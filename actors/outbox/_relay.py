"""The relay: a pure core that decides what to announce, and the actor that does the I/O.

`RelayCore` takes rows in write order and a publish function, announces them
keeping each aggregate in order (a failed row holds back the rows after it,
with backoff, while other aggregates go on) and tells which rows to mark
sent. `OutboxRelay` runs it on an actor: read a batch, announce, mark sent,
sleep until there is more (or a `nudge()`).
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from actors.core import (
    ConfigError,
    Disposable,
    LibraryLogger,
    ServiceActor,
    ServiceRef,
    ServiceStopped,
    StanchionError,
    short_repr,
    validate as check,
)
from actors.outbox._config import OutboxConfig
from actors.outbox._model import OutboxMessage, OutboxStats, OutboxStore
from actors.supervision import ActorSystem, ChildSpec

_log = LibraryLogger("stanchion.outbox")

Publish = Callable[[OutboxMessage], object]
"""Announces one message (raises if it could not); see `to_bus` and `to_queue`."""


@dataclass(frozen=True, slots=True)
class OutboxMetrics:
    """A relay's counters and its store's view.

    `published` rows announced (a row announced again after a crash counts
    again), `failed` publish attempts, `blocked` aggregates waiting for a
    retry now, `rounds` batches read; `pending`, `sent`, `oldest_age_s` from
    the store (`-1`/`0.0` if it could not be read).
    """

    relay: str
    published: int
    failed: int
    blocked: int
    rounds: int
    pending: int
    sent: int
    oldest_age_s: float


class RelayCore:
    """What to announce and when to retry; no threads, no I/O but the injected `publish`.

    Example:
        >>> from actors.outbox import OutboxMessage
        >>> rows = [OutboxMessage(f"e{i}", agg, i, "t", {}, 0.0, str(i))
        ...         for i, agg in enumerate(["a", "b", "a"])]
        >>> core = RelayCore(OutboxConfig(), clock=lambda: 0.0, rng=random.Random(1))
        >>> def publish(message):
        ...     if message.event_id == "e0":
        ...         raise ConnectionError("bus down")
        >>> [m.event_id for m in core.run_round(rows, publish)]  # e2 waits behind e0
        ['e1']
        >>> core.blocked_aggregates()
        ['a']
    """

    def __init__(self, config: OutboxConfig, *, clock: Callable[[], float],
                 rng: random.Random) -> None:
        check.instance("config", config, OutboxConfig, "an OutboxConfig")
        check.callable_("clock", clock, "a function returning monotonic seconds")
        check.instance("rng", rng, random.Random, "a random.Random")
        self.config = config
        self.clock = clock
        self.rng = rng
        # aggregate -> (consecutive failures, when it may be tried again)
        self._blocked: dict[str, tuple[int, float]] = {}
        self.published = 0
        self.failed = 0
        self.rounds = 0

    def blocked_aggregates(self) -> list[str]:
        """Aggregates whose next row waits for a retry."""
        return sorted(self._blocked)

    def waiting(self, now: float) -> list[str]:
        """Aggregates still in backoff at `now` (a read can leave their rows out)."""
        return [a for a, (_, due) in self._blocked.items() if due > now]

    def next_retry_in(self, now: float) -> float | None:
        """Seconds until the first blocked aggregate may be tried again, if any."""
        if not self._blocked:
            return None
        return max(0.0, min(due for _, due in self._blocked.values()) - now)

    def run_round(self, rows: Sequence[OutboxMessage], publish: Publish) -> list[OutboxMessage]:
        """Announce `rows` (write order) with `publish`; returns those announced.

        A row whose aggregate is in backoff, or behind a row of its aggregate
        that failed this round, is left for a later round.
        """
        self.rounds += 1
        now = self.clock()
        held: set[str] = set()
        sent: list[OutboxMessage] = []
        for message in rows:
            aggregate = message.aggregate
            if aggregate in held:
                continue
            blocked = self._blocked.get(aggregate)
            if blocked is not None and blocked[1] > now:
                held.add(aggregate)
                continue
            try:
                publish(message)
            except Exception as exc:  # noqa: BLE001 - any refusal is retried, never lost
                held.add(aggregate)
                self._failed(message, now, exc)
                continue
            if blocked is not None:
                del self._blocked[aggregate]
            self.published += 1
            sent.append(message)
        return sent

    def _failed(self, message: OutboxMessage, now: float, exc: Exception) -> None:
        attempts = self._blocked.get(message.aggregate, (0, 0.0))[0] + 1
        delay = self.config.retry.delay(attempts, self.rng)
        self._blocked[message.aggregate] = (attempts, now + delay)
        self.failed += 1
        _log.warning("outbox.publish_failed", aggregate=message.aggregate,
                     event_id=message.event_id, seq=message.seq, topic=message.topic,
                     attempts=attempts, delay_s=round(delay, 3), error=short_repr(exc))


class _Tick(Disposable):
    __slots__ = ()


_TICK = _Tick()


class OutboxRelay:
    """Publishes an outbox's rows, in order per aggregate, at least once; marks them sent.

    Start one relay per outbox (two relays on one outbox would announce rows
    twice and out of order). Consumers dedupe on `event_id` (see `Deduplicator`).

    Example:
        >>> from actors.supervision import ActorSystem
        >>> from actors.backends.memory import MemoryOutbox
        >>> seen = []
        >>> with ActorSystem() as system:
        ...     outbox = MemoryOutbox()
        ...     with outbox.transaction() as tx:
        ...         _ = tx.add("o-1", "order.created", {"total": 42})
        ...     relay = OutboxRelay.start(system, outbox, seen.append)
        ...     relay.wait_until_empty(timeout=5.0)
        True
        >>> [(m.aggregate, m.seq, m.payload) for m in seen]
        [('o-1', 1, {'total': 42})]
    """

    def __init__(self, name: str, store: OutboxStore, publish: Publish, config: OutboxConfig,
                 *, clock: Callable[[], float], rng: random.Random) -> None:
        self.name = name
        self.store = store
        self.publish = publish
        self.config = config
        self.core = RelayCore(config, clock=clock, rng=rng)
        self.ref: ServiceRef[Any] | None = None
        self._timer: Any = None
        self._scheduler: Any = None
        self._cond = threading.Condition()
        self._rounds = 0
        self._stopped = False

    @classmethod
    def start(cls, system: ActorSystem, store: OutboxStore, publish: Publish, *,
              name: str = "outbox-relay", config: OutboxConfig | None = None,
              clock: Callable[[], float] = time.monotonic,
              rng: random.Random | None = None, parent: str | None = None) -> OutboxRelay:
        """Start the relay as a supervised service called `name` (under `parent`)."""
        check.instance("system", system, ActorSystem, "an actors.ActorSystem")
        check.name("name", name)
        if not isinstance(store, OutboxStore):
            raise ConfigError("store", store, "an OutboxStore (pending, mark_sent, stats)")
        check.callable_("publish", publish, "a function announcing one OutboxMessage")
        config = config if config is not None else OutboxConfig()
        check.instance("config", config, OutboxConfig, "an OutboxConfig, or None")
        check.callable_("clock", clock, "a function returning monotonic seconds")
        check.optional(check.instance, "rng", rng, kind=random.Random, what="a random.Random")
        relay = cls(name, store, publish, config, clock=clock,
                    rng=rng if rng is not None else random.Random())
        relay._scheduler = system.scheduler
        relay.ref = system.start_child(ChildSpec(name, RelayActor, args=(relay,)),
                                       parent=parent)
        relay.nudge()  # the first round (after a restart, on_start does it)
        return relay

    # -- callers' side --------------------------------------------------------------------

    def nudge(self) -> None:
        """Look at the outbox now (call after a commit that wrote to it); never blocks."""
        ref = self.ref
        if ref is not None and not self._stopped:
            with contextlib.suppress(ServiceStopped):
                ref.offer(_TICK)

    def wait_until_empty(self, timeout: float) -> bool:
        """Wait until the store has no unsent row; False if `timeout` passed first."""
        check.seconds("timeout", timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.store.stats().pending == 0:
                    return True
            except StanchionError:
                pass  # the store is down: wait for it like for any round
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with self._cond:
                seen = self._rounds
            self.nudge()
            with self._cond:
                self._cond.wait_for(self._round_after(seen), timeout=min(left, 0.1))

    def _round_after(self, seen: int) -> Callable[[], bool]:
        return lambda: self._rounds > seen

    def metrics(self) -> OutboxMetrics:
        """Counters and the store's counts."""
        try:
            stats = self.store.stats()
        except StanchionError as exc:
            _log.warning("outbox.store_failed", relay=self.name, operation="stats",
                         error=short_repr(exc))
            stats = OutboxStats(-1, -1, 0.0)
        core = self.core
        return OutboxMetrics(self.name, core.published, core.failed,
                             len(core.blocked_aggregates()), core.rounds, stats.pending,
                             stats.sent, stats.oldest_age_s)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop announcing (rows left stay in the outbox for the next relay)."""
        self._stopped = True
        with self._cond:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        if self.ref is not None:
            with contextlib.suppress(ServiceStopped):
                self.ref.stop(timeout=timeout)

    # -- the actor's thread -------------------------------------------------------------------

    def tick(self) -> None:
        """One round: read a batch, announce it, mark what went out; plan the next round."""
        if self._stopped:
            return
        try:
            self._round()
        finally:
            with self._cond:
                self._rounds += 1
                self._cond.notify_all()

    def _round(self) -> None:
        config = self.config
        now = self.core.clock()
        try:
            rows = self.store.pending(config.batch_size, exclude=self.core.waiting(now))
        except StanchionError as exc:
            _log.warning("outbox.store_failed", relay=self.name, operation="pending",
                         error=short_repr(exc))
            self._later(config.poll_interval)
            return
        sent = self.core.run_round(rows, self.publish) if rows else []
        if sent:
            try:
                self.store.mark_sent(sent)
            except StanchionError as exc:  # announced again next round: at-least-once
                _log.warning("outbox.store_failed", relay=self.name, operation="mark_sent",
                             error=short_repr(exc), count=len(sent))
            _log.debug("outbox.published", relay=self.name, count=len(sent),
                       first_event_id=sent[0].event_id)
        if sent and len(rows) >= config.batch_size:
            self.nudge()  # more may be waiting
            return
        retry = self.core.next_retry_in(self.core.clock())
        self._later(config.poll_interval if retry is None else min(retry, config.poll_interval))

    def _later(self, delay: float) -> None:
        with self._cond:
            if self._timer is not None or self._stopped or self._scheduler is None:
                return
            self._timer = self._scheduler.call_later(delay, self._fired)

    def _fired(self) -> None:
        with self._cond:
            self._timer = None
        ref = self.ref
        if ref is not None and not self._stopped:
            with contextlib.suppress(ServiceStopped):
                ref.offer(_TICK)


class RelayActor(ServiceActor):
    """The relay's actor: one round per tick (ticks come from nudges and the timer)."""

    mailbox_size = 4  # ticks only; a full mailbox already has a round coming

    def __init__(self, relay: OutboxRelay) -> None:
        super().__init__()
        self.relay = relay

    def on_start(self) -> None:
        self.relay.nudge()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Tick):
            self.relay.tick()
            return None
        return super().on_receive(message)
