"""A service that could not be restarted tells its callers its own error, not "look it up again"."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from actors import ServiceActor, ServiceStopped
from actors.retry import RetryPolicy
from actors.supervision import ActorSystem, ChildSpec

FAST = RetryPolicy(max_attempts=None, base_delay=0.0, max_delay=0.0, jitter="none")


class Database(ServiceActor):
    """Starts once; every restart fails to connect."""

    def __init__(self, starts: list[int], failed: threading.Event) -> None:
        super().__init__()
        self.starts, self.failed = starts, failed

    def on_start(self) -> None:
        self.starts.append(1)
        if len(self.starts) > 1:
            self.failed.set()
            raise RuntimeError("cannot connect to the database")

    def on_receive(self, message: Any) -> Any:
        if message == "crash":
            raise ValueError("a poison message")
        return message


def test_after_the_supervisor_gives_up_an_ask_names_the_services_own_error(no_thread_leaks):
    starts: list[int] = []
    failed = threading.Event()
    system = ActorSystem([ChildSpec("db", Database, args=(starts, failed))], max_restarts=1,
                         restart_backoff=FAST, rng=random.Random(1)).start()
    try:
        db = system.service("db")
        db.tell("crash")               # the restart's on_start fails: the supervisor gives up
        assert failed.wait(5)
        with pytest.raises(ServiceStopped) as info:  # refused, or drained from the mailbox
            db.ask("ping", timeout=5)
        error = info.value
        assert "gave up restarting it; its last error: RuntimeError('cannot connect" in str(error)
        assert "look the service up again" not in str(error)
        assert isinstance(error.__cause__, RuntimeError)
    finally:
        system.shutdown()
