"""`stanchion-logs`: filter a JSON-lines log, or print one request's timeline across actors."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from actors._errors import ConfigError
from actors.logtool._filter import (
    LEVELS,
    BadLine,
    LogQuery,
    format_line,
    parse_time,
    read_records,
    select,
    timeline,
)

EPILOG = """examples:
  stanchion-logs app.jsonl --id o-105                  every line about order o-105
  stanchion-logs app.jsonl --timeline saga-42          saga-42's story across actors, in order
  stanchion-logs app.jsonl --event 'breaker.*' --level warning
  stanchion-logs app.jsonl --actor payments --since 2026-11-25T03:00:00Z --json
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stanchion-logs",
        description="Filter stanchion's JSON-lines logs, or print one request's timeline.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", type=Path, help="a JSON-lines log file ('-' for stdin)")
    parser.add_argument("--id", action="append", default=[], metavar="ID",
                        help="a saga, order, request or task id (repeatable: any of them)")
    parser.add_argument("--timeline", metavar="ID",
                        help="print the story of one saga/order/request, in time order")
    parser.add_argument("--actor", help="actor name (glob patterns allowed: 'pay*')")
    parser.add_argument("--event", help="event name pattern, e.g. 'saga.*' or 'mailbox.rejected'")
    parser.add_argument("--level", choices=LEVELS, help="this level and above")
    parser.add_argument("--since", help="ISO 8601 time, inclusive")
    parser.add_argument("--until", help="ISO 8601 time, inclusive")
    parser.add_argument("--field", action="append", default=[], metavar="KEY=VALUE",
                        help="an exact field match (repeatable)")
    parser.add_argument("--json", action="store_true", help="print matching lines as JSON")
    return parser


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    """Run the command; returns the exit status (0 found, 1 nothing matched, 2 bad usage)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    args = _parser().parse_args(argv)
    try:
        fields = dict(_split_field(f) for f in args.field)
        ids = tuple(args.id) + ((args.timeline,) if args.timeline else ())
        query = LogQuery(
            ids=ids, actor=args.actor, event=args.event, min_level=args.level,
            since=parse_time(args.since, "--since") if args.since else None,
            until=parse_time(args.until, "--until") if args.until else None,
            fields=fields,
        )
    except ConfigError as exc:
        print(f"stanchion-logs: {exc}", file=err)
        return 2
    bad: list[BadLine] = []
    try:
        if str(args.file) == "-":
            records = select(read_records(sys.stdin), query, bad)
        else:
            with args.file.open(encoding="utf-8", errors="replace") as stream:
                records = select(read_records(stream), query, bad)
    except OSError as exc:
        print(f"stanchion-logs: cannot read {args.file}: {exc.strerror}", file=err)
        return 2
    for line in bad:
        print(f"stanchion-logs: {args.file}:{line.line_number}: skipped: {line.reason}",
              file=err)
    if args.timeline:
        records = timeline(records)
        actors = sorted({str(r.data.get("actor")) for r in records if r.data.get("actor")})
        print(f"timeline of {args.timeline}: {len(records)} events across "
              f"{len(actors)} actors ({', '.join(actors) or 'none'})", file=out)
    for record in records:
        print(json.dumps(record.data) if args.json else format_line(record), file=out)
    return 0 if records else 1


def _split_field(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError("--field", text, "KEY=VALUE, e.g. --field reason=circuit_open")
    return key, value


def entry_point() -> None:
    """Console-script entry point."""
    sys.exit(main())
