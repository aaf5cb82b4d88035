"""The runtime core: mailboxes, service actors, refs, futures, timers, context, logs, errors.

This package is the internal seam for stanchion's own packages (supervision,
the patterns, the integrations): the names below are what they may use, and
only this package touches Pykka's private parts. The public API is `actors`
(and `actors.supervision`, `stanchion`); nothing here is promised to users
beyond what those re-export.

Module objects `validate` (shared number and name validators), `codec` (the
one JSON codec of every durable store) and `context` (correlation context)
are exported whole, because their callers use many of their functions.
"""

from actors.core import _codec as codec, _context as context, _validate as validate
from actors.core._backoff import Jitter, RetryPolicy
from actors.core._codec import (
    MAX_DEPTH,
    MAX_SIZE,
    CorruptData,
    DataNotSerializable,
    describe_raw,
    storable_text,
)
from actors.core._context import bind_context, current_context
from actors.core._deadletters import DeadLetter, DeadLetterStore, default_dead_letters
from actors.core._errors import (
    AskTimeout,
    ConfigError,
    MailboxFull,
    ServiceCrashed,
    ServiceStopped,
    StanchionError,
    SystemNotRunning,
    UnhandledMessage,
    UnknownService,
    require,
    short_repr,
)
from actors.core._future import ReplyFuture, checked_timeout
from actors.core._group_commit import GroupCommit
from actors.core._id_blocks import ID_BLOCK, IdBlocks
from actors.core._lazy import lazy_names
from actors.core._logging import (
    LibraryLogger,
    Sensitive,
    capture_logs,
    configure_logging,
    get_logger,
    mask_value,
)
from actors.core._mailbox import (
    MAX_MAILBOX_SIZE,
    ControlMessage,
    Disposable,
    Item,
    Mailbox,
    MailboxStats,
    is_control,
    work_item,
)
from actors.core._ref import ServiceRef
from actors.core._scheduler import Scheduler, TimerHandle
from actors.core._service import (
    Binding,
    ServiceActor,
    StopIncarnation,
    bind_next_start,
    class_settings,
    unbind,
)
from actors.core._validate import is_finite_number, text_problem

__all__ = [
    "ID_BLOCK",
    "MAX_DEPTH",
    "MAX_MAILBOX_SIZE",
    "MAX_SIZE",
    "AskTimeout",
    "Binding",
    "ConfigError",
    "ControlMessage",
    "CorruptData",
    "DataNotSerializable",
    "DeadLetter",
    "DeadLetterStore",
    "Disposable",
    "GroupCommit",
    "IdBlocks",
    "Item",
    "Jitter",
    "LibraryLogger",
    "Mailbox",
    "MailboxFull",
    "MailboxStats",
    "ReplyFuture",
    "RetryPolicy",
    "Scheduler",
    "Sensitive",
    "ServiceActor",
    "ServiceCrashed",
    "ServiceRef",
    "ServiceStopped",
    "StanchionError",
    "StopIncarnation",
    "SystemNotRunning",
    "TimerHandle",
    "UnhandledMessage",
    "UnknownService",
    "bind_context",
    "bind_next_start",
    "capture_logs",
    "checked_timeout",
    "class_settings",
    "codec",
    "configure_logging",
    "context",
    "current_context",
    "default_dead_letters",
    "describe_raw",
    "get_logger",
    "is_control",
    "is_finite_number",
    "lazy_names",
    "mask_value",
    "require",
    "short_repr",
    "storable_text",
    "text_problem",
    "unbind",
    "validate",
    "work_item",
]
