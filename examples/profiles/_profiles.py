"""The profile-propagation scenario: one update, every service that holds user data.

A user edits their profile in one service; the update must reach billing,
search, mail... even those that are down for a while. `propagate` enqueues
one durable task per destination; `ProfileReplica` is a destination that
applies updates idempotently by version, which is what makes at-least-once
delivery safe: an older or repeated update changes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from actors.core import ConfigError, ServiceActor, StanchionError, validate as check
from actors.taskqueue import TaskQueueService

_log = structlog.get_logger("stanchion.profiles")


@dataclass(frozen=True, slots=True)
class ProfileUpdate:
    """A new version of a user's profile fields.

    Example:
        >>> ProfileUpdate("u-1", 3, {"name": "Ada"}).to_payload()
        {'user_id': 'u-1', 'version': 3, 'fields': {'name': 'Ada'}}
    """

    user_id: str
    version: int
    fields: Mapping[str, Any]

    def __post_init__(self) -> None:
        check.name("user_id", self.user_id)
        check.integer("version", self.version, minimum=1, maximum=2**63 - 1)
        if not isinstance(self.fields, Mapping):
            raise ConfigError("fields", self.fields, "a mapping of profile field to value")

    def to_payload(self) -> dict[str, Any]:
        """The JSON payload of the task that carries this update."""
        return {"user_id": self.user_id, "version": self.version, "fields": dict(self.fields)}

    @classmethod
    def from_payload(cls, payload: Any) -> ProfileUpdate:
        """Parse a task payload; raises `ConfigError` naming the bad field."""
        if not isinstance(payload, dict):
            raise ConfigError("payload", payload, "an object with user_id, version, fields")
        return cls(payload.get("user_id"), payload.get("version"),  # type: ignore[arg-type]
                   payload.get("fields") or {})  # checked by __post_init__


def queue_name(destination: str) -> str:
    """The queue that carries profile updates to `destination`."""
    return f"profile->{destination}"


def propagate(tasks: TaskQueueService, update: ProfileUpdate,
              destinations: Iterable[str]) -> dict[str, str]:
    """Enqueue `update` once per destination; returns the task id per destination.

    Each enqueue returns only once it is committed, so when this returns the
    update will reach every destination, however long one of them is down.
    """
    payload = update.to_payload()
    return {dest: tasks.enqueue(queue_name(dest), payload) for dest in destinations}


class DestinationDown(StanchionError):
    """The destination is unavailable; the delivery will be retried."""


class ProfileReplica(ServiceActor):
    """A service holding user profiles, applying updates idempotently by version.

    Answers each update with "applied", "stale" (it already had that version or
    a newer one) or raises `DestinationDown` while `down` is set.
    """

    mailbox_size = 10_000

    def __init__(self) -> None:
        super().__init__()
        self.profiles: dict[str, tuple[int, dict[str, Any]]] = {}
        self.applied = 0
        self.stale = 0
        self.down = threading.Event()
        self._lock = threading.Lock()

    def on_receive(self, message: Any) -> str:
        if self.down.is_set():
            raise DestinationDown(f"{self.service_name} is down; retry later")
        update = ProfileUpdate.from_payload(message)
        with self._lock:
            current = self.profiles.get(update.user_id)
            if current is not None and current[0] >= update.version:
                self.stale += 1
                return "stale"
            self.profiles[update.user_id] = (update.version, dict(update.fields))
            self.applied += 1
        _log.debug("profile.applied", user_id=update.user_id, version=update.version)
        return "applied"

    def versions(self) -> dict[str, int]:
        """user id -> the version held (safe to call from any thread)."""
        with self._lock:
            return {user: version for user, (version, _) in self.profiles.items()}
