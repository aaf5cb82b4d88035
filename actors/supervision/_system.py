"""`ActorSystem`: starts a supervision tree and owns everything that runs in it."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

from actors.core import (
    Binding,
    ConfigError,
    DeadLetter,
    DeadLetterStore,
    LibraryLogger,
    RetryPolicy,
    Scheduler,
    ServiceActor,
    ServiceRef,
    ServiceStopped,
    StopIncarnation,
    SystemNotRunning,
    UnknownService,
    bind_next_start,
    current_context,
    short_repr,
    unbind,
    validate as check,
)
from actors.supervision._runtime import SUPERVISOR_ASK_TIMEOUT, Runtime
from actors.supervision._spec import (
    DEFAULT_RESTART_BACKOFF,
    MAX_SHUTDOWN_TIMEOUT,
    ChildSpec,
    Strategy,
    SupervisorSpec,
)
from actors.supervision._supervisor import (
    AddChild,
    ChildInfo,
    ServiceStartFailed,
    StartWaiter,
    Supervisor,
    TerminateChild,
    WhichChildren,
)

_log = LibraryLogger("stanchion.system")


class ActorSystem:
    """A running supervision tree: `with ActorSystem(children) as system: ...`.

    The root supervisor starts `children` in order; entering the block returns
    once every service has started (its constructor and `on_start` completed),
    and raises `ServiceStartFailed` (with nothing left running) if one cannot.
    Leaving the block stops every actor in reverse start order within
    `shutdown_timeout`. Services are looked up by name with `service()`, once,
    and the reference stays valid across restarts.

    Args:
        children: a list or tuple of the root's `ChildSpec`s and `SupervisorSpec`s.
        name: the root supervisor's name.
        strategy, max_restarts, within_seconds, restart_backoff: the root
            supervisor's settings (see `SupervisorSpec`).
        dead_letter_capacity: how many dead letters are retained for inspection
            (an integer >= 1).
        shutdown_timeout: seconds `shutdown()` waits for the whole tree (finite,
            > 0, at most a day).
        start_timeout: seconds `start()` waits for the whole tree to start
            (finite, > 0, at most a day).
        rng: a `random.Random` for restart jitter (inject a seeded one for tests).
        clock: monotonic clock (a callable returning seconds) for restart
            intensity and the timer thread.

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
        start_timeout: float = 30.0,
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
        self.shutdown_timeout = self.spec.shutdown_timeout
        self.start_timeout = check.seconds("start_timeout", start_timeout,
                                               maximum=MAX_SHUTDOWN_TIMEOUT)
        if rng is not None:
            check.instance("rng", rng, random.Random, "a random.Random, or None")
        self._rng = rng if rng is not None else random.Random()
        self._clock = check.callable_("clock", clock,
                                          "a callable returning monotonic seconds")
        try:
            reading = clock()
        except Exception as exc:
            raise ConfigError("clock", clock, "a callable returning monotonic seconds (it raised "
                              f"{short_repr(exc)})") from exc
        if not check.is_finite_number(reading):
            raise ConfigError("clock", reading, "a clock returning a finite number of seconds")
        self._runtime: Runtime | None = None
        self._root: ServiceActor | None = None
        self._root_ref: ServiceRef[ServiceActor] | None = None
        self._state = "new"
        self._lock = threading.Lock()
        self._failed = threading.Event()
        self._start_settled = threading.Event()
        self._start_error: ServiceStartFailed | None = None
        self.failure: BaseException | None = None
        """Why the system failed (or could not start); `None` while all is well."""

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        """Start the tree; returns once every service in it has started.

        Raises `ServiceStartFailed` (its `__cause__` is the service's own error)
        if a service's first start fails, or if the tree has not started within
        `start_timeout`; everything already started is stopped first, so no
        thread is left behind.
        """
        with self._lock:
            if self._state != "new":
                raise SystemNotRunning(
                    f"this ActorSystem is {self._state}; create a new ActorSystem to start again")
            self._state = "starting"
        scheduler = Scheduler(name=f"{self.spec.name}-scheduler", clock=self._clock)
        runtime = Runtime(self.dead_letters, scheduler, self._rng, self._clock, Supervisor)
        runtime.terminate = self._terminate
        self._runtime = runtime
        entry = runtime.entry_for(self.spec, parent=None)
        self._root_ref = entry.ref
        for spec in _walk(self.spec):
            runtime.entry_for(spec, parent=None)
        binding = Binding(mailbox=entry.mailbox, service=self.spec.name,
                          ask_timeout=SUPERVISOR_ASK_TIMEOUT, watcher=self._on_root_exit,
                          on_started=lambda _root: self._start_settled.set())
        token = bind_next_start(binding)
        try:
            ref = Supervisor.start(self.spec, runtime)
        except BaseException:
            self._abort_start()
            raise
        finally:
            unbind(token)
        root = ref._actor_weakref()
        if root is not None:
            self._root = root
            runtime.incarnations.add(root)
            entry.ref._bind_incarnation(root)
        settled = self._start_settled.wait(self.start_timeout)
        with self._lock:
            error = self._start_error
            if settled and error is None:
                self._state = "running"
        if error is None and not settled:
            error = ServiceStartFailed(
                self.spec.name, None,
                f"the tree did not finish starting within {self.start_timeout:g}s (a "
                "constructor or on_start is slow or stuck)")
        if error is not None:
            _log.error("system.start_failed", system=self.spec.name, service=error.service,
                       error=short_repr(error.cause))
            self._abort_start()
            raise error from error.cause
        _log.info("system.started", system=self.spec.name, services=runtime.names())
        return self

    def _abort_start(self) -> None:
        with self._lock:
            if self._state == "starting":
                self._state = "running"  # so that shutdown() stops what did start
        self.shutdown()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.shutdown()

    def shutdown(self, timeout: float | None = None) -> bool:
        """Stop every actor in reverse start order; `True` if all threads ended in time.

        Messages still queued are dead-lettered (tells) or failed with
        `ServiceStopped` (asks). A handler stuck past its child's
        `shutdown_timeout` is abandoned (its thread is a daemon, so it cannot keep
        the process alive) and not waited for again, so one stuck handler costs
        that child's `shutdown_timeout`, not the system's. `timeout` (default:
        `shutdown_timeout`) bounds the whole call.
        """
        if timeout is not None:
            timeout = check.seconds("timeout", timeout, allow_zero=True,
                                        maximum=MAX_SHUTDOWN_TIMEOUT)
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
            runtime.lookup(self.spec.name).mailbox.post_control(StopIncarnation(0))
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
            if actor.abandoned:  # a stop already waited its shutdown_timeout for it
                if actor.join(0):
                    continue
                stuck.append(actor.service_name)
            elif not actor.join(max(0.0, deadline - time.monotonic())):
                stuck.append(actor.service_name)
        return stuck

    def _on_root_exit(self, actor: ServiceActor, reason: BaseException | None) -> None:
        if actor.stop_expected:
            return
        with self._lock:
            starting = self._state == "starting"
            self.failure = reason
            if starting:
                self._start_error = (reason if isinstance(reason, ServiceStartFailed)
                                     else ServiceStartFailed(self.spec.name, reason))
        if starting:
            self._start_settled.set()  # start() reports it and stops what did start
            return
        _log.critical("system.failed", system=self.spec.name, error=short_repr(reason))
        if self._runtime is not None:
            self._runtime.close_all()
        self._failed.set()  # last: whoever waits for it finds every mailbox closed

    @property
    def failed(self) -> bool:
        """Whether the system failed while running: its root supervisor gave up.

        Then every mailbox is closed and `failure` holds the error. A plain
        bool, so `if system.failed:` reads as it should; to wait for it, use
        `wait_failed(timeout)`.
        """
        return self._failed.is_set()

    def wait_failed(self, timeout: float | None = None) -> bool:
        """Wait until the system fails; `True` if it did within `timeout` seconds."""
        if timeout is not None:
            timeout = check.seconds("timeout", timeout, allow_zero=True,
                                        maximum=MAX_SHUTDOWN_TIMEOUT)
        return self._failed.wait(timeout)

    # -- use ---------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the system is started and not shut down or failed."""
        return self._state == "running" and not self._failed.is_set()

    def _require_runtime(self) -> Runtime:
        if self._state not in ("running", "starting") or self._runtime is None:
            raise SystemNotRunning(
                f"the actor system {self.spec.name!r} is {self._state}; use it inside "
                "`with ActorSystem(...) as system:` or after system.start()")
        return self._runtime

    @property
    def scheduler(self) -> Scheduler:
        """The system's one timer thread, for delayed work of the services it runs.

        Raises `SystemNotRunning` before `start()` and after shutdown.
        """
        return self._require_runtime().scheduler

    def service_names(self) -> list[str]:
        """Every name in the tree (services and supervisors)."""
        return self._require_runtime().names()

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
        """Add and start a child under `parent` (default: the root supervisor).

        Returns once the child (a supervisor: its whole subtree) has started.
        If its first start fails, it is removed again (its name is free) and
        `ServiceStartFailed` is raised with the service's error as `__cause__`;
        the parent's restart intensity is not touched. `timeout` (default 30 s)
        bounds the wait; past it, `ServiceStartFailed` says the child is still
        starting.
        """
        if not isinstance(spec, ChildSpec | SupervisorSpec):
            raise ConfigError("spec", spec, "a ChildSpec or SupervisorSpec")
        if parent is not None:
            check.name("parent", parent)
        wait = SUPERVISOR_ASK_TIMEOUT if timeout is None else check.seconds(
            "timeout", timeout, maximum=MAX_SHUTDOWN_TIMEOUT)
        runtime = self._require_runtime()
        known = set(runtime.names())
        clashes = sorted(set(spec.all_names() if isinstance(spec, SupervisorSpec)
                             else [spec.name]) & known)
        if clashes:
            raise ConfigError("name", clashes, "names not already used in this system")
        supervisor = runtime.lookup(self.spec.name if parent is None else parent).ref
        if not issubclass(supervisor.actor_class, Supervisor):
            raise ConfigError("parent", parent, "the name of a supervisor in this system")
        for nested in _walk(spec) if isinstance(spec, SupervisorSpec) else []:
            runtime.entry_for(nested, parent=None)
        started = time.monotonic()
        waiter: StartWaiter = supervisor.ask(AddChild(spec), timeout=wait)
        if not waiter.wait(max(0.0, wait - (time.monotonic() - started))):
            raise ServiceStartFailed(spec.name, None,
                                     f"it is still starting after {wait:g}s")
        if waiter.error is not None:
            raise waiter.error from waiter.error.cause
        return runtime.lookup(spec.name).ref

    def which_children(self, supervisor: str | None = None) -> list[ChildInfo]:
        """The children of a supervisor (default: the root) and their state."""
        ref = self._require_runtime().lookup(
            self.spec.name if supervisor is None else supervisor).ref
        if not issubclass(ref.actor_class, Supervisor):
            raise ConfigError("supervisor", supervisor, "the name of a supervisor in this system")
        result: list[ChildInfo] = ref.ask(WhichChildren())
        return result

    def _terminate(self, name: str, timeout: float | None) -> bool:
        runtime = self._runtime
        if runtime is None:
            return False
        entry = runtime.lookup(name)
        if entry.parent is None and name == self.spec.name:
            return self.shutdown(None if timeout is None else min(timeout, MAX_SHUTDOWN_TIMEOUT))
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
