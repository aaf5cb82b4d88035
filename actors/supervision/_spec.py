"""Child and supervisor specifications: a supervision tree described as data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from actors.core import (
    MAX_MAILBOX_SIZE,
    ConfigError,
    RetryPolicy,
    ServiceActor,
    class_settings,
    validate as check,
)

#: The most actors one pool may run (each is a thread).
MAX_POOL_SIZE = 1024
#: The longest `shutdown_timeout` (and `start_timeout`) accepted, in seconds.
MAX_SHUTDOWN_TIMEOUT = 86_400.0


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


def _args(value: object) -> tuple[Any, ...]:
    expected = "a tuple or list of constructor arguments (not a string)"
    if isinstance(value, str | bytes | bytearray) or not isinstance(value, Sequence):
        raise ConfigError("args", value, expected)
    try:
        return tuple(value)
    except Exception:  # noqa: BLE001 - a sequence that cannot be read is a wrong value
        raise ConfigError("args", value, expected) from None


def _kwargs(value: object) -> dict[str, Any]:
    expected = "a mapping of constructor keyword arguments with str keys"
    if not isinstance(value, Mapping):
        raise ConfigError("kwargs", value, expected)
    try:
        copied = dict(value)
    except Exception:  # noqa: BLE001 - a mapping that cannot be read is a wrong value
        raise ConfigError("kwargs", value, expected) from None
    bad = [key for key in copied if not isinstance(key, str)]
    if bad:
        raise ConfigError("kwargs", value, f"{expected} (not {bad[0]!r})")
    return copied


def _children(value: object) -> tuple[ChildSpec | SupervisorSpec, ...]:
    expected = "a list or tuple of ChildSpec and SupervisorSpec"
    if isinstance(value, ChildSpec | SupervisorSpec):
        raise ConfigError("children", value, f"{expected} (wrap a single spec: [spec])")
    if not isinstance(value, list | tuple):
        raise ConfigError("children", value, expected)
    for child in value:
        if not isinstance(child, ChildSpec | SupervisorSpec):
            raise ConfigError("children", child, expected)
    return tuple(value)


DEFAULT_RESTART_BACKOFF = RetryPolicy(max_attempts=None, base_delay=0.01, max_delay=2.0,
                                      multiplier=2.0, jitter="equal")
"""Restart delay: 10 ms doubling to 2 s, half-jittered, by restart count in the window."""


@dataclass(frozen=True)
class ChildSpec:
    """One supervised service: a `ServiceActor` subclass, or a pool of them.

    Args:
        name: the service's name, unique in the system; callers look it up by it
            (printable, no surrounding whitespace, at most 200 characters).
        actor_class: the `ServiceActor` subclass to start; its class attributes
            (`mailbox_size`, `ask_timeout`, `max_message_crashes`) are checked too.
        args, kwargs: passed to the actor's constructor at every (re)start: a
            tuple or list, and a mapping with str keys.
        restart: `permanent` (default), `transient` or `temporary`.
        pool_size: how many actors serve the name from one shared mailbox (the
            concurrency limit, 1 to 1024); the mailbox bound is the pool's total backlog.
        mailbox_size: overrides the class's `mailbox_size` (1 to 10,000,000).
        ask_timeout: overrides the class's `ask_timeout` (finite seconds > 0).
        shutdown_timeout: seconds to wait for the actor to stop before moving on
            (finite, > 0, at most a day).

    Every field is checked here: a wrong type or value raises `ConfigError`
    naming the field (a bool is not a number, 1.5 is not a pool size).

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
        check.name("name", self.name)
        if not (isinstance(self.actor_class, type) and issubclass(self.actor_class, ServiceActor)):
            raise ConfigError("actor_class", self.actor_class, "a subclass of actors.ServiceActor")
        class_settings(self.actor_class)
        object.__setattr__(self, "args", _args(self.args))
        object.__setattr__(self, "kwargs", _kwargs(self.kwargs))
        object.__setattr__(self, "restart", _enum(RestartType, "restart", self.restart))
        check.integer("pool_size", self.pool_size, minimum=1, maximum=MAX_POOL_SIZE)
        check.optional_integer("mailbox_size", self.mailbox_size, minimum=1,
                                   maximum=MAX_MAILBOX_SIZE)
        if self.ask_timeout is not None:
            object.__setattr__(self, "ask_timeout",
                               check.seconds("ask_timeout", self.ask_timeout))
        object.__setattr__(self, "shutdown_timeout", check.seconds(
            "shutdown_timeout", self.shutdown_timeout, maximum=MAX_SHUTDOWN_TIMEOUT))

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
        children: a list or tuple of `ChildSpec`s and `SupervisorSpec`s, started in
            order, stopped in reverse.
        strategy: `one_for_one` (default), `one_for_all` or `rest_for_one`.
        max_restarts, within_seconds: restart intensity. More than `max_restarts`
            (an integer >= 0) restarts within `within_seconds` (finite seconds > 0)
            and the supervisor stops its children and fails to its own parent
            (default 3 in 5 s, as in OTP).
        restart_backoff: a `RetryPolicy`: the delay before restart number n within
            the window.
        restart: how this supervisor is restarted by its parent.
        shutdown_timeout: seconds its parent waits for it (and its subtree) to stop
            (finite, > 0, at most a day).

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
        check.name("name", self.name)
        object.__setattr__(self, "children", _children(self.children))
        object.__setattr__(self, "strategy", _enum(Strategy, "strategy", self.strategy))
        object.__setattr__(self, "restart", _enum(RestartType, "restart", self.restart))
        check.integer("max_restarts", self.max_restarts, minimum=0)
        object.__setattr__(self, "within_seconds",
                           check.seconds("within_seconds", self.within_seconds))
        check.instance("restart_backoff", self.restart_backoff, RetryPolicy,
                           "an actors.retry.RetryPolicy")
        object.__setattr__(self, "shutdown_timeout", check.seconds(
            "shutdown_timeout", self.shutdown_timeout, maximum=MAX_SHUTDOWN_TIMEOUT))
        names = [c.name for c in self.children]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError("children", duplicates, "unique child names")

    def all_names(self) -> list[str]:
        """This supervisor's name and every name below it, depth first."""
        names = [self.name]
        for child in self.children:
            names.extend(child.all_names() if isinstance(child, SupervisorSpec) else [child.name])
        return names
