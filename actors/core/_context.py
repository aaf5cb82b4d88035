"""Correlation context: ids (request, order, saga...) that travel with messages.

Threads do not share context variables, so each message envelope carries the
sender's context and the receiving actor installs it while it handles that
message. The context is an immutable mapping held in one `ContextVar`, so
capturing it on the send path costs a single lookup.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager, contextmanager
from types import MappingProxyType
from typing import Any, Protocol

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


#: `current_context` without the Python call around it, for the actor loop.
current_context_getter: Callable[[], Mapping[str, Any]] = _correlation.get


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


class Span(Protocol):
    """A span as the runtime's hooks see it (`actors.otel` wraps an OpenTelemetry span)."""

    def set(self, key: str, value: str | int | float | bool) -> None:
        """Set an attribute."""

    def fail(self, error: BaseException | str) -> None:
        """Mark the span as failed (status ERROR) with `error`."""

    def end(self) -> None:
        """End a span made by `Tracer.start`."""

    def activate(self) -> AbstractContextManager[None]:
        """Make this span current in a `with` block (messages sent there are its children)."""

    def carrier(self) -> str | None:
        """This span's W3C `traceparent`, to store beside durable work."""


class Tracer(Protocol):
    """What the runtime calls when tracing is on; installed by `actors.otel.enable_tracing`."""

    def capture(self, ids: Mapping[str, Any]) -> Mapping[str, Any]:
        """The context of an outgoing message: `ids` plus the current span, if any."""

    def wrap_handler(self, service: str, handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """Wrap a service's `on_receive` in an `actor.handle` span."""

    def span(self, name: str, attributes: Mapping[str, Any], *, parent: str | None = None,
             links: tuple[str, ...] = ()) -> AbstractContextManager[Span]:
        """A current span for a `with` block (errors raised in it fail the span)."""

    def start(self, name: str, attributes: Mapping[str, Any], *,
              parent: Span | str | Mapping[str, Any] | None = None) -> Span:
        """A span that is not current and outlives the caller's frame; end it with `end()`.

        `parent`: a span, a stored `traceparent`, a captured message context, or
        None for the current span.
        """

    def carrier(self) -> str | None:
        """The current span's (or the installed context's) `traceparent`, or None."""

    def log_fields(self, event_dict: MutableMapping[str, Any]) -> None:
        """Add the current span's `trace_id` and `span_id` to a log line."""


_TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


def is_traceparent(value: object) -> bool:
    """Whether `value` has the form of a W3C `traceparent` (what durable rows may store)."""
    return value.__class__ is str and _TRACEPARENT.fullmatch(value) is not None


#: The tracing hook, or None when tracing is off (set it with `set_tracer`).
tracer: Tracer | None = None


# While tracing is off the send path takes the context as it is (no frame of ours).
_capture_untraced = current_context_getter


def _capture_traced() -> Mapping[str, Any]:
    hook = tracer
    if hook is None:
        return _correlation.get()
    return hook.capture(_correlation.get())


#: The context to attach to an outgoing message (the send path). `set_tracer` swaps
#: it, so while tracing is off the send path is exactly the untraced one.
capture: Callable[[], Mapping[str, Any]] = _capture_untraced


def set_tracer(hook: Tracer | None) -> None:
    """Install the tracing hook (`None`: remove it); `actors.observability` calls this."""
    global tracer, capture  # noqa: PLW0603 - one hook per process, read by the hot paths
    tracer = hook
    capture = _capture_untraced if hook is None else _capture_traced


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
