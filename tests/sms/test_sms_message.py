"""Validation at the door, and no phone number in full in any log line."""

from __future__ import annotations

import json

import pytest
import structlog
from hypothesis import given, strategies as st

from actors import StanchionError
from actors.sms import (
    MAX_BODY_CHARS,
    InvalidIdempotencyKey,
    InvalidPhoneNumber,
    InvalidSmsBody,
    SmsMessage,
    normalize_phone_number,
)


@pytest.mark.parametrize(("raw", "normalized"), [
    ("+15551234567", "+15551234567"),
    ("+1 555 123 4567", "+15551234567"),
    ("+1-555-123-4567", "+15551234567"),
    ("+44 (20) 7946.0958", "+442079460958"),
    ("  +4915112345678 ", "+4915112345678"),
    ("+12345678", "+12345678"),
    ("+123456789012345", "+123456789012345"),
])
def test_numbers_are_normalized_to_e164(raw, normalized):
    assert normalize_phone_number(raw) == normalized
    assert SmsMessage(raw, "hi").to == normalized


@pytest.mark.parametrize(("raw", "problem"), [
    ("5551234567", "does not start with '+'"),
    ("+1555abc4567", "characters other than digits"),
    ("+1234567", "has 7 digits"),
    ("+1234567890123456", "has 16 digits"),
    ("+0551234567", "do not start with 0"),
    ("", "is empty"),
    (" - ", "is empty"),
    (15551234567, "of type int"),
    (None, "of type NoneType"),
])
def test_invalid_numbers_raise_a_typed_error_that_says_what_to_do(raw, problem):
    with pytest.raises(InvalidPhoneNumber) as caught:
        SmsMessage(raw, "hi")
    error = caught.value
    assert isinstance(error, StanchionError)
    assert isinstance(error, ValueError)
    assert problem in str(error)
    assert "E.164" in str(error)
    if isinstance(raw, str) and len(raw) >= 6:
        assert repr(raw) not in str(error)  # masked


@pytest.mark.parametrize(("body", "problem"), [
    ("", "empty or only whitespace"),
    (" \n\t", "empty or only whitespace"),
    ("x" * (MAX_BODY_CHARS + 1), f"more than the {MAX_BODY_CHARS} allowed"),
    (b"bytes", "pass the text as a str"),
])
def test_invalid_bodies_raise_a_typed_error(body, problem):
    with pytest.raises(InvalidSmsBody, match=problem) as caught:
        SmsMessage("+15551234567", body)
    assert isinstance(caught.value, StanchionError)
    assert isinstance(caught.value, ValueError)


def test_the_longest_body_is_accepted():
    assert len(SmsMessage("+15551234567", "x" * MAX_BODY_CHARS).body) == MAX_BODY_CHARS


@pytest.mark.parametrize("key", ["", "has space", "x" * 129, 42, "ünïcode"])
def test_invalid_idempotency_keys_are_refused(key):
    with pytest.raises(InvalidIdempotencyKey, match="idempotency_key"):
        SmsMessage("+15551234567", "hi", key)


def test_a_missing_key_is_generated_fresh_each_time():
    first, second = SmsMessage("+15551234567", "hi"), SmsMessage("+15551234567", "hi")
    assert first.idempotency_key != second.idempotency_key
    assert len(first.idempotency_key) == 32


def test_messages_are_frozen_and_round_trip_through_their_payload():
    message = SmsMessage("+15551234567", "hi", "k-1")
    with pytest.raises(AttributeError):
        message.to = "+15550000000"  # type: ignore[misc]
    assert SmsMessage.from_payload(json.loads(json.dumps(message.as_payload()))) == message
    with pytest.raises(InvalidSmsBody, match="as_payload"):
        SmsMessage.from_payload(["not", "a", "dict"])


@given(st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True))
def test_every_e164_number_is_accepted_unchanged(number):
    assert SmsMessage(number, "hi").to == number


@given(st.text(max_size=20))
def test_anything_else_is_either_normalized_or_refused_with_the_typed_error(text):
    try:
        normalized = normalize_phone_number(text)
    except InvalidPhoneNumber:
        return
    assert normalized.startswith("+")
    assert normalized[1:].isdigit()


def test_no_full_number_appears_in_captured_json_logs(events):
    number = "+15551234567"
    message = SmsMessage(number, "Your code is 1234", "k-1")
    log = structlog.get_logger("test")
    log.info("sms.test", to=number, recipient=number, note=f"texting {number} now",
             message=repr(message), nested={"to": number, "list": [number]})
    try:
        SmsMessage("+1 555 123 4567x", "hi")
    except InvalidPhoneNumber as error:
        log.warning("sms.rejected", error=str(error))
    lines = "\n".join(json.dumps(e) for e in events)
    assert events
    for form in (number, "15551234567", "5551234567", "555 123 4567"):
        assert form not in lines
    assert "***4567" in lines
