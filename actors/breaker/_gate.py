"""`BreakerGate`: a circuit breaker in front of a service, with an actor for what needs one.

A call through the gate never passes through the gate actor's mailbox: the
caller's thread asks the breaker (a lock-free read while closed or open),
then sends straight to the target's mailbox. The outcome is recorded when
the reply arrives: by the waiting caller (blocking form), or by a callback
on the reply future, with a timer for the timeout (`block=False`). The gate
actor owns the rest: operator commands, half-open deadlines, and publishing
transitions on the bus off the caller's path.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast, overload

from actors.breaker._breaker import (
    HALF_OPEN,
    BreakerMetrics,
    BreakerTransition,
    CircuitBreaker,
    Permit,
)
from actors.breaker._config import BreakerConfig
from actors.core import (
    AskTimeout,
    ConfigError,
    LibraryLogger,
    MailboxFull,
    ReplyFuture,
    Scheduler,
    ServiceActor,
    ServiceCrashed,
    ServiceRef,
    ServiceStopped,
    StanchionError,
    SystemNotRunning,
    TimerHandle,
    context,
    validate as check,
)
from actors.supervision import ActorSystem, ChildSpec

if TYPE_CHECKING:
    from actors.bus import EventBus

_log = LibraryLogger("stanchion.breaker")


@dataclass(frozen=True, slots=True)
class ForceOpen:
    """Operator command to the gate actor: refuse every call until `Reset`."""

    reason: str = "operator"

    def __post_init__(self) -> None:
        check.text("reason", self.reason, max_length=1000)


@dataclass(frozen=True, slots=True)
class Disable:
    """Operator command to the gate actor: let every call through, unjudged, until `Reset`."""

    reason: str = "operator"

    def __post_init__(self) -> None:
        check.text("reason", self.reason, max_length=1000)


@dataclass(frozen=True, slots=True)
class Reset:
    """Operator command to the gate actor: close, with an empty window and the first wait."""

    reason: str = "operator"

    def __post_init__(self) -> None:
        check.text("reason", self.reason, max_length=1000)


@dataclass(frozen=True, slots=True)
class GetMetrics:
    """Ask the gate actor for its breaker's `BreakerMetrics` (or call `gate.metrics()`)."""


@dataclass(frozen=True, slots=True)
class _Poll:
    """Timer nudge: apply time-driven transitions (a half-open that waited too long)."""


class NotACommand(StanchionError, TypeError):
    """The gate actor was sent something other than an operator command."""

    def __init__(self, gate: str, message: object) -> None:
        self.gate = gate
        self.message = message
        super().__init__(
            f"the breaker gate {gate!r} takes only ForceOpen, Disable, Reset and GetMetrics, "
            f"not {type(message).__name__}; send calls with BreakerGate.ask, which goes "
            "straight to the target")


class GateActor(ServiceActor):
    """The gate's actor: operator commands, half-open deadlines, events on the bus.

    Started by `BreakerGate.start`; send it `ForceOpen`, `Disable`, `Reset` or
    `GetMetrics` (each replies with the breaker's metrics).

    Example:
        >>> from actors.supervision import ActorSystem, ChildSpec
        >>> class Echo(ServiceActor):
        ...     def on_receive(self, message):
        ...         return message
        >>> with ActorSystem([ChildSpec("sms", Echo)]) as system:
        ...     gate = BreakerGate.start(system, "sms-breaker", target="sms")
        ...     admin = system.service("sms-breaker")
        ...     admin.ask(ForceOpen("maintenance")).state.value
        'forced_open'
    """

    mailbox_size = 100
    max_message_crashes = 1  # a stray tell is dead-lettered after one restart, not retried

    def __init__(self, gate: BreakerGate) -> None:
        super().__init__()
        self.gate = gate

    def on_receive(self, message: Any) -> Any:
        breaker = self.gate.breaker
        if isinstance(message, BreakerTransition):
            self.gate._published(message)
            return None
        if isinstance(message, _Poll):
            breaker.poll()
            return None
        if isinstance(message, GetMetrics):
            return breaker.metrics()
        if isinstance(message, ForceOpen):
            breaker.force_open(message.reason)
        elif isinstance(message, Disable):
            breaker.disable(message.reason)
        elif isinstance(message, Reset):
            breaker.reset(message.reason)
        else:
            raise NotACommand(self.service_name, message)
        return breaker.metrics()


