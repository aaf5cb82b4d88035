"""The circuit breaker's state machine: a plain thread-safe class, no threads, no messages.

Admission reads an immutable phase object that the breaker publishes on every
transition; while closed (or disabled) that read is the whole cost, and while
open the caller only compares the clock with the phase's deadline before being
refused. Only outcomes, half-open probes and transitions take the lock.
"""

from __future__ import annotations

import enum
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Final, ParamSpec, TypeVar

from actors.breaker._config import BreakerConfig
from actors.breaker._errors import CircuitOpen
from actors.breaker._window import CountWindow, TimeWindow
from actors.core import ConfigError, LibraryLogger, context, validate as check

_log = LibraryLogger("stanchion.breaker")

P = ParamSpec("P")
R = TypeVar("R")
# A batch of remote outcomes larger than this is refused: a time window records each one.
_MAX_REMOTE_CALLS: Final = 1_000_000


class BreakerState(enum.Enum):
    """Where a breaker is; the value is what logs, events and metrics show.

    Example:
        >>> BreakerState("half_open"), BreakerState.FORCED_OPEN.value
        (<BreakerState.HALF_OPEN: 'half_open'>, 'forced_open')
    """

    CLOSED = "closed"
    """Calls pass; outcomes are judged over the sliding window."""
    OPEN = "open"
    """Calls are refused with `CircuitOpen` until the wait is over."""
    HALF_OPEN = "half_open"
    """A few probe calls pass; their outcomes close or re-open the breaker."""
    FORCED_OPEN = "forced_open"
    """An operator refuses every call until `reset()`."""
    DISABLED = "disabled"
    """An operator lets every call through, judged by nothing, until `reset()`."""


CLOSED: Final = BreakerState.CLOSED
OPEN: Final = BreakerState.OPEN
HALF_OPEN: Final = BreakerState.HALF_OPEN
FORCED_OPEN: Final = BreakerState.FORCED_OPEN
DISABLED: Final = BreakerState.DISABLED

_EVENT_NAMES: Final = {
    CLOSED: "breaker.closed",
    OPEN: "breaker.opened",
    HALF_OPEN: "breaker.half_opened",
    FORCED_OPEN: "breaker.forced_open",
    DISABLED: "breaker.disabled",
}


class Permit:
    """Proof that a call was admitted; hand it back to `on_success`, `on_error` or `release`.

    A permit belongs to the phase (one stay in one state) that admitted it: an
    outcome reported after the breaker has moved on is not counted against
    the new phase. Permits are shared, immutable and never allocated per call.

    Example:
        >>> breaker = CircuitBreaker("sms")
        >>> permit = breaker.acquire()
        >>> permit, permit is breaker.acquire()
        (<Permit closed>, True)
        >>> breaker.release(permit)
    """

    __slots__ = ("deadline", "state")

    def __init__(self, state: BreakerState, deadline: float) -> None:
        self.state = state
        self.deadline = deadline  # open: when probes may start; half-open: when to give up

    def __repr__(self) -> str:
        return f"<Permit {self.state.value}>"


