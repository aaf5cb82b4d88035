"""`stanchion-logs`: filter a JSON-lines log, or print one request's timeline across actors."""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from actors.core import ConfigError, validate as check
from actors.logtool._filter import (
    LEVELS,
    BadLine,
    LogQuery,
    Record,
    count_events,
    format_line,
    parse_time,
    read_records,
    select,
    timeline,
    visible,
)

EPILOG = """examples:
  stanchion-logs app.jsonl --id o-105                  every line about order o-105
  stanchion-logs app.jsonl --timeline saga-42          saga-42's story across actors, in order
  stanchion-logs app.jsonl --event 'breaker.*' --level warning
  stanchion-logs app.jsonl --level warning --count     what went wrong, counted by event
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
                        help="a saga, order, request, task or correlation id (repeatable: "
                             "any of them)")
    parser.add_argument("--timeline", metavar="ID",
                        help="print the story of one saga/order/request, in time order")
    parser.add_argument("--actor", help="actor name (glob patterns allowed: 'pay*')")
    parser.add_argument("--event", help="event name pattern, e.g. 'saga.*' or 'mailbox.rejected'")
    parser.add_argument("--level", choices=LEVELS, help="this level and above")
    parser.add_argument("--since", help="ISO 8601 time, inclusive")
    parser.add_argument("--until", help="ISO 8601 time, inclusive")
    parser.add_argument("--field", action="append", default=[], metavar="KEY=VALUE",
                        help="an exact field match (repeatable)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print matching lines as JSON")
    output.add_argument("--count", action="store_true",
                        help="print how many matching lines each event has, by level and "
                             "actor (or service), most frequent first")
    return parser


#: Bad lines listed one by one on stderr before the rest are only counted.
MAX_BAD_LINES_SHOWN = 20

#: The exit status when the reader of our output went away (`| head`): 128 + SIGPIPE.
EXIT_PIPE_CLOSED = 141


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    """Run the command; returns the exit status.

    0: lines found; 1: nothing matched; 2: bad usage or an unreadable file;
    141: the reader of the output went away (`stanchion-logs ... | head`),
    which ends the command quietly.
    """
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
            records = select(read_records(_stdin()), query, bad)
        else:
            with args.file.open(encoding="utf-8", errors="replace") as stream:
                records = select(read_records(stream), query, bad)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        print(f"stanchion-logs: cannot read {args.file}: {reason}", file=err)
        return 2
    _report_bad_lines(args.file, bad, err)
    try:
        if args.count:
            _print_counts(records, out)
            out.flush()
            return 0 if records else 1
        if args.timeline:
            records = timeline(records)
            actors = sorted({str(r.data.get("actor")) for r in records if r.data.get("actor")})
            print(_printable(f"timeline of {args.timeline}: {len(records)} events across "
                             f"{len(actors)} actors ({', '.join(actors) or 'none'})"), file=out)
        for record in records:
            print(json.dumps(record.data) if args.json else _printable(format_line(record)),
                  file=out)
        out.flush()
    except BrokenPipeError:
        _discard_output(out)
        return EXIT_PIPE_CLOSED
    return 0 if records else 1


def _print_counts(records: list[Record], out: TextIO) -> None:
    counts = count_events(records)
    print(f"{len(records)} lines, {len(counts)} kinds", file=out)
    for row in counts:
        print(_printable(visible(f"{row.lines:>7}  {row.level:<8} {row.event:<36} {row.where}")),
              file=out)


def _stdin() -> TextIO:
    """Standard input as UTF-8 text, undecodable bytes replaced (a log may hold garbage)."""
    if sys.stdin is None:
        raise OSError(errno.EBADF, "there is no standard input")
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:
        return sys.stdin
    return io.TextIOWrapper(buffer, encoding="utf-8", errors="replace")


def _report_bad_lines(file: Path, bad: list[BadLine], err: TextIO) -> None:
    for line in bad[:MAX_BAD_LINES_SHOWN]:
        print(f"stanchion-logs: {file}:{line.line_number}: skipped: {line.reason}", file=err)
    if len(bad) > MAX_BAD_LINES_SHOWN:
        print(f"stanchion-logs: {file}: {len(bad) - MAX_BAD_LINES_SHOWN} more bad lines "
              "skipped", file=err)


def _printable(text: str) -> str:
    """`text`, with lone surrogates (from `\\ud800` escapes in a log line) written as escapes."""
    if check.text_problem(text) is None:
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _discard_output(out: TextIO) -> None:
    """The reader is gone: send what is left in `out`'s buffer nowhere, so exit stays quiet."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)


def _split_field(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError("--field", text, "KEY=VALUE, e.g. --field reason=circuit_open")
    return key, value


def entry_point() -> None:
    """Console-script entry point: a closed pipe or Ctrl-C ends it quietly."""
    with contextlib.suppress(AttributeError, ValueError):
        # Whatever the terminal's encoding, a character it cannot show is escaped.
        sys.stdout.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    try:
        status = main()
    except KeyboardInterrupt:
        status = 130
    sys.exit(status)
