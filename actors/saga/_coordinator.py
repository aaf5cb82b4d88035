"""The saga coordinator actor: drives many sagas at once on one thread, durably.

For each event (a saga started, a service replied, a step timed out, a retry
came due) the coordinator asks the pure `SagaMachine` what to do, writes the
saga's new state to the log, and only once that write is durable performs
the actions: sending a command or a compensation to a service (an `ask`
whose reply comes back as a message), scheduling a retry on the timer
thread, or finishing. No thread is held per saga and no handler waits on a
service, so a slow step in one saga never delays another.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from actors.core import (
    AskTimeout,
    ConfigError,
    ControlMessage,
    DataNotSerializable,
    LibraryLogger,
    MailboxFull,
    ReplyFuture,
    Scheduler,
    ServiceActor,
    ServiceRef,
    ServiceStopped,
    StanchionError,
    UnknownService,
    codec,
    context,
    short_repr,
)
from actors.saga._definition import SagaDefinition
from actors.saga._errors import DuplicateSaga
from actors.saga._log import SagaLog
from actors.saga._machine import (
    Action,
    FailureReason,
    Finished,
    RetryLater,
    Saga,
    SagaMachine,
    SendCommand,
    Stuck,
)
from actors.saga._messages import SagaCommand, StepRejected
from actors.saga._metrics import SagaCounters

if TYPE_CHECKING:
    from actors.bus import EventBus

_log = LibraryLogger("stanchion.saga")


class StartSaga:
    """Start a saga (a normal message: a full coordinator mailbox rejects it at once)."""

    __slots__ = ("data", "definition", "reply", "saga_id")

    def __init__(self, definition: str, saga_id: str, data: Mapping[str, Any],
                 reply: ReplyFuture[str]) -> None:
        self.definition, self.saga_id, self.data, self.reply = definition, saga_id, data, reply


class _Reply(ControlMessage):
    """A service's answer to one attempt (control lane: never refused for capacity)."""

    __slots__ = ("attempt", "compensate", "error", "reason", "reply", "saga_id", "step")

    def __init__(self, action: SendCommand, *, reply: Any = None,
                 reason: FailureReason | None = None, error: str | None = None) -> None:
        self.saga_id, self.step = action.saga_id, action.step
        self.attempt, self.compensate = action.attempt, action.compensate
        self.reply, self.reason, self.error = reply, reason, error


class _RetryDue(ControlMessage):
    __slots__ = ("saga_id", "step")

    def __init__(self, saga_id: str, step: str) -> None:
        self.saga_id, self.step = saga_id, step


class OperatorRetry(ControlMessage):
    """An operator retries a stuck saga's compensations."""

    __slots__ = ("reply", "saga_id")

    def __init__(self, saga_id: str, reply: ReplyFuture[bool]) -> None:
        self.saga_id, self.reply = saga_id, reply


class _WriteAgain(ControlMessage):
    __slots__ = ("actions", "durable", "failures", "saga")

    def __init__(self, saga: Saga, actions: list[Action], failures: int,
                 durable: Callable[[], None] | None) -> None:
        self.saga, self.actions, self.failures = saga, actions, failures
        self.durable = durable


class _Forget(ControlMessage):
    __slots__ = ("saga_id",)

    def __init__(self, saga_id: str) -> None:
        self.saga_id = saga_id


class _Recover(ControlMessage):
    """Recover the log's unfinished sagas again (the last attempt could not read the log)."""

    __slots__ = ("failures",)

    def __init__(self, failures: int) -> None:
        self.failures = failures


# A saga's state holds its data plus its step records; the data may use this
# much of the log's size limit, so the state around it always fits.
_DATA_BUDGET = codec.MAX_SIZE * 9 // 10


