"""The saga log's writes as the durable logs receive them: the row and its callback.

The batching itself is `actors.core.GroupCommit`, the one group-commit writer
every durable store shares (see `BatchedSagaLog`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from actors.core import ConfigError, text_problem

Done = Callable[[BaseException | None], None]
"""Called once the write is durable (`None`) or failed (the error)."""

Row = tuple[str, str, str, str, float, float]
"""id, definition, status, state (JSON text), created_at, updated_at."""

Op = tuple[Literal["create", "save"], Row, Done | None]


def row(saga: Any, state: str) -> Row:
    """The stored row of a saga whose JSON `state` is already encoded.

    Raises `ConfigError` (before the write joins a batch) for an id or a
    definition name that no backend can store as text (a lone surrogate).
    """
    for field, text in (("saga_id", saga.id), ("definition", saga.definition)):
        if not text.isascii():
            problem = text_problem(text)
            if problem is not None:
                raise ConfigError(field, text, f"text without {problem}")
    return (saga.id, saga.definition, str(saga.status), state, saga.created_at,
            saga.updated_at)
