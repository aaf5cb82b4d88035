"""stanchion's actor runtime: bounded-mailbox service actors and the resilience patterns.

This module is the public API; everything in underscore modules is private.
"""

from actors._context import bind_context, current_context
from actors._errors import (
    AskTimeout,
    ConfigError,
    MailboxFull,
    ServiceCrashed,
    ServiceStopped,
    StanchionError,
    SystemNotRunning,
    UnknownService,
)
from actors._logging import Sensitive, capture_logs, configure_logging, get_logger

__all__ = [
    "AskTimeout",
    "ConfigError",
    "MailboxFull",
    "Sensitive",
    "ServiceCrashed",
    "ServiceStopped",
    "StanchionError",
    "SystemNotRunning",
    "UnknownService",
    "bind_context",
    "capture_logs",
    "configure_logging",
    "current_context",
    "get_logger",
]
