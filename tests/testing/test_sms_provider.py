"""The fake SMS provider: a real HTTP server whose knobs change while it runs."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from actors import ConfigError
from actors.testing import FakeProviderError, FakeSmsProvider

NUMBER = "+15551234567"


def post(provider: FakeSmsProvider, key: str | None = "k-1", *, to: str = NUMBER,
         body: str = "hello", header_key: str | None = None,
         client: httpx.Client | None = None) -> httpx.Response:
    payload: dict[str, str] = {"to": to, "body": body}
    if key is not None:
        payload["idempotency_key"] = key
    headers = {"Idempotency-Key": header_key} if header_key else {}
    sender = client or httpx
    return sender.post(f"{provider.base_url}/v1/messages", json=payload, headers=headers,
                       timeout=5.0)


def test_accepts_a_text_and_records_it(fake_sms_provider):
    answer = post(fake_sms_provider)
    assert answer.status_code == 200
    message_id = answer.json()["id"]
    [text] = fake_sms_provider.texts_to(NUMBER)
    assert (text.key, text.body, text.message_id) == ("k-1", "hello", message_id)
    [request] = fake_sms_provider.requests()
    assert (request.key, request.status, request.duplicate) == ("k-1", 200, False)


def test_a_repeated_key_replays_the_first_answer_and_is_not_a_second_text(fake_sms_provider):
    first = post(fake_sms_provider, "k-1")
    again = post(fake_sms_provider, "k-1", body="hello again")
    by_header = post(fake_sms_provider, None, header_key="k-1")
    assert first.json()["id"] == again.json()["id"] == by_header.json()["id"]
    assert len(fake_sms_provider.delivered()) == 1
    assert fake_sms_provider.texts_to(NUMBER)[0].body == "hello"
    counters = fake_sms_provider.metrics()
    assert (counters.requests, counters.delivered, counters.duplicates) == (3, 1, 2)


def test_the_header_key_wins_over_the_body_key(fake_sms_provider):
    post(fake_sms_provider, "body-key", header_key="header-key")
    assert set(fake_sms_provider.delivered()) == {"header-key"}


def test_error_rate_answers_500_or_503_and_is_repeatable_with_a_seed():
    def statuses(seed: int) -> list[int]:
        with FakeSmsProvider(seed=seed, error_rate=0.5) as provider, httpx.Client() as client:
            return [post(provider, f"k-{i}", client=client).status_code for i in range(40)]

    first = statuses(7)
    assert first == statuses(7)
    assert set(first) == {200, 500, 503}
    assert 8 <= first.count(200) <= 32


def test_a_failed_key_is_not_remembered_so_the_retry_is_delivered(fake_sms_provider):
    fake_sms_provider.set_error_rate(1.0)
    assert post(fake_sms_provider, "k-1").status_code in (500, 503)
    fake_sms_provider.set_error_rate(0.0)
    assert post(fake_sms_provider, "k-1").status_code == 200
    assert list(fake_sms_provider.delivered()) == ["k-1"]


def test_quota_answers_429_with_retry_after():
    now = [1000.25]
    with FakeSmsProvider(quota=2, quota_window=5.0, clock=lambda: now[0]) as provider, \
            httpx.Client() as client:
        answers = [post(provider, f"k-{i}", client=client) for i in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[2].headers["Retry-After"] == "5"  # the window ends at 1005.0
        now[0] = 1005.0  # the next window
        assert post(provider, "k-2", client=client).status_code == 200
    assert provider.metrics().rate_limited == 1
    assert set(provider.delivered()) == {"k-0", "k-1", "k-2"}


def test_latency_delays_every_answer(fake_sms_provider):
    fake_sms_provider.set_latency(0.2)
    start = time.monotonic()
    assert post(fake_sms_provider).status_code == 200
    assert time.monotonic() - start >= 0.2


def test_outage_503_then_recovery(fake_sms_provider):
    fake_sms_provider.outage("503")
    assert post(fake_sms_provider, "k-1").status_code == 503
    fake_sms_provider.recover()
    assert post(fake_sms_provider, "k-1").status_code == 200
    assert [r.status for r in fake_sms_provider.requests()] == [503, 200]


def test_refuse_outage_closes_the_socket_and_kept_alive_connections(fake_sms_provider):
    with httpx.Client() as client:
        assert post(fake_sms_provider, "k-1", client=client).status_code == 200
        fake_sms_provider.outage("refuse")
        with pytest.raises(httpx.TransportError):
            post(fake_sms_provider, "k-2", client=client)
        with pytest.raises(httpx.ConnectError):
            post(fake_sms_provider, "k-3")  # a new connection is refused
        fake_sms_provider.recover()
        assert post(fake_sms_provider, "k-2", client=client).status_code == 200
    assert set(fake_sms_provider.delivered()) == {"k-1", "k-2"}
    assert fake_sms_provider.outage_mode is None


def test_switching_from_refuse_to_503_listens_again(fake_sms_provider):
    fake_sms_provider.outage("refuse")
    fake_sms_provider.outage("503")
    assert post(fake_sms_provider).status_code == 503


def test_rejects_invalid_requests_and_blocked_numbers_with_400(fake_sms_provider):
    fake_sms_provider.reject("+15550000000")
    assert post(fake_sms_provider, "k-1", to="+15550000000").status_code == 400
    assert post(fake_sms_provider, "k-2", to="5551234").status_code == 400
    assert post(fake_sms_provider, "k-3", body="  ").status_code == 400
    missing = post(fake_sms_provider, None)
    assert missing.status_code == 400
    assert "idempotency key" in missing.json()["detail"]
    assert httpx.post(f"{fake_sms_provider.base_url}/v1/messages", content=b"[1]",
                      timeout=5).status_code == 400
    assert httpx.post(f"{fake_sms_provider.base_url}/v2/other", json={},
                      timeout=5).status_code == 404
    assert fake_sms_provider.metrics().rejected == 5
    assert fake_sms_provider.delivered() == {}


def test_requests_filters_by_time_and_clear_forgets(fake_sms_provider):
    post(fake_sms_provider, "k-1")
    middle = time.time()
    post(fake_sms_provider, "k-2")
    assert [r.key for r in fake_sms_provider.requests(since=middle)] == ["k-2"]
    assert [r.key for r in fake_sms_provider.requests(until=middle)] == ["k-1"]
    fake_sms_provider.clear()
    assert fake_sms_provider.requests() == []
    assert fake_sms_provider.delivered() == {}


def test_knobs_change_safely_while_requests_are_served(fake_sms_provider):
    stop = threading.Event()

    def turn_knobs() -> None:
        while not stop.wait(0.0005):  # paced, so the GIL is left to the server
            fake_sms_provider.set_error_rate(0.3)
            fake_sms_provider.set_error_rate(0.0)

    turner = threading.Thread(target=turn_knobs)
    turner.start()
    try:
        with httpx.Client() as client:
            statuses = {post(fake_sms_provider, f"k-{i}", client=client).status_code
                        for i in range(50)}
    finally:
        stop.set()
        turner.join(5)
    assert statuses <= {200, 500, 503}
    assert fake_sms_provider.metrics().requests == 50


def test_bad_knob_values_raise_config_errors(fake_sms_provider):
    with pytest.raises(ConfigError, match="error_rate"):
        fake_sms_provider.set_error_rate(1.5)
    with pytest.raises(ConfigError, match="latency"):
        fake_sms_provider.set_latency(-1)
    with pytest.raises(ConfigError, match="quota"):
        fake_sms_provider.set_quota(0)
    with pytest.raises(ConfigError, match="mode"):
        fake_sms_provider.outage("slow")  # type: ignore[arg-type]


def test_life_cycle_errors_say_what_to_do():
    provider = FakeSmsProvider()
    with pytest.raises(FakeProviderError, match="start"):
        _ = provider.base_url
    with pytest.raises(FakeProviderError, match="start"):
        provider.outage()
    with provider, pytest.raises(FakeProviderError, match="already started"):
        provider.start()
    provider.stop()  # stopping twice is harmless


def test_stop_ends_the_server_threads():
    before = set(threading.enumerate())
    errors: list[BaseException] = []

    def send_slowly(provider: FakeSmsProvider) -> None:
        try:
            post(provider)
        except httpx.TransportError as error:
            errors.append(error)

    with FakeSmsProvider(latency=5.0) as provider:
        slow = threading.Thread(target=send_slowly, args=(provider,))
        slow.start()  # refused, or dropped mid-wait when the provider stops: either way it ends
    slow.join(5)
    assert not slow.is_alive()
    assert len(errors) == 1
    for thread in set(threading.enumerate()) - before:
        thread.join(5)
    assert not [t for t in set(threading.enumerate()) - before if t.is_alive()]
