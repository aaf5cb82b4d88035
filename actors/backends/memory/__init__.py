"""In-process storage: everything in this process's memory, lost on exit (tests, demos)."""

from actors.backends.memory._outbox import MemoryOutbox, MemoryTransaction
from actors.backends.memory._registry import MemoryGroupRegistry
from actors.backends.memory._saga_log import MemorySagaLog
from actors.backends.memory._taskstore import MemoryTaskStore

__all__ = [
    "MemoryGroupRegistry",
    "MemoryOutbox",
    "MemorySagaLog",
    "MemoryTaskStore",
    "MemoryTransaction",
]
