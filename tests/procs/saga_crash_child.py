"""Child process for the saga SIGKILL test: recover, start checkouts, drive them.

    python -m tests.procs.saga_crash_child WORKDIR SEED COUNT [REDIS_URL]

Opens the saga log (SQLite in WORKDIR, or Redis at REDIS_URL) and the
services' ledger in WORKDIR (SQLite), starts the
coordinator (which recovers unfinished sagas; prints "recovered N"), prints
"ready", then starts COUNT checkouts with seeded scripted faults, printing
"S <id>" once each is durably created. With COUNT 0 it settles instead: it
retries stuck sagas as an operator until every saga has ended, prints
"settled", and exits. Otherwise it runs until killed.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

from actors import configure_logging
from actors.backends import SqliteSagaLog
from actors.backends.redis import RedisSagaLog
from actors.retry import RetryPolicy
from actors.saga import SagaLog, Sagas, SagaStatus
from actors.supervision import ActorSystem
from examples.shop import CHECKOUT, CheckoutLedger, checkout_definition, checkout_services

DEFINITION = checkout_definition(
    timeout=0.2, retry=RetryPolicy(max_attempts=3, base_delay=0.005, max_delay=0.05),
    compensation_retry=RetryPolicy(max_attempts=4, base_delay=0.005, max_delay=0.05))


def scripted(rng: random.Random) -> dict[str, Any]:
    faults: dict[str, Any] = {}
    for step in CHECKOUT.steps:
        roll = rng.random()
        if roll < 0.08:
            faults[step.name] = {"do": {"kind": "reject"}}
        elif roll < 0.2:
            faults[step.name] = {"do": {"kind": "error", "times": rng.randint(1, 4)}}
        elif roll < 0.24:
            faults[step.name] = {"do": {"kind": "timeout", "seconds": 0.3,
                                        "applied": rng.random() < 0.5}}
        if rng.random() < 0.1:
            faults.setdefault(step.name, {})["undo"] = {"kind": "error",
                                                       "times": rng.randint(1, 6)}
    return {"amount": rng.randint(1, 100), "quantity": rng.randint(1, 3), "faults": faults}


def settle(sagas: Sagas, log: SagaLog) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        unfinished = log.unfinished()
        for saga in unfinished:
            sagas.wait(saga.id, timeout=60)
        stuck = sagas.by_status(SagaStatus.COMPENSATION_FAILED, limit=10**6)
        if not unfinished and not stuck:
            return
        for saga in stuck:
            sagas.retry(saga.id)
    raise SystemExit("sagas did not settle within 120 s")


def main() -> None:
    configure_logging(level="error")  # stdout carries the reports, and nothing else
    workdir, seed, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    ledger = CheckoutLedger(workdir / "ledger.sqlite3")
    log: SagaLog = (RedisSagaLog(sys.argv[4], prefix="crash") if len(sys.argv) > 4
                    else SqliteSagaLog(workdir / "sagas.sqlite3"))
    out = threading.Lock()

    def report(line: str) -> None:
        with out:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    recovering = len(log.unfinished())
    with ActorSystem(checkout_services(ledger)) as system:
        sagas = Sagas.start(system, [DEFINITION], log)
        report(f"recovered {recovering}")
        report("ready")
        if count == 0:
            settle(sagas, log)
            log.flush()
            report("settled")
            return
        rng = random.Random(seed)
        for i in range(count):
            future = sagas.start_saga_async("checkout", scripted(rng), saga_id=f"{seed}-{i}")
            future.add_done_callback(lambda f=future: report(f"S {f.get(timeout=0)}"))
        threading.Event().wait()  # until killed


if __name__ == "__main__":
    main()
