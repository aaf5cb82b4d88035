"""A process that joins a durable bus subscriber group on Redis (for the multi-process test).

    python -m tests.procs.bus_group_proc REDIS_URL GROUP PATTERN

Prints "ready", then "got <n>" for each event payload it handles, until its
stdin closes.
"""

from __future__ import annotations

import sys
from typing import Any

from actors import configure_logging
from actors.backends.redis import RedisTaskStore
from actors.bus import EventBus
from actors.supervision import ActorSystem
from actors.taskqueue import TaskQueueConfig


def main() -> None:
    url, group, pattern = sys.argv[1:]
    configure_logging(level="error")
    store = RedisTaskStore(url, TaskQueueConfig(visibility_timeout=1.0))

    def handle(payload: Any) -> None:
        print(f"got {payload['n']}", flush=True)

    with ActorSystem() as system:
        bus = EventBus.start(system, store=store)
        bus.subscribe(pattern, handle, name=group, durable=True)
        print("ready", flush=True)
        sys.stdin.read()
    store.close()


if __name__ == "__main__":
    main()
