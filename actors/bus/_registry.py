"""Where durable subscriber groups are registered, so publishers in any process find them.

A durable subscriber group is a name and a pattern. Every process that
subscribes with that name joins the group; a publisher, in whichever process,
enqueues each matching event once per group, into the group's queue in the
shared `TaskStore`; the group's members compete for it, so each event reaches
each group once (at-least-once across crashes).
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import structlog

from actors._sqlite import lenient_text
from actors.bus._patterns import validate_pattern
from actors.core import ConfigError, short_repr
from actors.taskqueue import MemoryTaskStore, SqliteTaskStore, TaskStore, TaskStoreError

_log = structlog.get_logger("stanchion.bus")


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


def _check_same(group: str, existing: str | None, pattern: str) -> None:
    if existing is not None and existing != pattern:
        raise ConfigError("pattern", pattern,
                          f"{existing!r}, the pattern durable group {group!r} was registered "
                          "with (delete the group first to change it)")


class MemoryGroupRegistry:
    """Groups of buses in this process only (with `MemoryTaskStore`)."""

    def __init__(self) -> None:
        self._groups: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def register(self, bus: str, group: str, pattern: str) -> None:
        with self._lock:
            groups = self._groups.setdefault(bus, {})
            _check_same(group, groups.get(group), pattern)
            groups[group] = pattern

    def unregister(self, bus: str, group: str) -> None:
        with self._lock:
            self._groups.get(bus, {}).pop(group, None)

    def groups(self, bus: str) -> dict[str, str]:
        with self._lock:
            return dict(self._groups.get(bus, {}))


class SqliteGroupRegistry:
    """Groups in a table of the task store's SQLite file (processes on one machine)."""

    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        self._lock = threading.Lock()
        with self._connect() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS bus_groups (bus TEXT NOT NULL, "
                         "grp TEXT NOT NULL, pattern TEXT NOT NULL, PRIMARY KEY (bus, grp))")
        conn.close()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, timeout=30)
        conn.text_factory = lenient_text  # a damaged row is skipped, not a failed publish
        return conn

    def register(self, bus: str, group: str, pattern: str) -> None:
        with self._lock, self._connect() as conn:
            row = conn.execute("SELECT pattern FROM bus_groups WHERE bus = ? AND grp = ?",
                               (bus, group)).fetchone()
            _check_same(group, row[0] if row else None, pattern)
            conn.execute("INSERT OR IGNORE INTO bus_groups VALUES (?, ?, ?)",
                         (bus, group, pattern))
        conn.close()

    def unregister(self, bus: str, group: str) -> None:
        with self._lock, self._connect() as conn:
            conn.execute("DELETE FROM bus_groups WHERE bus = ? AND grp = ?", (bus, group))
        conn.close()

    def groups(self, bus: str) -> dict[str, str]:
        try:
            with self._lock, self._connect() as conn:
                rows = conn.execute("SELECT grp, pattern FROM bus_groups WHERE bus = ?",
                                    (bus,)).fetchall()
            conn.close()
        except sqlite3.Error as exc:
            raise TaskStoreError("list durable groups", exc) from exc
        return valid_groups(bus, rows)


_memory_registries: weakref.WeakKeyDictionary[MemoryTaskStore, MemoryGroupRegistry] = (
    weakref.WeakKeyDictionary())
_memory_lock = threading.Lock()


def registry_for(store: TaskStore) -> GroupRegistry:
    """The registry that lives where `store` keeps its tasks."""
    if isinstance(store, SqliteTaskStore):
        return SqliteGroupRegistry(store.config.sqlite_path)
    if isinstance(store, MemoryTaskStore):
        with _memory_lock:
            registry = _memory_registries.get(store)
            if registry is None:
                registry = _memory_registries[store] = MemoryGroupRegistry()
            return registry
    try:
        from actors.redis import RedisGroupRegistry, RedisTaskStore  # noqa: PLC0415 - optional

        if isinstance(store, RedisTaskStore):
            return RedisGroupRegistry(store)
    except ImportError:  # the redis extra is not installed
        pass
    raise ConfigError("store", store, "a SqliteTaskStore, RedisTaskStore or MemoryTaskStore")
