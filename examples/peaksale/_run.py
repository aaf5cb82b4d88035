"""Runs the peak-sale story: the phases the configuration asks for, then the summary."""

from __future__ import annotations

import random
import time
from typing import Any

from actors.bus import EventBus
from actors.supervision import ActorSystem
from examples.peaksale._bulkhead_phase import run_payment_slowdown
from examples.peaksale._checkout_phase import (
    bus_summary,
    run_checkouts,
    start_bus,
    start_outbox,
)
from examples.peaksale._queue_phase import run_profile_updates
from examples.peaksale._sms_phase import run_sms_outage
from examples.peaksale._snapshot import snapshot
from examples.peaksale._story import Story, StoryConfig
from examples.shop import CheckoutLedger, checkout_services


def run_story(config: StoryConfig, *, story: Story | None = None) -> dict[str, Any]:
    """Run the story; returns the machine-readable summary (docs/demo.md)."""
    story = story or Story(config, random.Random(config.seed))
    summary: dict[str, Any] = {"scenario": config.scenario, "seed": config.seed,
                               "backend": config.backend, "duration_s": config.duration}
    # The checkout services announce their effects through a transactional outbox.
    ledger = CheckoutLedger(with_outbox=config.runs("saga"))
    try:
        with ActorSystem(checkout_services(ledger), rng=story.rng_for("supervision")) as system:
            story.expose(system)
            bus = start_bus(system, story) if config.runs("saga") else None
            if config.runs("bulkhead"):
                summary.update(run_payment_slowdown(system, story,
                                                    story.seconds_for("bulkhead")))
            if config.runs("breaker"):
                summary["breaker"] = run_sms_outage(system, story, story.seconds_for("breaker"))
            if config.runs("saga"):
                story.enter("checkouts: sagas, some failing and compensating")
                audit = start_outbox(system, story, ledger, bus) if bus is not None else None
                summary["sagas"] = run_checkouts(system, story, ledger, bus,
                                                 seconds=story.seconds_for("saga"), rate=40)
                if audit is not None:
                    summary["outbox"] = audit.settle()
            if config.runs("queue"):
                story.enter("profile update while mail is down, then convergence")
                summary["queue"] = run_profile_updates(system, story,
                                                       story.seconds_for("queue"))
            if bus is not None:
                summary["bus"] = settle_bus(bus)
            story.enter("finished")
            # The view's last figures, while every store they are read from is open.
            story.final = snapshot(story)
    finally:
        story.close()
    summary["elapsed_s"] = round(story.elapsed(), 2)
    summary["checks"] = checks(summary)
    summary["ok"] = all(summary["checks"].values())
    return summary


def checks(summary: dict[str, Any]) -> dict[str, bool]:
    """The promises the story makes, each checked against its measured figures."""
    found: dict[str, bool] = {}
    if "breaker" in summary:
        found["no_sms_lost"] = summary["breaker"]["sms_lost"] == 0
    if "queue" in summary:
        found["queue_converged"] = bool(summary["queue"]["converged"])
        found["no_update_lost"] = summary["queue"]["lost"] == 0
    if "sagas" in summary:
        found["saga_invariants"] = bool(summary["sagas"]["invariants_ok"])
    if "outbox" in summary:
        o = summary["outbox"]
        found["every_effect_announced"] = o["missing"] == 0 and o["not_committed"] == 0
    if "bulkhead" in summary:
        found["pending_payments_settled"] = (summary["bulkhead"]["payment_pending"]
                                             == summary["bulkhead"]["payment_pending_settled"])
    if "bus" in summary:
        found["bus_caught_up"] = summary["bus"]["backlog"] == 0
    return found


def settle_bus(bus: EventBus, timeout: float = 20.0) -> dict[str, Any]:
    """The bus's figures once every subscriber has caught up (delivered or dead-lettered)."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        current = bus_summary(bus)
        if current == last and current["backlog"] == 0:
            return current
        last = current
        time.sleep(0.1)  # retries run on the timer thread; sample until nothing moves
    return last
