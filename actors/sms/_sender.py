"""`SmsSender`: the actor that owns an `SmsClient` and sends one message per request.

A pool of them serves one name from one bounded mailbox: the pool size is how
many provider calls are in flight at once, the mailbox bound how many may
wait. The `SendLedger` they share records which sends are still running and
which finished after their caller stopped waiting, so a queued copy of an SMS
is not sent again while (or after) the first send goes through.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from actors.core import ServiceActor, StanchionError, validate as check
from actors.sms._client import SmsClient, SmsReceipt
from actors.sms._message import SmsMessage


@dataclass(frozen=True, slots=True)
class SendSms:
    """Ask an `SmsSender` to send `message` once; the reply is an `SmsReceipt`."""

    message: SmsMessage

    def __post_init__(self) -> None:
        check.instance("message", self.message, SmsMessage, "an actors.sms.SmsMessage")


class NotAnSmsCommand(StanchionError, TypeError):
    """An `SmsSender` was sent something other than `SendSms`."""

    def __init__(self, message: object) -> None:
        super().__init__(
            f"SmsSender takes SendSms(message), not {type(message).__name__}; send SMS "
            "through NotificationService.send_sms")


class SendLedger:
    """Which sends are in flight, and how the ones whose caller gave up ended.

    `begin(key)` before a send is handed to a sender; the sender calls
    `end(key, message_id)` when the provider call is over. A caller that stops
    waiting calls `abandon(key)`: the outcome is then kept for the outbox,
    which asks `settled(key)` before sending the queued copy. Entries older
    than `stale_after` seconds are treated as lost (their sender never ran).
    Keys whose SMS already reached the provider once are `mark_attempted`, so
    the outbox counts its send as a retry for the retry budget.

    Example:
        >>> ledger = SendLedger(clock=lambda: 0.0)
        >>> ledger.begin("k-1")
        >>> ledger.abandon("k-1"), ledger.running("k-1")
        (True, True)
        >>> ledger.end("k-1", "SM1")
        >>> ledger.running("k-1"), ledger.settled("k-1")
        (False, 'SM1')
    """

    def __init__(self, *, stale_after: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._stale_after = check.seconds("stale_after", stale_after)
        self._clock = check.callable_("clock", clock, "a function returning monotonic seconds")
        self._lock = threading.Lock()
        self._running: dict[str, tuple[float, int]] = {}  # key -> (started, sends in flight)
        self._abandoned: set[str] = set()
        self._settled: dict[str, str] = {}
        self._attempted: set[str] = set()

    def begin(self, key: str) -> None:
        """A send of `key` is about to be handed to a sender."""
        with self._lock:
            _, count = self._running.get(key, (0.0, 0))
            self._running[key] = (self._clock(), count + 1)

    def end(self, key: str, message_id: str | None) -> None:
        """The send of `key` is over: accepted as `message_id`, or failed (`None`)."""
        with self._lock:
            started, count = self._running.pop(key, (0.0, 0))
            if count > 1:
                self._running[key] = (started, count - 1)
            if key in self._abandoned:
                if message_id is not None:
                    self._settled[key] = message_id
                if count <= 1:
                    self._abandoned.discard(key)

    def abandon(self, key: str) -> bool:
        """The caller stopped waiting; `True` if the send is still running (its end is kept)."""
        with self._lock:
            if key not in self._running:
                return False
            self._abandoned.add(key)
            return True

    def running(self, key: str) -> bool:
        """Whether a send of `key` is in flight (and not older than `stale_after`)."""
        with self._lock:
            entry = self._running.get(key)
            if entry is None:
                return False
            if self._clock() - entry[0] > self._stale_after:
                del self._running[key]
                self._abandoned.discard(key)
                return False
            return True

    def settled(self, key: str) -> str | None:
        """The message id if an abandoned send of `key` was accepted after all."""
        with self._lock:
            return self._settled.get(key)

    def mark_attempted(self, key: str) -> None:
        """The SMS `key` reached the provider at least once (a later send is a retry)."""
        with self._lock:
            self._attempted.add(key)

    def attempted(self, key: str) -> bool:
        """Whether the SMS `key` reached the provider before."""
        with self._lock:
            return key in self._attempted

    def forget(self, key: str) -> None:
        """The SMS `key` is done (delivered or given up): drop what is kept about it."""
        with self._lock:
            self._settled.pop(key, None)
            self._attempted.discard(key)

    def __len__(self) -> int:
        with self._lock:
            return len(self._running) + len(self._settled) + len(self._attempted)


class SmsSender(ServiceActor):
    """Sends one SMS per `SendSms` request with the `SmsClient` it owns.

    The client is created when the actor starts and closed when it stops or
    crashes, so a restarted sender starts with fresh connections. Provider
    errors are the reply (`ProviderUnavailable`...), not crashes.

    Example:
        >>> from actors.sms import FakeSmsProvider, SmsClient, SmsMessage
        >>> from actors.supervision import ActorSystem, ChildSpec
        >>> with FakeSmsProvider() as provider, ActorSystem([ChildSpec(
        ...         "sms-sender", SmsSender, args=(lambda: SmsClient(provider.base_url),),
        ...         pool_size=2)]) as system:
        ...     receipt = system.service("sms-sender").ask(
        ...         SendSms(SmsMessage("+15551234567", "hi", "k-1")), timeout=5.0)
        >>> receipt.idempotency_key
        'k-1'
    """

    mailbox_size = 100
    ask_timeout = 10.0

    def __init__(self, client_factory: Callable[[], SmsClient],
                 ledger: SendLedger | None = None) -> None:
        check.callable_("client_factory", client_factory, "a function returning an SmsClient")
        check.optional(check.instance, "ledger", ledger, kind=SendLedger,
                       what="an actors.sms.SendLedger")
        super().__init__()
        self._client_factory = client_factory
        self._ledger = ledger
        self._client: SmsClient | None = None

    def on_start(self) -> None:
        self._client = self._client_factory()

    def on_stop(self) -> None:
        self._close()

    def on_failure(self, exception_type: type[BaseException] | None,
                   exception_value: BaseException | None,
                   traceback: TracebackType | None) -> None:
        self._close()

    def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def on_receive(self, message: Any) -> SmsReceipt:
        if not isinstance(message, SendSms):
            raise NotAnSmsCommand(message)
        client = self._client
        assert client is not None, "on_start creates the client"
        key = message.message.idempotency_key
        message_id: str | None = None
        try:
            receipt = client.send(message.message)
            message_id = receipt.message_id
            return receipt
        finally:
            if self._ledger is not None:
                self._ledger.end(key, message_id)