class _Call:
    """One admitted call in flight: whoever claims it first records its outcome."""

    __slots__ = ("breaker", "claim", "out", "permit", "reply", "start", "timeout", "timer")

    def __init__(self, breaker: CircuitBreaker, permit: Permit, start: float,
                 reply: ReplyFuture[Any], timeout: float) -> None:
        self.breaker = breaker
        self.permit = permit
        self.start = start
        self.reply = reply
        self.timeout = timeout
        self.claim = [True]  # list.pop is atomic: exactly one of reply/timeout wins it
        self.out: ReplyFuture[Any] | None = None
        self.timer: TimerHandle | None = None

    def _claimed(self) -> bool:
        try:
            self.claim.pop()
        except IndexError:
            return False
        return True

    def completed(self) -> None:
        """The target replied (runs on the replying thread)."""
        if not self._claimed():
            return  # already counted as a timeout
        breaker, out = self.breaker, self.out
        duration = breaker.clock() - self.start
        if self.timer is not None:
            self.timer.cancel()
        try:
            value = self.reply.get(timeout=0)
        except (ServiceCrashed, ServiceStopped) as exc:
            breaker.release(self.permit)  # our service failed, not the provider
            if out is not None:
                out.set_exception(exc)
        except BaseException as exc:  # noqa: BLE001 - recorded, then handed to the caller
            breaker.on_error(self.permit, duration, exc)
            if out is not None:
                out.set_exception(exc)
        else:
            breaker.on_success(self.permit, duration)
            if out is not None:
                out.set(value)

    def expired(self, exc: AskTimeout) -> None:
        """No reply within the timeout: a failure, whatever arrives later."""
        if not self._claimed():
            return
        self.breaker.on_error(self.permit, self.timeout, exc)
        if self.out is not None:
            self.out.set_exception(exc)