def _unmergeable(reply: Any, data_size: int) -> tuple[str | None, int]:
    """Why `reply` cannot join a saga's data (stored as JSON), or None; and its encoded size.

    `data_size` is the encoded size of the data so far: replies are merged one
    after another, so each must also leave the whole within the log's limit,
    or every later write of the saga would be refused.
    """
    if reply is None:
        return None, 0
    if type(reply) is not dict:
        return (f"the reply {short_repr(reply)} is not a JSON object (a dict of JSON values)",
                0)
    try:
        size = len(codec.encode(reply))
    except DataNotSerializable as exc:
        return (f"the reply is not a JSON object within the log's limits: {exc.path} is "
                f"{exc.kind}"), 0
    if data_size + size > _DATA_BUDGET:
        return (f"merging this reply ({size} characters of JSON) would grow the saga's data "
                f"past {_DATA_BUDGET} characters, more than its log can store; keep large "
                "results in the service and put their key in the reply"), size
    return None, size


class SagaCoordinator(ServiceActor):
    """Runs sagas of the given definitions; started by `Sagas.start`."""

    mailbox_size = 10_000

    def __init__(self, definitions: Sequence[SagaDefinition], log: SagaLog, *,
                 resolve: Callable[[str], ServiceRef[Any]], scheduler: Scheduler,
                 rng: random.Random, clock: Callable[[], float],
                 bus: EventBus | None = None,
                 on_finished: Callable[[str], None] | None = None,
                 counters: SagaCounters | None = None) -> None:
        super().__init__()
        self.machines = {d.name: SagaMachine(d, rng=rng, clock=clock) for d in definitions}
        self.log = log
        self.resolve = resolve
        self.refs: dict[str, ServiceRef[Any]] = {}
        self.scheduler = scheduler
        self.bus = bus
        self.active: dict[str, Saga] = {}
        # saga id -> encoded size of its data, an upper bound kept as replies merge.
        self.data_sizes: dict[str, int] = {}
        # (saga, step, compensate) -> the attempt whose answer we wait for; an
        # answer to any other attempt is late (its timeout already decided) and dropped.
        self.in_flight: dict[tuple[str, str, bool], int] = {}
        self.on_finished: Callable[[str], None] = on_finished or (lambda _saga_id: None)
        self.counters = counters or SagaCounters([d.name for d in definitions])
        # Tracing only (docs/observability.md): the open span of each saga, and of each
        # step attempt awaiting its answer, keyed (saga, step, compensate, attempt).
        self.saga_spans: dict[str, context.Span] = {}
        self.step_spans: dict[tuple[str, str, bool, int], context.Span] = {}

    def on_start(self) -> None:
        self._recover(0)

    def _recover(self, failures: int) -> None:
        """Resume the log's unfinished sagas; an unreadable saga is skipped, never fatal.

        If the log cannot be read at all (Redis down, a key of the wrong type),
        recovery is tried again after a backoff while the coordinator serves
        new sagas: a restart would only fail the same way.
        """
        try:
            unfinished = self.log.unfinished()
        except StanchionError as exc:
            delay = min(30.0, 0.1 * 2 ** failures)
            _log.error("saga.recovery_failed", error=repr(exc), retry_in_s=delay)
            self.scheduler.call_later(delay, lambda: self._post(_Recover(failures + 1)))
            return
        recovered = 0
        for saga in unfinished:
            if saga.id in self.active:  # started or retried since an earlier attempt
                continue
            machine = self.machines.get(saga.definition)
            if machine is None:
                _log.error("saga.unknown_definition", saga_id=saga.id,
                           definition=saga.definition, known=sorted(self.machines))
                continue
            steps = [step.name for step in machine.definition.steps]
            if [record.name for record in saga.steps] != steps:
                self.log.quarantine(saga.id, f"its steps do not match definition "
                                    f"{saga.definition!r} (steps {steps})")
                continue
            try:
                actions = machine.recover(saga)
            except Exception as exc:  # noqa: BLE001 - a stored state is data: quarantined
                self.log.quarantine(saga.id, f"cannot be resumed: {short_repr(exc)}")
                continue
            self.active[saga.id] = saga
            self.counters.resumed(saga.definition, saga.id)
            self._trace_resumed(saga, "recovered")
            with context.bind_context(saga_id=saga.id):
                _log.info("saga.recovered", definition=saga.definition,
                          status=str(saga.status))
            self._persist(saga, actions)
            recovered += 1
        for corrupt in self.log.corrupt():
            self._publish("saga.corrupt", corrupt.saga_id, reason=corrupt.reason)
        if recovered:
            _log.info("saga.recovery_finished", count=recovered)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Reply):
            self._on_reply(message)
        elif isinstance(message, StartSaga):
            self._on_start_saga(message)
        elif isinstance(message, _RetryDue):
            saga = self.active.get(message.saga_id)
            if saga is not None:
                self._persist(saga, self.machines[saga.definition].retry_due(saga, message.step))
        elif isinstance(message, OperatorRetry):
            self._on_operator_retry(message)
        elif isinstance(message, _WriteAgain):
            self._write(message.saga, message.actions, message.failures, message.durable)
        elif isinstance(message, _Recover):
            self._recover(message.failures)
        elif isinstance(message, _Forget):
            saga = self.active.pop(message.saga_id, None)
            self.data_sizes.pop(message.saga_id, None)
            if saga is not None:
                self._forget_in_flight(saga)
        else:
            return super().on_receive(message)
        return None

    # -- events ------------------------------------------------------------------------------

    def _on_start_saga(self, msg: StartSaga) -> None:
        machine = self.machines.get(msg.definition)
        if machine is None:
            msg.reply.set_exception(ConfigError("definition", msg.definition,
                                                f"one of {sorted(self.machines)}"))
            return
        if msg.saga_id in self.active:
            msg.reply.set_exception(DuplicateSaga(msg.saga_id))
            return
        saga, actions = machine.start(msg.saga_id, msg.data)
        self.active[saga.id] = saga
        self._expect(saga.id, actions)
        tracer = context.tracer
        if tracer is not None:  # the saga's span, a child of the caller's; stored with it
            span = self.saga_spans[saga.id] = tracer.start(
                "saga", {"saga_id": saga.id, "definition": saga.definition})
            saga.trace = span.carrier()

        def created(error: BaseException | None) -> None:
            if error is not None:  # a duplicate id, or the log failed: no saga created
                self._post(_Forget(saga.id))
                self._end_saga_span(saga.id, "not_created", error)
                msg.reply.set_exception(error)
                return
            self.counters.started(saga.definition, saga.id)
            msg.reply.set(saga.id)
            with context.bind_context(saga_id=saga.id):
                _log.info("saga.started", definition=saga.definition)
            self._publish("saga.started", saga.id, definition=saga.definition)
            self._perform(saga, actions)

        try:
            self.log.create(saga, created)
        except StanchionError as exc:  # data that is not JSON, a closed log: no saga created
            self.active.pop(saga.id, None)
            self._forget_in_flight(saga)
            self._end_saga_span(saga.id, "not_created", exc)
            msg.reply.set_exception(exc)

    def _on_reply(self, msg: _Reply) -> None:
        key = (msg.saga_id, msg.step, msg.compensate)
        if self.step_spans:
            self._end_step_span(msg)
        if self.in_flight.get(key) != msg.attempt:
            return
        del self.in_flight[key]
        saga = self.active.get(msg.saga_id)
        if saga is None:
            return
        machine = self.machines[saga.definition]
        if msg.compensate:
            if msg.reason is None:
                actions = machine.compensation_succeeded(saga, msg.step)
            else:
                with context.bind_context(saga_id=saga.id):
                    _log.warning("saga.compensation_attempt_failed", step=msg.step,
                                 reason=str(msg.reason), error=msg.error)
                actions = machine.compensation_failed(saga, msg.step, msg.error)
        elif msg.reason is None:
            # The log is JSON: a reply that is not (or too deep, too large, or too large
            # with what the saga already holds) cannot join its data, or the next write
            # would fail.
            size = self.data_sizes.get(saga.id)
            if size is None:
                size = len(codec.encode(saga.data, parts_checked=True))
            error, added = _unmergeable(msg.reply, size)
            if error is not None:
                with context.bind_context(saga_id=saga.id):
                    _log.error("saga.step_failed", step=msg.step, reason="error", error=error)
                actions = machine.step_failed(saga, msg.step, FailureReason.ERROR, error)
            else:
                self.data_sizes[saga.id] = size + added
                actions = machine.step_succeeded(saga, msg.step, msg.reply)
        else:
            with context.bind_context(saga_id=saga.id):
                _log.warning("saga.step_failed", step=msg.step, reason=str(msg.reason),
                             error=msg.error)
            actions = machine.step_failed(saga, msg.step, msg.reason, msg.error)
        self._persist(saga, actions)

    def _on_operator_retry(self, msg: OperatorRetry) -> None:
        try:
            saga = self.active.get(msg.saga_id) or self.log.get(msg.saga_id)
        except StanchionError as exc:  # the log cannot be read now: the operator is told
            msg.reply.set_exception(exc)
            return
        if saga is None or saga.definition not in self.machines:
            msg.reply.set(False)
            return
        actions = self.machines[saga.definition].operator_retry(saga)
        if not actions:
            msg.reply.set(False)
            return
        with context.bind_context(saga_id=saga.id):
            _log.info("saga.retried_by_operator")
        self.active[saga.id] = saga
        self.counters.resumed(saga.definition, saga.id)
        self._trace_resumed(saga, "operator_retry")
        # Answer once the retried state is durable, so a `wait` that follows reads
        # the retried run, never the stale compensation_failed.
        self._persist(saga, actions, durable=lambda: msg.reply.set(True))

    # -- performing --------------------------------------------------------------------------

    def _expect(self, saga_id: str, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, SendCommand):
                self.in_flight[(saga_id, action.step, action.compensate)] = action.attempt
            elif isinstance(action, Finished):
                self.active.pop(saga_id, None)
                self.data_sizes.pop(saga_id, None)

    def _forget_in_flight(self, saga: Saga) -> None:
        for record in saga.steps:
            self.in_flight.pop((saga.id, record.name, False), None)
            self.in_flight.pop((saga.id, record.name, True), None)

    def _persist(self, saga: Saga, actions: list[Action],
                 durable: Callable[[], None] | None = None) -> None:
        """Write the saga's state; perform the actions (after `durable`) once it is durable."""
        if not actions:
            return
        self._expect(saga.id, actions)
        self._write(saga, actions, 0, durable)

    def _write(self, saga: Saga, actions: list[Action], failures: int,
               durable: Callable[[], None] | None = None) -> None:
        def written(error: BaseException | None) -> None:
            if error is None:
                if durable is not None:
                    durable()
                self._perform(saga, actions)
                return
            # Nothing was sent, so the saga waits as it is; write it again after a
            # backoff (the log may be back), and a restart's recovery resumes it anyway.
            delay = min(30.0, 0.1 * 2 ** failures)
            _log.error("saga.log_write_failed", saga_id=saga.id, error=repr(error),
                       retry_in_s=delay)
            self.scheduler.call_later(delay, lambda: self._post(
                _WriteAgain(saga, actions, failures + 1, durable)))

        try:
            self.log.save(saga, written)
        except StanchionError as exc:  # a closed log, or a state that cannot be encoded
            written(exc)

    def _perform(self, saga: Saga, actions: list[Action]) -> None:
        """Runs on the log's writer thread (or inline): sends and timers only, no state."""
        saga_id = saga.id
        with context.bind_context(saga_id=saga_id):
            for action in actions:
                if isinstance(action, SendCommand):
                    self._send(action)
                elif isinstance(action, RetryLater):
                    self.scheduler.call_later(action.delay, self._retry_due(action))
                elif isinstance(action, Stuck):
                    _log.error("saga.stuck", step=action.step, error=action.error)
                    self.counters.stuck(saga.definition)
                    self._end_saga_span(saga_id, "stuck", action.error or "stuck")
                    self._publish("saga.stuck", saga_id, step=action.step, error=action.error)
                elif isinstance(action, Finished):
                    _log.info(f"saga.{action.status}", status=str(action.status))
                    self.counters.finished(saga.definition, saga_id, str(action.status),
                                           saga.updated_at - saga.created_at)
                    self._end_saga_span(saga_id, str(action.status))
                    self._publish(f"saga.{action.status}", saga_id, status=str(action.status))
                    self.on_finished(saga_id)

    def _retry_due(self, action: RetryLater) -> Callable[[], None]:
        return lambda: self._post(_RetryDue(action.saga_id, action.step))

    def _ref(self, service: str) -> ServiceRef[Any]:
        ref = self.refs.get(service)
        if ref is None:
            ref = self.refs[service] = self.resolve(service)
        return ref

    def _send(self, action: SendCommand) -> None:
        command = SagaCommand(action.saga_id, action.step, action.command, action.data,
                              action.idempotency_key, action.compensate)
        try:
            if context.tracer is None:
                future = self._ref(action.service).ask(command, block=False)
            else:
                with self._step_span(context.tracer, action).activate():
                    future = self._ref(action.service).ask(command, block=False)
        except MailboxFull as exc:
            self._post(_Reply(action, reason=FailureReason.MAILBOX_FULL, error=str(exc)))
            return
        except (ServiceStopped, UnknownService) as exc:
            self._post(_Reply(action, reason=FailureReason.UNAVAILABLE, error=str(exc)))
            return
        timer = self.scheduler.call_later(action.timeout, lambda: self._post(_Reply(
            action, reason=FailureReason.TIMEOUT,
            error=f"no reply within {action.timeout:g}s")))

        def replied() -> None:
            timer.cancel()
            try:
                value = future.get(timeout=0)
            except StepRejected as exc:
                self._post(_Reply(action, reason=FailureReason.REJECTED, error=str(exc)))
            except AskTimeout:
                self._post(_Reply(action, reason=FailureReason.TIMEOUT, error="no reply"))
            except Exception as exc:  # noqa: BLE001 - the service's error is the step's outcome
                self._post(_Reply(action, reason=FailureReason.ERROR, error=repr(exc)))
            else:
                self._post(_Reply(action, reply=value))

        if isinstance(future, ReplyFuture):
            future.add_done_callback(replied)

    def _post(self, message: ControlMessage) -> None:
        self._binding.mailbox.post_control(message)

    # -- tracing (docs/observability.md) -----------------------------------------------------

    def _trace_resumed(self, saga: Saga, why: str) -> None:
        """A new span for a saga resumed without one, a child of the span stored with it."""
        tracer = context.tracer
        if tracer is None or saga.id in self.saga_spans:
            return
        span = self.saga_spans[saga.id] = tracer.start(
            "saga", {"saga_id": saga.id, "definition": saga.definition, "resumed": why},
            parent=saga.trace)
        if saga.trace is None:
            saga.trace = span.carrier()

    def _step_span(self, tracer: context.Tracer, action: SendCommand) -> context.Span:
        key = (action.saga_id, action.step, action.compensate, action.attempt)
        parent: context.Span | str | None = self.saga_spans.get(action.saga_id)
        if parent is None:
            saga = self.active.get(action.saga_id)
            parent = saga.trace if saga is not None else None
        span = self.step_spans[key] = tracer.start(
            "saga.compensation" if action.compensate else "saga.step",
            {"saga_id": action.saga_id, "step": action.step, "service": action.service,
             "command": action.command, "attempt": action.attempt}, parent=parent)
        return span

    def _end_step_span(self, msg: _Reply) -> None:
        span = self.step_spans.pop((msg.saga_id, msg.step, msg.compensate, msg.attempt), None)
        if span is None:
            return
        if msg.reason is not None:
            span.set("failure_reason", str(msg.reason))
            span.fail(msg.error or str(msg.reason))
        span.end()

    def _end_saga_span(self, saga_id: str, status: str,
                       error: BaseException | str | None = None) -> None:
        span = self.saga_spans.pop(saga_id, None)
        if span is None:
            return
        span.set("status", status)
        if error is not None or status in ("compensation_failed", "stuck"):
            span.fail(error if error is not None else status)
        span.end()

    def _publish(self, event: str, saga_id: str, **fields: Any) -> None:
        if self.bus is None:
            return
        try:
            # The event's name is in the payload: a `saga.*` subscriber tells the ends apart.
            self.bus.publish(event, {"event": event, "saga_id": saga_id, "at": time.time(),
                                     **fields})
        except StanchionError as exc:  # the bus is best effort here; the log is the record
            _log.warning("saga.event_not_published", saga_id=saga_id, event_name=event,
                         error=repr(exc))
