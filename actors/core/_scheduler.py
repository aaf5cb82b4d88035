"""One timer thread per actor system: run callbacks at a time, without a thread per timer.

Callbacks must be quick (they typically post a message to an actor's mailbox);
the work itself happens in the actor. No callback and no delay can stop the
thread: a failing callback is logged (`timer.failed`) and the next one runs; an
infinite delay means "never"; a wait longer than the lock accepts is split. If
the thread dies all the same (a callback raised `SystemExit` or
`KeyboardInterrupt`, or the clock failed), that is logged as `runtime.fault`
and a new thread takes over the pending timers, up to
`MAX_THREAD_RESTARTS` times; after that `call_later` raises `SystemNotRunning`
naming the cause instead of queueing timers that nothing would run.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import sys
import threading
import time
from collections.abc import Callable

from actors.core import _validate
from actors.core._errors import ConfigError, SystemNotRunning, short_repr
from actors.core._logging import LibraryLogger

_log = LibraryLogger("stanchion.scheduler")

#: How often a dead timer thread is replaced before the scheduler gives up.
MAX_THREAD_RESTARTS = 3

# The thread wakes at least this often: a far-off timer is waited for in steps,
# because a lock refuses a timeout beyond threading.TIMEOUT_MAX.
_MAX_WAIT = 3600.0


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
        self._name = _validate.name("name", name)
        self._clock = _validate.callable_("clock", clock, "a callable returning monotonic seconds")
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._running = True
        self._restarts = 0
        self._failure: BaseException | None = None
        self._thread = self._new_thread()
        self._thread.start()

    def _new_thread(self) -> threading.Thread:
        return threading.Thread(target=self._run, name=self._name, daemon=True)

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        """Run `callback` after `delay` seconds.

        0 or less runs it as soon as possible; `math.inf` never runs it (the
        handle is returned and nothing is kept). NaN, a bool or a non-number
        raises `ConfigError`, as does a `callback` that is not callable.
        Raises `SystemNotRunning` once the scheduler is stopped (or its thread
        could not be kept alive).
        """
        if delay.__class__ is not float or math.isnan(delay):  # a plain float skips the checks
            delay = _validate.number("delay", delay, allow_inf=True, unit="seconds")
        if not callable(callback):
            raise ConfigError("callback", callback, "a callable taking no arguments")
        handle = TimerHandle(self._now() + max(0.0, delay), callback)
        with self._cond:
            if not self._running:
                raise SystemNotRunning("the scheduler is stopped; start a new ActorSystem")
            if self._failure is not None:
                raise SystemNotRunning(
                    f"the scheduler's timer thread died {MAX_THREAD_RESTARTS + 1} times (last: "
                    f"{short_repr(self._failure)}); see the runtime.fault log events and "
                    "start a new ActorSystem")
            if handle.due == math.inf:
                return handle  # never due: nothing to keep
            heapq.heappush(self._heap, (handle.due, next(self._seq), handle))
            if self._heap[0][2] is handle:
                self._cond.notify()
        return handle

    def _now(self) -> float:
        try:
            now = self._clock()
        except Exception as exc:
            raise ConfigError("clock", self._clock,
                              f"a clock that returns seconds (it raised {short_repr(exc)})"
                              ) from exc
        if not _validate.is_finite_number(now):
            raise ConfigError("clock", now, "a clock returning a finite number of seconds")
        return float(now)

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # noqa: BLE001 - reported, and the thread replaced
            self._died(exc)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while True:
                    if not self._running:
                        return
                    if not self._heap:
                        self._cond.wait()
                        continue
                    wait = self._heap[0][0] - self._clock()
                    if wait <= 0:
                        break
                    self._cond.wait(min(wait, _MAX_WAIT))
                _, _, handle = heapq.heappop(self._heap)
            if handle.cancelled:
                continue
            try:
                handle.callback()
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:  # noqa: BLE001 - one bad timer must not stop the others
                _log.error("timer.failed", error=short_repr(exc), exc_info=exc)

    def _died(self, exc: BaseException) -> None:
        try:
            _log.error("runtime.fault", service=self._name, where="scheduler",
                       error=short_repr(exc), exc_info=exc)
        except BaseException:  # noqa: BLE001 - logging is broken too: last resort
            with contextlib.suppress(BaseException):
                sys.stderr.write(f"stanchion runtime.fault service={self._name!r} "
                                 f"where=scheduler error={short_repr(exc)}\n")
        with self._cond:
            if not self._running:
                return
            if self._restarts < MAX_THREAD_RESTARTS:
                self._restarts += 1
                self._thread = self._new_thread()
                self._thread.start()
                return
            self._failure = exc
            self._heap.clear()

    @property
    def restarts(self) -> int:
        """How many times the timer thread died and was replaced."""
        return self._restarts

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
            thread = self._thread
        if threading.current_thread() is not thread:
            thread.join(timeout)
