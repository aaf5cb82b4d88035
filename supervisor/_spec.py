"""Child and supervisor specifications: a supervision tree described as data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from actors import ConfigError, ServiceActor
from actors._errors import require
from actors.retry import RetryPolicy


class Strategy(StrEnum):
    """What a supervisor restarts when one child dies (Erlang/OTP semantics)."""

    ONE_FOR_ONE = "one_for_one"
    """Restart only the child that died."""
    ONE_FOR_ALL = "one_for_all"
    """Stop every other child, then restart all of them."""
    REST_FOR_ONE = "rest_for_one"
    """Restart the child that died and every child started after it."""


class RestartType(StrEnum):
    """When a child that ended is restarted."""

    PERMANENT = "permanent"
    """Always, even after a clean stop it did not ask the supervisor for."""
    TRANSIENT = "transient"
    """Only when it crashed (ended with an exception)."""
    TEMPORARY = "temporary"
    """Never; once it ends, its mailbox is closed."""


def _enum(cls: type[StrEnum], field_name: str, value: object) -> Any:
    if not isinstance(value, str):
        raise ConfigError(field_name, value, f"one of {[m.value for m in cls]}")
    try:
        return cls(value)
    except ValueError:
        raise ConfigError(field_name, value, f"one of {[m.value for m in cls]}") from None


DEFAULT_RESTART_BACKOFF = RetryPolicy(max_attempts=None, base_delay=0.01, max_delay=2.0,
                                      multiplier=2.0, jitter="equal")
"""Restart delay: 10 ms doubling to 2 s, half-jittered, by restart count in the window."""


@dataclass(frozen=True)
class ChildSpec:
    """One supervised service: a `ServiceActor` subclass, or a pool of them.

    Args:
        name: the service's name, unique in the system; callers look it up by it.
        actor_class: the `ServiceActor` subclass to start.
        args, kwargs: passed to the actor's constructor at every (re)start.
        restart: `permanent` (default), `transient` or `temporary`.
        pool_size: how many actors serve the name from one shared mailbox (the
            concurrency limit); the mailbox bound is the pool's total backlog.
        mailbox_size: overrides the class's `mailbox_size`.
        ask_timeout: overrides the class's `ask_timeout` (seconds).
        shutdown_timeout: seconds to wait for the actor to stop before moving on.

    Example:
        >>> from actors import ServiceActor
        >>> class Payment(ServiceActor):
        ...     pass
        >>> ChildSpec("payment", Payment, pool_size=4, mailbox_size=100).pool_size
        4
    """

    name: str
    actor_class: type[ServiceActor]
    args: Sequence[Any] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    restart: RestartType | str = RestartType.PERMANENT
    pool_size: int = 1
    mailbox_size: int | None = None
    ask_timeout: float | None = None
    shutdown_timeout: float = 5.0

    def __post_init__(self) -> None:
        require(isinstance(self.name, str) and bool(self.name.strip()), "name", self.name,
                "a non-empty service name")
        require(isinstance(self.actor_class, type) and issubclass(self.actor_class, ServiceActor),
                "actor_class", self.actor_class, "a subclass of actors.ServiceActor")
        object.__setattr__(self, "restart", _enum(RestartType, "restart", self.restart))
        require(self.pool_size >= 1, "pool_size", self.pool_size, "an integer >= 1")
        size = self.effective_mailbox_size
        require(size >= 1, "mailbox_size", size, "an integer >= 1")
        timeout = self.effective_ask_timeout
        require(timeout > 0, "ask_timeout", timeout, "seconds > 0")
        require(self.shutdown_timeout > 0, "shutdown_timeout", self.shutdown_timeout,
                "seconds > 0")

    @property
    def effective_mailbox_size(self) -> int:
        """The mailbox bound in force for this child."""
        return self.mailbox_size if self.mailbox_size is not None else self.actor_class.mailbox_size

    @property
    def effective_ask_timeout(self) -> float:
        """The default reply deadline in force for this child."""
        return self.ask_timeout if self.ask_timeout is not None else self.actor_class.ask_timeout


@dataclass(frozen=True)
class SupervisorSpec:
    """A supervisor: a strategy, a restart intensity, and its children (which may nest).

    Args:
        name: unique in the system.
        children: `ChildSpec`s and `SupervisorSpec`s, started in order, stopped in reverse.
        strategy: `one_for_one` (default), `one_for_all` or `rest_for_one`.
        max_restarts, within_seconds: restart intensity. More than `max_restarts`
            restarts within `within_seconds` and the supervisor stops its children
            and fails to its own parent (default 3 in 5 s, as in OTP).
        restart_backoff: delay before restart number n within the window.
        restart: how this supervisor is restarted by its parent.
        shutdown_timeout: seconds its parent waits for it (and its subtree) to stop.

    Example:
        >>> from actors import ServiceActor
        >>> class Inventory(ServiceActor):
        ...     pass
        >>> spec = SupervisorSpec("shop", [ChildSpec("inventory", Inventory)],
        ...                       strategy="rest_for_one")
        >>> spec.strategy
        <Strategy.REST_FOR_ONE: 'rest_for_one'>
    """

    name: str
    children: Sequence[ChildSpec | SupervisorSpec]
    strategy: Strategy | str = Strategy.ONE_FOR_ONE
    max_restarts: int = 3
    within_seconds: float = 5.0
    restart_backoff: RetryPolicy = DEFAULT_RESTART_BACKOFF
    restart: RestartType | str = RestartType.PERMANENT
    shutdown_timeout: float = 30.0

    def __post_init__(self) -> None:
        require(isinstance(self.name, str) and bool(self.name.strip()), "name", self.name,
                "a non-empty supervisor name")
        object.__setattr__(self, "strategy", _enum(Strategy, "strategy", self.strategy))
        object.__setattr__(self, "restart", _enum(RestartType, "restart", self.restart))
        object.__setattr__(self, "children", tuple(self.children))
        for child in self.children:
            require(isinstance(child, ChildSpec | SupervisorSpec), "children", child,
                    "ChildSpec or SupervisorSpec instances")
        require(self.max_restarts >= 0, "max_restarts", self.max_restarts, "an integer >= 0")
        require(self.within_seconds > 0, "within_seconds", self.within_seconds, "seconds > 0")
        require(self.shutdown_timeout > 0, "shutdown_timeout", self.shutdown_timeout,
                "seconds > 0")
        names = [c.name for c in self.children]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        require(not duplicates, "children", duplicates, "unique child names")

    def all_names(self) -> list[str]:
        """This supervisor's name and every name below it, depth first."""
        names = [self.name]
        for child in self.children:
            names.extend(child.all_names() if isinstance(child, SupervisorSpec) else [child.name])
        return names
