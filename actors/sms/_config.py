"""`SmsConfig`: every knob of the SMS path in one validated value, with the defaults' reasons."""

from __future__ import annotations

from dataclasses import dataclass, field

from actors.breaker import BreakerConfig
from actors.core import ConfigError, validate as check
from actors.retry import RetryBudgetConfig
from actors.sms._errors import ProviderRejected


def _sms_breaker() -> BreakerConfig:
    return BreakerConfig(ignore_exceptions=(ProviderRejected,))


#: The longest timeout or poll interval the SMS path takes: an hour (a user is waiting).
MAX_TIMEOUT = 3600.0


@dataclass(frozen=True, slots=True)
class SmsConfig:
    """How the notification service reaches the provider, and how it protects it.

    Args:
        base_url: the provider's API root (required): an http:// or https://
            URL with a host.
        send_timeout: default seconds `send_sms` may take before it answers
            `queued` (default 1.0: a user waiting on a page should not wait
            longer; the send goes on in the background).
        connect_timeout, read_timeout: the HTTP client's (defaults 1.0 and 5.0).
            Every duration here is finite, > 0 and at most 3600 seconds.
        max_connections, max_keepalive: each sender's HTTP pool, 1 to 1000 and
            0 to `max_connections` (defaults 2 and 2: a sender has one call in
            flight; one spare for a reconnect).
        senders: size of the `SmsSender` pool, the most provider calls in
            flight, 1 to 1000 (default 8).
        sender_mailbox: sends that may wait for a free sender before callers
            get `queued` at once, 1 to 1,000,000 (default 64).
        rate_per_second, burst: the token bucket in front of the provider
            (rate > 0 and at most 1e9, burst 1 to 1e9); set them to the
            provider's quota so we never cause its 429s (defaults 50/s, burst
            50: a common entry-level SMS API quota).
        breaker: the circuit breaker's settings; `ProviderRejected` is always
            ignored (the caller's fault, not the provider's).
        retry_budget: how many outbox retries may be added on top of first
            attempts (default 20% plus 1/s over 10 s).
        outbox_workers, outbox_batch: the outbox's delivering workers (1 to
            1000) and the SMS each claims at a time (1 to 10,000); defaults 2 and 10.
        outbox_poll_interval: seconds between looks at an idle outbox (0.2).
        queue_reserve: fraction in [0, 1) of a `send_sms` timeout kept for
            storing the SMS in the outbox if the provider does not answer
            (default 0.1).

    Example:
        >>> SmsConfig("https://sms.example.com").send_timeout
        1.0
        >>> SmsConfig("https://sms.example.com", senders=0)
        Traceback (most recent call last):
        ...
        actors.ConfigError: senders=0 is invalid: expected an integer >= 1 and <= 1000
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
        check.url("base_url", self.base_url)
        for name in ("send_timeout", "connect_timeout", "read_timeout",
                     "outbox_poll_interval"):
            check.seconds(name, getattr(self, name), maximum=MAX_TIMEOUT)
        check.number("rate_per_second", self.rate_per_second, minimum=0.0,
                     exclusive_minimum=True, maximum=1e9, unit="SMS per second")
        check.integer("burst", self.burst, minimum=1, maximum=1_000_000_000)
        check.integer("max_connections", self.max_connections, minimum=1, maximum=1000)
        check.integer("max_keepalive", self.max_keepalive, minimum=0,
                      maximum=self.max_connections)
        check.integer("senders", self.senders, minimum=1, maximum=1000)
        check.integer("sender_mailbox", self.sender_mailbox, minimum=1, maximum=1_000_000)
        check.integer("outbox_workers", self.outbox_workers, minimum=1, maximum=1000)
        check.integer("outbox_batch", self.outbox_batch, minimum=1, maximum=10_000)
        check.instance("breaker", self.breaker, BreakerConfig, "an actors.breaker.BreakerConfig")
        if self.breaker.counts_as_failure(ProviderRejected(400, "check")):
            raise ConfigError("breaker", self.breaker,
                              "a config that does not count ProviderRejected as a failure "
                              "(keep the default failure_predicate, or add it to "
                              "ignore_exceptions)")
        check.instance("retry_budget", self.retry_budget, RetryBudgetConfig,
                       "an actors.retry.RetryBudgetConfig")
        if check.number("queue_reserve", self.queue_reserve, minimum=0.0, maximum=1.0) == 1.0:
            raise ConfigError("queue_reserve", self.queue_reserve,
                              "a fraction in [0, 1): 1 would leave no time to send")