@dataclass(frozen=True, slots=True)
class BreakerTransition:
    """One change of state, as logged and published on the bus.

    `event` is the log/bus event name (`breaker.opened`...). `failure_rate` and
    `slow_rate` are percentages over `calls` (the closed window, or the
    half-open probes) that led to it. `wait` is the open period's length (0
    unless `to_state` is open); `trips` counts every transition to open so far.

    Example:
        >>> seen = []
        >>> breaker = CircuitBreaker("sms")
        >>> breaker.add_listener(seen.append)
        >>> breaker.force_open("maintenance")
        >>> seen[0].event, seen[0].from_state, seen[0].to_state, seen[0].reason
        ('breaker.forced_open', 'closed', 'forced_open', 'maintenance')
    """

    breaker: str
    event: str
    from_state: str
    to_state: str
    reason: str
    failure_rate: float
    slow_rate: float
    calls: int
    wait: float
    trips: int
    seq: int

    def as_dict(self) -> dict[str, Any]:
        """The transition as a JSON-ready dict (the bus payload)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class BreakerMetrics:
    """A snapshot of a breaker, read without a message round trip.

    Attributes:
        breaker: the breaker's name.
        state: where it is now.
        calls, failed, slow: calls judged in the current window (closed and
            open: the closed window; half-open: the probes so far).
        failure_rate, slow_rate: percentages of `calls` (0 with no calls).
        not_permitted: callers refused with `CircuitOpen` since the start.
        succeeded, failed_total: outcomes recorded since the start (disabled
            and stale outcomes included).
        ignored: errors classified as not the provider's fault.
        released: permits handed back without an outcome (e.g. the target's
            mailbox was full, so the provider was never called).
        trips: transitions to open since the start.
        consecutive_trips: trips since the last clean close (drives the wait).
        wait: seconds of the current or last open period (0 if never opened).
        retry_after: seconds until probes are let through (0 unless open).
        probes_in_flight: half-open probes admitted whose outcome is not in
            yet (0 unless half-open); never above `permitted_calls_in_half_open`.

    Example:
        >>> breaker = CircuitBreaker("sms")
        >>> breaker.on_error(breaker.acquire(), 0.2, ConnectionError("refused"))
        >>> metrics = breaker.metrics()
        >>> metrics.state, metrics.calls, metrics.failed, metrics.failure_rate
        (<BreakerState.CLOSED: 'closed'>, 1, 1, 100.0)
    """

    breaker: str
    state: BreakerState
    calls: int
    failed: int
    slow: int
    failure_rate: float
    slow_rate: float
    not_permitted: int
    succeeded: int
    failed_total: int
    ignored: int
    released: int
    trips: int
    consecutive_trips: int
    wait: float
    retry_after: float
    probes_in_flight: int = 0


Listener = Callable[[BreakerTransition], object]


@dataclass(frozen=True, slots=True)
class ProbeRule:
    """Half-open on a ratio: close once `successes` of `probes` succeed, open once that is lost.

    Pure arithmetic, shared by the breaker and its property tests.

    Example:
        >>> rule = ProbeRule(probes=5, successes=3)
        >>> rule.closes(3), rule.opens(2), rule.opens(3)
        (True, False, True)
    """

    probes: int
    successes: int

    def closes(self, succeeded: int) -> bool:
        """Whether `succeeded` probes are enough to close."""
        return succeeded >= self.successes

    def opens(self, failed: int) -> bool:
        """Whether `failed` probes leave too few to ever reach `successes`."""
        return failed > self.probes - self.successes


class CircuitBreaker:
    """A circuit breaker (closed, open, half-open, forced-open, disabled) on the caller's thread.

    `acquire()` admits a call or raises `CircuitOpen` at once; report the
    outcome with `on_success`/`on_error` (or use `call`). Transitions are
    logged (`breaker.opened`...) and handed to listeners. `clock` (seconds,
    monotonic) and `rng` (jitter) are injected so tests need no sleeps.

    Example:
        >>> from actors import CircuitOpen
        >>> now = [0.0]
        >>> breaker = CircuitBreaker("sms", BreakerConfig(
        ...     window_size=4, minimum_calls=2, wait_in_open=5.0, wait_jitter=0.0),
        ...     clock=lambda: now[0])
        >>> for _ in range(2):
        ...     breaker.on_error(breaker.acquire(), 0.1, ConnectionError("refused"))
        >>> breaker.state
        <BreakerState.OPEN: 'open'>
        >>> try:
        ...     breaker.acquire()
        ... except CircuitOpen as error:
        ...     print(error.retry_after)
        5.0
        >>> now[0] = 5.0
        >>> breaker.call(lambda: "sent"), breaker.state
        ('sent', <BreakerState.HALF_OPEN: 'half_open'>)
    """

    # Slots, not an instance dict: the closed path reads a dozen attributes per call,
    # and past 30 attributes CPython 3.11 stops sharing dict keys (slower lookups).
    __slots__ = ("__weakref__", "_ceiling", "_consecutive_trips", "_fail_pct", "_failed",
                 "_ignored", "_judged", "_listeners", "_lock", "_min_calls", "_not_permitted",
                 "_phase", "_probe_calls", "_probe_failures", "_probe_rule", "_probe_slow",
                 "_probes_admitted", "_released", "_rng", "_seq", "_slow_after", "_slow_pct",
                 "_stale", "_succeeded", "_timed_window", "_trips", "_wait", "_window", "clock",
                 "config", "name")

    def __init__(self, name: str, config: BreakerConfig | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None) -> None:
        check.name("name", name)
        config = config if config is not None else BreakerConfig()
        check.instance("config", config, BreakerConfig, "a BreakerConfig, or None")
        check.callable_("clock", clock, "a function returning monotonic seconds")
        check.optional(check.instance, "rng", rng, kind=random.Random, what="a random.Random")
        self.name = name
        self.config = config
        self.clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._lock = threading.Lock()
        self._window: CountWindow | TimeWindow = (
            CountWindow(config.window_size) if config.window_type == "count"
            else TimeWindow(config.window_size))
        self._timed_window = config.window_type == "time"
        self._slow_after = config.slow_call_duration
        self._fail_pct = config.failure_rate_threshold
        self._slow_pct = config.slow_call_rate_threshold
        self._min_calls = config.minimum_calls
        self._probe_rule = (None if config.half_open_successes_to_close is None else
                            ProbeRule(config.permitted_calls_in_half_open,
                                      config.half_open_successes_to_close))
        self._listeners: list[Listener] = []
        self._phase = Permit(CLOSED, 0.0)
        # Half-open probes: admitted (in flight or done), and the outcomes so far.
        self._probes_admitted = self._probe_calls = self._probe_failures = self._probe_slow = 0
        self._not_permitted = self._succeeded = self._failed = self._ignored = 0
        self._released = self._stale = 0
        self._trips = self._consecutive_trips = 0
        self._wait = self._ceiling = 0.0
        self._seq = 0
        # Local outcomes judged while closed (calls, failed, slow); counted only once
        # `judged_outcomes` is first asked (a BreakerSync), so the closed path pays nothing.
        self._judged: list[int] | None = None

    # -- admission (caller's thread) -------------------------------------------------------

    def acquire(self) -> Permit:
        """Admit one call, or raise `CircuitOpen` at once (open, forced open, probes all out).

        Every permit must be handed back exactly once: `on_success`,
        `on_error`, or `release` if the call was never made.
        """
        phase = self._phase
        state = phase.state
        if state is CLOSED or state is DISABLED:
            return phase
        if state is OPEN:
            now = self.clock()
            if now < phase.deadline:
                with self._lock:
                    self._not_permitted += 1
                raise CircuitOpen(self.name, phase.deadline - now)
        return self._acquire_slow(phase)

    def _acquire_slow(self, phase: Permit) -> Permit:
        events: list[BreakerTransition] = []
        try:
            with self._lock:
                now = self.clock()
                current = self._phase
                if current.state is OPEN and now >= current.deadline:
                    self._enter_half_open(now, events)
                    current = self._phase
                elif current.state is HALF_OPEN and now >= current.deadline:
                    self._trip(now, "probes did not finish within max_wait_in_half_open",
                               events)
                    current = self._phase
                state = current.state
                if state is CLOSED or state is DISABLED:
                    return current
                if state is HALF_OPEN:
                    if self._probes_admitted < self.config.permitted_calls_in_half_open:
                        self._probes_admitted += 1
                        return current
                    self._not_permitted += 1
                    retry = min(self._slow_after, current.deadline - now)
                    raise CircuitOpen(self.name, max(0.0, retry), "half_open")
                self._not_permitted += 1
                if state is OPEN:
                    raise CircuitOpen(self.name, current.deadline - now)
                raise CircuitOpen(self.name, self.config.wait_in_open, "forced_open")
        finally:
            if events:
                self._emit(events)

    # -- outcomes (caller's thread, or whichever thread saw the call end) --------------------

    def on_success(self, permit: Permit, duration: float) -> None:
        """Record a call that succeeded after `duration` seconds (slow if past the threshold)."""
        self._record(permit, False, duration > self._slow_after, None)

    def on_error(self, permit: Permit, duration: float, exc: BaseException) -> None:
        """Record a call that raised `exc` after `duration` seconds.

        Errors that are not the provider's fault (see
        `BreakerConfig.counts_as_failure`) release the permit and count nothing.
        """
        if self.config.counts_as_failure(exc):
            self._record(permit, True, duration > self._slow_after, None)
        else:
            self._give_back(permit, ignored=True)

    def release(self, permit: Permit) -> None:
        """Hand back a permit whose call was never made; nothing is judged."""
        self._give_back(permit, ignored=False)

    def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run `fn(*args, **kwargs)` through the breaker, timing it with the clock.

        Raises `CircuitOpen` without calling `fn` when the breaker refuses;
        otherwise returns `fn`'s result or re-raises its error after recording it.
        """
        if context.tracer is not None:
            return self._traced_call(fn, *args, **kwargs)
        # Inline rather than shared with the traced path: one Python frame (and its
        # argument packing) is a fifth of this call's cost.
        permit = self.acquire()
        clock = self.clock
        start = clock()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            self.on_error(permit, clock() - start, exc)
            raise
        end = clock()
        self._record(permit, False, end - start > self._slow_after, end)
        return result

    def _traced_call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """`call` inside a `breaker.call` span (tracing on)."""
        tracer = context.tracer
        assert tracer is not None
        with tracer.span("breaker.call", {"breaker": self.name, "state": self.state.value}):
            permit = self.acquire()
            start = self.clock()
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                self.on_error(permit, self.clock() - start, exc)
                raise
            self.on_success(permit, self.clock() - start)
            return result

    def _record(self, permit: Permit, failed: bool, slow: bool, now: float | None) -> None:
        events: list[BreakerTransition] | None = None
        with self._lock:
            if failed:
                self._failed += 1
            else:
                self._succeeded += 1
            if permit is not self._phase:
                self._stale += 1
                return
            state = permit.state
            if state is CLOSED:
                window = self._window
                if now is None and self._timed_window:
                    now = self.clock()
                window.record(failed=failed, slow=slow, now=0.0 if now is None else now)
                judged = self._judged
                if judged is not None:
                    judged[0] += 1
                    judged[1] += failed
                    judged[2] += slow
                calls = window.calls
                if calls >= self._min_calls and (
                        window.failures * 100.0 >= self._fail_pct * calls
                        or window.slow * 100.0 >= self._slow_pct * calls):
                    events = []
                    self._trip(self.clock() if now is None else now,
                               self._why(window.failures, window.slow, calls), events)
            elif state is HALF_OPEN and self._probe_rule is not None:
                events = []
                self._judge_probe(failed or slow, self._probe_rule,
                                  self.clock() if now is None else now, events)
            elif state is HALF_OPEN:
                self._probe_calls += 1
                self._probe_failures += failed
                self._probe_slow += slow
                permitted = self.config.permitted_calls_in_half_open
                # Judged over all permitted probes; open early once no later
                # success could bring the rate back under a threshold.
                if (self._probe_failures * 100.0 >= self._fail_pct * permitted
                        or self._probe_slow * 100.0 >= self._slow_pct * permitted):
                    events = []
                    # Worded from the probes made, the figures the transition carries.
                    calls = self._probe_calls
                    reason = (f"{self._why(self._probe_failures, self._probe_slow, calls)}; "
                              f"{calls} of {permitted} probes made, and the rest cannot "
                              "bring it under the threshold")
                    self._trip(self.clock() if now is None else now, reason, events)
                elif self._probe_calls >= permitted:
                    events = []
                    self._enter_closed("probes succeeded", events)
        if events:
            self._emit(events)

    def _judge_probe(self, failed: bool, rule: ProbeRule, now: float,
                     events: list[BreakerTransition]) -> None:
        # Ratio rule: `_probes_admitted` counts probes in flight, so a finished
        # probe frees its slot; the decision comes as soon as it is certain.
        self._probes_admitted -= 1
        self._probe_calls += 1
        self._probe_failures += failed
        if rule.closes(self._probe_calls - self._probe_failures):
            self._enter_closed(f"{self._probe_calls - self._probe_failures} of "
                               f"{rule.probes} probes succeeded", events)
        elif rule.opens(self._probe_failures):
            self._trip(now, f"{self._probe_failures} of {rule.probes} probes failed "
                       f"(needed {rule.successes} successes)", events)

    def _give_back(self, permit: Permit, *, ignored: bool) -> None:
        with self._lock:
            if ignored:
                self._ignored += 1
            else:
                self._released += 1
            if permit is self._phase and permit.state is HALF_OPEN:
                self._probes_admitted -= 1

    def _why(self, failures: int, slow: int, calls: int) -> str:
        if failures * 100.0 >= self._fail_pct * calls:
            return (f"failure rate {100.0 * failures / calls:.1f}% >= "
                    f"{self._fail_pct:g}% over {calls} calls")
        return (f"slow-call rate {100.0 * slow / calls:.1f}% >= "
                f"{self._slow_pct:g}% over {calls} calls")

    # -- transitions (under the lock; events emitted after it is released) -------------------

    def _publish(self, to: Permit, reason: str, wait: float,
                 events: list[BreakerTransition]) -> None:
        before = self._phase.state
        if before is HALF_OPEN:
            calls, failures, slow = self._probe_calls, self._probe_failures, self._probe_slow
        else:
            window = self._window
            calls, failures, slow = window.calls, window.failures, window.slow
        self._phase = to
        self._seq += 1
        events.append(BreakerTransition(
            breaker=self.name, event=_EVENT_NAMES[to.state], from_state=before.value,
            to_state=to.state.value, reason=reason,
            failure_rate=round(100.0 * failures / calls, 2) if calls else 0.0,
            slow_rate=round(100.0 * slow / calls, 2) if calls else 0.0,
            calls=calls, wait=round(wait, 3), trips=self._trips, seq=self._seq))

    def _trip(self, now: float, reason: str, events: list[BreakerTransition]) -> None:
        config = self.config
        self._trips += 1
        self._consecutive_trips += 1
        # Grown one step per consecutive trip and clamped each time, so it never overflows.
        ceiling = (config.wait_in_open if self._consecutive_trips == 1
                   else min(config.max_wait_in_open, self._ceiling * config.wait_multiplier))
        self._ceiling = ceiling
        wait = ceiling * (1.0 - config.wait_jitter * self._rng.random())
        self._wait = wait
        self._publish(Permit(OPEN, now + wait), reason, wait, events)

    def _enter_half_open(self, now: float, events: list[BreakerTransition]) -> None:
        limit = self.config.max_wait_in_half_open
        deadline = now + limit if limit > 0 else float("inf")
        self._publish(Permit(HALF_OPEN, deadline), "wait in open elapsed", 0.0, events)
        self._probes_admitted = self._probe_calls = self._probe_failures = self._probe_slow = 0

    def _enter_closed(self, reason: str, events: list[BreakerTransition]) -> None:
        self._consecutive_trips = 0
        self._publish(Permit(CLOSED, 0.0), reason, 0.0, events)
        self._window.reset()

    def _emit(self, events: list[BreakerTransition]) -> None:
        for event in events:
            log = _log.warning if event.to_state in ("open", "forced_open") else _log.info
            log(event.event, breaker=event.breaker, from_state=event.from_state,
                to_state=event.to_state, reason=event.reason,
                failure_rate=event.failure_rate, slow_rate=event.slow_rate,
                calls=event.calls, wait=event.wait, trips=event.trips, seq=event.seq)
            for listener in tuple(self._listeners):
                try:
                    listener(event)
                except Exception as exc:  # noqa: BLE001 - a listener must not fail the caller
                    _log.error("breaker.listener_failed", breaker=self.name,
                               listener=repr(listener), error=repr(exc))

    # -- time-driven transitions, operators, observation -------------------------------------

    def poll(self) -> BreakerState:
        """Apply the transitions that time alone causes (open to half-open, half-open timeout).

        `acquire` does this itself; call it to see the state move without a call.
        """
        phase = self._phase
        if phase.state is OPEN or phase.state is HALF_OPEN:
            now = self.clock()
            if now >= phase.deadline:
                events: list[BreakerTransition] = []
                with self._lock:
                    current = self._phase
                    if current.state is OPEN and now >= current.deadline:
                        self._enter_half_open(now, events)
                    elif current.state is HALF_OPEN and now >= current.deadline:
                        self._trip(now, "probes did not finish within max_wait_in_half_open",
                                   events)
                self._emit(events)
        return self._phase.state

    @property
    def state(self) -> BreakerState:
        """The current state, after any transition that time alone causes."""
        return self.poll()

    def open_for(self, wait: float, reason: str) -> bool:
        """Open now for `wait` seconds (another process's verdict); False if it did not apply.

        Applies in closed, open (only to push the deadline later) and half-open
        (its probes' outcomes become stale); never in forced-open or disabled,
        which only an operator leaves. Counted as a trip, but not as a
        consecutive one: the next local trip's wait is still the local
        decision's. Logged as `breaker.opened` with `reason`.
        """
        check.seconds("wait", wait, allow_zero=True)
        check.text("reason", reason, max_length=500)
        events: list[BreakerTransition] = []
        with self._lock:
            now = self.clock()
            current = self._phase
            if current.state is FORCED_OPEN or current.state is DISABLED:
                return False
            if current.state is OPEN and current.deadline >= now + wait:
                return False
            self._trips += 1
            self._wait = wait
            self._publish(Permit(OPEN, now + wait), reason, wait, events)
        self._emit(events)
        return True

    def judged_outcomes(self) -> tuple[int, int, int]:
        """Local outcomes judged while closed: (calls, failed, slow).

        Counted from the first call of this method on (it returns zeros then),
        so a breaker nobody shares pays nothing for it. Another process's
        outcomes added with `record_remote` are not counted.
        """
        with self._lock:
            judged = self._judged
            if judged is None:
                judged = self._judged = [0, 0, 0]
            return (judged[0], judged[1], judged[2])

    def record_remote(self, calls: int, failures: int, slow: int, reason: str) -> bool:
        """Add other processes' recent outcomes to the closed window and judge it.

        The decision is still this breaker's own, with its own thresholds and
        `minimum_calls`; the window just holds the latest outcomes of all the
        processes. Ignored unless closed; returns True if it opened. Counts are
        integers from 0 to 1,000,000 (failures and slow past `calls` count as
        `calls`); anything else raises `ConfigError`.
        """
        check.integer("calls", calls, minimum=0, maximum=_MAX_REMOTE_CALLS)
        check.integer("failures", failures, minimum=0)
        check.integer("slow", slow, minimum=0)
        check.text("reason", reason, max_length=500)
        events: list[BreakerTransition] = []
        with self._lock:
            if self._phase.state is not CLOSED or calls <= 0:
                return False
            window = self._window
            now = self.clock() if self._timed_window else 0.0
            failures, slow = min(failures, calls), min(slow, calls)
            keep = min(calls, self.config.window_size) if not self._timed_window else calls
            # Only the newest `keep` fit a count window; failures go in last, as the
            # newest (a batch does not say its order, and failures are what matter).
            fails_in = min(failures, keep)
            slow_in = min(slow, keep)
            for i in range(keep):
                window.record(failed=i >= keep - fails_in, slow=i < slow_in, now=now)
            total = window.calls
            if total < self._min_calls or not (
                    window.failures * 100.0 >= self._fail_pct * total
                    or window.slow * 100.0 >= self._slow_pct * total):
                return False
            self._trip(now if self._timed_window else self.clock(),
                       f"{self._why(window.failures, window.slow, total)} ({reason})", events)
        self._emit(events)
        return True

    def probe_now(self, reason: str) -> bool:
        """If open, go half-open now (another process's probes passed); False otherwise."""
        check.text("reason", reason, max_length=500)
        events: list[BreakerTransition] = []
        with self._lock:
            if self._phase.state is not OPEN:
                return False
            limit = self.config.max_wait_in_half_open
            deadline = self.clock() + limit if limit > 0 else float("inf")
            self._publish(Permit(HALF_OPEN, deadline), reason, 0.0, events)
            self._probes_admitted = self._probe_calls = self._probe_failures = 0
            self._probe_slow = 0
        self._emit(events)
        return True

    def force_open(self, reason: str = "operator") -> None:
        """Refuse every call until `reset()` (logged as `breaker.forced_open`)."""
        self._operator(FORCED_OPEN, reason)

    def disable(self, reason: str = "operator") -> None:
        """Let every call through, unjudged, until `reset()` (logged as `breaker.disabled`)."""
        self._operator(DISABLED, reason)

    def reset(self, reason: str = "operator") -> None:
        """Close with an empty window and the first wait; counters since the start are kept.

        Logged as `breaker.reset`.
        """
        events: list[BreakerTransition] = []
        with self._lock:
            self._consecutive_trips = 0
            self._publish(Permit(CLOSED, 0.0), reason, 0.0, events)
            self._window.reset()
        events[0] = _replace_event(events[0], "breaker.reset")
        self._emit(events)

    def _operator(self, state: BreakerState, reason: str) -> None:
        events: list[BreakerTransition] = []
        with self._lock:
            if self._phase.state is state:
                return
            self._publish(Permit(state, float("inf")), reason, 0.0, events)
        self._emit(events)

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(transition)` after each transition, on the thread that caused it.

        Keep it quick (hand the event to an actor); an exception it raises is
        logged as `breaker.listener_failed` and otherwise ignored.
        """
        if not callable(listener):
            raise ConfigError("listener", listener, "a callable taking a BreakerTransition")
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling `listener` (no error if it was not added)."""
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def metrics(self) -> BreakerMetrics:
        """A consistent snapshot of state and counters, taken under the lock."""
        self.poll()
        with self._lock:
            phase = self._phase
            if phase.state is HALF_OPEN:
                calls, failed, slow = self._probe_calls, self._probe_failures, self._probe_slow
            else:
                window = self._window
                if self._timed_window:
                    window.advance(self.clock())
                calls, failed, slow = window.calls, window.failures, window.slow
            retry_after = (max(0.0, phase.deadline - self.clock())
                           if phase.state is OPEN else 0.0)
            return BreakerMetrics(
                breaker=self.name, state=phase.state, calls=calls, failed=failed, slow=slow,
                failure_rate=100.0 * failed / calls if calls else 0.0,
                slow_rate=100.0 * slow / calls if calls else 0.0,
                not_permitted=self._not_permitted, succeeded=self._succeeded,
                failed_total=self._failed, ignored=self._ignored, released=self._released,
                trips=self._trips, consecutive_trips=self._consecutive_trips,
                wait=self._wait, retry_after=retry_after,
                probes_in_flight=self._in_flight() if phase.state is HALF_OPEN else 0)

    def _in_flight(self) -> int:
        # The rate rule never frees a slot, so its admitted count includes finished probes.
        if self._probe_rule is not None:
            return self._probes_admitted
        return self._probes_admitted - self._probe_calls

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.name!r} {self._phase.state.value}>"


def _replace_event(event: BreakerTransition, name: str) -> BreakerTransition:
    fields = event.as_dict()
    fields["event"] = name
    return BreakerTransition(**fields)
