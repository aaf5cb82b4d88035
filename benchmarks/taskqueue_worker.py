"""A worker process for benchmarks/taskqueue.py's Redis rounds.

    python benchmarks/taskqueue_worker.py REDIS_URL QUEUE IO_DELAY_S

Runs an ActorSystem with a TaskQueueService on the Redis store; each delivery
stands for a call to a destination service that takes IO_DELAY_S. Prints
"ready", then serves until its stdin closes.
"""

from __future__ import annotations

import sys
import time

import _bench  # noqa: F401 - first: the import path (see _bench.py)

from actors import configure_logging
from actors.backends.redis import RedisTaskStore
from actors.supervision import ActorSystem
from actors.taskqueue import QueueSpec, Task, TaskQueueConfig, TaskQueueService


def main() -> None:
    url, queue, io_delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
    configure_logging(level="error")

    def deliver(task: Task) -> None:
        if io_delay:
            time.sleep(io_delay)  # the destination's round trip

    store = RedisTaskStore(url, TaskQueueConfig(visibility_timeout=30.0))
    with ActorSystem() as system:
        TaskQueueService.start(system, store, [
            QueueSpec(queue, deliver, workers=4, batch_size=20, poll_interval=0.01)])
        print("ready", flush=True)
        sys.stdin.read()  # until the parent closes our stdin
    store.close()


if __name__ == "__main__":
    main()
