"""The saga state machine: pure rules from events to actions (no threads, no I/O).

The coordinator feeds it what happened (a step's reply, a failure, a timeout,
a compensation's outcome, a retry coming due) and performs the actions it
returns (send a command or a compensation, wait before a retry, finish, flag
for an operator). Randomness (retry jitter) and time are injected.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from actors.core import ConfigError, validate as check
from actors.saga._definition import SagaDefinition, SagaStep


class SagaStatus(StrEnum):
    """Where a saga is. The last three are ends."""

    RUNNING = "running"
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    COMPENSATED = "compensated"
    COMPENSATION_FAILED = "compensation_failed"


ENDS = frozenset({SagaStatus.COMPLETED, SagaStatus.COMPENSATED, SagaStatus.COMPENSATION_FAILED})


class StepStatus(StrEnum):
    """Where one step is."""

    PENDING = "pending"
    SENT = "sent"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    COMPENSATING = "compensating"
    COMPENSATED = "compensated"
    COMPENSATION_FAILED = "compensation_failed"


class FailureReason(StrEnum):
    """Why a step's attempt failed; decides whether it may have taken effect."""

    ERROR = "error"  # the service answered with an error: it did not happen
    TIMEOUT = "timeout"  # no reply in time: it may have happened
    MAILBOX_FULL = "mailbox_full"  # the service's bulkhead refused it: it did not happen
    UNAVAILABLE = "unavailable"  # the service is stopped: it did not happen
    REJECTED = "rejected"  # a business refusal (payment declined): do not retry


@dataclass
class StepRecord:
    """One step's history inside a saga."""

    name: str
    status: StepStatus = StepStatus.PENDING
    attempts: int = 0
    compensation_attempts: int = 0
    may_have_happened: bool = False
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": str(self.status), "attempts": self.attempts,
                "compensation_attempts": self.compensation_attempts,
                "may_have_happened": self.may_have_happened, "started_at": self.started_at,
                "finished_at": self.finished_at, "error": self.error}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepRecord:
        return cls(data["name"], StepStatus(data["status"]), data["attempts"],
                   data["compensation_attempts"], data["may_have_happened"],
                   data["started_at"], data["finished_at"], data["error"])


@dataclass
class Saga:
    """A saga's state: mutable, owned by one coordinator, saved to the log as JSON."""

    id: str
    definition: str
    status: SagaStatus
    data: dict[str, Any]
    steps: list[StepRecord]
    created_at: float
    updated_at: float
    stuck: bool = False
    trace: str | None = None
    """The W3C `traceparent` of the saga's span, stored so a recovery joins its trace."""

    def to_json(self) -> dict[str, Any]:
        doc = {"id": self.id, "definition": self.definition, "status": str(self.status),
               "data": self.data, "steps": [s.to_json() for s in self.steps],
               "created_at": self.created_at, "updated_at": self.updated_at,
               "stuck": self.stuck}
        if self.trace is not None:
            doc["trace"] = self.trace
        return doc

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Saga:
        return cls(data["id"], data["definition"], SagaStatus(data["status"]),
                   dict(data["data"]), [StepRecord.from_json(s) for s in data["steps"]],
                   data["created_at"], data["updated_at"], data["stuck"], data.get("trace"))

    @property
    def finished(self) -> bool:
        """Whether the saga reached an end."""
        return self.status in ENDS

    def record(self, name: str) -> StepRecord:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)


# -- actions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendCommand:
    """Send a step's command (or, with `compensate`, its compensation) to its service."""

    saga_id: str
    step: str
    service: str
    command: str
    data: Mapping[str, Any]
    idempotency_key: str
    timeout: float
    attempt: int
    compensate: bool = False


@dataclass(frozen=True, slots=True)
class RetryLater:
    """Call `retry_due(saga, step)` after `delay` seconds."""

    saga_id: str
    step: str
    delay: float
    compensate: bool


@dataclass(frozen=True, slots=True)
class Finished:
    """The saga reached an end."""

    saga_id: str
    status: SagaStatus


@dataclass(frozen=True, slots=True)
class Stuck:
    """A compensation kept failing: the saga needs an operator (`operator_retry`)."""

    saga_id: str
    step: str
    error: str | None


Action = SendCommand | RetryLater | Finished | Stuck


def idempotency_key(saga_id: str, step: str, compensate: bool) -> str:
    """The key a service deduplicates on: one per saga, step and direction."""
    return f"{saga_id}:{step}:{'undo' if compensate else 'do'}"


