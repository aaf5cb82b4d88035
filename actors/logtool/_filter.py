"""Reading and filtering stanchion's JSON-lines logs (pure functions over records)."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from actors.core import ConfigError, validate as check

#: The longest line read; a longer one is skipped as a `BadLine` (memory stays bounded).
MAX_LINE_CHARS = 10_000_000

LEVELS = ("debug", "info", "warning", "error", "critical")

# Correlation ids that --id matches, in the order a timeline shows them; `correlation_id`
# is the one `ServiceCaller.call(..., correlation_id=...)` binds.
ID_FIELDS = ("saga_id", "order_id", "request_id", "task_id", "event_id", "idempotency_key",
             "correlation_id")


@dataclass(frozen=True, slots=True)
class Record:
    """One parsed log line and where it came from."""

    line_number: int
    data: dict[str, Any]

    @property
    def event(self) -> str:
        return str(self.data.get("event", ""))

    @property
    def timestamp(self) -> str:
        return str(self.data.get("timestamp", ""))


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that is not a JSON object (corrupt, or cut off by a crash)."""

    line_number: int
    reason: str


def parse_time(value: str, field_name: str) -> datetime:
    """Parse an ISO 8601 time given on the command line (naive means UTC)."""
    if not isinstance(value, str):
        raise ConfigError(field_name, value, "an ISO 8601 time such as 2026-11-25T03:10:00Z")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(field_name, value,
                          "an ISO 8601 time such as 2026-11-25T03:10:00Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def read_records(stream: IO[str], *,
                 max_line_chars: int = MAX_LINE_CHARS) -> Iterator[Record | BadLine]:
    """Parse each line; a corrupt, partial or huge line becomes a `BadLine`, never an exception.

    Lines longer than `max_line_chars` are skipped without being held in memory;
    JSON nested too deeply to parse, or with an integer too long to read, is
    a bad line too.
    """
    check.integer("max_line_chars", max_line_chars, minimum=1)
    for number, raw in _lines(stream, max_line_chars):
        if raw is None:
            yield BadLine(number, f"longer than {max_line_chars} characters; skipped unread")
            continue
        line = raw.strip()
        if not line:
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield BadLine(number, f"not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        except RecursionError:
            yield BadLine(number, "JSON nested too deeply to read")
            continue
        except ValueError as exc:  # e.g. an integer with more digits than Python reads
            yield BadLine(number, f"not readable JSON ({exc})")
            continue
        if not isinstance(data, dict):
            yield BadLine(number, f"a JSON {type(data).__name__}, not an object")
            continue
        yield Record(number, data)


def _lines(stream: IO[str], limit: int) -> Iterator[tuple[int, str | None]]:
    """(line number, line), with `None` for a line over `limit` characters (then skipped)."""
    number = 0
    while True:
        raw = stream.readline(limit + 1)
        if not raw:
            return
        number += 1
        if len(raw) <= limit or raw.endswith("\n"):
            yield number, raw
            continue
        while True:  # skip the rest of the huge line in bounded chunks
            rest = stream.readline(1 << 20)
            if not rest or rest.endswith("\n"):
                break
        yield number, None


@dataclass(frozen=True)
class LogQuery:
    """What to keep. Every given criterion must match (AND).

    `ids` are matched against the correlation fields (`saga_id`, `order_id`,
    `correlation_id`...);
    `actor` and `event` are glob patterns; `min_level` one of `LEVELS`;
    `since`/`until` datetimes (naive means UTC); `fields` exact string matches.
    """

    ids: tuple[str, ...] = ()
    actor: str | None = None
    event: str | None = None
    min_level: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    fields: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ids = check.items("ids", self.ids, str, "ids (str)")
        for value in ids:
            check.text("ids", value, max_length=1000)
        object.__setattr__(self, "ids", ids)
        check.optional(check.text, "actor", self.actor, max_length=1000)
        check.optional(check.text, "event", self.event, max_length=1000)
        if self.min_level is not None:
            check.one_of("min_level", self.min_level, LEVELS)
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is None:
                continue
            check.instance(name, value, datetime, "a datetime, or None")
            if value.tzinfo is None:  # naive means UTC, as on the command line
                object.__setattr__(self, name, value.replace(tzinfo=UTC))
        if not (isinstance(self.fields, dict)
                and all(isinstance(k, str) and isinstance(v, str)
                        for k, v in self.fields.items())):
            raise ConfigError("fields", self.fields, "a dict of field name to value (str)")

    def matches(self, record: Record) -> bool:
        """Whether `record` meets every criterion."""
        data = record.data
        return (
            self._ids_match(data)
            and _glob(self.actor, str(data.get("actor", "")))
            and _glob(self.event, record.event)
            and self._level_matches(str(data.get("level", "debug")))
            and self._time_matches(record.timestamp)
            and all(str(data.get(k)) == v for k, v in self.fields.items())
        )

    def _ids_match(self, data: dict[str, Any]) -> bool:
        return not self.ids or any(str(data[k]) in self.ids for k in ID_FIELDS if k in data)

    def _level_matches(self, level: str) -> bool:
        if self.min_level is None:
            return True
        return level in LEVELS and LEVELS.index(level) >= LEVELS.index(self.min_level)

    def _time_matches(self, timestamp: str) -> bool:
        if self.since is None and self.until is None:
            return True
        try:
            at = parse_time(timestamp, "timestamp")
        except ConfigError:
            return False
        return (self.since is None or at >= self.since) and (self.until is None or at <= self.until)


def _glob(pattern: str | None, value: str) -> bool:
    return pattern is None or fnmatch.fnmatchcase(value, pattern)


def select(items: Iterable[Record | BadLine], query: LogQuery,
           bad: list[BadLine]) -> list[Record]:
    """The matching records; bad lines are appended to `bad`."""
    kept: list[Record] = []
    for item in items:
        if isinstance(item, BadLine):
            bad.append(item)
        elif query.matches(item):
            kept.append(item)
    return kept


def timeline(records: Iterable[Record]) -> list[Record]:
    """Records in time order (file order breaks ties), for one request's story."""
    return sorted(records, key=lambda r: (r.timestamp, r.line_number))


@dataclass(frozen=True, slots=True)
class EventCount:
    """How many selected lines share a level, an event name and an actor (or service)."""

    lines: int
    level: str
    event: str
    where: str


def count_events(records: Iterable[Record]) -> list[EventCount]:
    """The records counted by (level, event, actor or service), most frequent first.

    Example:
        >>> rows = [Record(1, {"event": "mailbox.rejected", "level": "warning",
        ...                    "service": "payment"})] * 3
        >>> count_events(rows)
        [EventCount(lines=3, level='warning', event='mailbox.rejected', where='payment')]
    """
    counted: dict[tuple[str, str, str], int] = {}
    for record in records:
        data = record.data
        where = str(data.get("actor") or data.get("service") or data.get("breaker") or "-")
        key = (str(data.get("level", "")), record.event, where)
        counted[key] = counted.get(key, 0) + 1
    return [EventCount(n, *key) for key, n in
            sorted(counted.items(), key=lambda item: (-item[1], item[0]))]


_SHOWN_FIRST = ("timestamp", "level", "event", "actor")


def format_line(record: Record) -> str:
    """One readable line: time, level, actor, event, then the other fields."""
    data = record.data
    time_part = record.timestamp[11:23] if len(record.timestamp) >= 23 else record.timestamp
    extras = " ".join(f"{k}={_short(v)}" for k, v in data.items() if k not in _SHOWN_FIRST
                      and k != "exception")
    actor = str(data.get("actor", "-"))
    line = visible(f"{time_part:<12} {data.get('level', '')!s:<8} {actor:<16} "
                   f"{record.event:<28} {extras}").rstrip()
    if "exception" in data:
        first = str(data["exception"]).strip().splitlines()[-1:]
        line += f"\n{'':>12} ! {visible(first[0]) if first else ''}"
    return line


#: C0 and C1 control characters and DEL, each written as its `\xNN` escape.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}


def visible(text: str) -> str:
    """`text` with control characters escaped: a field from a log line cannot start a
    new output line or send the terminal an escape sequence."""
    return text.translate(_CONTROLS)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."
