"""The supervisor actor: starts children, watches them die, restarts them by strategy."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar

import pykka

from actors.core import (
    Binding,
    ControlMessage,
    LibraryLogger,
    Mailbox,
    ServiceActor,
    ServiceRef,
    StanchionError,
    StopIncarnation,
    TimerHandle,
    bind_next_start,
    short_repr,
    unbind,
)
from actors.supervision._intensity import RestartIntensity
from actors.supervision._runtime import Entry, Runtime
from actors.supervision._spec import ChildSpec, RestartType, Strategy, SupervisorSpec

_log = LibraryLogger("stanchion.supervisor")


class SupervisorGaveUp(StanchionError):
    """A supervisor exceeded its restart intensity; it stopped its children and failed."""

    def __init__(self, supervisor: str, child: str, max_restarts: int, within: float,
                 cause: BaseException | None) -> None:
        self.supervisor = supervisor
        self.child = child
        self.cause = cause
        super().__init__(
            f"supervisor {supervisor!r} gave up: more than {max_restarts} restarts within "
            f"{within:g}s (last: {child!r} ended with {cause!r}); fix the failing service "
            "or raise max_restarts"
        )


class ServiceStartFailed(StanchionError):
    """A service could not start the first time, so the tree (or `start_child`) failed.

    A child's first start (its constructor and `on_start`) must succeed:
    restarts repair a running system, they do not retry a service that never
    came up. The service's own error is `cause` (and the `__cause__` of the
    raised exception). Fix the constructor, `on_start` or what they depend on,
    then start again.
    """

    def __init__(self, service: str, cause: BaseException | None, detail: str = "") -> None:
        self.service = service
        self.cause = cause
        what = detail or f"{short_repr(cause)} in its constructor or on_start"
        super().__init__(
            f"service {service!r} could not start: {what}; it was not restarted (a first "
            "start must succeed), so fix it or what it depends on and start again"
        )


class StartWaiter:
    """Settled once a child added at run time has started, or has failed to start."""

    def __init__(self) -> None:
        self._settled = threading.Event()
        self.error: ServiceStartFailed | None = None

    def settle(self, error: ServiceStartFailed | None) -> None:
        """Record the outcome and release whoever waits."""
        self.error = error
        self._settled.set()

    def wait(self, timeout: float | None) -> bool:
        """Wait for the outcome; `False` if it did not come within `timeout`."""
        return self._settled.wait(timeout)


# -- control messages (they bypass mailbox bounds) ------------------------------


class ChildExited(ControlMessage):
    """An incarnation of a child ended (sent from the dying actor's thread)."""

    __slots__ = ("actor", "epoch", "index", "name", "reason")

    def __init__(self, name: str, index: int, epoch: int, actor: ServiceActor | None,
                 reason: BaseException | None) -> None:
        self.name = name
        self.index = index
        self.epoch = epoch
        self.actor = actor
        self.reason = reason


class ChildStarted(ControlMessage):
    """An incarnation of a child finished `on_start` (a supervisor: its whole subtree did)."""

    __slots__ = ("actor", "epoch", "index", "name")

    def __init__(self, name: str, index: int, epoch: int, actor: ServiceActor) -> None:
        self.name = name
        self.index = index
        self.epoch = epoch
        self.actor = actor


class RestartDue(ControlMessage):
    """The backoff before restarting these children has passed."""

    __slots__ = ("names",)

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names


class TerminateChild(ControlMessage):
    """Stop a child for good (ask: replies whether it was running)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class AddChild(ControlMessage):
    """Start a new child under this supervisor (ask: replies with a `StartWaiter`)."""

    __slots__ = ("spec",)

    def __init__(self, spec: ChildSpec | SupervisorSpec) -> None:
        self.spec = spec


class WhichChildren(ControlMessage):
    """Ask for the children's current state."""

    __slots__ = ()


class Ping(ControlMessage):
    """Replies `True` (the supervisor is handling messages)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class ChildInfo:
    """One child as its supervisor sees it (from `ActorSystem.which_children`)."""

    name: str
    kind: str
    restart: str
    alive_members: int
    pool_size: int
    restarts: int
    terminated: bool


@dataclass
class _Child:
    spec: ChildSpec | SupervisorSpec
    entry: Entry
    members: list[ServiceActor | None]
    epoch: int = 0
    terminated: bool = False
    restart_timer: TimerHandle | None = field(default=None, repr=False)
    started: bool = False  # every member finished its first start
    started_members: set[int] = field(default_factory=set)
    waiter: StartWaiter | None = field(default=None, repr=False)  # added at run time

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def mailbox(self) -> Mailbox:
        return self.entry.mailbox


def _pool_size(spec: ChildSpec | SupervisorSpec) -> int:
    return spec.pool_size if isinstance(spec, ChildSpec) else 1


class Supervisor(ServiceActor):
    """Supervises an ordered list of children with OTP strategies and restart intensity.

    Created by `ActorSystem` from a `SupervisorSpec`; not started by hand.
    """

    mailbox_size: ClassVar[int] = 64

    def __init__(self, spec: SupervisorSpec, runtime: Runtime) -> None:
        super().__init__()
        self.spec = spec
        self._rt = runtime
        self._children: list[_Child] = []
        self._intensity = RestartIntensity(spec.max_restarts, spec.within_seconds)
        self._awaiting_start = False

    # -- lifecycle -----------------------------------------------------------------

    def on_start(self) -> None:
        _log.info("supervisor.started", supervisor=self.spec.name,
                  strategy=str(self.spec.strategy), children=[c.name for c in self.spec.children])
        for spec in self.spec.children:
            self._add(spec)

    def _announce_started(self) -> None:
        # A supervisor has started when its whole subtree has: wait for the children.
        self._awaiting_start = True
        self._check_started()

    def _check_started(self) -> None:
        if self._awaiting_start and all(child.started for child in self._children):
            self._awaiting_start = False
            super()._announce_started()

    def on_stop(self) -> None:
        self._stop_children(list(self._children), final=False)
        _log.info("supervisor.stopped", supervisor=self.spec.name)

    def on_failure(self, exception_type: type[BaseException] | None,
                   exception_value: BaseException | None,
                   traceback: TracebackType | None) -> None:
        # A crashed supervisor must not leave its children running: its parent
        # starts a new supervisor, which starts new children on the same mailboxes.
        self._stop_children(list(self._children), final=False)

    def on_receive(self, message: Any) -> Any:  # noqa: PLR0911 - one branch per control message
        if isinstance(message, ChildExited):
            self._on_child_exited(message)
            return None
        if isinstance(message, ChildStarted):
            self._on_child_started(message)
            return None
        if isinstance(message, RestartDue):
            self._on_restart_due(message.names)
            return None
        if isinstance(message, TerminateChild):
            return self._terminate(message.name)
        if isinstance(message, AddChild):
            waiter = StartWaiter()
            self._add(message.spec, waiter)
            return waiter
        if isinstance(message, WhichChildren):
            return [self._info(child) for child in self._children]
        if isinstance(message, Ping):
            return True
        return super().on_receive(message)

    # -- starting --------------------------------------------------------------------

    def _add(self, spec: ChildSpec | SupervisorSpec, waiter: StartWaiter | None = None) -> None:
        entry = self._rt.entry_for(spec, parent=self.spec.name)
        entry.mailbox.reopen()
        child = _Child(spec, entry, [None] * _pool_size(spec), waiter=waiter)
        self._children.append(child)
        self._start_missing(child)

    def _start_missing(self, child: _Child) -> None:
        for index, member in enumerate(child.members):
            if member is None:
                child.members[index] = self._spawn(child, index)

    def _resolve(self, name: str) -> ServiceRef[Any]:
        """A peer's stable ref, for `ServiceActor.service` (called from the child's thread)."""
        return self._rt.lookup(name).ref

    def _spawn(self, child: _Child, index: int) -> ServiceActor | None:
        spec = child.spec
        binding = Binding(
            mailbox=child.mailbox,
            service=child.name,
            ask_timeout=child.entry.ref.ask_timeout,
            pooled=_pool_size(spec) > 1,
            epoch=child.epoch,
            watcher=self._watcher(child.name, index, child.epoch),
            on_started=self._started_hook(child.name, index, child.epoch),
            resolve=self._resolve,
        )
        token = bind_next_start(binding)
        ref: pykka.ActorRef[Any]
        try:
            if isinstance(spec, SupervisorSpec):
                ref = Supervisor.start(spec, self._rt)
            else:
                ref = spec.actor_class.start(*spec.args, **spec.kwargs)
        except Exception as exc:  # noqa: BLE001 - a constructor failure is a death like any other
            _log.error("actor.start_failed", service=child.name, error=repr(exc), exc_info=exc)
            self._self_mailbox().post_control(
                ChildExited(child.name, index, child.epoch, None, exc))
            return None
        finally:
            unbind(token)
        actor = ref._actor_weakref()
        if actor is None:
            return None
        self._rt.incarnations.add(actor)
        child.entry.ref._bind_incarnation(actor)
        return actor

    def _self_mailbox(self) -> Mailbox:
        return self._binding.mailbox

    def _watcher(self, name: str, index: int, epoch: int) -> Any:
        mailbox = self._self_mailbox()

        def on_death(actor: ServiceActor, reason: BaseException | None) -> None:
            mailbox.post_control(ChildExited(name, index, epoch, actor, reason))

        return on_death

    def _started_hook(self, name: str, index: int, epoch: int) -> Any:
        mailbox = self._self_mailbox()

        def on_started(actor: ServiceActor) -> None:
            mailbox.post_control(ChildStarted(name, index, epoch, actor))

        return on_started

    # -- deaths and restarts -----------------------------------------------------------

    def _find(self, name: str) -> _Child | None:
        for child in self._children:
            if child.name == name:
                return child
        return None

    def _on_child_exited(self, msg: ChildExited) -> None:
        child = self._find(msg.name)
        if child is None or child.terminated or msg.epoch != child.epoch:
            return
        if msg.actor is not None and (msg.actor.stop_expected
                                      or child.members[msg.index] is not msg.actor):
            return
        child.members[msg.index] = None
        restart = RestartType(child.spec.restart)
        abnormal = msg.reason is not None
        _log.warning("supervisor.child_exited", supervisor=self.spec.name, child=child.name,
                     member=msg.index, reason=short_repr(msg.reason), restart=str(restart))
        if not child.started and self._start_failed(child, msg.reason):
            return
        if restart is RestartType.TEMPORARY or (restart is RestartType.TRANSIENT and not abnormal):
            if all(member is None for member in child.members):
                self._finish(child)
            return
        now = self._rt.clock()
        # A message that crashes one incarnation after another is bounded by
        # max_message_crashes and then dead-lettered, so only its first crash
        # counts against the intensity: one poison message cannot use up the
        # budget that unrelated crashes elsewhere need.
        counted = msg.actor is None or not msg.actor.repeat_crash
        if counted and not self._intensity.allow(now):
            self._give_up(child, msg.reason)
            return
        child.entry.ref.restarts += 1
        attempt = self._intensity.recent(now) + (0 if counted else 1)
        delay = self.spec.restart_backoff.delay(max(1, attempt), self._rt.rng)
        strategy = Strategy(self.spec.strategy)
        position = self._children.index(child)
        if strategy is Strategy.ONE_FOR_ONE:
            targets = [child]
        elif strategy is Strategy.ONE_FOR_ALL:
            targets = list(self._children)
        else:
            targets = self._children[position:]
        if strategy is not Strategy.ONE_FOR_ONE:
            self._stop_children(targets, final=False)
        names = tuple(c.name for c in targets if not c.terminated)
        _log.info("supervisor.restart_scheduled", supervisor=self.spec.name, child=child.name,
                  strategy=str(strategy), restarting=list(names), delay_s=round(delay, 4),
                  counted=counted)
        mailbox = self._self_mailbox()
        timer = self._rt.scheduler.call_later(
            delay, lambda: mailbox.post_control(RestartDue(names)))
        for target in targets:
            target.restart_timer = timer

    def _on_restart_due(self, names: Iterable[str]) -> None:
        for name in names:
            child = self._find(name)
            if child is None or child.terminated:
                continue
            child.restart_timer = None
            missing = sum(1 for member in child.members if member is None)
            if missing:
                self._start_missing(child)
                _log.info("supervisor.child_restarted", supervisor=self.spec.name, child=name,
                          members=missing, restarts=child.entry.ref.restarts)

    def _on_child_started(self, msg: ChildStarted) -> None:
        child = self._find(msg.name)
        if (child is None or child.terminated or child.started or msg.epoch != child.epoch
                or child.members[msg.index] is not msg.actor):
            return
        child.started_members.add(msg.index)
        if len(child.started_members) < len(child.members):
            return
        child.started = True
        if child.waiter is not None:
            child.waiter.settle(None)
            child.waiter = None
        self._check_started()

    def _start_failed(self, child: _Child, reason: BaseException | None) -> bool:
        """A child died before its first start completed; `False` if that is an ordinary crash."""
        if isinstance(reason, ServiceStartFailed):
            error = reason  # a nested supervisor's child: name the service that failed
        else:
            error = ServiceStartFailed(child.name, reason,
                                       "" if reason is not None else "it stopped while starting")
        if child.waiter is None and not self._awaiting_start:
            return False
        _log.error("supervisor.child_start_failed", supervisor=self.spec.name, child=child.name,
                   service=error.service, error=short_repr(error.cause))
        if child.waiter is not None:
            # Added at run time: take it out again; this supervisor carries on.
            waiter, child.waiter = child.waiter, None
            self._stop_child(child, final=True)
            self._children.remove(child)
            names = (child.spec.all_names() if isinstance(child.spec, SupervisorSpec)
                     else [child.name])
            self._rt.forget(names)
            waiter.settle(error)
            return True
        # Part of this supervisor's own start: that start fails, and its parent is told.
        self._stop_children(list(self._children), final=False)
        self._death = error
        self._stop()
        return True

    def _give_up(self, child: _Child, cause: BaseException | None) -> None:
        error = SupervisorGaveUp(self.spec.name, child.name, self.spec.max_restarts,
                                 self.spec.within_seconds, cause)
        _log.error("supervisor.gave_up", supervisor=self.spec.name, child=child.name,
                   max_restarts=self.spec.max_restarts, within_seconds=self.spec.within_seconds,
                   error=str(error))
        if cause is not None:  # its callers hear the service's own error, not just "stopped"
            child.mailbox.record_failure(cause, f"its supervisor {self.spec.name!r} gave up "
                                         f"restarting it; its last error: {short_repr(cause)}")
        self._stop_children(list(self._children), final=False)
        self._death = error
        self._stop()

    # -- stopping ---------------------------------------------------------------------------

    def _stop_children(self, children: list[_Child], *, final: bool) -> None:
        for child in reversed(children):
            self._stop_child(child, final=final)

    def _stop_child(self, child: _Child, *, final: bool) -> None:
        if child.restart_timer is not None:
            child.restart_timer.cancel()
            child.restart_timer = None
        alive = [member for member in child.members if member is not None]
        for member in alive:
            member.expect_stop()
        for _ in alive:
            child.mailbox.post_control(StopIncarnation(child.epoch))
        child.epoch += 1
        timeout = child.spec.shutdown_timeout
        for member in alive:
            if not member.join(timeout):
                _log.error("actor.stop_timed_out", service=child.name, timeout_s=timeout)
                member.abandon()  # the system's shutdown does not wait for it again
                member.actor_stopped.set()  # it leaves its loop when the stuck handler returns
        child.members = [None] * len(child.members)
        if final:
            self._finish(child)

    def _finish(self, child: _Child) -> None:
        child.terminated = True
        dead = child.mailbox.close()
        child.entry.ref.actor_stopped.set()
        _log.info("supervisor.child_terminated", supervisor=self.spec.name, child=child.name,
                  dead_lettered=dead)

    def _terminate(self, name: str) -> bool:
        child = self._find(name)
        if child is None or child.terminated:
            return False
        self._stop_child(child, final=True)
        return True

    def _info(self, child: _Child) -> ChildInfo:
        return ChildInfo(
            name=child.name,
            kind="supervisor" if isinstance(child.spec, SupervisorSpec) else "worker",
            restart=str(child.spec.restart),
            alive_members=sum(1 for m in child.members if m is not None and m.actor_ref.is_alive()),
            pool_size=len(child.members),
            restarts=child.entry.ref.restarts,
            terminated=child.terminated,
        )
