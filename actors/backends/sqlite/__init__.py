"""SQLite storage (WAL): durable on one machine, shared by the processes that open the files."""

from actors.backends.sqlite._outbox import SqliteOutbox
from actors.backends.sqlite._registry import SqliteGroupRegistry
from actors.backends.sqlite._saga_log import SqliteSagaLog
from actors.backends.sqlite._taskstore import SqliteTaskStore, WriteStats

__all__ = [
    "SqliteGroupRegistry",
    "SqliteOutbox",
    "SqliteSagaLog",
    "SqliteTaskStore",
    "WriteStats",
]
