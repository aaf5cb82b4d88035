"""One timer thread per actor system: run callbacks at a time, without a thread per timer.

Callbacks must be quick (they typically post a message to an actor's mailbox);
the work itself happens in the actor.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable

import structlog

from actors._errors import SystemNotRunning

_log = structlog.get_logger("stanchion.scheduler")


class TimerHandle:
    """A scheduled callback; `cancel()` stops it from running if it has not run yet."""

    __slots__ = ("callback", "cancelled", "due")

    def __init__(self, due: float, callback: Callable[[], object]) -> None:
        self.due = due
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        """Do not run the callback."""
        self.cancelled = True


class Scheduler:
    """Runs callbacks after a delay on a single daemon thread.

    Example:
        >>> import threading
        >>> done = threading.Event()
        >>> scheduler = Scheduler()
        >>> _ = scheduler.call_later(0.01, done.set)
        >>> done.wait(1.0)
        True
        >>> scheduler.stop()
    """

    def __init__(self, name: str = "stanchion-scheduler",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._running = True
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        """Run `callback` after `delay` seconds (0 or less: as soon as possible)."""
        handle = TimerHandle(self._clock() + max(0.0, delay), callback)
        with self._cond:
            if not self._running:
                raise SystemNotRunning("the scheduler is stopped; start a new ActorSystem")
            heapq.heappush(self._heap, (handle.due, next(self._seq), handle))
            if self._heap[0][2] is handle:
                self._cond.notify()
        return handle

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._running and (not self._heap or self._heap[0][0] > self._clock()):
                    timeout = self._heap[0][0] - self._clock() if self._heap else None
                    self._cond.wait(timeout)
                if not self._running:
                    return
                _, _, handle = heapq.heappop(self._heap)
            if handle.cancelled:
                continue
            try:
                handle.callback()
            except Exception as exc:  # noqa: BLE001 - one bad timer must not stop the others
                _log.error("timer.failed", error=repr(exc), exc_info=exc)

    def pending(self) -> int:
        """How many timers are waiting (cancelled ones included until their time)."""
        with self._cond:
            return len(self._heap)

    def stop(self, timeout: float = 5.0) -> None:
        """Drop pending timers and end the thread."""
        with self._cond:
            self._running = False
            self._heap.clear()
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