@dataclass
class SagaMachine:
    """The rules for sagas of one definition.

    Example:
        >>> from actors.saga import SagaDefinition, SagaStep
        >>> machine = SagaMachine(SagaDefinition("pay", [
        ...     SagaStep("reserve", "inventory", "reserve", "release"),
        ...     SagaStep("charge", "payments", "charge", "refund")]), clock=lambda: 0.0)
        >>> saga, [send] = machine.start("s-1", {"sku": "a"})
        >>> send.command, send.idempotency_key
        ('reserve', 's-1:reserve:do')
        >>> [send] = machine.step_succeeded(saga, "reserve", {"reservation": "r-9"})
        >>> [undo] = machine.step_failed(saga, "charge", FailureReason.REJECTED, "declined")
        >>> undo.command, undo.data["reservation"], saga.status
        ('release', 'r-9', <SagaStatus.COMPENSATING: 'compensating'>)
        >>> machine.compensation_succeeded(saga, "reserve")
        [Finished(saga_id='s-1', status=<SagaStatus.COMPENSATED: 'compensated'>)]
    """

    definition: SagaDefinition
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        check.instance("definition", self.definition, SagaDefinition,
                       "an actors.saga.SagaDefinition")
        check.instance("rng", self.rng, random.Random, "a random.Random")
        check.callable_("clock", self.clock, "a function returning time.time() seconds")

    # -- forward ------------------------------------------------------------------------------

    def start(self, saga_id: str, data: Mapping[str, Any]) -> tuple[Saga, list[Action]]:
        """A new saga and the first command to send."""
        now = self.clock()
        saga = Saga(saga_id, self.definition.name, SagaStatus.RUNNING, dict(data),
                    [StepRecord(step.name) for step in self.definition.steps], now, now)
        return saga, [self._send(saga, self.definition.steps[0])]

    def step_succeeded(self, saga: Saga, step: str,
                       reply: Mapping[str, Any] | None) -> list[Action]:
        """The service did the step; `reply` (a mapping) is merged into the saga's data.

        A `reply` that is neither a mapping nor `None` raises `ConfigError`
        (the coordinator turns such a reply into a failed attempt first).
        """
        if reply is not None and not isinstance(reply, Mapping):
            raise ConfigError("reply", reply,
                              "a mapping to merge into the saga's data, or None")
        record = saga.record(step)
        if saga.status is not SagaStatus.RUNNING or record.status is not StepStatus.SENT:
            return []  # a late or duplicate reply: the saga has moved on
        record.status = StepStatus.SUCCEEDED
        record.finished_at = self._touch(saga)
        record.error = None
        if reply:
            saga.data.update(reply)
        index = self.definition.index(step)
        if index + 1 == len(self.definition.steps):
            saga.status = SagaStatus.COMPLETED
            return [Finished(saga.id, saga.status)]
        return [self._send(saga, self.definition.steps[index + 1])]

    def step_failed(self, saga: Saga, step: str, reason: FailureReason,
                    error: str | None) -> list[Action]:
        """An attempt failed: retry it after a backoff, or compensate what was done."""
        record = saga.record(step)
        if saga.status is not SagaStatus.RUNNING or record.status is not StepStatus.SENT:
            return []
        self._touch(saga)
        record.error = error
        if reason is FailureReason.TIMEOUT:
            record.may_have_happened = True
        spec = self.definition.step(step)
        if reason is not FailureReason.REJECTED and spec.retry.should_retry(record.attempts):
            return [RetryLater(saga.id, step, spec.retry.delay(record.attempts, self.rng), False)]
        record.status = StepStatus.TIMED_OUT if record.may_have_happened else StepStatus.FAILED
        record.finished_at = saga.updated_at
        saga.status = SagaStatus.COMPENSATING
        return self._next_compensation(saga)

    def retry_due(self, saga: Saga, step: str) -> list[Action]:
        """A backoff passed: send the command, or the compensation, again."""
        record = saga.record(step)
        spec = self.definition.step(step)
        if saga.status is SagaStatus.RUNNING and record.status is StepStatus.SENT:
            return [self._send(saga, spec)]
        if saga.status is SagaStatus.COMPENSATING and record.status is StepStatus.COMPENSATING:
            return [self._send_compensation(saga, spec)]
        return []

    # -- backward -----------------------------------------------------------------------------

    def compensation_succeeded(self, saga: Saga, step: str) -> list[Action]:
        """The step was undone; go on with the one before it."""
        record = saga.record(step)
        if record.status is not StepStatus.COMPENSATING:
            return []
        record.status = StepStatus.COMPENSATED
        record.finished_at = self._touch(saga)
        record.error = None
        return self._next_compensation(saga)

    def compensation_failed(self, saga: Saga, step: str, error: str | None) -> list[Action]:
        """Undoing failed: retry with capped backoff, then flag the saga for an operator."""
        record = saga.record(step)
        if record.status is not StepStatus.COMPENSATING:
            return []
        self._touch(saga)
        record.error = error
        policy = self.definition.step(step).compensation_retry
        if policy.should_retry(record.compensation_attempts):
            delay = policy.delay(record.compensation_attempts, self.rng)
            return [RetryLater(saga.id, step, delay, True)]
        record.status = StepStatus.COMPENSATION_FAILED
        saga.status = SagaStatus.COMPENSATION_FAILED
        saga.stuck = True
        return [Stuck(saga.id, step, error), Finished(saga.id, saga.status)]

    def operator_retry(self, saga: Saga) -> list[Action]:
        """An operator asks to try a stuck saga's compensations again (fresh attempts)."""
        if saga.status is not SagaStatus.COMPENSATION_FAILED:
            return []
        for record in saga.steps:
            if record.status is StepStatus.COMPENSATION_FAILED:
                record.status = StepStatus.COMPENSATING
                record.compensation_attempts = 0
                saga.status = SagaStatus.COMPENSATING
                saga.stuck = False
                self._touch(saga)
                return [self._send_compensation(saga, self.definition.step(record.name))]
        return []

    # -- after a crash --------------------------------------------------------------------------

    def recover(self, saga: Saga) -> list[Action]:
        """Drive an unfinished saga on after a restart.

        A step that was sent and not answered is sent again with the same
        idempotency key (services deduplicate, so this is safe and moves the saga
        forward); an interrupted compensation is sent again likewise; a saga
        between steps goes on with the next one.
        """
        if saga.finished:
            return []
        if saga.status is SagaStatus.COMPENSATING:
            for record in saga.steps:
                if record.status is StepStatus.COMPENSATING:
                    return [self._send_compensation(saga, self.definition.step(record.name))]
            return self._next_compensation(saga)
        for spec, record in zip(self.definition.steps, saga.steps, strict=True):
            if record.status is StepStatus.SENT:
                return [self._send(saga, spec)]
            if record.status is StepStatus.PENDING:
                return [self._send(saga, spec)]
        saga.status = SagaStatus.COMPLETED
        return [Finished(saga.id, saga.status)]

    # -- helpers -----------------------------------------------------------------------------

    def _touch(self, saga: Saga) -> float:
        saga.updated_at = self.clock()
        return saga.updated_at

    def _send(self, saga: Saga, spec: SagaStep) -> SendCommand:
        record = saga.record(spec.name)
        record.status = StepStatus.SENT
        record.attempts += 1
        if record.started_at is None:
            record.started_at = self._touch(saga)
        return SendCommand(saga.id, spec.name, spec.service, spec.command, dict(saga.data),
                           idempotency_key(saga.id, spec.name, False), spec.timeout,
                           record.attempts)

    def _send_compensation(self, saga: Saga, spec: SagaStep) -> SendCommand:
        record = saga.record(spec.name)
        assert spec.compensation is not None
        record.status = StepStatus.COMPENSATING
        record.compensation_attempts += 1
        self._touch(saga)
        return SendCommand(saga.id, spec.name, spec.service, spec.compensation, dict(saga.data),
                           idempotency_key(saga.id, spec.name, True), spec.timeout,
                           record.compensation_attempts, compensate=True)

    def _next_compensation(self, saga: Saga) -> list[Action]:
        """The latest step that needs undoing, in reverse order; or the end."""
        for spec, record in reversed(list(zip(self.definition.steps, saga.steps, strict=True))):
            needs_undo = record.status is StepStatus.SUCCEEDED or (
                record.status is StepStatus.TIMED_OUT)
            if not needs_undo:
                continue
            if spec.compensation is None:
                record.status = StepStatus.COMPENSATED  # nothing to undo
                continue
            return [self._send_compensation(saga, spec)]
        saga.status = SagaStatus.COMPENSATED
        self._touch(saga)
        return [Finished(saga.id, saga.status)]
