"""What every supervisor in one system shares: the name registry, timers, dead letters."""

from __future__ import annotations

import random
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from actors.core import (
    ConfigError,
    DeadLetterStore,
    Mailbox,
    Scheduler,
    ServiceActor,
    ServiceRef,
    UnknownService,
)
from actors.supervision._spec import ChildSpec, SupervisorSpec

SUPERVISOR_ASK_TIMEOUT = 30.0


@dataclass
class Entry:
    """A name in the registry: its stable ref and mailbox, and who supervises it."""

    ref: ServiceRef[ServiceActor]
    mailbox: Mailbox
    parent: str | None


class Runtime:
    """Shared state of one `ActorSystem`; every method is thread-safe."""

    def __init__(
        self,
        dead_letters: DeadLetterStore,
        scheduler: Scheduler,
        rng: random.Random,
        clock: Callable[[], float],
        supervisor_class: type[ServiceActor],
    ) -> None:
        # Given by the system rather than imported: the supervisor imports this module.
        self.supervisor_class = supervisor_class
        self.dead_letters = dead_letters
        self.scheduler = scheduler
        self.rng = rng
        self.clock = clock
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()
        self.incarnations: weakref.WeakSet[ServiceActor] = weakref.WeakSet()
        self.terminate: Callable[[str, float | None], bool] = lambda _n, _t: False

    def entry_for(self, spec: ChildSpec | SupervisorSpec, parent: str | None) -> Entry:
        """The registry entry for `spec`, created on first use and kept across restarts."""
        with self._lock:
            entry = self._entries.get(spec.name)
            if entry is not None:
                if entry.parent is None and parent is not None:
                    entry.parent = parent
                return entry
            if isinstance(spec, ChildSpec):
                capacity = spec.effective_mailbox_size
                ask_timeout = spec.effective_ask_timeout
                actor_class: type[ServiceActor] = spec.actor_class
                max_crashes = spec.actor_class.max_message_crashes
            else:
                actor_class = self.supervisor_class
                capacity, ask_timeout, max_crashes = (
                    actor_class.mailbox_size, SUPERVISOR_ASK_TIMEOUT, 1)
            mailbox = Mailbox(spec.name, capacity, self.dead_letters, max_crashes)
            name = spec.name
            ref: ServiceRef[ServiceActor] = ServiceRef(
                name, mailbox, actor_class, ask_timeout,
                stopper=lambda timeout: self.terminate(name, timeout),
            )
            entry = Entry(ref, mailbox, parent)
            self._entries[name] = entry
            return entry

    def lookup(self, name: str) -> Entry:
        """The entry for `name`, or `UnknownService` (`ConfigError` if it is not a string)."""
        if not isinstance(name, str):
            raise ConfigError("name", name, "a service name (a string)")
        with self._lock:
            entry = self._entries.get(name)
            if entry is None:
                raise UnknownService(name, list(self._entries))
            return entry

    def forget(self, names: list[str]) -> None:
        """Remove names from the registry (a child added at run time that could not start)."""
        with self._lock:
            for name in names:
                self._entries.pop(name, None)

    def names(self) -> list[str]:
        """Every registered name."""
        with self._lock:
            return list(self._entries)

    def close_all(self) -> int:
        """Close every mailbox (system stop); returns how many messages were dead-lettered."""
        with self._lock:
            entries = list(self._entries.values())
        dead = 0
        for entry in entries:
            dead += entry.mailbox.close()
            entry.ref.actor_stopped.set()
        return dead
