"""Reading and filtering stanchion's JSON-lines logs (pure functions over records)."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from actors._errors import ConfigError

LEVELS = ("debug", "info", "warning", "error", "critical")

# Correlation ids that --id matches, in the order a timeline shows them.
ID_FIELDS = ("saga_id", "order_id", "request_id", "task_id", "event_id", "idempotency_key")


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
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(field_name, value,
                          "an ISO 8601 time such as 2026-11-25T03:10:00Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def read_records(stream: IO[str]) -> Iterator[Record | BadLine]:
    """Parse each line; a corrupt or partial line becomes a `BadLine`, never an exception."""
    for number, raw in enumerate(stream, start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield BadLine(number, f"not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(data, dict):
            yield BadLine(number, f"a JSON {type(data).__name__}, not an object")
            continue
        yield Record(number, data)


@dataclass(frozen=True)
class LogQuery:
    """What to keep. Every given criterion must match (AND)."""

    ids: tuple[str, ...] = ()
    actor: str | None = None
    event: str | None = None
    min_level: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    fields: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.min_level is not None and self.min_level not in LEVELS:
            raise ConfigError("level", self.min_level, f"one of {', '.join(LEVELS)}")

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


_SHOWN_FIRST = ("timestamp", "level", "event", "actor")


def format_line(record: Record) -> str:
    """One readable line: time, level, actor, event, then the other fields."""
    data = record.data
    time_part = record.timestamp[11:23] if len(record.timestamp) >= 23 else record.timestamp
    extras = " ".join(f"{k}={_short(v)}" for k, v in data.items() if k not in _SHOWN_FIRST
                      and k != "exception")
    actor = str(data.get("actor", "-"))
    line = (f"{time_part:<12} {data.get('level', '')!s:<8} {actor:<16} "
            f"{record.event:<28} {extras}").rstrip()
    if "exception" in data:
        first = str(data["exception"]).strip().splitlines()[-1:]
        line += f"\n{'':>12} ! {first[0] if first else ''}"
    return line


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."
