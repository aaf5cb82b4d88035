"""Exponential backoff with jitter, as a pure, validated value."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from actors.core import _validate as check

Jitter = Literal["full", "equal", "none"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how soon to try again after a failure.

    The delay before retry number `n` (1-based) is drawn from the capped
    exponential `min(max_delay, base_delay * multiplier ** (n - 1))`:
    "full" jitter draws uniformly from [0, cap] (AWS's recommendation, which
    spreads a herd of clients best), "equal" from [cap/2, cap], "none" uses cap.

    Args:
        max_attempts: total attempts including the first, an integer >= 1;
            `None` retries forever.
        base_delay: seconds before the first retry (before jitter), finite, >= 0.
        max_delay: ceiling on any single delay, finite seconds >= `base_delay`.
        multiplier: growth factor per attempt, a finite number >= 1.
        jitter: "full", "equal" or "none".

    Example:
        >>> import random
        >>> policy = RetryPolicy(max_attempts=5, base_delay=0.1, max_delay=2.0, jitter="none")
        >>> [policy.delay(n, random.Random(0)) for n in (1, 2, 3, 6)]
        [0.1, 0.2, 0.4, 2.0]
        >>> policy.should_retry(attempts_made=5)
        False
    """

    max_attempts: int | None = 5
    base_delay: float = 0.1
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: Jitter = "full"

    def __post_init__(self) -> None:
        check.optional(check.integer, "max_attempts", self.max_attempts, minimum=1)
        base = check.seconds("base_delay", self.base_delay, allow_zero=True)
        check.number("max_delay", self.max_delay, minimum=base, maximum=check.MAX_SECONDS,
                     unit="seconds (at least base_delay)")
        check.number("multiplier", self.multiplier, minimum=1.0)
        check.one_of("jitter", self.jitter, ("full", "equal", "none"))

    def cap(self, retry_number: int) -> float:
        """The un-jittered delay before retry `retry_number` (1-based)."""
        check.integer("retry_number", retry_number, minimum=1)
        exponent = min(retry_number - 1, 1024)  # beyond this the float overflows; the cap wins
        try:
            raw = self.base_delay * self.multiplier**exponent
        except OverflowError:
            return self.max_delay
        return min(self.max_delay, raw)

    def delay(self, retry_number: int, rng: random.Random) -> float:
        """Seconds to wait before retry `retry_number` (1-based), jittered with `rng`."""
        cap = self.cap(retry_number)
        if self.jitter != "none" and not isinstance(rng, random.Random):
            check.instance("rng", rng, random.Random, "a random.Random")
        if self.jitter == "full":
            return rng.uniform(0.0, cap)
        if self.jitter == "equal":
            return rng.uniform(cap / 2, cap)
        return cap

    def should_retry(self, attempts_made: int) -> bool:
        """Whether another attempt is allowed after `attempts_made` attempts."""
        check.integer("attempts_made", attempts_made, minimum=0)
        return self.max_attempts is None or attempts_made < self.max_attempts
