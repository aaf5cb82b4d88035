"""Durable bus subscriber groups, registered in Redis so every process sees them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors.bus.storage import check_same_pattern, valid_groups

if TYPE_CHECKING:
    from actors.backends.redis._taskstore import RedisTaskStore


class RedisGroupRegistry:
    """Groups in one Redis hash per bus, next to the store's task queues."""

    def __init__(self, store: RedisTaskStore) -> None:
        self._store = store

    def _key(self, bus: str) -> str:
        return f"{self._store.prefix}:bus:{bus}:groups"

    def register(self, bus: str, group: str, pattern: str) -> None:
        client = self._store.client
        self._store.call("register_group", lambda: client.hsetnx(self._key(bus), group, pattern))
        existing = self._store.call("register_group",
                                    lambda: client.hget(self._key(bus), group))
        check_same_pattern(group, str(existing) if existing is not None else None, pattern)

    def unregister(self, bus: str, group: str) -> None:
        client = self._store.client
        self._store.call("unregister_group", lambda: client.hdel(self._key(bus), group))

    def groups(self, bus: str) -> dict[str, str]:
        client = self._store.client
        found = self._store.call("list_groups", lambda: client.hgetall(self._key(bus)))
        return valid_groups(bus, found.items())
