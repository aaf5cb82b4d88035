"""The event bus: `publish(event_name, payload)` / `subscribe(pattern, handler)`.

Each subscriber has its own delivery actor with a bounded buffer, so a slow or
failing subscriber never slows the publisher or the others. Failed deliveries
are retried with backoff, then dead-lettered; dead events can be listed and
replayed. See docs/bus.md.
"""

from actors.bus._bus import BusStopped, EventBus, Subscription
from actors.bus._config import EventBusConfig
from actors.bus._patterns import matches, validate_event_name, validate_pattern
from actors.bus._registry import GroupRegistry
from actors.bus._subscriber import DeadEvent, Event, SubscriberMetrics

__all__ = [
    "BusStopped",
    "DeadEvent",
    "Event",
    "EventBus",
    "EventBusConfig",
    "GroupRegistry",
    "SubscriberMetrics",
    "Subscription",
    "matches",
    "validate_event_name",
    "validate_pattern",
]
