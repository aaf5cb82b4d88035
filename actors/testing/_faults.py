"""Fault injection for tests: a service that fails, hangs or slows down on a script."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from actors.core import ConfigError, ServiceActor, validate as check

FaultKind = Literal["ok", "fail", "hang", "slow"]


class InjectedFault(Exception):
    """The error a scripted `fail` raises."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted behaviour: `ok`, `fail`, `hang` (until released) or `slow` (seconds).

    `seconds` is finite, >= 0 and at most ten years (`hang` waits for the release instead).

    Example:
        >>> Fault("slow", 0.2).seconds
        0.2
        >>> Fault("slow", float("inf"))
        Traceback (most recent call last):
        ...
        actors.ConfigError: seconds=inf is invalid: expected a finite number of seconds \
>= 0 and <= 315360000
    """

    kind: FaultKind
    seconds: float = 0.0

    def __post_init__(self) -> None:
        check.one_of("kind", self.kind, ("ok", "fail", "hang", "slow"))
        check.seconds("seconds", self.seconds, allow_zero=True)


class FaultScript:
    """What a `ScriptedService` does on each call, in order; `ok` once the script runs out.

    Thread-safe: tests may append steps or release hung calls while it runs.

    Example:
        >>> script = FaultScript.parse("ok, fail, slow:0.01, ok")
        >>> [step.kind for step in script.steps]
        ['ok', 'fail', 'slow', 'ok']
    """

    def __init__(self, steps: Iterable[Fault] = (), *, repeat_last: bool = False) -> None:
        self._steps: deque[Fault] = deque(check.items("steps", steps, Fault, "Fault"))
        self._repeat_last = check.boolean("repeat_last", repeat_last)
        self._lock = threading.Lock()
        self._released = threading.Event()
        self.calls = 0

    @classmethod
    def parse(cls, text: str, *, repeat_last: bool = False) -> FaultScript:
        """Build a script from text such as "ok, fail, slow:0.2, hang"."""
        check.text("script", text)
        steps = []
        for raw in (part.strip() for part in text.split(",")):
            if not raw:
                continue
            kind, _, seconds = raw.partition(":")
            expected = "comma-separated steps: ok, fail, hang or slow:SECONDS"
            try:
                duration = float(seconds) if seconds else 0.0
            except ValueError:
                raise ConfigError("script", raw, expected) from None
            try:
                steps.append(Fault(kind, duration))  # type: ignore[arg-type]
            except ConfigError as exc:
                raise ConfigError("script", raw, f"{expected} ({exc})") from None
        return cls(steps, repeat_last=repeat_last)

    @property
    def steps(self) -> list[Fault]:
        """The steps not yet used."""
        with self._lock:
            return list(self._steps)

    def then(self, *steps: Fault) -> FaultScript:
        """Append steps."""
        checked = check.items("steps", steps, Fault, "Fault")
        with self._lock:
            self._steps.extend(checked)
        return self

    def next(self) -> Fault:
        """The behaviour for the next call."""
        with self._lock:
            self.calls += 1
            if not self._steps:
                return Fault("ok")
            if self._repeat_last and len(self._steps) == 1:
                return self._steps[0]
            return self._steps.popleft()

    def release(self) -> None:
        """End every current and future `hang` and `slow` at once (call in teardown)."""
        self._released.set()

    def wait(self, seconds: float | None) -> None:
        """Block as a hung or slow call does, until released."""
        self._released.wait(seconds)


class ScriptedService(ServiceActor):
    """A service whose calls follow a `FaultScript`; otherwise it runs `handler` (echo).

    Example:
        >>> from actors.supervision import ActorSystem, ChildSpec
        >>> script = FaultScript.parse("fail")
        >>> with ActorSystem([ChildSpec("payment", ScriptedService, args=(script,))]) as system:
        ...     payment = system.service("payment")
        ...     try:
        ...         payment.ask("charge")
        ...     except InjectedFault as error:
        ...         print(error)
        ...     print(payment.ask("charge"))
        payment: injected failure on call 1
        charge
    """

    def __init__(self, script: FaultScript,
                 handler: Callable[[Any], Any] | None = None) -> None:
        check.instance("script", script, FaultScript, "an actors.testing.FaultScript")
        check.optional(check.callable_, "handler", handler, what="a function of the message")
        super().__init__()
        self.script = script
        self.handler = handler

    def on_receive(self, message: Any) -> Any:
        step = self.script.next()
        if step.kind == "fail":
            raise InjectedFault(f"{self.service_name}: injected failure on call "
                                f"{self.script.calls}")
        if step.kind == "hang":
            self.script.wait(None)
        elif step.kind == "slow":
            self.script.wait(step.seconds)
        return self.handler(message) if self.handler is not None else message
