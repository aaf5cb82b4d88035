"""The tracing hook: OpenTelemetry spans for the runtime, installed by `enable_tracing`.

Nothing here is imported by `import actors`: the core holds one slot
(`actors.core.context.tracer`), `None` until `enable_tracing` fills it, and
each hot path checks that slot once.

The W3C trace context of a message travels in the correlation context the
envelope already carries: `capture` returns a `TracedIds` mapping, which reads
as the correlation ids (log lines, dead letters and stores see only those) and
carries the sender's span context and the send time beside them. Durable work
(task rows, saga logs) stores the `traceparent` text.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from opentelemetry import context as otel_context, trace
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from actors.core import Disposable, context, short_repr, validate as check

_PROPAGATOR = TraceContextTextMapPropagator()
_INSTRUMENTATION = "stanchion"


class TracedIds(Mapping[str, Any]):
    """Correlation ids plus the sender's span: what an envelope carries while tracing is on.

    It reads exactly like the ids it wraps (so logs and stores see no change);
    `span_context` and `sent_ns` are for the receiving side.
    """

    __slots__ = ("ids", "sent_ns", "span_context")

    def __init__(self, ids: Mapping[str, Any], span_context: SpanContext | None,
                 sent_ns: int) -> None:
        self.ids = ids
        self.span_context = span_context
        self.sent_ns = sent_ns

    def __getitem__(self, key: str) -> Any:
        return self.ids[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"TracedIds({dict(self.ids)!r})"


def parse_traceparent(text: str | None) -> SpanContext | None:
    """The span context a stored W3C `traceparent` names, or None if it is absent or invalid."""
    if not text or text.__class__ is not str:
        return None
    ctx = _PROPAGATOR.extract({"traceparent": text})
    span_context = trace.get_current_span(ctx).get_span_context()
    return span_context if span_context.is_valid else None


def format_traceparent(span_context: SpanContext) -> str:
    """The W3C `traceparent` of `span_context`."""
    return (f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
            f"{int(span_context.trace_flags):02x}")


class OtelSpan:
    """An OpenTelemetry span behind the core's `Span` protocol."""

    __slots__ = ("span",)

    def __init__(self, span: trace.Span) -> None:
        self.span = span

    def set(self, key: str, value: str | int | float | bool) -> None:
        """Set the attribute `stanchion.<key>`."""
        self.span.set_attribute(f"stanchion.{key}", value)

    def fail(self, error: BaseException | str) -> None:
        """Status ERROR, with the exception recorded (or the error text as description)."""
        if isinstance(error, BaseException):
            self.span.record_exception(error)
            self.span.set_status(Status(StatusCode.ERROR, short_repr(error)))
        else:
            self.span.set_status(Status(StatusCode.ERROR, error))

    def end(self) -> None:
        """End the span."""
        self.span.end()

    @contextmanager
    def activate(self) -> Iterator[None]:
        """Make the span current in this thread for a `with` block."""
        token = otel_context.attach(trace.set_span_in_context(self.span))
        try:
            yield
        finally:
            otel_context.detach(token)

    def carrier(self) -> str | None:
        """The span's `traceparent`."""
        span_context = self.span.get_span_context()
        return format_traceparent(span_context) if span_context.is_valid else None


def _parent_context(parent: SpanContext | None) -> otel_context.Context | None:
    if parent is None:
        return None
    return trace.set_span_in_context(trace.NonRecordingSpan(parent))


class _NoSpan:
    """The span of a hook that only times mailboxes: every call does nothing."""

    __slots__ = ()

    def set(self, key: str, value: str | int | float | bool) -> None:
        """Nothing to set."""

    def fail(self, error: BaseException | str) -> None:
        """Nothing to mark."""

    def end(self) -> None:
        """Nothing to end."""

    @contextmanager
    def activate(self) -> Iterator[None]:
        """Nothing to make current."""
        yield

    def carrier(self) -> str | None:
        """No trace context."""
        return None


_NO_SPAN = _NoSpan()


