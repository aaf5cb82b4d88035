"""`NotificationService`: send an SMS and answer at once with what happened.

The path of one `send_sms`: validation (bad input raises, and never reaches
the provider), the token bucket sized to the provider's quota (so we do not
cause its 429s), the circuit breaker gate (fail fast while the provider is
down), then a pooled `SmsSender` actor that makes the HTTP call. Whatever
cannot be sent within the caller's timeout is stored in the outbox and
delivered later under the same idempotency key, so the user gets one text.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, cast, runtime_checkable

from actors.backends import MemoryTaskStore
from actors.breaker import BreakerGate, BreakerMetrics, BreakerState, CircuitOpen
from actors.core import (
    AskTimeout,
    ConfigError,
    LibraryLogger,
    MailboxFull,
    ReplyFuture,
    Sensitive,
    ServiceStopped,
    StanchionError,
    validate as check,
)
from actors.ratelimit import TokenBucket
from actors.retry import RetryBudget, RetryBudgetMetrics, RetryPolicy
from actors.sms._client import SmsClient, SmsReceipt
from actors.sms._config import SmsConfig
from actors.sms._errors import (
    InvalidIdempotencyKey,
    InvalidPhoneNumber,
    InvalidSmsBody,
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
)
from actors.sms._message import SmsMessage, new_idempotency_key
from actors.sms._outbox import SMS_RETRY_POLICY, SmsOutbox, TaskQueueOutbox
from actors.sms._sender import SendLedger, SendSms, SmsSender
from actors.supervision import ActorSystem, ChildSpec
from actors.taskqueue import (
    PermanentDeliveryError,
    QueueMetrics,
    RetryAfter,
    Task,
    TaskStore,
)

if TYPE_CHECKING:
    from actors.bus import EventBus

_log = LibraryLogger("stanchion.sms")

QueuedReason = Literal["circuit_open", "rate_limited", "provider_error"]
_OPEN_STATES = (BreakerState.OPEN, BreakerState.FORCED_OPEN)
_BUSY_RETRY = 0.5  # seconds: how soon the outbox looks again at an SMS whose first send runs


@runtime_checkable
class RateLimiter(Protocol):
    """What the service needs from a rate limiter (`actors.ratelimit.TokenBucket` fits)."""

    def try_acquire(self, n: int = 1) -> bool:
        """Take `n` tokens now if there are enough; never blocks."""

    def wait_time(self, n: int = 1) -> float:
        """Seconds until `n` tokens will be available."""


@dataclass(frozen=True, slots=True)
class SmsOutcome:
    """What `send_sms` did: `sent` (the provider accepted it) or `queued` (it will be sent).

    Attributes:
        status: "sent" or "queued".
        idempotency_key: the SMS's key; every later attempt uses it, so the
            user gets one text however many attempts it takes.
        message_id: the provider's id ("sent" only).
        reason: why it was queued: "circuit_open" (the provider is known to be
            down; nothing was attempted), "rate_limited" (our quota, or the
            provider's 429), "provider_error" (a failed or timed-out attempt).
        retry_at: the earliest `time.time()` at which it will be tried again.
        detail: more about the reason: "http_503", "timeout", "network",
            "senders_busy", "quota", "http_429"...

    Example:
        >>> SmsOutcome("queued", "k-1", reason="circuit_open", retry_at=1700000000.0).sent
        False
    """

    status: Literal["sent", "queued"]
    idempotency_key: str
    message_id: str | None = None
    reason: QueuedReason | None = None
    retry_at: float | None = None
    detail: str | None = None

    @property
    def sent(self) -> bool:
        """Whether the provider accepted the SMS during the call."""
        return self.status == "sent"


@dataclass(frozen=True, slots=True)
class _Deferral:
    """An attempt that did not get the SMS through: queue it, for this reason, this long."""

    reason: QueuedReason
    delay: float | None  # None: the retry policy's backoff
    detail: str


@dataclass(frozen=True, slots=True)
class SmsMetrics:
    """Counters since the start, and the breaker's, budget's and outbox's state now."""

    sent: int
    queued: dict[str, int]
    delivered: int
    rejected: int
    breaker: BreakerMetrics
    retry_budget: RetryBudgetMetrics
    outbox: QueueMetrics | None


@dataclass
class _Counts:
    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: int = 0
    delivered: int = 0
    rejected: int = 0
    queued: Counter[str] = field(default_factory=Counter)


class NotificationService:
    """Sends SMS through the provider, fast when it is healthy and honest when it is not.

    `send_sms` answers within its timeout with an `SmsOutcome`: `sent`, or
    `queued` with a reason and the time of the next attempt; invalid input
    raises (`InvalidPhoneNumber`, `InvalidSmsBody`) and reaches nothing. A
    queued SMS is stored durably in the outbox and delivered once the
    provider is back, through the same breaker and rate limiter, with
    backoff, a retry budget, and no retry sooner than the provider asked.

    Start it with `NotificationService.start(system, SmsConfig(url), store=...)`.

    Example:
        >>> from actors.sms import FakeSmsProvider, SmsConfig
        >>> from actors.supervision import ActorSystem
        >>> with FakeSmsProvider() as provider, ActorSystem() as system:
        ...     sms = NotificationService.start(system, SmsConfig(provider.base_url))
        ...     outcome = sms.send_sms("+1 555 123 4567", "Your code is 1234",
        ...                            idempotency_key="otp-1")
        ...     sms.stop()
        >>> outcome.status, outcome.idempotency_key
        ('sent', 'otp-1')
        >>> [text.to for text in provider.delivered().values()]
        ['+15551234567']
    """

    def __init__(self, settings: SmsConfig, *, gate: BreakerGate, limiter: RateLimiter,
                 budget: RetryBudget, ledger: SendLedger, max_call_seconds: float,
                 wall_clock: Callable[[], float], rng: random.Random) -> None:
        self.settings = settings
        self.gate = gate
        self.limiter = limiter
        self.budget = budget
        self.ledger = ledger
        self.outbox: SmsOutbox | None = None
        self.max_call_seconds = max_call_seconds
        self._wall = wall_clock
        self._rng = rng
        self._rng_lock = threading.Lock()
        self._counts = _Counts()
        self._stoppers: list[Callable[[float | None], object]] = []

    @classmethod
    def start(cls, system: ActorSystem, settings: SmsConfig, *,
              store: TaskStore | None = None, name: str = "sms",
              limiter: RateLimiter | None = None, bus: EventBus | None = None,
              clock: Callable[[], float] = time.monotonic,
              wall_clock: Callable[[], float] = time.time,
              rng: random.Random | None = None) -> NotificationService:
        """Start the senders, the breaker gate and the outbox in `system`.

        Args:
            system: a running `ActorSystem`.
            settings: the provider's URL and every knob (`SmsConfig`).
            store: where queued SMS are kept. Default: an in-memory store (lost
                on exit; fine for tests). For production pass a durable one,
                e.g. `SqliteTaskStore(TaskQueueConfig(retry=SMS_RETRY_POLICY,
                sqlite_path=...))` or a Redis store: that is the one line to change.
            name: prefix of the services started (`<name>-sender`,
                `<name>-breaker`, `<name>-outbox`).
            limiter: the rate limiter; default a `TokenBucket(rate_per_second, burst)`.
            bus: where breaker transitions are published, if anywhere.
            clock: monotonic seconds for the breaker, bucket and budget.
            wall_clock: `time.time()`-like, for `retry_at` and the outbox.
            rng: jitter for the breaker and first-retry delays.
        """

        check.instance("system", system, ActorSystem, "a running supervisor.ActorSystem")

        check.instance("settings", settings, SmsConfig, "an actors.sms.SmsConfig")
        check.optional(check.instance, "store", store, kind=TaskStore,
                       what="a TaskStore (SqliteTaskStore, RedisTaskStore, MemoryTaskStore)")
        check.name("name", name, max_length=64)  # prefixes "-sender", "-breaker", "-outbox"
        check.optional(check.instance, "limiter", limiter, kind=RateLimiter,
                       what="a rate limiter with try_acquire(n) and wait_time(n), such as "
                       "an actors.ratelimit.TokenBucket")
        if bus is not None and not callable(getattr(bus, "publish", None)):
            raise ConfigError("bus", bus, "an actors.bus.EventBus, or None")
        check.callable_("clock", clock, "a function returning monotonic seconds")
        check.callable_("wall_clock", wall_clock, "a function returning time.time() seconds")
        check.optional(check.instance, "rng", rng, kind=random.Random, what="a random.Random")
        rng = rng if rng is not None else random.Random()
        if limiter is None:
            limiter = TokenBucket(settings.rate_per_second, settings.burst, name=name, clock=clock)
        ledger = SendLedger(clock=clock)

        def new_client() -> SmsClient:
            return SmsClient(settings.base_url, connect_timeout=settings.connect_timeout,
                             read_timeout=settings.read_timeout,
                             max_connections=settings.max_connections,
                             max_keepalive=settings.max_keepalive)

        probe = new_client()
        max_call = probe.max_call_seconds
        probe.close()
        sender_name = f"{name}-sender"
        system.start_child(ChildSpec(
            sender_name, SmsSender, args=(new_client, ledger), pool_size=settings.senders,
            mailbox_size=settings.sender_mailbox, ask_timeout=max_call))
        gate = BreakerGate.start(system, f"{name}-breaker", target=sender_name,
                                 config=settings.breaker, bus=bus, timeout=settings.send_timeout,
                                 clock=clock, rng=random.Random(rng.random()))
        service = cls(settings, gate=gate, limiter=limiter,
                      budget=RetryBudget(settings.retry_budget, clock=clock), ledger=ledger,
                      max_call_seconds=max_call, wall_clock=wall_clock, rng=rng)
        outbox = TaskQueueOutbox.start(
            system, store if store is not None else MemoryTaskStore(), service.deliver_queued,
            queue=name, name=f"{name}-outbox", workers=settings.outbox_workers,
            batch_size=settings.outbox_batch, poll_interval=settings.outbox_poll_interval)
        service.outbox = outbox
        senders = system.service(sender_name)
        service._stoppers = [outbox.stop, gate.stop,
                             lambda timeout: senders.stop(timeout=timeout)]
        return service

    # -- the caller's path ---------------------------------------------------------------------

    def send_sms(self, to: str, body: str, *, idempotency_key: str | None = None,
                 timeout: float | None = None) -> SmsOutcome:
        """Send one SMS; answer within `timeout` seconds with `sent` or `queued`.

        Raises `InvalidPhoneNumber`, `InvalidSmsBody` or `InvalidIdempotencyKey`
        for bad input (nothing sent or queued), `ConfigError` for a `timeout`
        that is not finite seconds > 0 (at most 3600), `ProviderRejected` if the
        provider refused this message (retrying will not help), and
        `OutboxUnavailable` if it had to be queued but could not be stored.
        """
        started = time.monotonic()
        if timeout is None:
            timeout = self.settings.send_timeout
        else:
            # a timer is set from it: inf, NaN or centuries would kill the timer thread
            timeout = check.seconds("timeout", timeout, maximum=3600.0)
        try:
            message = SmsMessage(to, body, idempotency_key if idempotency_key is not None
                                 else new_idempotency_key())
        except (InvalidPhoneNumber, InvalidSmsBody, InvalidIdempotencyKey) as exc:
            # A `to` that is not a string is logged by its type: its str() may be anything.
            self._rejected(type(exc).__name__, str(exc),
                           to=to if isinstance(to, str) else f"<{type(to).__name__}>")
            raise
        if not self.limiter.try_acquire():
            return self._queue(message, "rate_limited", self.limiter.wait_time(), "quota")
        wait = max(1e-3, timeout * (1 - self.settings.queue_reserve)
                   - (time.monotonic() - started))
        self.budget.record_attempt()
        try:
            result = self._send_once(message, wait)
        except ProviderRejected as exc:
            self._rejected("provider_rejected", str(exc), to=message.to,
                           status=exc.status_code, idempotency_key=message.idempotency_key)
            raise
        if isinstance(result, _Deferral):
            delay = result.delay if result.delay is not None else self._first_backoff()
            return self._queue(message, result.reason, delay, result.detail)
        with self._counts.lock:
            self._counts.sent += 1
        _log.info("sms.sent", idempotency_key=message.idempotency_key, to=Sensitive(message.to),
                  message_id=result.message_id,
                  duration_ms=round(1000 * (time.monotonic() - started), 2))
        return SmsOutcome("sent", message.idempotency_key, message_id=result.message_id)

    def _send_once(self, message: SmsMessage, timeout: float) -> SmsReceipt | _Deferral:
        """One attempt through the breaker: the receipt, or why and how long to defer."""
        key = message.idempotency_key
        ledger = self.ledger
        ledger.begin(key)
        try:
            future = cast("ReplyFuture[SmsReceipt]", self.gate.ask(
                SendSms(message), timeout=timeout, block=False))
        except CircuitOpen as exc:
            ledger.end(key, None)
            return _Deferral("circuit_open", exc.retry_after, exc.state)
        except (MailboxFull, ServiceStopped) as exc:
            ledger.end(key, None)
            return _Deferral("provider_error", None,
                             "senders_busy" if isinstance(exc, MailboxFull) else "stopped")
        return self._await(key, future, timeout)

    def _await(self, key: str, future: ReplyFuture[SmsReceipt], timeout: float
               ) -> SmsReceipt | _Deferral:
        ledger = self.ledger
        try:
            receipt: SmsReceipt = future.get(timeout=timeout)
        except AskTimeout:
            ledger.mark_attempted(key)
            if ledger.abandon(key):
                # The send goes on; the outbox waits until it must be over, then
                # sends only if it did not get through.
                return _Deferral("provider_error", self.max_call_seconds, "timeout")
            return _Deferral("provider_error", None, "timeout")
        except ProviderRateLimited as exc:
            ledger.mark_attempted(key)
            return _Deferral("rate_limited", exc.retry_after, "http_429")
        except ProviderRejected:
            ledger.forget(key)
            raise
        except StanchionError as exc:
            ledger.mark_attempted(key)
            return _Deferral("provider_error", None, _detail(exc))
        return receipt

    def _queue(self, message: SmsMessage, reason: QueuedReason, delay: float,
               detail: str) -> SmsOutcome:
        retry_at = self._wall() + max(0.0, delay)
        assert self.outbox is not None, "start() sets the outbox"
        self.outbox.put(message, retry_at)
        with self._counts.lock:
            self._counts.queued[reason] += 1
        _log.info("sms.queued", idempotency_key=message.idempotency_key,
                  to=Sensitive(message.to), reason=reason, detail=detail,
                  retry_at=round(retry_at, 3))
        return SmsOutcome("queued", message.idempotency_key, reason=reason, retry_at=retry_at,
                          detail=detail)

    def _first_backoff(self) -> float:
        policy = self._retry_policy()
        with self._rng_lock:
            return policy.delay(1, self._rng)

    def _retry_policy(self) -> RetryPolicy:
        # An outbox may say how it backs off (TaskQueueOutbox: its store's policy);
        # `put` is all the protocol asks, so any other outbox gets the recommended one.
        policy = getattr(self.outbox, "retry_policy", None)
        return policy if isinstance(policy, RetryPolicy) else SMS_RETRY_POLICY

    def _rejected(self, reason: str, error: str, **fields: object) -> None:
        with self._counts.lock:
            self._counts.rejected += 1
        to = fields.pop("to", None)
        _log.warning("sms.rejected", reason=reason, error=error,
                     to=Sensitive(to) if to is not None else None, **fields)

    # -- the outbox's path (a queue worker's thread) -----------------------------------------------

    def deliver_queued(self, message: SmsMessage, task: Task) -> None:
        """Send a queued SMS once more (called by the outbox's workers).

        Returns when the provider has it; raises `RetryAfter` with the earliest
        sensible retry, a `ProviderError` (the queue's backoff applies), or
        `PermanentDeliveryError` when the provider rejected it for good.
        """
        key = message.idempotency_key
        ledger = self.ledger
        if ledger.running(key):
            raise RetryAfter(_BUSY_RETRY, "the first send is still in flight")
        settled = ledger.settled(key)
        if settled is not None:
            self._delivered(message, settled, task, "background")
            return
        breaker = self.gate.breaker
        if breaker.state in _OPEN_STATES:
            raise RetryAfter(breaker.metrics().retry_after, "circuit_open")
        retry = ledger.attempted(key)
        if retry and not self.budget.try_spend_retry():
            raise RetryAfter(self._first_backoff(), "retry budget spent")
        if not retry:
            self.budget.record_attempt()
        if not self.limiter.try_acquire():
            raise RetryAfter(self.limiter.wait_time(), "rate_limited")
        if retry:
            _log.info("sms.retried", idempotency_key=key, to=Sensitive(message.to),
                      attempt=task.attempts, last_error=task.last_error)
        try:
            result = self._send_once(message, self.settings.send_timeout)
        except ProviderRejected as exc:
            self._rejected("provider_rejected", str(exc), to=message.to,
                           status=exc.status_code, idempotency_key=key)
            raise PermanentDeliveryError(str(exc)) from exc
        if isinstance(result, _Deferral):
            # No delay of our own: the queue's backoff applies, raised to this floor.
            raise RetryAfter(result.delay or 0.0, f"{result.reason}: {result.detail}")
        self._delivered(message, result.message_id, task, "outbox")

    def _delivered(self, message: SmsMessage, message_id: str, task: Task, via: str) -> None:
        self.ledger.forget(message.idempotency_key)
        with self._counts.lock:
            self._counts.delivered += 1
        _log.info("sms.delivered", idempotency_key=message.idempotency_key,
                  to=Sensitive(message.to), message_id=message_id, attempts=task.attempts,
                  via=via, queued_for_s=round(max(0.0, self._wall() - task.enqueued_at), 3))

    # -- observation and life cycle ----------------------------------------------------------------

    def metrics(self) -> SmsMetrics:
        """Counters since the start, plus the breaker, retry budget and outbox now."""
        with self._counts.lock:
            sent, delivered, rejected = (self._counts.sent, self._counts.delivered,
                                         self._counts.rejected)
            queued = dict(self._counts.queued)
        outbox = self.outbox.metrics() if isinstance(self.outbox, TaskQueueOutbox) else None
        return SmsMetrics(sent=sent, queued=queued, delivered=delivered, rejected=rejected,
                          breaker=self.gate.metrics(), retry_budget=self.budget.metrics(),
                          outbox=outbox)

    def wait_until_drained(self, timeout: float) -> bool:
        """Wait until the outbox holds nothing due, delayed or in flight."""
        check.seconds("timeout", timeout, allow_zero=True)
        outbox = self.outbox
        if not isinstance(outbox, TaskQueueOutbox):
            return True
        return outbox.wait_until_drained(timeout)

    def stop(self, timeout: float | None = None) -> None:
        """Stop the outbox workers, the breaker gate and the senders (queued SMS stay stored)."""
        stoppers, self._stoppers = self._stoppers, []
        for stop in stoppers:
            stop(timeout)


def _detail(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return f"http_{status}"
    if isinstance(exc, ProviderError):
        return "network"
    return type(exc).__name__
