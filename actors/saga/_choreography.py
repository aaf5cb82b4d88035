"""Choreographed sagas: the services react to each other's events on the bus.

The same `SagaDefinition` that a `Sagas` coordinator orchestrates can run as a
choreography: no coordinator sends commands; each step's participant
subscribes to the event that ends the step before it, runs its command on its
service (the same `SagaCommand`, the same idempotency key), and publishes
`<prefix>.<step>.done` or `.failed`. Each participant also reacts to the
failure or compensation of the step after it by running its compensation and
publishing `.undone` (or `.undo_failed` when it runs out of attempts: the
saga is stuck, as an orchestrated one would be). A tracker on `<prefix>.#`
assembles each saga's status and timeline from its correlation id.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from actors.bus import EventBus
from actors.core import (
    AskTimeout,
    ConfigError,
    LibraryLogger,
    ServiceRef,
    SystemNotRunning,
    bind_context,
    short_repr,
    validate as check,
)
from actors.saga._definition import SagaDefinition, SagaStep
from actors.saga._machine import ENDS, Saga, SagaStatus, idempotency_key
from actors.saga._messages import SagaCommand, StepRejected
from actors.supervision import ActorSystem

_log = LibraryLogger("stanchion.saga")


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One event of a choreographed saga, as the tracker saw it."""

    at: float
    event: str
    step: str | None
    attempt: int
    error: str | None


@dataclass(frozen=True, slots=True)
class ChoreographyMetrics:
    """Sagas by status, as the tracker has seen them."""

    started: int
    running: int
    completed: int
    compensated: int
    compensation_failed: int


