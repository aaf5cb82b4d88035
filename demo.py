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
one order's story across actors.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path

from actors import ConfigError, configure_logging
from actors.demo import LiveView, summary_table
from actors.peaksale import SCENARIOS, Story, StoryConfig, run_story, snapshot


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
                        help="sqlite (default), memory, or redis://host:port/db for the task "
                             "queue, durable bus subscribers and the saga log")
    parser.add_argument("--workdir", default="stanchion-demo-data",
                        help="where the SQLite files go; emptied first (default: %(default)s)")
    parser.add_argument("--plain", action="store_true",
                        help="plain lines instead of the live terminal view")
    args = parser.parse_args(argv)

    workdir = Path(args.workdir)
    try:
        config = StoryConfig(scenario=args.scenario, duration=args.duration, seed=args.seed,
                             workdir=workdir, backend=args.backend)
    except ConfigError as exc:
        parser.error(str(exc))
    shutil.rmtree(workdir, ignore_errors=True)  # a fresh story: no sagas or tasks from last time
    log_path = Path(args.log_file)
    log_path.unlink(missing_ok=True)
    configure_logging(level="info", json_file=log_path)
    story = Story(config, random.Random(config.seed))
    with LiveView(lambda: snapshot(story), plain=args.plain) as view:
        summary = run_story(config, story=story)
    view.show(summary_table(summary, title="summary (every figure measured)"))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
        print(f"summary JSON: {args.json}")
    print(f"JSON log: {log_path}  (try: stanchion-logs {log_path} --level warning)")
    return 0 if summary.get("ok", True) else 1


if __name__ == "__main__":
    sys.exit(main())
