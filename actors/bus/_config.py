"""The event bus's validated configuration."""

from __future__ import annotations

from dataclasses import dataclass, field

from actors._errors import require
from actors.retry import RetryPolicy


def _default_retry() -> RetryPolicy:
    return RetryPolicy(max_attempts=5, base_delay=0.05, max_delay=5.0, jitter="full")


@dataclass(frozen=True, slots=True)
class EventBusConfig:
    """How the bus buffers, retries and dead-letters per subscriber.

    Args:
        buffer_size: events waiting in one subscriber's delivery actor mailbox
            (1000: a burst of a second or so for a typical handler).
        max_backlog: events kept beyond the buffer for a subscriber that falls
            behind (10,000); past it, events are dead-lettered with reason
            `overflow`, never dropped silently.
        retry: backoff between delivery attempts when a handler raises; after
            `max_attempts` (5) the event is dead-lettered with reason
            `max_attempts` and the last error. 50 ms doubling to 5 s, full jitter.
        dead_letter_capacity: dead events kept for listing and replay (10,000).

    Example:
        >>> EventBusConfig(buffer_size=0)
        Traceback (most recent call last):
        ...
        actors._errors.ConfigError: buffer_size=0 is invalid: expected an integer >= 1
    """

    buffer_size: int = 1000
    max_backlog: int = 10_000
    retry: RetryPolicy = field(default_factory=_default_retry)
    dead_letter_capacity: int = 10_000

    def __post_init__(self) -> None:
        require(isinstance(self.buffer_size, int) and self.buffer_size >= 1, "buffer_size",
                self.buffer_size, "an integer >= 1")
        require(isinstance(self.max_backlog, int) and self.max_backlog >= 0, "max_backlog",
                self.max_backlog, "an integer >= 0")
        require(isinstance(self.retry, RetryPolicy), "retry", self.retry,
                "an actors.retry.RetryPolicy")
        require(isinstance(self.dead_letter_capacity, int) and self.dead_letter_capacity >= 1,
                "dead_letter_capacity", self.dead_letter_capacity, "an integer >= 1")
