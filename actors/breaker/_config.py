"""The circuit breaker's validated configuration, with defaults chosen for an SMS HTTP API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from actors.core import ConfigError, validate as check

WindowType = Literal["count", "time"]

#: The largest window: a million calls (count), or a day (time, in one-second buckets).
MAX_COUNT_WINDOW = 1_000_000
MAX_TIME_WINDOW = 86_400
FailurePredicate = Callable[[BaseException], bool]


def http_status_of(exc: BaseException) -> int | None:
    """The HTTP status an error carries, if any (`status_code`, `status`, `response.status_code`).

    Example:
        >>> class Rejected(Exception):
        ...     status_code = 400
        >>> http_status_of(Rejected()), http_status_of(ValueError())
        (400, None)
    """
    for holder in (exc, getattr(exc, "response", None)):
        if holder is None:
            continue
        for attr in ("status_code", "status"):
            status = getattr(holder, attr, None)
            if isinstance(status, int) and not isinstance(status, bool):
                return status
    return None


def provider_at_fault(exc: BaseException) -> bool:
    """Whether an error is the provider's fault: `False` for an HTTP 4xx other than 429.

    A 400 (bad number), 401 (wrong key) or 404 is the caller's mistake: the
    provider answered correctly, and tripping the breaker would block every
    other caller's good requests. A 429 (too many requests) is the provider
    saying it is overloaded, which is exactly what the breaker protects. Errors
    without a status (timeouts, refused connections) are the provider's fault.

    Example:
        >>> class HttpError(Exception):
        ...     def __init__(self, status_code):
        ...         self.status_code = status_code
        >>> [provider_at_fault(HttpError(s)) for s in (400, 429, 503)]
        [False, True, True]
        >>> provider_at_fault(TimeoutError())
        True
    """
    status = http_status_of(exc)
    return status is None or not (400 <= status < 500) or status == 429


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """How a breaker judges calls and how long it stays open (resilience4j's model).

    Args:
        window_type: "count" judges the last `window_size` calls; "time" the calls
            of the last `window_size` seconds. Default "count": SMS traffic is
            bursty (campaigns, then quiet), and a count window judges a quiet
            hour on the same number of calls as a busy minute.
        window_size: calls (count, 1 to 1,000,000) or seconds (time, 1 to
            86,400) in the window; default 20 calls, enough for a stable rate
            without remembering stale history.
        failure_rate_threshold: percent of failed calls that opens the breaker;
            default 50: half the sends failing is an outage, not noise.
        slow_call_duration: seconds after which a call counts as slow; default
            2.0, several times a healthy SMS API's p99 (a few hundred ms).
        slow_call_rate_threshold: percent of slow calls that opens the breaker;
            default 80: a provider answering, but only slowly, still ties up callers.
        minimum_calls: calls needed in the window before judging (>= 1, at most
            `window_size` for a count window); default 10, so two failures at
            start-up do not trip it.
        wait_in_open: seconds open before letting probes through after a first
            trip; default 5.0: short enough that a provider blip costs little,
            long enough not to hammer a provider that is restarting.
        max_wait_in_open: ceiling for the wait as it grows on repeated trips;
            default 60.0: a provider down for an hour gets a probe each minute.
        wait_multiplier: growth of the wait per consecutive trip (>= 1); default
            2.0 (5, 10, 20, 40, 60 s). A clean close (half-open to closed) resets
            the wait to `wait_in_open`.
        wait_jitter: fraction in [0, 1) by which each wait is shortened at random,
            so a fleet of senders does not probe the provider in step; default 0.25.
        permitted_calls_in_half_open: probes let through to test recovery (1
            to 1,000,000); default 3: one lucky probe should not close the breaker.
        half_open_successes_to_close: decide half-open on a ratio: close as soon
            as this many of the `permitted_calls_in_half_open` probes succeed (a
            slow success counts as failed), open again as soon as that can no
            longer happen; at most `permitted_calls_in_half_open` probes are in
            flight at once (a finished probe frees its slot for the next caller).
            `None` (default) keeps the rate rule: exactly the permitted probes,
            judged together by the two rate thresholds.
        max_wait_in_half_open: seconds to wait for the probes' outcomes before
            opening again; 0 waits for all of them. Default 10.0: a probe that
            neither succeeds nor fails in that time (five slow calls) is as
            good as failed, and must not hold the breaker half-open forever.
        record_exceptions: error types that may count as failures; others are
            ignored. Default `(Exception,)`.
        ignore_exceptions: error types never counted (checked first); default none.
        failure_predicate: called with a recorded error; `False` makes it
            ignored. Default `provider_at_fault`: an HTTP 4xx other than 429 is
            the caller's fault, not the provider's. `None` counts every
            recorded error. An error with a boolean `counts_as_failure`
            attribute is classified by that attribute instead.

    Durations are finite seconds, at most ten years (`actors.core._validate.MAX_SECONDS`).

    Example:
        >>> BreakerConfig(window_type="time", window_size=60).minimum_calls
        10
        >>> BreakerConfig(failure_rate_threshold=101)  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ...
        actors.ConfigError: failure_rate_threshold=101 is invalid:
        expected a percentage in (0, 100]
    """

    window_type: WindowType = "count"
    window_size: int = 20
    failure_rate_threshold: float = 50.0
    slow_call_duration: float = 2.0
    slow_call_rate_threshold: float = 80.0
    minimum_calls: int = 10
    wait_in_open: float = 5.0
    max_wait_in_open: float = 60.0
    wait_multiplier: float = 2.0
    wait_jitter: float = 0.25
    permitted_calls_in_half_open: int = 3
    half_open_successes_to_close: int | None = None
    max_wait_in_half_open: float = 10.0
    record_exceptions: tuple[type[BaseException], ...] = (Exception,)
    ignore_exceptions: tuple[type[BaseException], ...] = ()
    failure_predicate: FailurePredicate | None = provider_at_fault

    def __post_init__(self) -> None:
        check.one_of("window_type", self.window_type, ("count", "time"))
        most = MAX_COUNT_WINDOW if self.window_type == "count" else MAX_TIME_WINDOW
        unit = "calls" if self.window_type == "count" else "seconds, for a time window"
        try:
            check.integer("window_size", self.window_size, minimum=1, maximum=most)
        except ConfigError as exc:
            raise ConfigError("window_size", self.window_size,
                              f"{exc.expected} ({unit})") from None
        for name in ("failure_rate_threshold", "slow_call_rate_threshold"):
            value = getattr(self, name)
            if not (check.is_finite_number(value) and 0 < value <= 100):
                raise ConfigError(name, value, "a percentage in (0, 100]")
        check.seconds("slow_call_duration", self.slow_call_duration)
        check.integer("minimum_calls", self.minimum_calls, minimum=1)
        if self.window_type == "count" and self.minimum_calls > self.window_size:
            raise ConfigError("minimum_calls", self.minimum_calls,
                              f"at most window_size ({self.window_size}) for a count window, "
                              "or the breaker could never judge")
        wait = check.seconds("wait_in_open", self.wait_in_open)
        try:
            check.seconds("max_wait_in_open", self.max_wait_in_open)
            check.number("max_wait_in_open", self.max_wait_in_open, minimum=wait)
        except ConfigError:
            raise ConfigError("max_wait_in_open", self.max_wait_in_open,
                              f"finite seconds >= wait_in_open ({wait:g})") from None
        check.number("wait_multiplier", self.wait_multiplier, minimum=1.0)
        if check.number("wait_jitter", self.wait_jitter, minimum=0.0, maximum=1.0) == 1.0:
            raise ConfigError("wait_jitter", self.wait_jitter,
                              "a fraction in [0, 1): 1 could shorten a wait to nothing")
        check.integer("permitted_calls_in_half_open", self.permitted_calls_in_half_open,
                      minimum=1, maximum=MAX_COUNT_WINDOW)
        if self.half_open_successes_to_close is not None:
            try:
                check.integer("half_open_successes_to_close", self.half_open_successes_to_close,
                              minimum=1, maximum=self.permitted_calls_in_half_open)
            except ConfigError:
                raise ConfigError(
                    "half_open_successes_to_close", self.half_open_successes_to_close,
                    f"None, or an int from 1 to permitted_calls_in_half_open "
                    f"({self.permitted_calls_in_half_open})") from None
        check.seconds("max_wait_in_half_open", self.max_wait_in_half_open, allow_zero=True)
        for name in ("record_exceptions", "ignore_exceptions"):
            value = getattr(self, name)
            if not (isinstance(value, tuple) and all(_error_type(t) for t in value)):
                raise ConfigError(name, value, "a tuple of exception classes")
        if self.failure_predicate is not None:
            check.callable_("failure_predicate", self.failure_predicate,
                            "a function of the error returning True if it counts as a "
                            "failure, or None")

    def counts_as_failure(self, exc: BaseException) -> bool:
        """Whether `exc` counts against the provider (`False`: ignored, counts nothing).

        Example:
            >>> config = BreakerConfig(ignore_exceptions=(KeyError,))
            >>> config.counts_as_failure(ConnectionError()), config.counts_as_failure(KeyError())
            (True, False)
        """
        if isinstance(exc, self.ignore_exceptions):
            return False
        marked = getattr(exc, "counts_as_failure", None)
        if isinstance(marked, bool):
            return marked
        if not isinstance(exc, self.record_exceptions):
            return False
        predicate = self.failure_predicate
        return predicate is None or bool(predicate(exc))


def _error_type(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, BaseException)
