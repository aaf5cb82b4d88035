"""The story's counters as a `DemoSnapshot` for the live view, read without messages."""

from __future__ import annotations

from typing import Any

from examples.peaksale._story import Story
from examples.peaksale.view import (
    BreakerView,
    BusCounts,
    DemoSnapshot,
    QueueCounts,
    SagaCounts,
    ServiceCounts,
    SmsCounts,
)


def snapshot(story: Story) -> DemoSnapshot:
    """The figures right now (each phase registers how to read its own).

    Once the story has finished, its final figures: taken before the stores
    closed, so they are complete and reading them needs no store.
    """
    if isinstance(story.final, DemoSnapshot):
        return story.final
    counters = story.counters
    services = {name: ServiceCounts.from_call_counts(caller.metrics())
                for name, caller in dict(counters.get("callers", {})).items()}
    sms = counters.get("sms")
    saga_outcomes = counters.get("saga_outcomes")
    outcomes: dict[str, int] = saga_outcomes.counts() if saga_outcomes is not None else {}
    breaker = counters.get("breaker_view")
    return DemoSnapshot(
        phase=story.phase,
        elapsed=story.elapsed(),
        services=services,
        breaker_states=list(story.breaker_states[-24:]),
        breaker=breaker() if breaker is not None else BreakerView(),
        sms=sms() if sms is not None else SmsCounts(),
        sagas=SagaCounts(**{k: outcomes.get(k, 0) for k in
                            ("started", "completed", "compensated", "compensation_failed")}),
        bus=BusCounts(**_pick(counters, "bus_figures", ("published", "delivered",
                                                        "dead_lettered"))),
        queue=QueueCounts(**_pick(counters, "queue_figures", ("enqueued", "delivered",
                                                              "depth"))),
    )


def _pick(counters: dict[str, Any], key: str, names: tuple[str, ...]) -> dict[str, int]:
    read = counters.get(key)
    figures = read() if read is not None else {}
    return {name: int(figures.get(name, 0)) for name in names}
