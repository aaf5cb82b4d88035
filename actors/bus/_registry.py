"""Where durable subscriber groups are registered, so publishers in any process find them.

A durable subscriber group is a name and a pattern. Every process that
subscribes with that name joins the group; a publisher, in whichever process,
enqueues each matching event once per group, into the group's queue in the
shared `TaskStore`; the group's members compete for it, so each event reaches
each group once (at-least-once across crashes).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from actors.bus._patterns import validate_pattern
from actors.core import ConfigError, LibraryLogger, short_repr

_log = LibraryLogger("stanchion.bus")


class GroupRegistry(Protocol):
    """The durable subscriber groups of one bus, shared by every process using the store."""

    def register(self, bus: str, group: str, pattern: str) -> None:
        """Add `group` with `pattern`; the same group must keep the same pattern."""
        ...

    def unregister(self, bus: str, group: str) -> None:
        """Remove `group`: publishers stop enqueueing for it."""
        ...

    def groups(self, bus: str) -> dict[str, str]:
        """group -> pattern."""
        ...


_reported: set[tuple[str, str, str]] = set()


def valid_groups(bus: str, rows: Iterable[tuple[object, object]]) -> dict[str, str]:
    """The groups whose stored name and pattern are usable; the others are skipped.

    A row another program (or damage) left in the registry must not make
    every publish fail: it is logged once (`subscription.ignored`) and left out.
    """
    groups: dict[str, str] = {}
    for group, pattern in rows:
        reason = "the group's name is not text"
        if type(group) is str and group:
            try:
                groups[group] = validate_pattern(pattern)
                continue
            except ConfigError as exc:
                reason = str(exc)
        key = (bus, short_repr(group), short_repr(pattern))
        if key not in _reported and len(_reported) < 10_000:
            _reported.add(key)
            _log.warning("subscription.ignored", bus=bus, group=key[1], pattern=key[2],
                         reason=reason)
    return groups


def check_same_pattern(group: str, existing: str | None, pattern: str) -> None:
    """Refuse to register `group` again with another pattern than the one it has."""
    if existing is not None and existing != pattern:
        raise ConfigError("pattern", pattern,
                          f"{existing!r}, the pattern durable group {group!r} was registered "
                          "with (delete the group first to change it)")


def registry_for(store: object) -> GroupRegistry:
    """The registry that lives where `store` keeps its tasks (the store's `group_registry()`)."""
    make = getattr(store, "group_registry", None)
    if not callable(make):
        raise ConfigError("store", store, "a task store that keeps durable groups (one with "
                          "group_registry(): MemoryTaskStore, SqliteTaskStore, RedisTaskStore)")
    registry: GroupRegistry = make()
    return registry
