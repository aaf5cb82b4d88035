"""The relay's validated configuration."""

from __future__ import annotations

from dataclasses import dataclass, field

from actors.core import ConfigError, RetryPolicy, validate as check


def _default_retry() -> RetryPolicy:
    return RetryPolicy(max_attempts=None, base_delay=0.05, max_delay=5.0, jitter="full")


@dataclass(frozen=True, slots=True)
class OutboxConfig:
    """How the relay reads the outbox and retries a destination that refuses.

    Args:
        batch_size: most rows read and announced per round (1 to 10,000);
            default 100.
        poll_interval: seconds between reads while the outbox is empty
            (a writer can `nudge()` the relay to skip the wait); default 0.2.
        retry: backoff for an aggregate whose announcement failed. Its later
            rows wait behind it (order per aggregate); other aggregates go on.
            Must never give up (`max_attempts=None`): an announcement is never
            dropped. Default 50 ms doubling to 5 s, full jitter.

    Example:
        >>> OutboxConfig(batch_size=0)  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ...
        actors.ConfigError: batch_size=0 is invalid: expected an integer >= 1 and <= 10000
    """

    batch_size: int = 100
    poll_interval: float = 0.2
    retry: RetryPolicy = field(default_factory=_default_retry)

    def __post_init__(self) -> None:
        check.integer("batch_size", self.batch_size, minimum=1, maximum=10_000)
        check.seconds("poll_interval", self.poll_interval, maximum=3600.0)
        check.instance("retry", self.retry, RetryPolicy, "an actors.RetryPolicy")
        if self.retry.max_attempts is not None:
            raise ConfigError("retry", self.retry,
                              "a RetryPolicy with max_attempts=None: the relay never drops "
                              "an announcement, it keeps retrying with backoff")
