"""`SmsClient` against the fake provider: every answer maps to the right typed error."""

from __future__ import annotations

import email.utils

import pytest

from actors import ConfigError
from actors.breaker import BreakerConfig
from actors.sms import (
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    SmsClient,
    SmsClientClosed,
    SmsMessage,
    parse_retry_after,
)
from actors.testing import FakeSmsProvider

MESSAGE = SmsMessage("+15551234567", "hello", "k-1")


@pytest.fixture
def client(fake_sms_provider: FakeSmsProvider):
    with SmsClient(fake_sms_provider.base_url, connect_timeout=0.5, read_timeout=0.5) as sms:
        yield sms


def test_send_returns_the_receipt_and_resending_the_key_returns_the_same_id(
        client, fake_sms_provider):
    first = client.send(MESSAGE)
    again = client.send(MESSAGE)
    assert first == again
    assert first.idempotency_key == "k-1"
    assert len(fake_sms_provider.delivered()) == 1


def test_5xx_is_unavailable_and_counts_against_the_breaker(client, fake_sms_provider):
    fake_sms_provider.set_error_rate(1.0)
    with pytest.raises(ProviderUnavailable) as caught:
        client.send(MESSAGE)
    assert caught.value.status_code in (500, 503)
    assert BreakerConfig().counts_as_failure(caught.value)


def test_a_refused_connection_is_unavailable(client, fake_sms_provider):
    fake_sms_provider.outage("refuse")
    with pytest.raises(ProviderUnavailable, match="network error") as caught:
        client.send(MESSAGE)
    assert caught.value.status_code is None
    assert BreakerConfig().counts_as_failure(caught.value)


def test_a_read_timeout_is_unavailable(client, fake_sms_provider):
    fake_sms_provider.set_latency(1.0)
    with pytest.raises(ProviderUnavailable, match="timed out: ReadTimeout"):
        client.send(MESSAGE)


def test_429_is_rate_limited_with_retry_after(client, fake_sms_provider):
    fake_sms_provider.set_quota(1, window=60.0)
    client.send(MESSAGE)
    with pytest.raises(ProviderRateLimited) as caught:
        client.send(SmsMessage("+15551234567", "second", "k-2"))
    assert caught.value.status_code == 429
    assert caught.value.retry_after is not None
    assert 1 <= caught.value.retry_after <= 60


def test_other_4xx_is_rejected_and_does_not_count_against_the_breaker(client, fake_sms_provider):
    fake_sms_provider.reject("+15551234567")
    with pytest.raises(ProviderRejected, match="blocked or unreachable") as caught:
        client.send(MESSAGE)
    assert caught.value.status_code == 400
    assert caught.value.counts_as_failure is False
    assert not BreakerConfig().counts_as_failure(caught.value)
    assert not BreakerConfig(failure_predicate=None).counts_as_failure(caught.value)


def test_a_closed_client_sends_nothing(fake_sms_provider):
    sms = SmsClient(fake_sms_provider.base_url)
    sms.close()
    sms.close()
    with pytest.raises(SmsClientClosed, match="create a new SmsClient"):
        sms.send(MESSAGE)
    assert fake_sms_provider.requests() == []


def test_retry_after_parses_seconds_and_http_dates():
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after("30", now=lambda: now) == 30.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after(date, now=lambda: now) == 30.0
    assert parse_retry_after(email.utils.formatdate(now - 5, usegmt=True),
                             now=lambda: now) == 0.0
    assert parse_retry_after("-3") == 0.0
    for bad in (None, "", "soon", "nan", "inf", "Mon, 99 Foo 2020"):
        assert parse_retry_after(bad) is None


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"base_url": "ftp://x"}, "base_url"),
    ({"connect_timeout": 0}, "connect_timeout"),
    ({"read_timeout": float("inf")}, "read_timeout"),
    ({"max_connections": 0}, "max_connections"),
    ({"max_connections": 2, "max_keepalive": 3}, "max_keepalive"),
])
def test_bad_settings_raise_config_errors(kwargs, field):
    settings = {"base_url": "http://127.0.0.1:1", **kwargs}
    with pytest.raises(ConfigError, match=field):
        SmsClient(**settings)
