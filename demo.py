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

The JSON log goes to --log-file; `stanchion-logs FILE --timeline order-7-3` tells
one order's story across actors. Ctrl-C stops the demo at once (exit code 130).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from actors import ConfigError, StanchionError, configure_logging
from examples.peaksale import SCENARIOS, Story, StoryConfig, run_story, snapshot
from examples.peaksale.view import LiveView, summary_table

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


def open_console(story: Story, port: int) -> None:
    """Serve the operator console on the story's system and patterns; print where it is.

    It stops with the story (one of the story's closers).
    """
    try:
        from actors.console import Console, serve_console  # noqa: PLC0415 - an extra
    except ImportError as exc:
        raise SystemExit(f"--console: {exc}") from None
    console = Console(title="peak sale")
    # The SMS path is shown by its breaker gate; everything else as it is.
    story.watchers.append(lambda started: console.watch(getattr(started, "gate", started)))
    try:
        server = serve_console(console, port=port)
    except StanchionError as exc:
        raise SystemExit(f"--console: {exc}") from None
    story.closers.append(server.stop)
    print(f"operator console: {server.url}\n  sign in to act: {server.login_url}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=SCENARIOS, default="all",
                        help="the whole story, or one part of it (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=40.0,
                        help="seconds the story should take (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=7, help="same seed, same story")
    parser.add_argument("--log-file", default="stanchion-demo.jsonl",
                        help="JSON lines log (default: %(default)s in the working directory)")
    parser.add_argument("--json", metavar="PATH", help="write the summary as JSON to PATH")
    parser.add_argument("--backend", default="sqlite",
                        help="where the task queue, durable bus subscribers and the saga log "
                             "keep their data: a backend URL (memory://, sqlite:///dir, "
                             "redis://host:port/db; docs/backends.md), or sqlite (default: "
                             "files in --workdir) or memory")
    parser.add_argument("--workdir", default="stanchion-demo-data",
                        help="where the SQLite files go; emptied first (default: %(default)s)")
    parser.add_argument("--plain", action="store_true",
                        help="plain lines instead of the live terminal view")
    parser.add_argument("--console", action="store_true",
                        help="serve the operator console on the running story and print its "
                             "URL (needs the console extra; docs/console.md)")
    parser.add_argument("--console-port", type=int, default=8765,
                        help="the console's port on 127.0.0.1 (default: %(default)s)")
    args = parser.parse_args(argv)

    workdir = Path(args.workdir)
    try:
        config = StoryConfig(scenario=args.scenario, duration=args.duration, seed=args.seed,
                             workdir=workdir, backend=args.backend)
    except ConfigError as exc:
        parser.error(str(exc))
    shutil.rmtree(workdir, ignore_errors=True)  # a fresh story: no sagas or tasks from last time
    log_path = Path(args.log_file)
    ctrl_c = CtrlC(log_path)
    ctrl_c.install()
    try:
        log_path.unlink(missing_ok=True)
        configure_logging(level="info", json_file=log_path)
        story = Story(config, random.Random(config.seed))
        if args.console:
            open_console(story, args.console_port)
        with LiveView(lambda: snapshot(story), plain=args.plain) as view:
            summary = run_story(config, story=story)
    except KeyboardInterrupt:
        ctrl_c.report()
        return INTERRUPTED
    view.show(summary_table(summary, title="summary (every figure measured)"))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
        print(f"summary JSON: {args.json}")
    print(f"JSON log: {log_path}  (try: stanchion-logs {log_path} --level warning)")
    return 0 if summary.get("ok", True) else 1


if __name__ == "__main__":
    sys.exit(main())
