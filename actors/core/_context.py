"""Correlation context: ids (request, order, saga...) that travel with messages.

Threads do not share context variables, so each message envelope carries the
sender's context and the receiving actor installs it while it handles that
message. The context is an immutable mapping held in one `ContextVar`, so
capturing it on the send path costs a single lookup.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

_EMPTY: Mapping[str, Any] = MappingProxyType({})

_correlation: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "stanchion_correlation", default=_EMPTY
)
_actor_name: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "stanchion_actor", default=None
)


def current_context() -> Mapping[str, Any]:
    """Return the correlation ids bound in the current thread (read-only)."""
    return _correlation.get()


@contextmanager
def bind_context(**ids: Any) -> Iterator[Mapping[str, Any]]:
    """Bind correlation ids for the duration of a `with` block.

    Messages sent inside the block carry these ids to the receiving actor, and
    every log line written while handling them includes the ids.

    Example:
        >>> from actors import bind_context, current_context
        >>> with bind_context(request_id="r-1"):
        ...     dict(current_context())
        {'request_id': 'r-1'}
    """
    merged = MappingProxyType({**_correlation.get(), **ids})
    token = _correlation.set(merged)
    try:
        yield merged
    finally:
        _correlation.reset(token)


def capture() -> Mapping[str, Any]:
    """The context to attach to an outgoing message (the send path)."""
    return _correlation.get()


def install(context: Mapping[str, Any]) -> None:
    """Make `context` current in this thread (the receive path)."""
    if _correlation.get() is not context:
        _correlation.set(context)


def set_actor_name(name: str | None) -> None:
    """Name the actor that owns the current thread, for log lines."""
    _actor_name.set(name)


def actor_name() -> str | None:
    """The actor that owns the current thread, if any."""
    return _actor_name.get()
