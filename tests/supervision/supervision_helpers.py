"""Test actors whose lifecycle is observable, so tests wait on conditions, not sleeps."""

from __future__ import annotations

import threading
from typing import Any

from actors import ServiceActor


class Probe:
    """Collects lifecycle events from test actors; `wait_for` waits with a deadline."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []
        self.cond = threading.Condition()
        self.lock = threading.Lock()
        self.handled: list[tuple[str, Any]] = []
        self.crashes_left = 1
        self.crashed_keys: set[object] = set()

    def take_crash(self) -> bool:
        """Whether a "crash" message should still crash (it is redelivered after a crash)."""
        with self.cond:
            if self.crashes_left > 0:
                self.crashes_left -= 1
                return True
            return False

    def first_crash(self, key: object) -> bool:
        """Whether ("crash_once", key) should crash: only the first time it is handled."""
        with self.cond:
            if key in self.crashed_keys:
                return False
            self.crashed_keys.add(key)
            return True

    def emit(self, kind: str, name: str) -> None:
        with self.cond:
            self.log.append((kind, name))
            self.cond.notify_all()

    def wait_for(self, kind: str, name: str, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until (kind, name) has been emitted `count` times in all."""
        with self.cond:
            ok = self.cond.wait_for(lambda: self.log.count((kind, name)) >= count, timeout)
        assert ok, f"{kind} {name} x{count} not seen within {timeout}s; log: {self.log}"

    def count(self, kind: str, name: str) -> int:
        with self.cond:
            return self.log.count((kind, name))


class Worker(ServiceActor):
    """Reports start/stop to a probe; messages tell it to crash, stop itself, block or echo.

    "crash" crashes while the probe's `crashes_left` lasts; the runtime redelivers
    the message that crashed an actor, so by default the redelivery succeeds.
    ("crash_once", key) crashes the first time it is handled, never on redelivery.
    """

    def __init__(self, probe: Probe, gate: threading.Event | None = None) -> None:
        super().__init__()
        self.probe = probe
        self.gate = gate

    def on_start(self) -> None:
        self.probe.emit("started", self.service_name)

    def on_stop(self) -> None:
        self.probe.emit("stopped", self.service_name)

    def on_receive(self, message: Any) -> Any:
        if message == "crash" and self.probe.take_crash():
            raise RuntimeError(f"{self.service_name} told to crash")
        if isinstance(message, tuple) and message[0] == "crash_once" and (
                self.probe.first_crash(message[1])):
            raise RuntimeError(f"{self.service_name} told to crash once ({message[1]})")
        if message == "stop_self":
            self.stop()
            return None
        if message == "block_then_crash":
            self.probe.emit("blocked", self.service_name)
            assert self.gate is not None
            self.gate.wait(10)
            raise RuntimeError("crashed after blocking")
        if message == "block":
            self.probe.emit("blocked", self.service_name)
            assert self.gate is not None
            self.gate.wait(10)
            return None
        with self.probe.lock:
            self.probe.handled.append((self.service_name, message))
        self.probe.emit("handled", f"{self.service_name}:{message}")
        return message


class FailsToStart(ServiceActor):
    """Fails in on_start the first `failures` times (counted across incarnations)."""

    def __init__(self, probe: Probe, failures: list[int]) -> None:
        super().__init__()
        self.probe = probe
        self.failures = failures

    def on_start(self) -> None:
        if self.failures[0] > 0:
            self.failures[0] -= 1
            self.probe.emit("start_failed", self.service_name)
            raise RuntimeError("cannot connect to the database")
        self.probe.emit("started", self.service_name)

    def on_receive(self, message: Any) -> Any:
        if message == "crash" and self.probe.take_crash():
            raise RuntimeError("told to crash")
        return message


class FailsInConstructor(ServiceActor):
    def __init__(self, probe: Probe, failures: list[int]) -> None:
        super().__init__()
        if failures[0] > 0:
            failures[0] -= 1
            probe.emit("constructor_failed", "ctor")
            raise RuntimeError("bad constructor argument")
        self.probe = probe

    def on_start(self) -> None:
        self.probe.emit("started", self.service_name)

    def on_receive(self, message: Any) -> Any:
        if message == "crash" and self.probe.take_crash():
            raise RuntimeError("told to crash")
        return message
