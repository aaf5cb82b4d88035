"""`MemoryGroupRegistry`: durable bus groups of one process (with `MemoryTaskStore`)."""

from __future__ import annotations

import threading

from actors.bus.storage import check_same_pattern


class MemoryGroupRegistry:
    """Groups of buses in this process only (with `MemoryTaskStore`)."""

    def __init__(self) -> None:
        self._groups: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def register(self, bus: str, group: str, pattern: str) -> None:
        with self._lock:
            groups = self._groups.setdefault(bus, {})
            check_same_pattern(group, groups.get(group), pattern)
            groups[group] = pattern

    def unregister(self, bus: str, group: str) -> None:
        with self._lock:
            self._groups.get(bus, {}).pop(group, None)

    def groups(self, bus: str) -> dict[str, str]:
        with self._lock:
            return dict(self._groups.get(bus, {}))
