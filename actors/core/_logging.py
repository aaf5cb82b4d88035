"""Structured logging: one function configures structlog for the whole runtime.

Every event is a JSON object with an ISO-8601 UTC timestamp, a level, an event
name (`noun.past_tense_verb`), the actor that wrote it, and the correlation ids
of the message being handled. Sensitive values are masked before anything is
written. See docs/logs.md for the schema.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from actors.core import _context
from actors.core._errors import ConfigError

DEFAULT_SENSITIVE_KEYS: frozenset[str] = frozenset(
    {
        "phone",
        "phone_number",
        "msisdn",
        "to",
        "card",
        "card_number",
        "pan",
        "cvv",
        "cvc",
        "password",
        "secret",
        "token",
        "authorization",
        "api_key",
    }
)

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR, "critical": logging.CRITICAL}

# E.164-like numbers inside free text: a '+' then 8 to 15 digits, spaces or dashes allowed.
_PHONE_IN_TEXT = re.compile(r"\+\d(?:[ \-]?\d){7,14}")


class Sensitive:
    """Wrap a value so that it is masked in every log line, whatever its key.

    Example:
        >>> str(Sensitive("4111111111111111"))
        '***1111'
    """

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __repr__(self) -> str:
        return mask_value(self.value)

    __str__ = __repr__


def mask_value(value: object) -> str:
    """Mask a value, keeping at most its last four characters when it is long."""
    text = str(value)
    visible = 4 if len(text) >= 12 else 2 if len(text) >= 6 else 0
    return "***" + (text[-visible:] if visible else "")


def add_actor_and_correlation(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Processor: add the current actor name and the correlation ids."""
    name = _context.actor_name()
    if name is not None:
        event_dict.setdefault("actor", name)
    ctx = _context.current_context()
    if ctx:
        for key, value in ctx.items():
            event_dict.setdefault(key, value)
    tracer = _context.tracer
    if tracer is not None:
        tracer.log_fields(event_dict)
    return event_dict


