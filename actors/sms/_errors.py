"""The SMS path's errors: bad input at the door, and what the provider answered.

Provider errors carry `status_code` (or none for a network failure) and an
explicit `counts_as_failure`, which is what the circuit breaker reads: a
rejection (a 4xx other than 429) is the caller's fault and must not trip it.
Phone numbers never appear in full in a message; they are masked.
"""

from __future__ import annotations

from actors.core import StanchionError, mask_value, short_repr


class SmsError(StanchionError):
    """Root of every error the SMS path raises."""


class InvalidPhoneNumber(SmsError, ValueError):
    """The recipient is not an E.164 phone number; nothing was sent or queued.

    Example:
        >>> print(InvalidPhoneNumber("555-1234", "it does not start with '+'"))
        ... # doctest: +NORMALIZE_WHITESPACE
        to='***34' is not a phone number we can text: it does not start with '+';
        give it in E.164 form, '+' then the country code and 8 to 15 digits in all
        (e.g. +15551234567)
    """

    def __init__(self, number: object, problem: str) -> None:
        self.masked = mask_value(number) if isinstance(number, str) else short_repr(number)
        self.problem = problem
        super().__init__(
            f"to={self.masked!r} is not a phone number we can text: {problem}; give it in "
            "E.164 form, '+' then the country code and 8 to 15 digits in all "
            "(e.g. +15551234567)")


class InvalidSmsBody(SmsError, ValueError):
    """The text is empty, only whitespace, too long, or not a string; nothing was sent."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"the SMS body {problem}; nothing was sent or queued")


class InvalidIdempotencyKey(SmsError, ValueError):
    """The idempotency key is not a short printable token; nothing was sent."""

    def __init__(self, key: object, expected: str) -> None:
        self.key = key
        super().__init__(
            f"idempotency_key={short_repr(key)} is invalid: expected {expected}; pass the same key "
            "for every attempt at one SMS (e.g. your notification's id), or None for a "
            "fresh one")


class ProviderError(SmsError):
    """The SMS provider did not accept the message. Base of the three kinds below."""

    counts_as_failure: bool = True
    """Whether a circuit breaker should count this against the provider."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ProviderUnavailable(ProviderError):
    """The provider is down or too slow: refused connection, timeout, 5xx, bad answer.

    The message may or may not have been delivered (a read timeout can come
    after the provider accepted it); resend it with the same idempotency key.
    Counts as a circuit-breaker failure.
    """

    def __init__(self, reason: str, status_code: int | None = None) -> None:
        self.reason = reason
        super().__init__(
            f"the SMS provider is unavailable ({reason}); the text may not have been sent: "
            "retry later with the same idempotency_key so it is delivered at most once",
            status_code)


class ProviderRateLimited(ProviderError):
    """The provider answered 429: over quota. Retry no sooner than `retry_after` seconds.

    `retry_after` is from the `Retry-After` header (seconds or an HTTP date),
    or `None` if it sent none. Counts as a circuit-breaker failure (the
    provider is saying it is overloaded).
    """

    def __init__(self, retry_after: float | None) -> None:
        self.retry_after = retry_after
        when = f"after {retry_after:g}s" if retry_after is not None else "later"
        super().__init__(
            f"the SMS provider is rate limiting us (HTTP 429); nothing was sent: retry {when} "
            "with the same idempotency_key, and keep the sending rate under its quota",
            429)


class ProviderRejected(ProviderError):
    """The provider refused this message (a 4xx other than 429): retrying will not help.

    The request was wrong (blocked or unreachable number, bad credentials...),
    not the provider unhealthy, so it does NOT count as a breaker failure.
    """

    counts_as_failure = False

    def __init__(self, status_code: int, detail: str) -> None:
        self.detail = detail
        super().__init__(
            f"the SMS provider rejected the message (HTTP {status_code}: {detail}); it will "
            "not be retried: fix the request (number, content, credentials) and send again",
            status_code)


class OutboxUnavailable(SmsError):
    """The outbox could not store a message that had to be queued; it was NOT accepted.

    Nothing was sent and nothing is queued: tell the user it failed, or retry
    the `send_sms` call (with the same idempotency key) once the store is back.
    """

    def __init__(self, cause: BaseException) -> None:
        self.cause = cause
        super().__init__(
            f"the SMS could not be queued ({cause!r}): it was neither sent nor stored; retry "
            "send_sms with the same idempotency_key once the outbox's store is healthy")
