"""A worker process for the multi-process tests: claims profile updates and applies them.

    python -m tests.procs.taskqueue_worker_proc STORE_URL DEST_DIR WORKER_ID QUEUE [QUEUE...]

Each destination is a SQLite file that applies updates idempotently by version
(an older or repeated update changes nothing) and records every task id it
applied, so the parent can check at-least-once delivery and convergence.
Prints "claimed N" when it holds a batch and "applied N" once it acked it, so
the parent can follow progress and kill it with work in hand.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from actors import configure_logging
from actors.backends.redis import RedisTaskStore
from actors.taskqueue import TaskQueue, TaskQueueConfig
from tests.procs.destination_db import apply, open_destination


def main() -> None:
    url, dest_dir, worker_id, *queues = sys.argv[1:]
    configure_logging(level="warning")  # stdout carries the progress lines only
    store = RedisTaskStore(url, TaskQueueConfig(visibility_timeout=1.0))
    tasks = TaskQueue(store)
    conns = {q: open_destination(Path(dest_dir) / f"{q}.sqlite3") for q in queues}
    print("ready", flush=True)
    while True:
        worked = 0
        for queue in queues:
            batch = tasks.claim(queue, worker_id, limit=50)
            if batch:
                print(f"claimed {len(batch)}", flush=True)
            for claimed in batch:
                payload = claimed.task.payload
                apply(conns[queue], claimed.task.id, payload["user_id"], payload["version"])
            if batch:
                tasks.ack(batch)
                worked += len(batch)
        if worked:
            print(f"applied {worked}", flush=True)
        else:
            time.sleep(0.02)  # an idle poll of the shared queue; the actor workers use wake-ups


if __name__ == "__main__":
    main()
