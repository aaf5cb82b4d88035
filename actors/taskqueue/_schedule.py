"""The queue's scheduling rules, pure: when to try a failed task again, and when to give up.

No I/O and no threads: the clock and the random source are injected, so the
rules are tested directly and a worker or a store only performs what they decide.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from actors.core import CorruptData, validate as check
from actors.retry import RetryPolicy
from actors.taskqueue._errors import PermanentDeliveryError, RetryAfter


@dataclass(frozen=True, slots=True)
class RetryAt:
    """Try the task again at `not_before` (wall-clock), `delay` seconds from the failure."""

    not_before: float
    delay: float


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Stop retrying: move the task to the dead-letter queue with `reason`."""

    reason: str
    attempts: int


Decision = RetryAt | GiveUp


def attempts_exhausted(policy: RetryPolicy, attempts_made: int) -> bool:
    """Whether a task that was claimed `attempts_made` times may not be tried again.

    Example:
        >>> attempts_exhausted(RetryPolicy(max_attempts=3), 3)
        True
        >>> attempts_exhausted(RetryPolicy(max_attempts=None), 10_000)
        False
    """
    if policy.__class__ is not RetryPolicy:
        check.instance("policy", policy, RetryPolicy, "an actors.retry.RetryPolicy")
    return not policy.should_retry(attempts_made)


class TaskSchedule:
    """Decides the next attempt of a failed task from a `RetryPolicy`.

    The clock must be wall-clock time (`time.time`), not monotonic: the times
    it produces are persisted and compared after a restart, in other processes.

    Example:
        >>> import random
        >>> policy = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=10.0, jitter="none")
        >>> schedule = TaskSchedule(policy, clock=lambda: 1000.0, rng=random.Random(0))
        >>> schedule.after_failure(attempts_made=1)
        RetryAt(not_before=1001.0, delay=1.0)
        >>> schedule.after_failure(attempts_made=2)
        RetryAt(not_before=1002.0, delay=2.0)
        >>> schedule.after_failure(attempts_made=3)
        GiveUp(reason='max_attempts', attempts=3)
    """

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        clock: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self.policy = check.instance("policy", policy, RetryPolicy, "an actors.retry.RetryPolicy")
        self._clock: Callable[[], float] = check.callable_(
            "clock", clock, "a function returning time.time() seconds")
        self._rng = check.instance("rng", rng, random.Random, "a random.Random")

    def with_policy(self, policy: RetryPolicy) -> TaskSchedule:
        """The same clock and random source with another policy (a queue's own backoff)."""
        return TaskSchedule(policy, clock=self._clock, rng=self._rng)

    def now(self) -> float:
        """The current wall-clock time, from the injected clock."""
        return self._clock()

    def due_at(self, delay: float) -> float:
        """The time a task enqueued now with `delay` seconds becomes due."""
        return self._clock() + check.seconds("delay", delay, allow_zero=True)

    def after_failure(self, attempts_made: int, retry_after: float = 0.0) -> Decision:
        """What to do with a task whose attempt number `attempts_made` (1-based) failed.

        `retry_after` is a floor the destination asked for (an HTTP
        `Retry-After`, a breaker's wait): the backoff delay is raised to it,
        never lowered.

        Example:
            >>> import random
            >>> schedule = TaskSchedule(RetryPolicy(base_delay=1.0, jitter="none"),
            ...                         clock=lambda: 0.0, rng=random.Random(0))
            >>> schedule.after_failure(1, retry_after=30.0), schedule.after_failure(1, 0.5)
            (RetryAt(not_before=30.0, delay=30.0), RetryAt(not_before=1.0, delay=1.0))
        """
        check.integer("attempts_made", attempts_made, minimum=1)
        check.seconds("retry_after", retry_after, allow_zero=True)
        if attempts_exhausted(self.policy, attempts_made):
            return GiveUp("max_attempts", attempts_made)
        delay = max(self.policy.delay(attempts_made, self._rng), retry_after)
        return RetryAt(self._clock() + delay, delay)

    def after_error(self, error: BaseException, attempts_made: int) -> Decision:
        """The one step deciding what a failed delivery attempt leads to.

        Every delivery loop (the task queue's workers, durable bus groups, the
        in-memory bus's delivery actors) asks this: `CorruptData` quarantines the
        item at once (`GiveUp("corrupt")`), `PermanentDeliveryError` dead-letters
        it at once (`GiveUp("rejected")`), `RetryAfter` raises the backoff to its
        delay, and any other error is retried by the policy until it gives up
        (`GiveUp("max_attempts")`).

        Example:
            >>> import random
            >>> from actors.core import CorruptData
            >>> schedule = TaskSchedule(RetryPolicy(max_attempts=3, base_delay=1.0,
            ...                                     jitter="none"),
            ...                         clock=lambda: 0.0, rng=random.Random(0))
            >>> schedule.after_error(OSError("HTTP 503"), 1)
            RetryAt(not_before=1.0, delay=1.0)
            >>> schedule.after_error(RetryAfter(30.0), 1)
            RetryAt(not_before=30.0, delay=30.0)
            >>> schedule.after_error(CorruptData("is not JSON"), 1)
            GiveUp(reason='corrupt', attempts=1)
            >>> schedule.after_error(PermanentDeliveryError("HTTP 400"), 1)
            GiveUp(reason='rejected', attempts=1)
            >>> schedule.after_error(OSError("HTTP 503"), 3)
            GiveUp(reason='max_attempts', attempts=3)
        """
        if isinstance(error, CorruptData):
            return GiveUp("corrupt", attempts_made)
        if isinstance(error, PermanentDeliveryError):
            return GiveUp("rejected", attempts_made)
        retry_after = error.delay if isinstance(error, RetryAfter) else 0.0
        return self.after_failure(attempts_made, retry_after)
