"""Transactional outbox: what the outbox row costs a service's commit, and relay throughput.

    taskset -c 0 python benchmarks/outbox.py      # pinned (stable ratios)
    python benchmarks/outbox.py                   # unpinned

1. Write cost: a service commits one state row per transaction on SQLite (WAL,
   synchronous=NORMAL), with and without an outbox row in the same transaction;
   alternating rounds, medians of 3.
2. Relay throughput: rows announced per second by an `OutboxRelay` from a
   `SqliteOutbox` to the event bus (one in-memory subscriber), backlog of N rows.

Prints one JSON object.
"""

from __future__ import annotations

import json
import platform
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path

import _bench  # first: the import path (see _bench.py)

from actors import configure_logging
from actors.backends.sqlite import SqliteOutbox
from actors.bus import EventBus
from actors.outbox import OutboxConfig, OutboxRelay, to_bus
from actors.supervision import ActorSystem

WRITES = 3000
BACKLOG = 20_000


def _service(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, total INTEGER)")
    return conn


def writes_per_s(workdir: Path, round_: int, with_outbox: bool) -> float:
    path = workdir / f"w{round_}-{with_outbox}.sqlite3"
    outbox = SqliteOutbox(path) if with_outbox else None
    conn = _service(path)
    start = time.perf_counter()
    for i in range(WRITES):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO orders VALUES (?, ?)", (f"o-{i}", i))
        if outbox is not None:
            outbox.add(conn, f"o-{i}", "order.created", {"id": f"o-{i}", "total": i})
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    if outbox is not None:
        outbox.close()
    return WRITES / elapsed


def relay_rows_per_s(workdir: Path, round_: int) -> float:
    path = workdir / f"r{round_}.sqlite3"
    outbox = SqliteOutbox(path)
    conn = _service(path)
    conn.execute("BEGIN IMMEDIATE")
    for i in range(BACKLOG):
        outbox.add(conn, f"o-{i % 500}", "order.created", {"i": i})
    conn.execute("COMMIT")
    done = threading.Event()
    count = [0]

    def consume(_envelope: object) -> None:
        count[0] += 1
        if count[0] == BACKLOG:
            done.set()

    with ActorSystem() as system:
        bus = EventBus.start(system)
        bus.subscribe("order.*", consume)
        start = time.perf_counter()
        relay = OutboxRelay.start(system, outbox, to_bus(bus),
                                  config=OutboxConfig(batch_size=500, poll_interval=0.05))
        if not done.wait(120):
            raise SystemExit("relay did not deliver the backlog in 120 s")
        elapsed = time.perf_counter() - start
        relay.stop()
    conn.close()
    outbox.close()
    return BACKLOG / elapsed


def main() -> None:
    configure_logging(level="error")
    plain, with_box, relay = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for round_ in range(3):
            plain.append(writes_per_s(workdir, round_, False))
            with_box.append(writes_per_s(workdir, round_, True))
            relay.append(relay_rows_per_s(workdir, round_))
    p, w = statistics.median(plain), statistics.median(with_box)
    print(json.dumps({
        "benchmark": "outbox",
        "placement": _bench.placement(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "commits_per_s_state_only": round(p),
        "commits_per_s_state_and_outbox": round(w),
        "outbox_commit_cost_ratio": round(p / w, 2),
        "relay_rows_per_s_to_bus": round(statistics.median(relay)),
        "rounds": 3,
    }))


if __name__ == "__main__":
    main()
