"""stanchion's actor runtime: bounded-mailbox service actors and the resilience patterns.

This module is the public API; everything in underscore modules is private.
"""

from actors._codec import MAX_DEPTH, MAX_SIZE, CorruptData, DataNotSerializable
from actors._context import bind_context, current_context
from actors._deadletters import DeadLetter, DeadLetterStore
from actors._errors import (
    AskTimeout,
    CircuitOpen,
    ConfigError,
    MailboxFull,
    ServiceCrashed,
    ServiceStopped,
    StanchionError,
    SystemNotRunning,
    UnhandledMessage,
    UnknownService,
)
from actors._future import ReplyFuture
from actors._logging import Sensitive, capture_logs, configure_logging, get_logger
from actors._mailbox import MailboxStats
from actors._ref import ServiceRef
from actors._scheduler import Scheduler, TimerHandle
from actors._service import ServiceActor

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
