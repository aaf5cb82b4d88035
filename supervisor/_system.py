"""`ActorSystem`: starts a supervision tree and owns everything that runs in it."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

import structlog
from pykka._envelope import Envelope

from actors import ServiceActor, ServiceRef, SystemNotRunning, UnknownService, current_context
from actors._deadletters import DeadLetter, DeadLetterStore
from actors._errors import ConfigError, ServiceStopped
from actors._scheduler import Scheduler
from actors._service import Binding, StopIncarnation, bind_next_start, unbind
from actors.retry import RetryPolicy
from supervisor._runtime import SUPERVISOR_ASK_TIMEOUT, Runtime
from supervisor._spec import (
    DEFAULT_RESTART_BACKOFF,
    ChildSpec,
    Strategy,
    SupervisorSpec,
)
from supervisor._supervisor import (
    AddChild,
    ChildInfo,
    Ping,
    Supervisor,
    TerminateChild,
    WhichChildren,
)

_log = structlog.get_logger("stanchion.system")


class ActorSystem:
    """A running supervision tree: `with ActorSystem(children) as system: ...`.

    The root supervisor starts `children` in order; leaving the block stops
    every actor in reverse start order within `shutdown_timeout`. Services are
    looked up by name with `service()`, once, and the reference stays valid
    across restarts.

    Args:
        children: the root's `ChildSpec`s and `SupervisorSpec`s.
        name: the root supervisor's name.
        strategy, max_restarts, within_seconds, restart_backoff: the root
            supervisor's settings (see `SupervisorSpec`).
        dead_letter_capacity: how many dead letters are retained for inspection.
        shutdown_timeout: seconds `shutdown()` waits for the whole tree.
        rng: randomness for restart jitter (inject a seeded one for tests).
        clock: monotonic clock for restart intensity.

    Example:
        >>> from actors import ServiceActor
        >>> class Counter(ServiceActor):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.n = 0
        ...     def on_receive(self, message):
        ...         self.n += message
        ...         return self.n
        >>> with ActorSystem([ChildSpec("counter", Counter)]) as system:
        ...     counter = system.service("counter")
        ...     counter.tell(2)
        ...     counter.ask(3)
        5
    """

    def __init__(
        self,
        children: Sequence[ChildSpec | SupervisorSpec] = (),
        *,
        name: str = "root",
        strategy: Strategy | str = Strategy.ONE_FOR_ONE,
        max_restarts: int = 3,
        within_seconds: float = 5.0,
        restart_backoff: RetryPolicy = DEFAULT_RESTART_BACKOFF,
        dead_letter_capacity: int = 10_000,
        shutdown_timeout: float = 30.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec = SupervisorSpec(
            name, children, strategy=strategy, max_restarts=max_restarts,
            within_seconds=within_seconds, restart_backoff=restart_backoff,
            shutdown_timeout=shutdown_timeout,
        )
        names = self.spec.all_names()
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError("children", duplicates, "names unique across the whole tree")
        self.dead_letters = DeadLetterStore(dead_letter_capacity)
        self.shutdown_timeout = shutdown_timeout
        self._rng = rng if rng is not None else random.Random()
        self._clock = clock
        self._runtime: Runtime | None = None
        self._root: ServiceActor | None = None
        self._root_ref: ServiceRef[ServiceActor] | None = None
        self._state = "new"
        self._lock = threading.Lock()
        self.failed = threading.Event()
        self.failure: BaseException | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        """Start the tree; returns once the root supervisor has started its children."""
        with self._lock:
            if self._state != "new":
                raise SystemNotRunning(
                    f"this ActorSystem is {self._state}; create a new ActorSystem to start again")
            self._state = "starting"
        scheduler = Scheduler(name=f"{self.spec.name}-scheduler", clock=self._clock)
        runtime = Runtime(self.dead_letters, scheduler, self._rng, self._clock)
        runtime.terminate = self._terminate
        self._runtime = runtime
        entry = runtime.entry_for(self.spec, parent=None)
        self._root_ref = entry.ref
        for spec in _walk(self.spec):
            runtime.entry_for(spec, parent=None)
        binding = Binding(mailbox=entry.mailbox, service=self.spec.name,
                          ask_timeout=SUPERVISOR_ASK_TIMEOUT, watcher=self._on_root_exit)
        token = bind_next_start(binding)
        try:
            ref = Supervisor.start(self.spec, runtime)
        finally:
            unbind(token)
        root = ref._actor_weakref()
        assert root is not None
        self._root = root
        runtime.incarnations.add(root)
        entry.ref._bind_incarnation(root)
        entry.ref.ask(Ping(), timeout=self.shutdown_timeout)
        with self._lock:
            self._state = "running"
        _log.info("system.started", system=self.spec.name, services=runtime.names())
        return self

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.shutdown()

    def shutdown(self, timeout: float | None = None) -> bool:
        """Stop every actor in reverse start order; `True` if all threads ended in time.

        Messages still queued are dead-lettered (tells) or failed with
        `ServiceStopped` (asks). A handler stuck past the deadline is abandoned:
        its thread is a daemon, so it cannot keep the process alive.
        """
        with self._lock:
            if self._state in ("stopping", "stopped", "new"):
                self._state = "stopped"
                return True
            self._state = "stopping"
        deadline = time.monotonic() + (timeout if timeout is not None else self.shutdown_timeout)
        runtime, root = self._runtime, self._root
        assert runtime is not None
        if root is not None and root.actor_ref.is_alive():
            root.expect_stop()
            runtime.lookup(self.spec.name).mailbox.put_control(
                Envelope(StopIncarnation(0)))
            root.join(max(0.0, deadline - time.monotonic()))
        dead = runtime.close_all()
        runtime.scheduler.stop(max(0.1, deadline - time.monotonic()))
        lingering = self._lingering(deadline)
        with self._lock:
            self._state = "stopped"
        if lingering:
            _log.error("system.shutdown_incomplete", system=self.spec.name, stuck=lingering)
        _log.info("system.stopped", system=self.spec.name, dead_lettered=dead,
                  clean=not lingering)
        return not lingering

    def _lingering(self, deadline: float) -> list[str]:
        assert self._runtime is not None
        stuck = []
        for actor in list(self._runtime.incarnations):
            if not actor.join(max(0.0, deadline - time.monotonic())):
                stuck.append(actor.service_name)
        return stuck

    def _on_root_exit(self, actor: ServiceActor, reason: BaseException | None) -> None:
        if actor.stop_expected:
            return
        self.failure = reason
        _log.critical("system.failed", system=self.spec.name, error=repr(reason))
        if self._runtime is not None:
            self._runtime.close_all()
        self.failed.set()  # last: whoever waits for it finds every mailbox closed

    # -- use ---------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the system is started and not shut down or failed."""
        return self._state == "running" and not self.failed.is_set()

    def _require_runtime(self) -> Runtime:
        if self._state not in ("running", "starting") or self._runtime is None:
            raise SystemNotRunning(
                f"the actor system {self.spec.name!r} is {self._state}; use it inside "
                "`with ActorSystem(...) as system:` or after system.start()")
        return self._runtime

    def service(self, name: str) -> ServiceRef[Any]:
        """The stable reference to the service (or supervisor) called `name`.

        Raises `UnknownService` for a name not in the tree.
        """
        return self._require_runtime().lookup(name).ref

    def tell(self, name: str, message: Any) -> None:
        """Send to the service `name`; an undeliverable message is dead-lettered, then raised.

        Raises `UnknownService` or `ServiceStopped` (after recording the message in
        `dead_letters` with reason `unknown_service` or `stopped`), or `MailboxFull`
        (the caller still holds the message: run the fallback).
        """
        runtime = self._require_runtime()
        try:
            ref = runtime.lookup(name).ref
            ref.tell(message)
        except UnknownService as exc:
            self.dead_letters.add(DeadLetter(name, message, "unknown_service", error=str(exc),
                                             context=current_context()))
            raise
        except ServiceStopped as exc:
            self.dead_letters.add(DeadLetter(name, message, "stopped", error=str(exc),
                                             context=current_context()))
            raise

    def start_child(self, spec: ChildSpec | SupervisorSpec, *, parent: str | None = None,
                    timeout: float | None = None) -> ServiceRef[Any]:
        """Add and start a child under `parent` (default: the root supervisor)."""
        runtime = self._require_runtime()
        known = set(runtime.names())
        clashes = sorted(set(spec.all_names() if isinstance(spec, SupervisorSpec)
                             else [spec.name]) & known)
        if clashes:
            raise ConfigError("name", clashes, "names not already used in this system")
        supervisor = runtime.lookup(parent or self.spec.name).ref
        if not issubclass(supervisor.actor_class, Supervisor):
            raise ConfigError("parent", parent, "the name of a supervisor in this system")
        for nested in _walk(spec) if isinstance(spec, SupervisorSpec) else []:
            runtime.entry_for(nested, parent=None)
        supervisor.ask(AddChild(spec), timeout=timeout)
        return runtime.lookup(spec.name).ref

    def which_children(self, supervisor: str | None = None) -> list[ChildInfo]:
        """The children of a supervisor (default: the root) and their state."""
        ref = self._require_runtime().lookup(supervisor or self.spec.name).ref
        result: list[ChildInfo] = ref.ask(WhichChildren())
        return result

    def _terminate(self, name: str, timeout: float | None) -> bool:
        runtime = self._runtime
        if runtime is None:
            return False
        entry = runtime.lookup(name)
        if entry.parent is None and name == self.spec.name:
            return self.shutdown(timeout)
        parent = entry.parent or self._find_parent(name)
        if parent is None:
            return False
        try:
            stopped: bool = runtime.lookup(parent).ref.ask(TerminateChild(name), timeout=timeout)
        except ServiceStopped:
            return False
        return stopped

    def _find_parent(self, name: str) -> str | None:
        def search(spec: SupervisorSpec) -> str | None:
            for child in spec.children:
                if child.name == name:
                    return spec.name
                if isinstance(child, SupervisorSpec):
                    found = search(child)
                    if found:
                        return found
            return None

        return search(self.spec)


def _walk(spec: SupervisorSpec) -> list[ChildSpec | SupervisorSpec]:
    found: list[ChildSpec | SupervisorSpec] = []
    for child in spec.children:
        found.append(child)
        if isinstance(child, SupervisorSpec):
            found.extend(_walk(child))
    return found
