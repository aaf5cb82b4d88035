"""The event bus's validated configuration."""

from __future__ import annotations

from dataclasses import dataclass, field

from actors.core import validate as check
from actors.retry import RetryPolicy


def _default_retry() -> RetryPolicy:
    return RetryPolicy(max_attempts=5, base_delay=0.05, max_delay=5.0, jitter="full")


#: The most events a backlog or dead-letter store may be sized for (they grow as needed).
MAX_EVENTS = 100_000_000
#: The largest delivery buffer: it is a mailbox, whose places are allocated up front.
MAX_BUFFER = 1_000_000


@dataclass(frozen=True, slots=True)
class EventBusConfig:
    """How the bus buffers, retries and dead-letters per subscriber.

    Args:
        buffer_size: events waiting in one subscriber's delivery actor mailbox,
            1 to 1,000,000 (1000: a burst of a second or so for a typical handler).
        max_backlog: events kept beyond the buffer for a subscriber that falls
            behind, 0 to 100,000,000 (10,000); past it, events are
            dead-lettered with reason `overflow`, never dropped silently.
        retry: backoff between delivery attempts when a handler raises; after
            `max_attempts` (5) the event is dead-lettered with reason
            `max_attempts` and the last error. 50 ms doubling to 5 s, full jitter.
        dead_letter_capacity: dead events kept for listing and replay, 1 to
            100,000,000 (10,000).

    Example:
        >>> EventBusConfig(buffer_size=0)
        Traceback (most recent call last):
        ...
        actors.ConfigError: buffer_size=0 is invalid: expected an integer >= 1 and \
<= 1000000
    """

    buffer_size: int = 1000
    max_backlog: int = 10_000
    retry: RetryPolicy = field(default_factory=_default_retry)
    dead_letter_capacity: int = 10_000

    def __post_init__(self) -> None:
        check.integer("buffer_size", self.buffer_size, minimum=1, maximum=MAX_BUFFER)
        check.integer("max_backlog", self.max_backlog, minimum=0, maximum=MAX_EVENTS)
        check.instance("retry", self.retry, RetryPolicy, "an actors.retry.RetryPolicy")
        check.integer("dead_letter_capacity", self.dead_letter_capacity, minimum=1,
                      maximum=MAX_EVENTS)
