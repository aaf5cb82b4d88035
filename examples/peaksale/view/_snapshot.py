"""What the demo's view shows at one moment: frozen, validated figures, no live objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from actors.core import ConfigError, validate as check

if TYPE_CHECKING:
    from actors.bulkhead import CallerMetrics


def _counts(owner: object, *names: str) -> None:
    for name in names:
        check.integer(f"{type(owner).__name__}.{name}", getattr(owner, name), minimum=0)


@dataclass(frozen=True, slots=True)
class ServiceCounts:
    """One service's calls as its callers saw them.

    Example:
        >>> ServiceCounts(accepted=120, rejected=30, timed_out=4, fallbacks=34).offered
        154
    """

    accepted: int = 0
    rejected: int = 0
    timed_out: int = 0
    fallbacks: int = 0

    def __post_init__(self) -> None:
        _counts(self, "accepted", "rejected", "timed_out", "fallbacks")

    @property
    def offered(self) -> int:
        """Calls made: accepted, rejected at once, or timed out."""
        return self.accepted + self.rejected + self.timed_out

    @classmethod
    def from_call_counts(cls, counts: CallerMetrics) -> ServiceCounts:
        """The view of a `ServiceCaller.metrics()`."""
        return cls(counts.accepted, counts.rejected, counts.timed_out, counts.fallbacks)


@dataclass(frozen=True, slots=True)
class BreakerView:
    """The breaker now: its state, calls that reached the provider, callers refused at once.

    Example:
        >>> BreakerView("open", provider_calls=40, rejected_fast=212).state
        'open'
    """

    state: str = "closed"
    provider_calls: int = 0
    rejected_fast: int = 0

    def __post_init__(self) -> None:
        try:
            check.name("BreakerView.state", self.state, max_length=32)
        except ConfigError:
            raise ConfigError("BreakerView.state", self.state,
                              "a state name such as 'closed', 'open' or 'half_open'") from None
        _counts(self, "provider_calls", "rejected_fast")


@dataclass(frozen=True, slots=True)
class SmsCounts:
    """The SMS path: sent during the call, queued in the outbox (and why), delivered later.

    Example:
        >>> SmsCounts(sent=104, queued=460, circuit_open=446, delivered_later=455).queued
        460
    """

    sent: int = 0
    queued: int = 0
    circuit_open: int = 0
    delivered_later: int = 0

    def __post_init__(self) -> None:
        _counts(self, "sent", "queued", "circuit_open", "delivered_later")
        if self.circuit_open > self.queued:
            raise ConfigError("SmsCounts.circuit_open", self.circuit_open,
                              f"at most queued={self.queued} (it counts some of them)")


@dataclass(frozen=True, slots=True)
class SagaCounts:
    """Sagas started, and each one's latest outcome (a retried saga moves, it is not re-counted).

    Example:
        >>> SagaCounts(started=100, completed=90, compensated=8, compensation_failed=1).total
        99
    """

    completed: int = 0
    compensated: int = 0
    compensation_failed: int = 0
    started: int = 0

    def __post_init__(self) -> None:
        _counts(self, "completed", "compensated", "compensation_failed", "started")

    @property
    def total(self) -> int:
        """Sagas that have ended."""
        return self.completed + self.compensated + self.compensation_failed


@dataclass(frozen=True, slots=True)
class BusCounts:
    """Event bus figures: events published, deliveries made, deliveries dead-lettered.

    Example:
        >>> BusCounts(published=10, delivered=29, dead_lettered=1).dead_lettered
        1
    """

    published: int = 0
    delivered: int = 0
    dead_lettered: int = 0

    def __post_init__(self) -> None:
        _counts(self, "published", "delivered", "dead_lettered")


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """Task queue figures: tasks enqueued, delivered, and waiting now (depth).

    Example:
        >>> QueueCounts(enqueued=50, delivered=47, depth=3).depth
        3
    """

    enqueued: int = 0
    delivered: int = 0
    depth: int = 0

    def __post_init__(self) -> None:
        _counts(self, "enqueued", "delivered", "depth")


@dataclass(frozen=True, slots=True)
class DemoSnapshot:
    """Everything the live view shows at one moment.

    `services` keeps its order (the view's rows); `breaker_states` is the
    breaker's states, oldest first, one entry per transition (the first is
    the state it started in). Both are stored read-only.

    Example:
        >>> snap = DemoSnapshot("payment slowdown", 12.5,
        ...                     services={"payment": ServiceCounts(accepted=3, rejected=9)},
        ...                     breaker_states=["closed", "open"])
        >>> snap.services["payment"].rejected, snap.breaker_states, snap.breaker.state
        (9, ('closed', 'open'), 'closed')
    """

    phase: str
    elapsed: float
    services: Mapping[str, ServiceCounts] = field(default_factory=dict)
    breaker_states: Sequence[str] = ()
    breaker: BreakerView = field(default_factory=BreakerView)
    sms: SmsCounts = field(default_factory=SmsCounts)
    sagas: SagaCounts = field(default_factory=SagaCounts)
    bus: BusCounts = field(default_factory=BusCounts)
    queue: QueueCounts = field(default_factory=QueueCounts)

    def __post_init__(self) -> None:
        check.name("phase", self.phase)
        check.seconds("elapsed", self.elapsed, allow_zero=True)
        if not (isinstance(self.services, Mapping)
                and all(isinstance(k, str) and isinstance(v, ServiceCounts)
                        for k, v in self.services.items())):
            raise ConfigError("services", self.services,
                              "a mapping of service name to ServiceCounts")
        for name in self.services:
            check.name("services", name)
        states = check.items("breaker_states", self.breaker_states, str, "state names (str)")
        for state in states:
            check.text("breaker_states", state, max_length=32)
        for name, kind in (("breaker", BreakerView), ("sms", SmsCounts), ("sagas", SagaCounts),
                           ("bus", BusCounts), ("queue", QueueCounts)):
            check.instance(name, getattr(self, name), kind, f"a {kind.__name__}")
        object.__setattr__(self, "services", MappingProxyType(dict(self.services)))
        object.__setattr__(self, "breaker_states", states)