class ChoreographyState:
    """The tracker's pure core: folds a saga's events into its status and timeline.

    No threads, an injected clock. Events may arrive more than once (delivery
    is at-least-once and participants are idempotent); an end is final until
    an operator's retry reopens a stuck saga.

    Example:
        >>> state = ChoreographyState("checkout", ["create", "pay"], clock=lambda: 1.0)
        >>> state.apply("checkout.started", {"saga_id": "s-1", "data": {"amount": 5}})
        <SagaStatus.RUNNING: 'running'>
        >>> state.apply("checkout.create.done", {"saga_id": "s-1", "step": "create"})
        <SagaStatus.RUNNING: 'running'>
        >>> state.apply("checkout.pay.failed", {"saga_id": "s-1", "step": "pay"})
        <SagaStatus.COMPENSATING: 'compensating'>
        >>> state.apply("checkout.create.undone", {"saga_id": "s-1", "step": "create"})
        <SagaStatus.COMPENSATED: 'compensated'>
        >>> state.saga("s-1").status, [e.event for e in state.timeline("s-1")][-1]
        (<SagaStatus.COMPENSATED: 'compensated'>, 'checkout.create.undone')
    """

    def __init__(self, prefix: str, steps: list[str], *, clock: Callable[[], float]) -> None:
        self.prefix = prefix
        self.steps = steps
        self.clock = clock
        self._sagas: dict[str, Saga] = {}
        self._timelines: dict[str, list[TimelineEntry]] = {}
        self._stuck_at: dict[str, str] = {}

    def apply(self, event: str, payload: Mapping[str, Any]) -> SagaStatus | None:
        """Fold one event in; returns the saga's status after it (None: not a saga event)."""
        saga_id = payload.get("saga_id")
        if not isinstance(saga_id, str):
            return None
        now = self.clock()
        step = payload.get("step") if isinstance(payload.get("step"), str) else None
        self._timelines.setdefault(saga_id, []).append(TimelineEntry(
            now, event, step, int(payload.get("attempt", 1) or 1),
            payload.get("error") if isinstance(payload.get("error"), str) else None))
        saga = self._sagas.get(saga_id)
        if saga is None:
            data = payload.get("data")
            saga = Saga(saga_id, self.prefix, SagaStatus.RUNNING,
                        dict(data) if isinstance(data, Mapping) else {}, [], now, now)
            self._sagas[saga_id] = saga
        if event == f"{self.prefix}.started":
            data = payload.get("data")
            if isinstance(data, Mapping) and not saga.data:
                saga.data = dict(data)
            return saga.status
        kind = event.rsplit(".", 1)[-1]
        data = payload.get("data")
        if kind == "done" and isinstance(data, Mapping):
            saga.data.update(data)  # the replies merged so far, as an orchestrated saga keeps
        status = self._next(saga, kind, step, payload)
        if status is not saga.status:
            saga.status = status
            saga.updated_at = now
            saga.stuck = status is SagaStatus.COMPENSATION_FAILED
        return saga.status

    def _next(self, saga: Saga, kind: str, step: str | None,  # noqa: PLR0911 - one per event
              payload: Mapping[str, Any]) -> SagaStatus:
        current = saga.status
        if kind == "undo_retry":  # an operator's retry reopens a stuck saga, nothing else
            if current is SagaStatus.COMPENSATION_FAILED:
                self._stuck_at.pop(saga.id, None)
                return SagaStatus.COMPENSATING
            return current
        if current in ENDS:
            return current
        first, last = self.steps[0], self.steps[-1]
        if kind == "done" and step == last:
            return SagaStatus.COMPLETED
        if kind == "failed":
            if step == first and not payload.get("undo_self"):
                return SagaStatus.COMPENSATED
            return SagaStatus.COMPENSATING
        if kind == "undone":
            return SagaStatus.COMPENSATED if step == first else SagaStatus.COMPENSATING
        if kind == "undo_failed" and step is not None:
            self._stuck_at[saga.id] = step
            return SagaStatus.COMPENSATION_FAILED
        return current

    def reopen(self, saga_id: str) -> bool:
        """An operator's retry of a stuck saga: compensating again (its event follows)."""
        saga = self._sagas.get(saga_id)
        if saga is None or saga.status is not SagaStatus.COMPENSATION_FAILED:
            return False
        self._stuck_at.pop(saga_id, None)
        saga.status, saga.stuck, saga.updated_at = SagaStatus.COMPENSATING, False, self.clock()
        return True

    def saga(self, saga_id: str) -> Saga | None:
        """The saga's state, or None if no event of it was seen."""
        return self._sagas.get(saga_id)

    def stuck_at(self, saga_id: str) -> str | None:
        """The step whose compensation ran out of attempts, if the saga is stuck."""
        return self._stuck_at.get(saga_id)

    def timeline(self, saga_id: str) -> list[TimelineEntry]:
        """Every event of the saga, in the order the tracker received them."""
        return list(self._timelines.get(saga_id, ()))

    def metrics(self) -> ChoreographyMetrics:
        counts = dict.fromkeys(SagaStatus, 0)
        for saga in self._sagas.values():
            counts[saga.status] += 1
        return ChoreographyMetrics(
            len(self._sagas), counts[SagaStatus.RUNNING] + counts[SagaStatus.COMPENSATING],
            counts[SagaStatus.COMPLETED], counts[SagaStatus.COMPENSATED],
            counts[SagaStatus.COMPENSATION_FAILED])


