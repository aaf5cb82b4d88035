"""The circuit breaker: a pure state machine on the caller's thread, and an actor gate.

`CircuitBreaker` admits or refuses calls from a published snapshot (no
message, no lock while closed); `BreakerGate` puts one in front of a service
and owns what needs a thread: operator commands and events on the bus. See
docs/breaker.md.
"""

from actors.breaker._breaker import (
    BreakerMetrics,
    BreakerState,
    BreakerTransition,
    CircuitBreaker,
    Permit,
)
from actors.breaker._config import BreakerConfig, http_status_of, provider_at_fault
from actors.breaker._errors import CircuitOpen
from actors.breaker._gate import (
    BreakerGate,
    Disable,
    ForceOpen,
    GateActor,
    GetMetrics,
    NotACommand,
    Reset,
)
from actors.breaker._sync import BreakerSync, BreakerSyncConfig, BreakerSyncMetrics
from actors.breaker._window import CountWindow, TimeWindow, WindowTotals

__all__ = [
    "BreakerConfig",
    "BreakerGate",
    "BreakerMetrics",
    "BreakerState",
    "BreakerSync",
    "BreakerSyncConfig",
    "BreakerSyncMetrics",
    "BreakerTransition",
    "CircuitBreaker",
    "CircuitOpen",
    "CountWindow",
    "Disable",
    "ForceOpen",
    "GateActor",
    "GetMetrics",
    "NotACommand",
    "Permit",
    "Reset",
    "TimeWindow",
    "WindowTotals",
    "http_status_of",
    "provider_at_fault",
]
