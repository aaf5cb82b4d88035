"""The SMS provider goes down and comes back: the breaker keeps callers fast and loses nothing."""

from __future__ import annotations

import threading
import time
from typing import Any

from actors.breaker import BreakerConfig
from actors.sms import NotificationService, SmsConfig, SmsOutcome
from actors.supervision import ActorSystem
from actors.testing import FakeSmsProvider
from examples.peaksale._story import Story
from examples.peaksale.view import BreakerView, SmsCounts

#: The demo's breaker: SMS defaults (a provider's 4xx is not its failure), with waits
#: short enough for a story of seconds.
DEMO_BREAKER = BreakerConfig(wait_in_open=0.5, max_wait_in_open=2.0)


def run_sms_outage(system: ActorSystem, story: Story, seconds: float) -> dict[str, Any]:
    """Steady SMS traffic; the provider answers 503 for a while, then recovers."""
    provider = FakeSmsProvider(seed=story.rng_for("sms-provider").getrandbits(32)).start()
    story.closers.append(provider.stop)
    sms = NotificationService.start(
        system, SmsConfig(provider.base_url, breaker=DEMO_BREAKER, rate_per_second=400,
                            burst=100, send_timeout=0.5),
        store=story.task_store("sms-outbox"), rng=story.rng_for("sms-retries"))

    def live_counts() -> SmsCounts:
        m = sms.metrics()
        return SmsCounts(sent=m.sent, queued=sum(m.queued.values()),
                         circuit_open=m.queued.get("circuit_open", 0),
                         delivered_later=m.delivered)

    story.counters["sms"] = live_counts

    def breaker_view() -> BreakerView:
        m = sms.metrics()
        return BreakerView(sms.gate.breaker.state.value, provider_calls=len(provider.requests()),
                           rejected_fast=m.queued.get("circuit_open", 0))

    story.counters["breaker_view"] = breaker_view
    accepted: set[str] = set()
    latencies: list[tuple[float, SmsOutcome, float]] = []  # (when, outcome, seconds)
    lock = threading.Lock()
    breaker = sms.gate.breaker
    # The strip shows each transition as it happens (half-open included), not samples.
    story.breaker_states.append(breaker.state.value)
    breaker.add_listener(lambda event: story.breaker_states.append(event.to_state))

    def sender(first: int, until: float) -> None:
        n = first
        while time.monotonic() < until:
            start = time.perf_counter()
            outcome = sms.send_sms(f"+1555{n % 10_000_000:07d}", f"Order {n} confirmed",
                                   idempotency_key=f"sms-{story.config.seed}-{n}")
            took = time.perf_counter() - start
            with lock:
                accepted.add(outcome.idempotency_key)
                latencies.append((time.time(), outcome, took))
            n += 2
            time.sleep(0.01)  # pacing: about 100 SMS/s per sender

    def traffic(seconds_: float, first: int) -> None:
        until = time.monotonic() + seconds_
        threads = [threading.Thread(target=sender, args=(first + i, until)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    story.enter("SMS provider healthy")
    traffic(seconds * 0.25, 0)
    story.enter("SMS provider down: the breaker opens, callers hear 'queued' at once")
    provider.outage("503")
    outage_from = time.time()
    traffic(seconds * 0.5, 1_000_000)
    outage_until = time.time()
    provider.recover()
    story.enter("SMS provider back: half-open probes, then the queued SMS go out")
    traffic(seconds * 0.25, 2_000_000)
    drained = sms.wait_until_drained(timeout=max(30.0, seconds * 2))

    figures = _figures(sms, provider, accepted, latencies, (outage_from, outage_until))
    sms.stop()
    return figures | {"outbox_drained": drained}


def _figures(sms: NotificationService, provider: FakeSmsProvider, accepted: set[str],
             latencies: list[tuple[float, SmsOutcome, float]],
             outage: tuple[float, float]) -> dict[str, Any]:
    outage_from, outage_until = outage
    during = [(o, t) for at, o, t in latencies if outage_from <= at <= outage_until]
    fast = sorted(t for o, t in during if o.reason == "circuit_open")
    delivered = set(provider.delivered())
    reached = provider.requests(since=outage_from, until=outage_until)
    metrics = sms.metrics()
    counters = provider.metrics()
    return {
        "requests": len(latencies),
        "requests_during_outage": len(during),
        "provider_calls_during_outage": len(reached),
        "provider_call_ratio_during_outage": round(len(reached) / max(1, len(during)), 4),
        "fail_fast_p50_us": round(fast[len(fast) // 2] * 1e6, 1) if fast else None,
        "fail_fast_p99_us": round(fast[int(len(fast) * 0.99)] * 1e6, 1) if fast else None,
        "sent_at_once": metrics.sent,
        "queued": metrics.queued,
        "delivered_later": metrics.delivered,
        "breaker_trips": metrics.breaker.trips,
        "sms_accepted": len(accepted),
        "sms_delivered": len(accepted & delivered),
        "sms_lost": len(accepted - delivered),
        "texts_sent_by_provider": counters.delivered,
        "repeated_keys_deduplicated": counters.duplicates,
    }