class Hook:
    """The runtime's observability hook: spans on an OpenTelemetry tracer, mailbox timing.

    With `tracer=None` it only timestamps messages for the time-in-mailbox
    histogram (metrics on, tracing off).
    """

    def __init__(self, tracer: trace.Tracer | None,
                 mailbox_wait: Callable[[str, float], None] | None = None) -> None:
        self.tracer = tracer
        self.mailbox_wait = mailbox_wait

    # -- the send path -------------------------------------------------------------

    def capture(self, ids: Mapping[str, Any]) -> Mapping[str, Any]:
        """`ids` with the current span (or the installed message's) and the send time."""
        span_context: SpanContext | None = None
        if self.tracer is not None:
            span_context = trace.get_current_span().get_span_context()
            if not span_context.is_valid:
                span_context = ids.span_context if isinstance(ids, TracedIds) else None
        if isinstance(ids, TracedIds):
            ids = ids.ids
        return TracedIds(ids, span_context, time.monotonic_ns())

    def carrier(self) -> str | None:
        """The `traceparent` to store beside durable work made here, or None."""
        if self.tracer is None:
            return None
        span_context = trace.get_current_span().get_span_context()
        if not span_context.is_valid:
            installed = context.current_context()
            if not isinstance(installed, TracedIds) or installed.span_context is None:
                return None
            span_context = installed.span_context
        return format_traceparent(span_context)

    def log_fields(self, event_dict: MutableMapping[str, Any]) -> None:
        """Add the current span's `trace_id` and `span_id` to a log line."""
        if self.tracer is None:
            return
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            event_dict.setdefault("trace_id", f"{span_context.trace_id:032x}")
            event_dict.setdefault("span_id", f"{span_context.span_id:016x}")

    # -- the receive path ----------------------------------------------------------

    def wrap_handler(self, service: str, handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """`handler` inside an `actor.handle` span whose parent is the sender's span."""
        tracer = self.tracer
        wait_recorder = self.mailbox_wait
        current = context.current_context

        def handle(message: Any) -> Any:
            if context.tracer is not self:  # turned off or replaced since this incarnation began
                return handler(message)
            ids = current()
            parent = None
            wait_s = None
            if isinstance(ids, TracedIds):
                parent = ids.span_context
                wait_s = max(0.0, (time.monotonic_ns() - ids.sent_ns) / 1e9)
                if wait_recorder is not None:
                    wait_recorder(service, wait_s)
            if tracer is None or (parent is None and isinstance(message, Disposable)):
                # A wake-up no request caused (a poll timer's nudge) would be a trace of
                # its own every few hundred milliseconds: the work it does is traced.
                return handler(message)
            with tracer.start_as_current_span(
                    "actor.handle", context=_parent_context(parent), kind=SpanKind.CONSUMER,
                    record_exception=True, set_status_on_exception=True) as span:
                if span.is_recording():
                    span.set_attribute("stanchion.service", service)
                    span.set_attribute("stanchion.message_type", type(message).__name__)
                    if wait_s is not None:
                        span.set_attribute("stanchion.mailbox_wait_s", wait_s)
                return handler(message)

        return handle

    # -- spans for the patterns ------------------------------------------------------

    def span(self, name: str, attributes: Mapping[str, Any], *, parent: str | None = None,
             links: tuple[str, ...] = ()) -> AbstractContextManager[Any]:
        """A current span; `parent` and `links` are stored `traceparent`s."""
        if self.tracer is None:
            return nullcontext(_NO_SPAN)
        return self._span(self.tracer, name, attributes, parent, links)

    @staticmethod
    @contextmanager
    def _span(tracer: trace.Tracer, name: str, attributes: Mapping[str, Any],
              parent: str | None, links: tuple[str, ...]) -> Iterator[OtelSpan]:
        link_list = [Link(c) for c in map(parse_traceparent, links) if c is not None]
        parent_context = _parent_context(parse_traceparent(parent)) if parent else None
        with tracer.start_as_current_span(
                name, context=parent_context, attributes=_attributes(attributes),
                links=link_list, record_exception=True,
                set_status_on_exception=True) as span:
            yield OtelSpan(span)

    def start(self, name: str, attributes: Mapping[str, Any], *,
              parent: Any = None) -> Any:
        """A span that is not current; the caller ends it."""
        if self.tracer is None:
            return _NO_SPAN
        if isinstance(parent, OtelSpan):
            parent_context: otel_context.Context | None = trace.set_span_in_context(
                parent.span)
        elif isinstance(parent, str):
            parent_context = _parent_context(parse_traceparent(parent))
        elif isinstance(parent, TracedIds):
            parent_context = _parent_context(parent.span_context)
        else:
            parent_context = None
        return OtelSpan(self.tracer.start_span(name, context=parent_context,
                                               attributes=_attributes(attributes)))


def _attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {f"stanchion.{key}": value for key, value in attributes.items()
            if value is not None}


_tracer: trace.Tracer | None = None
_mailbox_wait: Callable[[str, float], None] | None = None


def _reinstall() -> None:
    context.set_tracer(None if _tracer is None and _mailbox_wait is None
                       else Hook(_tracer, _mailbox_wait))


def enable_tracing(tracer_provider: trace.TracerProvider | None = None) -> None:
    """Trace the runtime with `tracer_provider` (default: the application's global one).

    Call it before starting the `ActorSystem`: a service incarnation decides at
    start whether it opens `actor.handle` spans. Messages, bus events, task
    rows and saga steps then carry the W3C trace context, and every log line
    written inside a span carries `trace_id` and `span_id`.

    Example:
        >>> from opentelemetry.sdk.trace import TracerProvider
        >>> from actors.observability import enable_tracing, disable_tracing
        >>> enable_tracing(TracerProvider())
        >>> disable_tracing()
    """
    global _tracer  # noqa: PLW0603 - one hook per process, like the provider itself
    if tracer_provider is not None:
        check.instance("tracer_provider", tracer_provider, trace.TracerProvider,
                       "an opentelemetry.trace.TracerProvider, or None for the global one")
    provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
    _tracer = provider.get_tracer(_INSTRUMENTATION)
    _reinstall()


def disable_tracing() -> None:
    """Stop tracing: the hot paths are back to one check (if metrics do not time mailboxes)."""
    global _tracer  # noqa: PLW0603
    _tracer = None
    _reinstall()


def tracing_enabled() -> bool:
    """Whether `enable_tracing` is in force."""
    return _tracer is not None


def set_mailbox_wait_recorder(recorder: Callable[[str, float], None] | None) -> None:
    """Time every message's wait in its mailbox and report it to `recorder(service, seconds)`."""
    global _mailbox_wait  # noqa: PLW0603
    _mailbox_wait = recorder
    _reinstall()
