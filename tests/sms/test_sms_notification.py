"""`NotificationService` against the fake HTTP provider: every outcome, and every SMS once."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.backends import MemoryTaskStore, SqliteTaskStore
from actors.breaker import BreakerConfig, BreakerState
from actors.ratelimit import TokenBucket
from actors.retry import RetryBudgetConfig, RetryPolicy
from actors.sms import (
    InvalidPhoneNumber,
    InvalidSmsBody,
    NotAnSmsCommand,
    NotificationService,
    ProviderRejected,
    SendLedger,
    SmsConfig,
    SmsOutbox,
)
from actors.supervision import ActorSystem
from actors.taskqueue import TaskQueueConfig
from actors.testing import FakeSmsProvider
from tests.conftest import named

NUMBER = "+15551234567"
FAST_RETRY = RetryPolicy(max_attempts=None, base_delay=0.05, max_delay=0.2, jitter="full")
QUICK_BREAKER = BreakerConfig(window_size=10, minimum_calls=4, wait_in_open=0.3,
                              max_wait_in_open=0.6, wait_jitter=0.0,
                              permitted_calls_in_half_open=2)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def settings(provider: FakeSmsProvider, **overrides) -> SmsConfig:
    values = {"send_timeout": 1.0, "connect_timeout": 0.2, "read_timeout": 0.8,
              "breaker": QUICK_BREAKER, "outbox_poll_interval": 0.02,
              "rate_per_second": 1000.0, "burst": 1000}
    values.update(overrides)
    return SmsConfig(provider.base_url, **values)


@pytest.fixture
def system() -> Iterator[ActorSystem]:
    with ActorSystem(rng=random.Random(3)) as running:
        yield running


@pytest.fixture
def store() -> Iterator[MemoryTaskStore]:
    memory = MemoryTaskStore(TaskQueueConfig(retry=FAST_RETRY))
    yield memory
    memory.close()


def start(system: ActorSystem, provider: FakeSmsProvider, store, **overrides
          ) -> NotificationService:
    limiter = overrides.pop("limiter", None)
    return NotificationService.start(system, settings(provider, **overrides), store=store,
                                     limiter=limiter, rng=random.Random(1))


def test_a_healthy_provider_sends_at_once(system, store, fake_sms_provider, events):
    sms = start(system, fake_sms_provider, store)
    outcome = sms.send_sms("+1 555 123 4567", "Your code is 1234", idempotency_key="otp-1")
    assert outcome.status == "sent"
    assert outcome.sent
    [text] = fake_sms_provider.texts_to(NUMBER)
    assert (text.key, text.message_id) == ("otp-1", outcome.message_id)
    [sent] = named(events, "sms.sent")
    assert sent["to"] == "***4567"
    assert sent["message_id"] == outcome.message_id
    assert sms.metrics().sent == 1


def test_invalid_input_raises_and_reaches_neither_breaker_nor_provider(
        system, store, fake_sms_provider, events):
    sms = start(system, fake_sms_provider, store)
    with pytest.raises(InvalidPhoneNumber, match=r"E\.164"):
        sms.send_sms("555-1234", "hi")
    with pytest.raises(InvalidSmsBody, match="empty"):
        sms.send_sms(NUMBER, "  ")
    assert fake_sms_provider.requests() == []
    metrics = sms.metrics()
    assert (metrics.breaker.calls, metrics.rejected, metrics.queued) == (0, 2, {})
    assert [e["reason"] for e in named(events, "sms.rejected")] == [
        "InvalidPhoneNumber", "InvalidSmsBody"]
    assert sms.outbox is not None
    assert isinstance(sms.outbox, SmsOutbox)


def test_the_token_bucket_queues_what_would_exceed_the_quota(system, store, fake_sms_provider):
    clock = Clock()
    bucket = TokenBucket(2.0, 1, clock=clock)
    sms = start(system, fake_sms_provider, store, limiter=bucket)
    first = sms.send_sms(NUMBER, "one")
    wall = time.time()
    second = sms.send_sms(NUMBER, "two")
    assert first.status == "sent"
    assert (second.status, second.reason, second.detail) == ("queued", "rate_limited", "quota")
    assert second.retry_at is not None
    assert wall + 0.4 <= second.retry_at <= time.time() + 0.5  # one token per 0.5 s
    assert len(fake_sms_provider.requests()) == 1
    clock.now = 1.0  # the bucket refills; the outbox delivers the queued text
    assert sms.wait_until_drained(5)
    assert set(fake_sms_provider.delivered()) == {first.idempotency_key,
                                                  second.idempotency_key}


def test_an_open_breaker_queues_without_touching_the_provider(system, store, fake_sms_provider):
    sms = start(system, fake_sms_provider, store)
    sms.gate.force_open("maintenance")
    started = time.monotonic()
    outcome = sms.send_sms(NUMBER, "hi", idempotency_key="k-open")
    assert time.monotonic() - started < 0.2
    assert (outcome.status, outcome.reason, outcome.detail) == (
        "queued", "circuit_open", "forced_open")
    assert fake_sms_provider.requests() == []
    sms.gate.reset()
    assert sms.wait_until_drained(5)
    assert list(fake_sms_provider.delivered()) == ["k-open"]


def test_provider_errors_queue_and_the_outbox_delivers_once_after_recovery(
        system, store, fake_sms_provider, events):
    sms = start(system, fake_sms_provider, store)
    fake_sms_provider.outage("503")
    outcome = sms.send_sms(NUMBER, "hi", idempotency_key="k-503")
    assert (outcome.status, outcome.reason, outcome.detail) == (
        "queued", "provider_error", "http_503")
    assert sms.outbox is not None
    assert sms.outbox.wait_until_drained(0.5) is False  # still failing: it stays queued
    fake_sms_provider.recover()
    assert sms.wait_until_drained(5)
    assert list(fake_sms_provider.delivered()) == ["k-503"]
    assert len(fake_sms_provider.texts_to(NUMBER)) == 1
    assert named(events, "sms.retried")
    [delivered] = named(events, "sms.delivered")
    assert (delivered["idempotency_key"], delivered["via"]) == ("k-503", "outbox")
    assert sms.metrics().delivered == 1


def test_a_429_is_queued_and_not_retried_before_retry_after(system, store):
    with FakeSmsProvider(quota=1, quota_window=60.0, clock=lambda: 6000.0) as provider:
        sms = start(system, provider, store)
        assert sms.send_sms(NUMBER, "one").status == "sent"
        outcome = sms.send_sms(NUMBER, "two", idempotency_key="k-429")
        assert (outcome.status, outcome.reason, outcome.detail) == (
            "queued", "rate_limited", "http_429")
        assert outcome.retry_at is not None
        assert outcome.retry_at >= time.time() + 59  # Retry-After: 60 (the window's end)
        provider.set_quota(None)
        assert sms.outbox is not None
        assert not sms.outbox.wait_until_drained(0.5)  # not sooner than told
        assert "k-429" not in provider.delivered()
        assert [r.status for r in provider.requests()] == [200, 429]


def test_a_slow_provider_answers_queued_in_time_and_the_send_finishes_once(
        system, store, fake_sms_provider, events):
    sms = start(system, fake_sms_provider, store, send_timeout=0.2, read_timeout=1.0,
                connect_timeout=0.1)
    fake_sms_provider.set_latency(0.5)
    started = time.monotonic()
    outcome = sms.send_sms(NUMBER, "slow", idempotency_key="k-slow")
    assert time.monotonic() - started < 0.25
    assert (outcome.status, outcome.reason, outcome.detail) == (
        "queued", "provider_error", "timeout")
    assert outcome.retry_at is not None
    assert outcome.retry_at >= time.time() + sms.max_call_seconds - 0.5
    assert sms.wait_until_drained(10)
    [request] = fake_sms_provider.requests()  # the background send was the only one
    assert request.key == "k-slow"
    [delivered] = named(events, "sms.delivered")
    assert delivered["via"] == "background"


def test_a_full_sender_mailbox_answers_queued_at_once(system, store, fake_sms_provider):
    sms = start(system, fake_sms_provider, store, senders=1, sender_mailbox=1,
                send_timeout=0.1, read_timeout=1.0, breaker=BreakerConfig(minimum_calls=10))
    fake_sms_provider.set_latency(0.4)
    outcomes = [sms.send_sms(NUMBER, f"m{i}") for i in range(4)]
    details = [o.detail for o in outcomes]
    assert "senders_busy" in details
    assert all(o.status == "queued" for o in outcomes)
    fake_sms_provider.set_latency(0.0)
    assert sms.wait_until_drained(15)
    assert set(fake_sms_provider.delivered()) == {o.idempotency_key for o in outcomes}


def test_a_rejected_message_raises_and_does_not_count_against_the_breaker(
        system, store, fake_sms_provider, events):
    sms = start(system, fake_sms_provider, store)
    fake_sms_provider.reject(NUMBER)
    for _ in range(6):
        with pytest.raises(ProviderRejected, match="HTTP 400"):
            sms.send_sms(NUMBER, "hi")
    breaker = sms.metrics().breaker
    assert breaker.state is BreakerState.CLOSED
    assert (breaker.failed_total, breaker.ignored) == (0, 6)
    assert len(named(events, "sms.rejected")) == 6
    assert sms.metrics().queued == {}


def test_a_retry_budget_of_zero_keeps_failed_sms_queued_instead_of_retrying(
        system, store, fake_sms_provider):
    sms = start(system, fake_sms_provider, store,
                retry_budget=RetryBudgetConfig(ratio=0.0, min_retries_per_second=0.0))
    fake_sms_provider.set_error_rate(1.0)
    outcome = sms.send_sms(NUMBER, "hi")
    assert outcome.reason == "provider_error"
    fake_sms_provider.set_error_rate(0.0)
    assert sms.outbox is not None
    assert sms.outbox.wait_until_drained(0.5) is False
    assert sms.metrics().retry_budget.denied_total >= 1
    assert len(fake_sms_provider.requests()) == 1  # no retry reached the provider


def test_queued_sms_survive_a_restart_on_a_sqlite_outbox(tmp_path: Path, fake_sms_provider):
    config = TaskQueueConfig(retry=FAST_RETRY, sqlite_path=tmp_path / "outbox.sqlite3")
    fake_sms_provider.outage("refuse")
    first_store = SqliteTaskStore(config)
    with ActorSystem() as system:
        sms = start(system, fake_sms_provider, first_store)
        keys = [sms.send_sms(NUMBER, f"m{i}").idempotency_key for i in range(3)]
        sms.stop()
    first_store.close()
    assert fake_sms_provider.delivered() == {}
    fake_sms_provider.recover()
    second_store = SqliteTaskStore(config)
    try:
        with ActorSystem() as system:
            sms = start(system, fake_sms_provider, second_store)
            assert sms.wait_until_drained(10)
            sms.stop()
    finally:
        second_store.close()
    assert set(fake_sms_provider.delivered()) == set(keys)


def test_no_full_number_in_any_log_line_of_the_whole_path(
        system, store, fake_sms_provider, events):
    sms = start(system, fake_sms_provider, store)
    sms.send_sms(NUMBER, "hi")
    fake_sms_provider.outage("503")
    for _ in range(6):
        sms.send_sms(NUMBER, "hi")
    fake_sms_provider.recover()
    assert sms.wait_until_drained(10)
    with pytest.raises(InvalidPhoneNumber):
        sms.send_sms("+1555123456789012", "hi")
    text = "\n".join(json.dumps(e) for e in events)
    assert {"sms.sent", "sms.queued", "sms.delivered", "sms.rejected"} <= {
        e["event"] for e in events}
    for form in (NUMBER, NUMBER[1:], "1555123456789012"):
        assert form not in text


def test_the_sender_refuses_anything_but_send_sms(system, store, fake_sms_provider):
    start(system, fake_sms_provider, store)
    with pytest.raises(NotAnSmsCommand, match="SendSms"):
        system.service("sms-sender").ask("hello", timeout=2.0)


def test_a_ledger_forgets_a_send_that_never_ended():
    clock = Clock()
    ledger = SendLedger(stale_after=10.0, clock=clock)
    ledger.begin("k")
    assert ledger.running("k")
    clock.now = 11.0
    assert not ledger.running("k")
    assert not ledger.abandon("k")


def test_a_custom_outbox_is_any_object_with_put():
    class ListOutbox:
        def __init__(self) -> None:
            self.items: list[tuple[object, float]] = []

        def put(self, message, not_before) -> None:
            self.items.append((message, not_before))

    assert isinstance(ListOutbox(), SmsOutbox)
    assert not isinstance(object(), SmsOutbox)
