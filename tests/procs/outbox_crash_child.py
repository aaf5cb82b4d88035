"""Child process for the outbox SIGKILL test: checkouts whose effects are announced.

    python -m tests.procs.outbox_crash_child WORKDIR SEED COUNT [KILL_AFTER]

Like `saga_crash_child`, with the services' ledger announcing every effect
through its outbox (same SQLite transaction), and an `OutboxRelay` publishing
the rows to the task queue "announcements" in WORKDIR/announced.sqlite3. It
prints "ready", then starts COUNT checkouts and runs until killed. With COUNT
0 it settles: every saga ends, the relay empties the outbox, "settled".
With KILL_AFTER N the process SIGKILLs itself right after its Nth announcement
is enqueued: inside a relay round, after publishing, before marking sent.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
from pathlib import Path

from actors import configure_logging
from actors.backends import SqliteSagaLog, SqliteTaskStore
from actors.outbox import OutboxConfig, OutboxMessage, OutboxRelay, to_queue
from actors.saga import Sagas
from actors.supervision import ActorSystem
from actors.taskqueue import TaskQueue, TaskQueueConfig
from examples.shop import CheckoutLedger, checkout_services
from tests.procs.saga_crash_child import DEFINITION, scripted, settle


def main() -> None:
    configure_logging(level="error")  # stdout carries the reports, and nothing else
    workdir, seed, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    ledger = CheckoutLedger(workdir / "ledger.sqlite3", with_outbox=True)
    assert ledger.outbox is not None
    log = SqliteSagaLog(workdir / "sagas.sqlite3")
    tasks = TaskQueue(SqliteTaskStore(TaskQueueConfig(sqlite_path=workdir / "announced.sqlite3")))
    out = threading.Lock()

    def report(line: str) -> None:
        with out:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    publish = to_queue(tasks, "announcements")
    if len(sys.argv) > 4:
        left = [int(sys.argv[4])]
        enqueue = publish

        def publish(message: OutboxMessage) -> None:
            enqueue(message)
            left[0] -= 1
            if left[0] == 0:
                os.kill(os.getpid(), signal.SIGKILL)

    with ActorSystem(checkout_services(ledger)) as system:
        relay = OutboxRelay.start(system, ledger.outbox, publish,
                                  config=OutboxConfig(batch_size=20, poll_interval=0.1))
        sagas = Sagas.start(system, [DEFINITION], log)
        report("ready")
        if count == 0:
            settle(sagas, log)
            log.flush()
            if not relay.wait_until_empty(timeout=60.0):
                raise SystemExit("the relay did not empty the outbox within 60 s")
            report("settled")
            return
        rng = random.Random(seed)
        for i in range(count):
            sagas.start_saga_async("checkout", scripted(rng), saga_id=f"{seed}-{i}")
        threading.Event().wait()  # until killed


if __name__ == "__main__":
    main()
