"""stanchion demo: an order system at a peak sale, surviving what fails.

    python demo.py [--scenario all] [--duration 40] [--seed 7] [--json summary.json]

The story, in about `--duration` seconds on 2 cores:
1. normal traffic, then payment slows down and hangs: its bulkhead rejects the
   excess at once, orders fall back to `payment_pending` (retried through the
   task queue), and inventory and notification keep their latency;
2. the SMS provider goes down: the circuit breaker opens, callers are told at
   once "queued, circuit_open", the provider is not hammered; it recovers and
   every queued SMS is delivered exactly once;
3. checkouts run as sagas; declined cards and failing steps are compensated in
   reverse order, a stuck refund is retried by the operator, the books balance;
   lifecycle events fan out on the event bus (one subscriber's failures end in
   its dead-letter queue);
4. users update their profiles while the mail service is down; it comes back,
   and every service converges;
5. a summary: every figure measured (docs/demo.md has the JSON schema).

The JSON log goes to --log-file; `stanchion-logs FILE --timeline order-7-4` tells
one order's story across actors. Ctrl-C stops the demo at once (exit code 130).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

import structlog

from actors import ConfigError, StanchionError, configure_logging
from examples.peaksale import SCENARIOS, Story, StoryConfig, run_story, snapshot
from examples.peaksale.view import LiveView, summary_report

INTERRUPTED = 130  # the shell's exit code for a command ended by SIGINT


class CtrlC:
    """Ctrl-C ends the demo within a second or two, with one short line and no traceback.

    The first Ctrl-C raises `KeyboardInterrupt` in the main thread so that the
    story unwinds (services stop, files close); if unwinding takes longer than
    `grace` seconds (a handler stuck in the payment hang, say), or on a second
    Ctrl-C, the process exits at once. Background threads that fail because the
    system is going away are not reported: the user asked for it.
    """

    def __init__(self, log_path: Path, grace: float = 1.5) -> None:
        self.log_path = log_path
        self.grace = grace
        self.hit = threading.Event()
        self._reported = threading.Lock()

    def install(self) -> None:
        """Take over SIGINT (also when it was inherited as ignored) and thread error reports."""
        signal.signal(signal.SIGINT, self._on_sigint)
        report = threading.excepthook

        def quiet_when_interrupted(args: threading.ExceptHookArgs) -> None:
            if not self.hit.is_set():
                report(args)

        threading.excepthook = quiet_when_interrupted

    def _on_sigint(self, _signum: int, _frame: FrameType | None) -> None:
        if self.hit.is_set():
            self.exit_now()
        self.hit.set()
        threading.Thread(target=self._deadline, name="ctrl-c-deadline", daemon=True).start()
        raise KeyboardInterrupt

    def _deadline(self) -> None:
        threading.Event().wait(self.grace)  # the main thread had its chance to unwind
        self.exit_now()

    def report(self) -> None:
        """Print the one line (once, whoever gets here first)."""
        if self._reported.acquire(blocking=False):
            print(f"\ninterrupted: the demo stopped early; its log so far is in {self.log_path}",
                  file=sys.stderr, flush=True)

    def exit_now(self) -> None:
        """Report and leave the process at once, whatever is still running."""
        self.report()
        if sys.stdout.isatty():
            sys.stdout.write("\x1b[?25h")  # the live view may have hidden the cursor
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(INTERRUPTED)


class Refused(Exception):
    """An output or a backend the demo will not use; the message is the one line shown."""


#: The first event of every demo log: how `--log-file` recognises a file it may replace.
LOG_MARK = "demo.started"


def check_log_file(path: Path, *, force: bool) -> None:
    """Refuse a log path the demo cannot write, or a file that is not an earlier demo log."""
    _check_parent(path, "--log-file")
    if force or not path.exists() or path.stat().st_size == 0:
        return
    try:
        with path.open(encoding="utf-8", errors="replace") as stream:
            first = json.loads(stream.readline(100_000))
    except (OSError, ValueError):
        first = None
    if not (isinstance(first, dict) and first.get("event") == LOG_MARK):
        raise Refused(f"--log-file {path} exists and is not an earlier demo log; choose "
                      "another file, or pass --force to replace it")


def check_json_file(path: Path, *, force: bool) -> None:
    """Refuse a summary path the demo cannot write, or a file that is not an earlier summary."""
    _check_parent(path, "--json")
    if force or not path.exists() or path.stat().st_size == 0:
        return
    try:
        earlier = json.loads(path.read_text(encoding="utf-8", errors="replace")[:10_000_000])
    except (OSError, ValueError):
        earlier = None
    if not (isinstance(earlier, dict) and "checks" in earlier and "scenario" in earlier):
        raise Refused(f"--json {path} exists and is not an earlier demo summary; choose "
                      "another file, or pass --force to replace it")


def _check_parent(path: Path, option: str) -> None:
    if path.is_dir():
        raise Refused(f"{option} {path} is a directory; give a file name")
    parent = path.parent
    if not parent.is_dir():
        raise Refused(f"{option} {path}: directory {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists()
                                                    and not os.access(path, os.W_OK)):
        raise Refused(f"{option} {path}: not writable here; choose another file")


def fresh_run_dir(config: StoryConfig) -> tuple[StoryConfig, list[Path]]:
    """`config` with its SQLite files in a new directory of their own, and what was created.

    The directory is created under `--workdir` (or under a `sqlite:///DIR` URL's
    directory), so files already there are never touched, let alone deleted.
    Other backends write no files: `(config, [])`.
    """
    if config.backend == "sqlite":
        base = config.workdir
    elif config.backend.startswith("sqlite:///"):
        base = Path(config.backend[len("sqlite:///"):])
    else:
        return config, []
    # The directories this run creates, innermost first, to remove at the end.
    created = [d for d in (base, *base.parents) if not d.exists()]
    try:
        base.mkdir(parents=True, exist_ok=True)
        run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=base))
    except OSError as exc:
        raise Refused(f"--workdir {base}: cannot create a directory there "
                      f"({exc.strerror or exc})") from None
    backend = "sqlite" if config.backend == "sqlite" else f"sqlite:///{run_dir}"
    return dataclasses.replace(config, workdir=run_dir, backend=backend), [run_dir, *created]


def check_backend(story: Story) -> None:
    """Reach the backend once before the story starts, so a dead one fails in one line."""
    try:
        story.saga_log().get("demo-backend-check")
    except StanchionError as exc:
        cause = getattr(exc, "cause", None) or exc
        raise Refused(f"--backend {story.config.backend}: cannot use it ({cause}); start it, "
                      "or choose another backend (sqlite, memory)") from None


def open_story(config: StoryConfig) -> tuple[Story, list[Path]]:
    """The story, in a fresh run directory, its backend reached once; what it created."""
    config, created = fresh_run_dir(config)
    story = Story(config, random.Random(config.seed))
    try:
        check_backend(story)
    except Refused:
        story.close()
        _remove(created)
        raise
    return story, created


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=SCENARIOS, default="all",
                        help="the whole story, or one part of it (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=40.0,
                        help="seconds the story (or the one scenario) should take "
                             "(default: %(default)s)")
    parser.add_argument("--seed", type=int, default=7,
                        help="fixes the checkouts and their faults, the profile updates and "
                             "the SMS texts (docs/demo.md says what it cannot fix)")
    parser.add_argument("--log-file", default="stanchion-demo.jsonl",
                        help="JSON lines log (default: %(default)s in the working directory); "
                             "an existing file is replaced only if it is an earlier demo log")
    parser.add_argument("--json", metavar="PATH", help="write the summary as JSON to PATH")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing --log-file or --json file whatever it holds")
    parser.add_argument("--backend", default="sqlite",
                        help="where the task queue, durable bus subscribers and the saga log "
                             "keep their data: a backend URL (memory://, sqlite:///dir, "
                             "redis://host:port/db; docs/backends.md), or sqlite (default: "
                             "files in --workdir) or memory")
    parser.add_argument("--workdir", default="stanchion-demo-data",
                        help="where the SQLite files go: each run uses a new directory of "
                             "its own under it, removed at the end (default: %(default)s)")
    parser.add_argument("--plain", action="store_true",
                        help="plain lines instead of the live terminal view")
    args = parser.parse_args(argv)

    try:
        config = StoryConfig(scenario=args.scenario, duration=args.duration, seed=args.seed,
                             workdir=Path(args.workdir), backend=args.backend)
    except ConfigError as exc:
        parser.error(str(exc))
    log_path = Path(args.log_file)
    json_path = Path(args.json) if args.json else None
    try:
        check_log_file(log_path, force=args.force)
        if json_path is not None:
            check_json_file(json_path, force=args.force)
        story, created = open_story(config)
    except Refused as exc:
        print(f"demo.py: error: {exc}", file=sys.stderr)
        return 2
    config = story.config
    ctrl_c = CtrlC(log_path)
    ctrl_c.install()
    try:
        log_path.unlink(missing_ok=True)
        configure_logging(level="info", json_file=log_path)
        structlog.get_logger("stanchion.demo").info(
            LOG_MARK, scenario=config.scenario, seed=config.seed, duration_s=config.duration,
            backend=config.backend)
        with LiveView(lambda: snapshot(story), plain=args.plain) as view:
            summary = run_story(config, story=story)
    except KeyboardInterrupt:
        ctrl_c.report()
        return INTERRUPTED
    finally:
        story.close()
        _remove(created)
    view.show(summary_report(summary))
    if json_path is not None:
        json_path.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"summary JSON: {json_path}")
    print(f"JSON log: {log_path}  (try: stanchion-logs {log_path} --level warning --count)")
    return 0 if summary.get("ok", True) else 1


def _remove(created: list[Path]) -> None:
    """Remove the run's own directory, and the ones above it this run created, if empty."""
    for n, path in enumerate(created):
        with contextlib.suppress(OSError):
            if n == 0:
                shutil.rmtree(path)
            else:
                path.rmdir()  # only if empty: another run may be using it


if __name__ == "__main__":
    sys.exit(main())
