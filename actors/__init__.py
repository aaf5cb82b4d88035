"""stanchion's actor runtime: bounded-mailbox service actors and the resilience patterns.

This module is the public API; everything in underscore modules is private.
Importing it loads the runtime core only: each pattern is its own package
(`actors.breaker`, `actors.saga`, ...), imported when used.
"""

from typing import TYPE_CHECKING

from actors.core import (
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
    lazy_names,
)

# Tracebacks and doctests name an error by where users import it from, not by the
# private module that defines it today (those move; this name does not).
for _error in (AskTimeout, ConfigError, CorruptData, DataNotSerializable, MailboxFull,
               ServiceCrashed, ServiceStopped, StanchionError, SystemNotRunning,
               UnhandledMessage, UnknownService):
    _error.__module__ = __name__
del _error

if TYPE_CHECKING:
    from actors.breaker import CircuitOpen as CircuitOpen

# A name that lives in a pattern package (a higher layer than the core) is loaded on
# first use, so `import actors` stays the core and the core never imports a pattern.
__getattr__ = lazy_names(__name__, globals(), lazy={"CircuitOpen": "actors.breaker"})


__all__ = [
    "MAX_DEPTH",
    "MAX_SIZE",
    "AskTimeout",
    "CircuitOpen",
    "ConfigError",
    "CorruptData",
    "DataNotSerializable",
    "DeadLetter",
    "DeadLetterStore",
    "MailboxFull",
    "MailboxStats",
    "ReplyFuture",
    "Scheduler",
    "Sensitive",
    "ServiceActor",
    "ServiceCrashed",
    "ServiceRef",
    "ServiceStopped",
    "StanchionError",
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