class BreakerGate:
    """A circuit breaker in front of a service: fail fast on the caller's thread when open.

    Start it with `BreakerGate.start`; send through `ask` as you would to the
    target's `ServiceRef`. Calls refused by the breaker raise `CircuitOpen`
    at once and never reach a mailbox. Admitted calls go straight to the
    target; their outcome is recorded when the reply arrives, and a call
    with no reply within `timeout` counts as a failure. A full target mailbox
    (`MailboxFull`) or a stopped target is not the provider's fault: the
    permit is released, nothing is counted, and the error is re-raised.

    The breaker lives in this object, not in the gate actor, so a restart of
    the actor loses no state.

    Example:
        >>> from actors import ServiceActor
        >>> from actors.supervision import ActorSystem, ChildSpec
        >>> class Echo(ServiceActor):
        ...     def on_receive(self, message):
        ...         return message
        >>> with ActorSystem([ChildSpec("sms", Echo)]) as system:
        ...     gate = BreakerGate.start(system, "sms-breaker", target="sms")
        ...     gate.ask("hello", timeout=2.0), gate.metrics().succeeded
        ('hello', 1)
    """

    def __init__(self, name: str, *, target: ServiceRef[Any], breaker: CircuitBreaker,
                 scheduler: Scheduler, bus: EventBus | None, timeout: float) -> None:
        self.name = name
        self.target = target
        self.breaker = breaker
        self.timeout = timeout
        self._scheduler = scheduler
        self._bus = bus
        self._ref: ServiceRef[Any] | None = None
        breaker.add_listener(self._on_transition)

    @classmethod
    def start(cls, system: ActorSystem, name: str, *, target: str,
              config: BreakerConfig | None = None, bus: EventBus | None = None,
              timeout: float | None = None, clock: Callable[[], float] = time.monotonic,
              rng: random.Random | None = None) -> BreakerGate:
        """Start the gate actor `name` in `system`, in front of the service `target`.

        Args:
            system: a running `ActorSystem` that has the `target` service.
            name: the gate actor's name, also the breaker's name in errors and logs.
            target: the name of the service calls are forwarded to.
            config: the breaker's settings (default `BreakerConfig()`).
            bus: where transitions are published as events (`breaker.opened`...).
            timeout: seconds a call may take before it counts as failed
                (default: the target's `ask_timeout`).
            clock, rng: injected time and jitter source (tests).
        """

        check.instance("system", system, ActorSystem, "a running supervisor.ActorSystem")

        check.name("name", name)
        check.name("target", target)
        if timeout is not None:
            check.seconds("timeout", timeout)
        if bus is not None and not callable(getattr(bus, "publish", None)):
            raise ConfigError("bus", bus, "an actors.bus.EventBus, or None")
        breaker = CircuitBreaker(name, config, clock=clock, rng=rng)  # checks the rest
        target_ref = system.service(target)
        if timeout is None:
            timeout = target_ref.ask_timeout
        scheduler = system.scheduler
        gate = cls(name, target=target_ref, breaker=breaker, scheduler=scheduler, bus=bus,
                   timeout=float(timeout))
        gate._ref = system.start_child(ChildSpec(name, GateActor, args=(gate,)))
        return gate

    # -- calls (caller's thread) --------------------------------------------------------------

    @overload
    def ask(self, message: Any, *, timeout: float | None = None,
            block: Literal[True] = True) -> Any: ...

    @overload
    def ask(self, message: Any, *, timeout: float | None = None,
            block: Literal[False]) -> ReplyFuture[Any]: ...

    def ask(self, message: Any, *, timeout: float | None = None, block: bool = True) -> Any:
        """Send `message` to the target through the breaker; the reply, or a future of it.

        Raises `CircuitOpen` at once when the breaker refuses, `MailboxFull` or
        `ServiceStopped` at once when the target cannot take the message
        (neither counted), `AskTimeout` after `timeout` seconds (counted as a
        failure), or the target's error (counted unless the config ignores it).
        With tracing on, a `breaker.call` span covers the call (the send only, with
        `block=False`).
        """
        tracer = context.tracer
        if tracer is not None:
            with tracer.span("breaker.call", {"breaker": self.breaker.name,
                                              "state": self.breaker.state.value,
                                              "service": self.target.name}):
                return self._ask(message, timeout, block)
        return self._ask(message, timeout, block)

    def _ask(self, message: Any, timeout: float | None, block: bool) -> Any:
        breaker = self.breaker
        if timeout is None:
            timeout = self.timeout
        elif timeout.__class__ is not float or not 0.0 < timeout <= check.MAX_SECONDS:
            check.seconds("timeout", timeout)  # the timer thread must never get inf or NaN
        permit = breaker.acquire()
        start = breaker.clock()
        try:
            reply = cast("ReplyFuture[Any]", self.target.ask(message, block=False))
        except (MailboxFull, ServiceStopped):
            breaker.release(permit)
            raise
        except BaseException as exc:
            breaker.on_error(permit, breaker.clock() - start, exc)
            raise
        if block:
            # The caller waits anyway: record on its thread, no callback or timer needed.
            try:
                value = reply.get(timeout=timeout)
            except (ServiceCrashed, ServiceStopped):
                breaker.release(permit)  # our service failed, not the provider
                raise
            except BaseException as exc:  # AskTimeout included: a failure
                breaker.on_error(permit, breaker.clock() - start, exc)
                raise
            breaker.on_success(permit, breaker.clock() - start)
            return value
        call = _Call(breaker, permit, start, reply, timeout)
        out: ReplyFuture[Any] = ReplyFuture(timeout, self.target.name)
        call.out = out
        call.timer = self._scheduler.call_later(
            timeout, lambda: call.expired(AskTimeout(self.target.name, timeout)))
        reply.add_done_callback(call.completed)
        return out

    # -- operators and observation ---------------------------------------------------------

    def metrics(self) -> BreakerMetrics:
        """The breaker's metrics, read on the caller's thread (no round trip)."""
        return self.breaker.metrics()

    def force_open(self, reason: str = "operator", timeout: float = 5.0) -> BreakerMetrics:
        """Refuse every call until `reset` (applied by the gate actor)."""
        return self._command(ForceOpen(reason), timeout)

    def disable(self, reason: str = "operator", timeout: float = 5.0) -> BreakerMetrics:
        """Let every call through, unjudged, until `reset` (applied by the gate actor)."""
        return self._command(Disable(reason), timeout)

    def reset(self, reason: str = "operator", timeout: float = 5.0) -> BreakerMetrics:
        """Close with an empty window and the first wait (applied by the gate actor)."""
        return self._command(Reset(reason), timeout)

    def _command(self, command: ForceOpen | Disable | Reset, timeout: float) -> BreakerMetrics:
        assert self._ref is not None, "BreakerGate.start sets the actor"
        result: BreakerMetrics = self._ref.ask(command, timeout=timeout)
        return result

    def stop(self, timeout: float | None = None) -> bool:
        """Stop the gate actor; later transitions are still logged, not published."""
        self.breaker.remove_listener(self._on_transition)
        return self._ref.stop(timeout=timeout) if self._ref is not None else False

    # -- transitions: off the caller's path -------------------------------------------------

    def _on_transition(self, event: BreakerTransition) -> None:
        ref = self._ref
        if event.to_state == HALF_OPEN.value and self.breaker.config.max_wait_in_half_open > 0:
            # Without traffic nobody would notice the probes overran their time.
            # Shutting down (SystemNotRunning): the next acquire applies the deadline anyway.
            with contextlib.suppress(SystemNotRunning):
                self._scheduler.call_later(self.breaker.config.max_wait_in_half_open,
                                           self._nudge)
        if self._bus is None:
            return
        if ref is None or not ref.offer(event):
            self._published(event)  # actor gone or swamped: publish here, it never blocks

    def _nudge(self) -> None:
        if self._ref is not None:
            self._ref.offer(_Poll())

    def _published(self, event: BreakerTransition) -> None:
        if self._bus is None:
            return
        try:
            self._bus.publish(event.event, event.as_dict())
        except StanchionError as exc:
            _log.warning("breaker.event_dropped", breaker=self.name, event_name=event.event,
                         error=repr(exc))

    def __repr__(self) -> str:
        return f"<BreakerGate {self.name!r} -> {self.target.name!r}>"