def make_masker(sensitive_keys: Iterable[str]) -> Processor:
    """Build a processor that masks sensitive keys, `Sensitive` values and phone numbers."""
    keys = frozenset(k.lower() for k in sensitive_keys)

    def scrub(value: Any, key: str | None) -> Any:
        if isinstance(value, Sensitive):
            return mask_value(value.value)
        if key is not None and key.lower() in keys and value is not None:
            return mask_value(value)
        if isinstance(value, str):
            return _PHONE_IN_TEXT.sub(lambda m: mask_value(m.group(0)), value)
        if isinstance(value, dict):
            return {k: scrub(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [scrub(v, None) for v in value]
        return value

    def mask_sensitive(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        for key, value in list(event_dict.items()):
            event_dict[key] = scrub(value, key)
        return event_dict

    return mask_sensitive


def _json_default(value: object) -> str:
    return repr(value)


class _Sink:
    """Final structlog "logger": writes JSON lines to a file and a readable line to a stream."""

    def __init__(
        self,
        json_stream: TextIO | None,
        console: TextIO | None,
        capture: list[dict[str, Any]] | None,
    ) -> None:
        self._json = json_stream
        self._console = console
        self._capture = capture
        self._lock = threading.Lock()
        self._render_console = structlog.dev.ConsoleRenderer(colors=False)

    def emit(self, event_dict: dict[str, Any]) -> None:
        line = json.dumps(event_dict, default=_json_default, ensure_ascii=False)
        pretty = self._render_console(None, "", dict(event_dict)) if self._console else ""
        with self._lock:
            if self._capture is not None:
                self._capture.append(json.loads(line))
            if self._json is not None:
                self._json.write(line + "\n")
                self._json.flush()
            if self._console is not None:
                self._console.write(f"{pretty}\n")

    msg = debug = info = warning = error = critical = exception = log = emit

    def close(self) -> None:
        with self._lock:
            if self._json is not None and self._json not in (sys.stdout, sys.stderr):
                self._json.close()
            self._json = None


def _to_sink(
    _: WrappedLogger, __: str, event_dict: EventDict
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return (dict(event_dict),), {}


_current_sink: _Sink | None = None
_sink_lock = threading.Lock()


def _processors(sensitive_keys: Iterable[str]) -> list[Processor]:
    return [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_actor_and_correlation,
        structlog.processors.format_exc_info,
        make_masker(sensitive_keys),
        _to_sink,
    ]


def configure_logging(
    *,
    level: str = "info",
    json_file: str | Path | None = None,
    console: bool | TextIO = False,
    sensitive_keys: Iterable[str] = DEFAULT_SENSITIVE_KEYS,
) -> None:
    """Configure structlog for stanchion and for your own code that uses structlog.

    Args:
        level: the lowest level written: debug, info, warning, error or critical.
        json_file: where JSON lines go (appended); `None` writes no file.
        console: `True` for readable lines on stderr, or a stream to write them to.
        sensitive_keys: event keys whose values are masked (case-insensitive).
            Values wrapped in `Sensitive` and phone numbers in text are always masked.

    Example:
        >>> configure_logging(level="warning")
    """
    if level not in _LEVELS:
        raise ConfigError("level", level, f"one of {sorted(_LEVELS)}")
    json_stream: TextIO | None = None
    if json_file is not None:
        path = Path(json_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        json_stream = path.open("a", encoding="utf-8")
    stream: TextIO | None
    if console is True:
        stream = sys.stderr
    elif console is False:
        stream = None
    else:
        stream = console
    _install(_Sink(json_stream, stream, None), _LEVELS[level], sensitive_keys)


def _install(sink: _Sink, level: int, sensitive_keys: Iterable[str]) -> _Sink | None:
    global _current_sink  # noqa: PLW0603 - one process-wide logging configuration
    with _sink_lock:
        previous = _current_sink
        _current_sink = sink
        structlog.configure(
            processors=_processors(sensitive_keys),
            wrapper_class=structlog.make_filtering_bound_logger(level),
            logger_factory=lambda *_: sink,
            cache_logger_on_first_use=False,
        )
    return previous


@contextmanager
def capture_logs(
    level: str = "debug",
    sensitive_keys: Iterable[str] = DEFAULT_SENSITIVE_KEYS,
) -> Iterator[list[dict[str, Any]]]:
    """Capture every structured event, fully processed, as a list of dicts.

    Unlike `structlog.testing.capture_logs`, events keep the actor name,
    correlation ids, timestamps and masking exactly as they would be written.

    Example:
        >>> import structlog
        >>> with capture_logs() as events:
        ...     structlog.get_logger().info("order.created", order_id="o-1")
        >>> events[0]["event"], events[0]["order_id"]
        ('order.created', 'o-1')
    """
    events: list[dict[str, Any]] = []
    was_configured = structlog.is_configured()
    previous_config = structlog.get_config()
    previous = _install(_Sink(None, None, events), _LEVELS[level], sensitive_keys)
    try:
        yield events
    finally:
        global _current_sink  # noqa: PLW0603
        with _sink_lock:
            _current_sink = previous
            if was_configured:
                structlog.configure(**previous_config)
            else:  # as it was: stanchion's own events go to stdlib logging again
                structlog.reset_defaults()


def get_logger(**initial: Any) -> Any:
    """Return a structlog logger bound with `initial` values."""
    return structlog.get_logger(**initial)


_default_masker = make_masker(DEFAULT_SENSITIVE_KEYS)


def _render_for_stdlib(event_dict: dict[str, Any]) -> str:
    event = event_dict.pop("event", "")
    return " ".join([str(event), *(f"{key}={value!r}" for key, value in event_dict.items())])


# Whether the configured wrapper class drops a level, per (wrapper class, level): a
# filtering bound logger (`make_filtering_bound_logger`, what `configure_logging` and
# most applications use) says so with `is_enabled_for`; other wrappers keep every level.
_drops: dict[tuple[Any, int], bool] = {}


def _filtered_out(level: int) -> bool:
    wrapper = structlog.get_config()["wrapper_class"]
    key = (wrapper, level)
    dropped = _drops.get(key)
    if dropped is None:
        # Looked up on the class: an instance of a plain BoundLogger would turn the name
        # into a log call of its own.
        dropped = callable(getattr(wrapper, "is_enabled_for", None)) and not (
            structlog.get_logger("stanchion").bind().is_enabled_for(level))
        if len(_drops) > 1000:  # wrapper classes made on the fly: never grow without bound
            _drops.clear()
        _drops[key] = dropped
    return dropped


class LibraryLogger:
    """The logger stanchion's own modules write with: a good guest in someone else's app.

    Once logging is configured for structlog (`configure_logging`, `capture_logs`,
    or the application's own `structlog.configure`), events go through structlog
    like the application's. Until then they go to the standard library's
    `logging` under this logger's name (`stanchion.mailbox`, ...), never to
    stdout: with no handler configured, Python shows warnings and above on
    stderr and drops the rest; an application that configures `logging`
    receives them like any library's records.
    """

    __slots__ = ("_name", "_stdlib", "_structlog")

    def __init__(self, name: str) -> None:
        self._name = name
        self._stdlib = logging.getLogger(name)
        self._structlog = structlog.get_logger(name)

    def _emit(self, level: int, method: str, event: str, fields: dict[str, Any]) -> None:
        if structlog.is_configured():
            if _filtered_out(level):
                return  # no bound logger built, no processor run, for a line nobody keeps
            getattr(self._structlog, method)(event, **fields)
            return
        if not self._stdlib.isEnabledFor(level):
            return
        exc_info = fields.pop("exc_info", None)
        event_dict: EventDict = {"event": event, **fields}
        masked = _default_masker(None, method, add_actor_and_correlation(None, method,
                                                                         event_dict))
        assert isinstance(masked, dict)  # the masker returns the dict it was given
        self._stdlib.log(level, "%s", _render_for_stdlib(masked), exc_info=exc_info)

    def debug(self, event: str, **fields: Any) -> None:
        """Log at debug level."""
        self._emit(logging.DEBUG, "debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        """Log at info level."""
        self._emit(logging.INFO, "info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        """Log at warning level."""
        self._emit(logging.WARNING, "warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        """Log at error level."""
        self._emit(logging.ERROR, "error", event, fields)

    def critical(self, event: str, **fields: Any) -> None:
        """Log at critical level."""
        self._emit(logging.CRITICAL, "critical", event, fields)
