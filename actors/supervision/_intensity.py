"""Restart intensity: the pure rule that decides when a supervisor gives up."""

from __future__ import annotations

from collections import deque

from actors.core import validate as check


class RestartIntensity:
    """At most `max_restarts` restarts within any `within_seconds` window.

    Times come from the caller, so the rule is tested with a fake clock.

    Example:
        >>> intensity = RestartIntensity(max_restarts=2, within_seconds=5.0)
        >>> [intensity.allow(t) for t in (0.0, 1.0, 2.0)]
        [True, True, False]
        >>> intensity.allow(6.5)  # the restarts at 0 and 1 have left the window
        True
    """

    def __init__(self, max_restarts: int, within_seconds: float) -> None:
        self.max_restarts = check.integer("max_restarts", max_restarts, minimum=0)
        self.within_seconds = check.seconds("within_seconds", within_seconds)
        self._times: deque[float] = deque()

    def _expire(self, now: float) -> None:
        horizon = now - self.within_seconds
        while self._times and self._times[0] <= horizon:
            self._times.popleft()

    def allow(self, now: float) -> bool:
        """Record a restart at `now`; `False` if that exceeds the intensity."""
        self._expire(now)
        self._times.append(now)
        return len(self._times) <= self.max_restarts

    def recent(self, now: float) -> int:
        """Restarts recorded inside the window ending at `now`."""
        self._expire(now)
        return len(self._times)
