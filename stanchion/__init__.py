"""stanchion: a resilience runtime for Python on the actor model.

The public API of `actors` (service actors, refs, errors, logging) and of
`actors.supervision` (the supervision tree) under one name that no other
distribution uses:

    >>> from stanchion import ActorSystem, ChildSpec, ServiceActor
    >>> class Echo(ServiceActor):
    ...     def on_receive(self, message):
    ...         return message
    >>> with ActorSystem([ChildSpec("echo", Echo)]) as system:
    ...     system.service("echo").ask("hi")
    'hi'

The patterns keep their own packages (`actors.breaker`, `actors.saga`, ...).
"""

from typing import TYPE_CHECKING

from actors import (
    MAX_DEPTH,
    MAX_SIZE,
    AskTimeout,
    ConfigError,
    CorruptData,
    DataNotSerializable,
    DeadLetter,
    DeadLetterStore,
    MailboxFull,
    MailboxStats,
    ReplyFuture,
    Scheduler,
    Sensitive,
    ServiceActor,
    ServiceCrashed,
    ServiceRef,
    ServiceStopped,
    StanchionError,
    SystemNotRunning,
    TimerHandle,
    UnhandledMessage,
    UnknownService,
    bind_context,
    capture_logs,
    configure_logging,
    current_context,
    get_logger,
)
from actors.core import lazy_names
from actors.supervision import (
    ActorSystem,
    ChildInfo,
    ChildSpec,
    RestartIntensity,
    RestartType,
    ServiceInfo,
    ServiceStartFailed,
    Strategy,
    SupervisorGaveUp,
    SupervisorSpec,
)

if TYPE_CHECKING:
    from actors.breaker import CircuitOpen as CircuitOpen
    from actors.console import serve_console as serve_console

# As in `actors`: the breaker's error loads the breaker package on first use only.
# The operator console (the `console` extra) likewise loads on first use only.
__getattr__ = lazy_names(__name__, globals(), lazy={"CircuitOpen": "actors.breaker",
                                                    "serve_console": "actors.console"})

__all__ = [
    "MAX_DEPTH",
    "MAX_SIZE",
    "ActorSystem",
    "AskTimeout",
    "ChildInfo",
    "ChildSpec",
    "CircuitOpen",
    "ConfigError",
    "CorruptData",
    "DataNotSerializable",
    "DeadLetter",
    "DeadLetterStore",
    "MailboxFull",
    "MailboxStats",
    "ReplyFuture",
    "RestartIntensity",
    "RestartType",
    "Scheduler",
    "Sensitive",
    "ServiceActor",
    "ServiceCrashed",
    "ServiceInfo",
    "ServiceRef",
    "ServiceStartFailed",
    "ServiceStopped",
    "StanchionError",
    "Strategy",
    "SupervisorGaveUp",
    "SupervisorSpec",
    "SystemNotRunning",
    "TimerHandle",
    "UnhandledMessage",
    "UnknownService",
    "bind_context",
    "capture_logs",
    "configure_logging",
    "current_context",
    "get_logger",
]
