"""The supervisor actor: starts children, watches them die, restarts them by strategy."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pykka
import structlog
from pykka._envelope import Envelope

from actors import ServiceActor, StanchionError
from actors._mailbox import ControlMessage, Mailbox
from actors._scheduler import TimerHandle
from actors._service import Binding, StopIncarnation, bind_next_start, unbind
from supervisor._intensity import RestartIntensity
from supervisor._runtime import Entry, Runtime
from supervisor._spec import ChildSpec, RestartType, Strategy, SupervisorSpec

_log = structlog.get_logger("stanchion.supervisor")


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
    """Start a new child under this supervisor (ask: replies with the child's name)."""

    __slots__ = ("spec",)

    def __init__(self, spec: ChildSpec | SupervisorSpec) -> None:
        self.spec = spec


class WhichChildren(ControlMessage):
    """Ask for the children's current state."""

    __slots__ = ()


class Ping(ControlMessage):
    """Replies once the supervisor has started its children."""

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

    # -- lifecycle -----------------------------------------------------------------

    def on_start(self) -> None:
        _log.info("supervisor.started", supervisor=self.spec.name,
                  strategy=str(self.spec.strategy), children=[c.name for c in self.spec.children])
        for spec in self.spec.children:
            self._add(spec)

    def on_stop(self) -> None:
        self._stop_children(list(self._children), final=False)
        _log.info("supervisor.stopped", supervisor=self.spec.name)

    def on_receive(self, message: Any) -> Any:  # noqa: PLR0911 - one branch per control message
        if isinstance(message, ChildExited):
            self._on_child_exited(message)
            return None
        if isinstance(message, RestartDue):
            self._on_restart_due(message.names)
            return None
        if isinstance(message, TerminateChild):
            return self._terminate(message.name)
        if isinstance(message, AddChild):
            self._add(message.spec)
            return message.spec.name
        if isinstance(message, WhichChildren):
            return [self._info(child) for child in self._children]
        if isinstance(message, Ping):
            return True
        return super().on_receive(message)

    # -- starting --------------------------------------------------------------------

    def _add(self, spec: ChildSpec | SupervisorSpec) -> None:
        entry = self._rt.entry_for(spec, parent=self.spec.name)
        entry.mailbox.reopen()
        child = _Child(spec, entry, [None] * _pool_size(spec))
        self._children.append(child)
        self._start_missing(child)

    def _start_missing(self, child: _Child) -> None:
        for index, member in enumerate(child.members):
            if member is None:
                child.members[index] = self._spawn(child, index)

    def _spawn(self, child: _Child, index: int) -> ServiceActor | None:
        spec = child.spec
        binding = Binding(
            mailbox=child.mailbox,
            service=child.name,
            ask_timeout=child.entry.ref.ask_timeout,
            pooled=_pool_size(spec) > 1,
            epoch=child.epoch,
            watcher=self._watcher(child.name, index, child.epoch),
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
            self._self_mailbox().put_control(
                Envelope(ChildExited(child.name, index, child.epoch, None, exc)))
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
            mailbox.put_control(Envelope(ChildExited(name, index, epoch, actor, reason)))

        return on_death

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
                     member=msg.index, reason=repr(msg.reason), restart=str(restart))
        if restart is RestartType.TEMPORARY or (restart is RestartType.TRANSIENT and not abnormal):
            if all(member is None for member in child.members):
                self._finish(child)
            return
        now = self._rt.clock()
        if not self._intensity.allow(now):
            self._give_up(child, msg.reason)
            return
        child.entry.ref.restarts += 1
        delay = self.spec.restart_backoff.delay(self._intensity.recent(now), self._rt.rng)
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
                  strategy=str(strategy), restarting=list(names), delay_s=round(delay, 4))
        mailbox = self._self_mailbox()
        timer = self._rt.scheduler.call_later(
            delay, lambda: mailbox.put_control(Envelope(RestartDue(names))))
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

    def _give_up(self, child: _Child, cause: BaseException | None) -> None:
        error = SupervisorGaveUp(self.spec.name, child.name, self.spec.max_restarts,
                                 self.spec.within_seconds, cause)
        _log.error("supervisor.gave_up", supervisor=self.spec.name, child=child.name,
                   max_restarts=self.spec.max_restarts, within_seconds=self.spec.within_seconds,
                   error=str(error))
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
            child.mailbox.put_control(Envelope(StopIncarnation(child.epoch)))
        child.epoch += 1
        timeout = child.spec.shutdown_timeout
        for member in alive:
            if not member.join(timeout):
                _log.error("actor.stop_timed_out", service=child.name, timeout_s=timeout)
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