class Choreography:
    """A `SagaDefinition` run as a choreography over an `EventBus`.

    Start it once per system; `start_saga(data)` publishes `<prefix>.started`
    and returns the saga id at once. Every participant is a bus subscriber of
    its own (its own delivery actor), so a slow service holds back only its
    step. Retries are re-published events (`.retry`, `.undo_retry`) scheduled
    on the system's timer thread: no participant blocks to wait.

    Example:
        >>> from actors import ServiceActor
        >>> from actors.supervision import ActorSystem, ChildSpec
        >>> class Echo(ServiceActor):
        ...     def on_receive(self, message):
        ...         return {message.step: "ok"}
        >>> definition = SagaDefinition("trip", [SagaStep("book", "hotel", "book", "cancel")])
        >>> with ActorSystem([ChildSpec("hotel", Echo)]) as system:
        ...     bus = EventBus.start(system)
        ...     trips = Choreography.start(system, bus, definition)
        ...     saga = trips.wait(trips.start_saga({"nights": 2}), timeout=5.0)
        >>> saga.status, saga.data
        (<SagaStatus.COMPLETED: 'completed'>, {'nights': 2, 'book': 'ok'})
    """

    def __init__(self, system: ActorSystem, bus: EventBus, definition: SagaDefinition, *,
                 prefix: str, rng: random.Random, clock: Callable[[], float]) -> None:
        self.system = system
        self.bus = bus
        self.definition = definition
        self.prefix = prefix
        self._rng = rng
        self._rng_lock = threading.Lock()
        self._cond = threading.Condition()
        self.state = ChoreographyState(prefix, [s.name for s in definition.steps], clock=clock)

    @classmethod
    def start(cls, system: ActorSystem, bus: EventBus, definition: SagaDefinition, *,
              prefix: str | None = None, rng: random.Random | None = None,
              clock: Callable[[], float] = time.time) -> Choreography:
        """Subscribe the participants and the tracker; returns once they are subscribed."""
        check.instance("system", system, ActorSystem, "an actors.ActorSystem")
        check.instance("bus", bus, EventBus, "an actors.bus.EventBus")
        check.instance("definition", definition, SagaDefinition, "a SagaDefinition")
        prefix = prefix if prefix is not None else definition.name
        check.name("prefix", prefix, max_length=64)
        if not all(part.isidentifier() for part in prefix.split(".")):
            raise ConfigError("prefix", prefix, "dot-separated words (it starts event names)")
        check.optional(check.instance, "rng", rng, kind=random.Random, what="a random.Random")
        check.callable_("clock", clock, "a function returning wall-clock seconds")
        for step in definition.steps:
            system.service(step.service)  # UnknownService now, not at the first saga
        self = cls(system, bus, definition, prefix=prefix,
                   rng=rng if rng is not None else random.Random(), clock=clock)
        steps = list(definition.steps)
        p = prefix
        bus.subscribe(f"{p}.#", self._track, name=_sub(p, "tracker"))
        for i, step in enumerate(steps):
            after = f"{p}.started" if i == 0 else f"{p}.{steps[i - 1].name}.done"
            bus.subscribe(after, self._doer(step, i), name=_sub(p, step.name, "do"))
            bus.subscribe(f"{p}.{step.name}.retry", self._doer(step, i),
                          name=_sub(p, step.name, "retry"))
            undo = self._undoer(step)
            bus.subscribe(f"{p}.{step.name}.*", undo, name=_sub(p, step.name, "undo"))
            if i + 1 < len(steps):
                bus.subscribe(f"{p}.{steps[i + 1].name}.*", undo,
                              name=_sub(p, step.name, "undo_next"))
        return self

    # -- starting and observing ---------------------------------------------------------

    def start_saga(self, data: Mapping[str, Any], *, saga_id: str | None = None) -> str:
        """Publish `<prefix>.started` for a new saga; returns its id (the correlation id)."""
        check.instance("data", data, Mapping, "a mapping of JSON data")
        saga_id = saga_id if saga_id is not None else uuid.uuid4().hex
        check.name("saga_id", saga_id)
        if not self.system.running:  # its bus would take the event and nobody would run it
            raise SystemNotRunning("the choreography's actor system is shut down; start the "
                                   "saga on a running one")
        _log.info("choreography.started", saga_id=saga_id, definition=self.prefix)
        self._publish(f"{self.prefix}.started", {"saga_id": saga_id, "data": dict(data)})
        return saga_id

    def status(self, saga_id: str) -> Saga | None:
        """The saga as the tracker has assembled it so far."""
        with self._cond:
            return self.state.saga(saga_id)

    def timeline(self, saga_id: str) -> list[TimelineEntry]:
        """The saga's events, assembled by correlation id."""
        with self._cond:
            return self.state.timeline(saga_id)

    def wait(self, saga_id: str, timeout: float) -> Saga | None:
        """The saga once it has ended; None if it has not within `timeout` seconds."""
        check.seconds("timeout", timeout)
        with self._cond:
            def ended() -> bool:
                saga = self.state.saga(saga_id)
                return saga is not None and saga.status in ENDS
            if not self._cond.wait_for(ended, timeout):
                return None
            return self.state.saga(saga_id)

    def wait_all(self, saga_ids: list[str], timeout: float) -> list[Saga]:
        """Every saga of `saga_ids` once ended; raises `TimeoutError` naming those still running."""
        deadline = time.monotonic() + timeout
        ended = []
        for saga_id in saga_ids:
            saga = self.wait(saga_id, max(0.001, deadline - time.monotonic()))
            if saga is None:
                raise TimeoutError(f"choreographed saga {saga_id} did not end in {timeout} s")
            ended.append(saga)
        return ended

    def retry(self, saga_id: str) -> bool:
        """An operator's retry of a stuck saga: its stuck compensation runs again."""
        with self._cond:
            step = self.state.stuck_at(saga_id)
            saga = self.state.saga(saga_id)
        if step is None or saga is None:
            return False
        _log.info("choreography.retried_by_operator", saga_id=saga_id, step=step)
        event = f"{self.prefix}.{step}.undo_retry"
        payload = {"saga_id": saga_id, "step": step, "data": dict(saga.data), "attempt": 1}
        with self._cond:  # reopened now, so a wait() right after this sees it running
            self.state.reopen(saga_id)
        self._publish(event, payload)
        return True

    def metrics(self) -> ChoreographyMetrics:
        """Sagas by status."""
        with self._cond:
            return self.state.metrics()

    def _track(self, payload: Any) -> None:
        if not isinstance(payload, Mapping):
            return
        event = payload.get("_event")
        if not isinstance(event, str):
            return
        with self._cond:
            before = self.state.saga(payload.get("saga_id", ""))
            was = before.status if before is not None else None
            status = self.state.apply(event, payload)
            self._cond.notify_all()
        if status is not None and status is not was and status in ENDS:
            level = _log.error if status is SagaStatus.COMPENSATION_FAILED else _log.info
            level(f"choreography.{status}", saga_id=payload.get("saga_id"), status=str(status))

    # -- participants (each on its own delivery actor) -------------------------------------

    def _publish(self, name: str, payload: dict[str, Any]) -> None:
        payload["_event"] = name
        with bind_context(saga_id=payload["saga_id"]):
            self.bus.publish(name, payload)

    def _later(self, delay: float, name: str, payload: dict[str, Any]) -> None:
        self.system.scheduler.call_later(delay, lambda: self._publish(name, payload))

    def _delay(self, policy: Any, attempt: int) -> float:
        with self._rng_lock:
            return float(policy.delay(attempt, self._rng))

    def _doer(self, step: SagaStep, index: int) -> Callable[[Any], None]:
        p = f"{self.prefix}.{step.name}"

        def do(payload: Any) -> None:
            if not isinstance(payload, Mapping) or not isinstance(payload.get("saga_id"), str):
                return
            saga_id = payload["saga_id"]
            data = dict(payload.get("data") or {})
            attempt = int(payload.get("attempt", 1)) if payload.get("_event") == f"{p}.retry" \
                else 1
            uncertain = bool(payload.get("uncertain")) and attempt > 1
            command = SagaCommand(saga_id, step.name, step.command, data,
                                  idempotency_key(saga_id, step.name, False), False)
            try:
                reply = self._ref(step).ask(command, timeout=step.timeout)
            except StepRejected as exc:
                self._failed(step, saga_id, data, reason="rejected", exc=exc, attempt=attempt,
                             uncertain=uncertain)
                return
            except Exception as exc:  # noqa: BLE001 - every other failure is worth a retry
                reason = "timeout" if isinstance(exc, AskTimeout) else "error"
                uncertain = uncertain or reason == "timeout"
                if step.retry.should_retry(attempt):
                    _log.warning("choreography.step_failed", saga_id=saga_id, step=step.name,
                                 reason=reason, error=short_repr(exc), attempt=attempt)
                    self._later(self._delay(step.retry, attempt), f"{p}.retry",
                                {"saga_id": saga_id, "step": step.name, "data": data,
                                 "attempt": attempt + 1, "uncertain": uncertain})
                    return
                self._failed(step, saga_id, data, reason=reason, exc=exc, attempt=attempt,
                             uncertain=uncertain)
                return
            if isinstance(reply, Mapping):
                data.update(reply)
            self._publish(f"{p}.done", {"saga_id": saga_id, "step": step.name, "data": data,
                                        "attempt": attempt})

        return do

    def _failed(self, step: SagaStep, saga_id: str, data: dict[str, Any], *, reason: str,
                exc: BaseException, attempt: int, uncertain: bool) -> None:
        # After a timeout the action may have happened: this step undoes itself
        # first (the undo also stops a late action). Otherwise it did not happen.
        _log.warning("choreography.step_failed", saga_id=saga_id, step=step.name,
                     reason=reason, error=short_repr(exc), attempt=attempt, final=True)
        self._publish(f"{self.prefix}.{step.name}.failed",
                      {"saga_id": saga_id, "step": step.name, "data": data, "reason": reason,
                       "error": short_repr(exc), "undo_self": uncertain, "attempt": attempt})

    def _undoer(self, step: SagaStep) -> Callable[[Any], None]:
        own = f"{self.prefix}.{step.name}"
        steps = [s.name for s in self.definition.steps]
        index = steps.index(step.name)
        later = f"{self.prefix}.{steps[index + 1]}" if index + 1 < len(steps) else None

        def undo(payload: Any) -> None:
            if not isinstance(payload, Mapping) or not isinstance(payload.get("saga_id"), str):
                return
            event = payload.get("_event")
            attempt = 1
            if event == f"{own}.failed" and payload.get("undo_self"):
                pass  # this step timed out: undo it before the ones before it
            elif event == f"{own}.undo_retry":
                attempt = int(payload.get("attempt", 1))
            elif later is not None and (event == f"{later}.undone" or (
                    event == f"{later}.failed" and not payload.get("undo_self"))):
                pass  # the step after this one failed or was undone: undo this one
            else:
                return
            saga_id = payload["saga_id"]
            data = dict(payload.get("data") or {})
            if step.compensation is None:
                self._publish(f"{own}.undone", {"saga_id": saga_id, "step": step.name,
                                                "data": data, "attempt": attempt})
                return
            command = SagaCommand(saga_id, step.name, step.compensation, data,
                                  idempotency_key(saga_id, step.name, True), True)
            try:
                self._ref(step).ask(command, timeout=step.timeout)
            except Exception as exc:  # noqa: BLE001 - a compensation is retried, then flagged
                policy = step.compensation_retry
                if policy.should_retry(attempt):
                    _log.warning("choreography.compensation_attempt_failed", saga_id=saga_id,
                                 step=step.name, error=short_repr(exc), attempt=attempt)
                    self._later(self._delay(policy, attempt), f"{own}.undo_retry",
                                {"saga_id": saga_id, "step": step.name, "data": data,
                                 "attempt": attempt + 1})
                    return
                _log.error("choreography.stuck", saga_id=saga_id, step=step.name,
                           error=short_repr(exc), attempts=attempt)
                self._publish(f"{own}.undo_failed", {"saga_id": saga_id, "step": step.name,
                                                     "data": data, "error": short_repr(exc),
                                                     "attempt": attempt})
                return
            self._publish(f"{own}.undone", {"saga_id": saga_id, "step": step.name,
                                            "data": data, "attempt": attempt})

        return undo

    def _ref(self, step: SagaStep) -> ServiceRef[Any]:
        return self.system.service(step.service)


def _sub(*parts: str) -> str:
    return "-".join(p.replace(".", "_") for p in parts)[:64]
