"""`SmsSettings`: every knob of the SMS path in one validated value, with the defaults' reasons."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from actors._errors import require
from actors.breaker import BreakerConfig
from actors.retry import RetryBudgetConfig
from actors.sms._errors import ProviderRejected


def _sms_breaker() -> BreakerConfig:
    return BreakerConfig(ignore_exceptions=(ProviderRejected,))


@dataclass(frozen=True, slots=True)
class SmsSettings:
    """How the notification service reaches the provider, and how it protects it.

    Args:
        base_url: the provider's API root (required).
        send_timeout: default seconds `send_sms` may take before it answers
            `queued` (default 1.0: a user waiting on a page should not wait
            longer; the send goes on in the background).
        connect_timeout, read_timeout: the HTTP client's (defaults 1.0 and 5.0).
        max_connections, max_keepalive: each sender's HTTP pool (defaults 2 and
            2: a sender has one call in flight; one spare for a reconnect).
        senders: size of the `SmsSender` pool, the most provider calls in
            flight (default 8).
        sender_mailbox: sends that may wait for a free sender before callers
            get `queued` at once (default 64).
        rate_per_second, burst: the token bucket in front of the provider;
            set them to the provider's quota so we never cause its 429s
            (defaults 50/s, burst 50: a common entry-level SMS API quota).
        breaker: the circuit breaker's settings; `ProviderRejected` is always
            ignored (the caller's fault, not the provider's).
        retry_budget: how many outbox retries may be added on top of first
            attempts (default 20% plus 1/s over 10 s).
        outbox_workers, outbox_batch: the outbox's delivering workers and the
            SMS each claims at a time (defaults 2 and 10).
        outbox_poll_interval: seconds between looks at an idle outbox (0.2).
        queue_reserve: fraction of a `send_sms` timeout kept for storing the
            SMS in the outbox if the provider does not answer (default 0.1).

    Example:
        >>> SmsSettings("https://sms.example.com").send_timeout
        1.0
        >>> SmsSettings("https://sms.example.com", senders=0)
        Traceback (most recent call last):
        ...
        actors._errors.ConfigError: senders=0 is invalid: expected an integer >= 1
    """

    base_url: str
    send_timeout: float = 1.0
    connect_timeout: float = 1.0
    read_timeout: float = 5.0
    max_connections: int = 2
    max_keepalive: int = 2
    senders: int = 8
    sender_mailbox: int = 64
    rate_per_second: float = 50.0
    burst: int = 50
    breaker: BreakerConfig = field(default_factory=_sms_breaker)
    retry_budget: RetryBudgetConfig = field(default_factory=RetryBudgetConfig)
    outbox_workers: int = 2
    outbox_batch: int = 10
    outbox_poll_interval: float = 0.2
    queue_reserve: float = 0.1

    def __post_init__(self) -> None:
        require(isinstance(self.base_url, str)
                and self.base_url.startswith(("http://", "https://")),
                "base_url", self.base_url, "the provider's http:// or https:// URL")
        for name in ("send_timeout", "connect_timeout", "read_timeout", "rate_per_second",
                     "outbox_poll_interval"):
            value = getattr(self, name)
            require(_finite(value) and value > 0, name, value, "a finite number > 0")
        for name in ("max_connections", "senders", "sender_mailbox", "burst",
                     "outbox_workers", "outbox_batch"):
            value = getattr(self, name)
            require(_int(value) and value >= 1, name, value, "an integer >= 1")
        require(_int(self.max_keepalive) and 0 <= self.max_keepalive <= self.max_connections,
                "max_keepalive", self.max_keepalive,
                f"an integer from 0 to max_connections ({self.max_connections})")
        require(isinstance(self.breaker, BreakerConfig), "breaker", self.breaker,
                "an actors.breaker.BreakerConfig")
        require(not self.breaker.counts_as_failure(ProviderRejected(400, "check")), "breaker",
                self.breaker, "a config that does not count ProviderRejected as a failure "
                "(keep the default failure_predicate, or add it to ignore_exceptions)")
        require(isinstance(self.retry_budget, RetryBudgetConfig), "retry_budget",
                self.retry_budget, "an actors.retry.RetryBudgetConfig")
        require(_finite(self.queue_reserve) and 0 <= self.queue_reserve < 1, "queue_reserve",
                self.queue_reserve, "a fraction in [0, 1)")


def _finite(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
