"""`SmsMessage`: validated at construction, so bad input never reaches a breaker or a provider."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from actors.core import mask_value, text_problem
from actors.sms._errors import InvalidIdempotencyKey, InvalidPhoneNumber, InvalidSmsBody

MAX_BODY_CHARS = 1600
"""The longest body accepted: 10 concatenated segments, the common provider limit."""

MAX_KEY_CHARS = 128
_SEPARATORS = re.compile(r"[ \-().]")
_DIGITS = re.compile(r"\d+")
_KEY = re.compile(r"[A-Za-z0-9._:\-]+")


def normalize_phone_number(number: object) -> str:
    """Return `number` in E.164 form, with spaces, dashes, dots and brackets removed.

    Raises `InvalidPhoneNumber` (naming the problem, with the number masked)
    unless what remains is `+`, a non-zero digit, then 7 to 14 more digits.

    Example:
        >>> normalize_phone_number("+1 (555) 123-4567")
        '+15551234567'
        >>> normalize_phone_number("5551234567")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        actors.sms._errors.InvalidPhoneNumber: to='***67' is not a phone number we can text: \
it does not start with '+'...
    """
    if not isinstance(number, str):
        raise InvalidPhoneNumber(number, f"it is of type {type(number).__name__}, not a string")
    compact = _SEPARATORS.sub("", number.strip())
    if not compact:
        raise InvalidPhoneNumber(number, "it is empty")
    if not compact.startswith("+"):
        raise InvalidPhoneNumber(number, "it does not start with '+'")
    digits = compact[1:]
    if not _DIGITS.fullmatch(digits):
        raise InvalidPhoneNumber(number, "it has characters other than digits after the '+'")
    if not 8 <= len(digits) <= 15:
        raise InvalidPhoneNumber(number, f"it has {len(digits)} digits")
    if digits[0] == "0":
        raise InvalidPhoneNumber(number, "country codes do not start with 0")
    return compact


def validate_body(body: object, max_chars: int = MAX_BODY_CHARS) -> str:
    """Return `body` unchanged if it is a non-blank string of at most `max_chars` characters."""
    if not isinstance(body, str):
        raise InvalidSmsBody(f"is a {type(body).__name__}; pass the text as a str")
    if not body.strip():
        raise InvalidSmsBody("is empty or only whitespace; pass the text to send")
    problem = text_problem(body)
    if problem is not None:
        raise InvalidSmsBody(f"holds {problem}; pass valid text (encode it as UTF-8 first)")
    if len(body) > max_chars:
        raise InvalidSmsBody(f"has {len(body)} characters, more than the {max_chars} allowed; "
                             "shorten it or send a link")
    return body


def new_idempotency_key() -> str:
    """A fresh random key (32 hex characters)."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True, repr=False)
class SmsMessage:
    """One text to one number, validated on construction; the number is kept in E.164 form.

    The idempotency key identifies the SMS across every attempt (first send,
    retries, redelivery after a crash): the provider delivers one text per
    key. Leave it out for a fresh random key; pass your own (a notification
    id) to make a resubmission of the same notification a no-op. `repr`
    masks the number and hides the body, so a message in a log line leaks
    neither.

    Example:
        >>> message = SmsMessage("+1 555 123 4567", "Your code is 1234", "otp-42")
        >>> message.to, message.idempotency_key
        ('+15551234567', 'otp-42')
        >>> message
        SmsMessage(to='***4567', body=<17 chars>, idempotency_key='otp-42')
        >>> SmsMessage("+15551234567", "   ")
        Traceback (most recent call last):
        ...
        actors.sms._errors.InvalidSmsBody: the SMS body is empty or only whitespace; \
pass the text to send; nothing was sent or queued
    """

    to: str
    body: str
    idempotency_key: str = field(default_factory=new_idempotency_key)

    def __post_init__(self) -> None:
        object.__setattr__(self, "to", normalize_phone_number(self.to))
        validate_body(self.body)
        key = self.idempotency_key
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_CHARS \
                or not _KEY.fullmatch(key):
            raise InvalidIdempotencyKey(
                key, f"1 to {MAX_KEY_CHARS} characters of letters, digits and . _ : -")

    def __repr__(self) -> str:
        return (f"SmsMessage(to={mask_value(self.to)!r}, body=<{len(self.body)} chars>, "
                f"idempotency_key={self.idempotency_key!r})")

    def as_payload(self) -> dict[str, Any]:
        """The message as plain JSON data (for the outbox and the provider's API)."""
        return {"to": self.to, "body": self.body, "idempotency_key": self.idempotency_key}

    @classmethod
    def from_payload(cls, payload: Any) -> SmsMessage:
        """Rebuild a message from `as_payload()` output, validating it again."""
        if not isinstance(payload, dict):
            raise InvalidSmsBody(f"cannot be read from a {type(payload).__name__}; pass the "
                                 "dict SmsMessage.as_payload() returned")
        return cls(payload.get("to"), payload.get("body"),  # type: ignore[arg-type]
                   payload.get("idempotency_key"))  # type: ignore[arg-type]
