"""`ServiceActor`: a Pykka threading actor behind a bounded mailbox.

The receive loop replaces Pykka's so that it can install the sender's
correlation context for each message, count what it processed, and on a crash
keep the message that crashed it (for redelivery or dead letters) instead of
dropping the rest of the mailbox. This relies on Pykka 4's loop hooks
(`_actor_loop_setup/_running/_teardown`), which is why the dependency is pinned
to Pykka 4.x.

The loop itself is wrapped so that no failure in the runtime's own machinery
(taking a message, the crash path, a watcher) can end an actor thread
silently: it is logged as `runtime.fault`, the message in flight is put back,
and the supervisor is told, so the service is restarted.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from typing import TYPE_CHECKING, Any, ClassVar

import pykka
from pykka.messages import ProxyCall, ProxyGetAttr, ProxySetAttr, _ActorStop

from actors.core import _context, _validate
from actors.core._deadletters import DeadLetter, default_dead_letters
from actors.core._errors import ServiceCrashed, UnhandledMessage, UnknownService, short_repr
from actors.core._future import ReplyFuture
from actors.core._logging import LibraryLogger
from actors.core._mailbox import (
    MAX_MAILBOX_SIZE,
    ControlMessage,
    Item,
    Mailbox,
    Queued,
    as_item,
    is_control,
)
from actors.core._ref import IncarnationRef

if TYPE_CHECKING:
    from actors.core._ref import ServiceRef

_log = LibraryLogger("stanchion.actor")

# Messages Pykka's own dispatcher must see (stop and proxy traffic); everything
# else goes straight to on_receive, skipping a chain of isinstance checks.
_SPECIAL_CLASSES: frozenset[type] = frozenset(
    {_ActorStop, ProxyCall, ProxyGetAttr, ProxySetAttr}
)
_thread_ids = count(1)

# Linux scheduling policies (absent elsewhere: then threads keep the default).
_SCHED_OTHER: int | None = getattr(os, "SCHED_OTHER", None)
_SCHED_BATCH: int | None = getattr(os, "SCHED_BATCH", None)


def schedule_as_batch() -> bool:
    """Run the calling thread under Linux's SCHED_BATCH policy; `True` if it now does.

    Only a thread under the default policy is moved (never a real-time one), and
    a refusal (a sandbox, another OS) leaves it as it was: the policy only
    changes how fast a message is picked up, never whether it is.
    """
    if _SCHED_BATCH is None or _SCHED_OTHER is None:
        return False
    try:
        policy = os.sched_getscheduler(0)
        if policy == _SCHED_OTHER:
            os.sched_setscheduler(0, _SCHED_BATCH, os.sched_param(0))
            policy = _SCHED_BATCH
    except OSError:
        return False
    return policy == _SCHED_BATCH

DeathWatcher = Callable[["ServiceActor", BaseException | None], None]
StartedHook = Callable[["ServiceActor"], None]


class StopIncarnation(ControlMessage):
    """Stop the consumer of a given epoch; stale stops from an older epoch are ignored."""

    __slots__ = ("epoch",)

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch


@dataclass(slots=True)
class Binding:
    """How an incarnation is wired into the runtime (set by the supervisor)."""

    mailbox: Mailbox
    service: str
    ask_timeout: float
    owns_mailbox: bool = False
    pooled: bool = False
    epoch: int = 0
    watcher: DeathWatcher | None = None
    on_started: StartedHook | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # The system's name registry: how `ServiceActor.service` finds a peer.
    resolve: Callable[[str], ServiceRef[Any]] | None = None


_binding: contextvars.ContextVar[Binding | None] = contextvars.ContextVar(
    "stanchion_binding", default=None
)


def bind_next_start(binding: Binding) -> contextvars.Token[Binding | None]:
    """Make the next actor constructed in this thread use `binding`."""
    return _binding.set(binding)


def unbind(token: contextvars.Token[Binding | None]) -> None:
    """Undo `bind_next_start`."""
    _binding.reset(token)


def class_settings(actor_class: type[ServiceActor]) -> tuple[int, float, int]:
    """The class's `mailbox_size`, `ask_timeout` and `max_message_crashes`, validated.

    `batch_scheduling` is checked too. Raises `ConfigError` naming the class
    attribute, so a bad setting is refused when the service is started rather
    than deep inside its thread.
    """
    prefix = actor_class.__name__
    _validate.boolean(f"{prefix}.batch_scheduling", actor_class.batch_scheduling)
    return (
        _validate.integer(f"{prefix}.mailbox_size", actor_class.mailbox_size, minimum=1,
                          maximum=MAX_MAILBOX_SIZE),
        _validate.seconds(f"{prefix}.ask_timeout", actor_class.ask_timeout),
        _validate.integer(f"{prefix}.max_message_crashes", actor_class.max_message_crashes,
                          minimum=1),
    )


class ServiceActor(pykka.ThreadingActor):
    """A Pykka threading actor whose mailbox is bounded and never blocks a sender.

    Subclass it as you would `pykka.ThreadingActor`. When the mailbox holds
    `mailbox_size` messages, `tell`, `ask` and proxy calls raise `MailboxFull`
    at once. Every reply has a deadline: `ask_timeout` seconds unless the call
    says otherwise. Started inside an `ActorSystem`, the service keeps its
    mailbox across restarts; started alone with `start()`, it owns its mailbox.

    Example:
        >>> from actors import ServiceActor
        >>> class Echo(ServiceActor):
        ...     mailbox_size = 10
        ...     def on_receive(self, message):
        ...         return message
        >>> ref = Echo.start()
        >>> ref.ask("hi", timeout=1.0)
        'hi'
        >>> ref.stop()
        True
    """

    mailbox_size: ClassVar[int] = 1000
    """How many messages may wait in the mailbox before senders are rejected."""

    ask_timeout: ClassVar[float] = 5.0
    """Default seconds a caller waits for a reply."""

    max_message_crashes: ClassVar[int] = 3
    """A message that crashes the service this many times goes to dead letters."""

    use_daemon_thread: ClassVar[bool] = True
    """Daemon threads, so that a handler stuck forever cannot keep the process alive."""

    batch_scheduling: ClassVar[bool] = True
    """Run the actor's thread under Linux's SCHED_BATCH policy (elsewhere: ignored).

    A sender wakes the actor while it still holds the GIL, so the actor cannot
    run yet; under the default policy the kernel switches to it anyway and back,
    which costs about half of an `ask` round trip on one CPU. Under
    SCHED_BATCH a wake-up never preempts the running thread. Threads a handler
    starts inherit the policy. Set `False` if this actor must preempt CPU-bound
    work of other processes as soon as a message arrives.
    """

    service_name: str
    """The name callers use for this service (the class name when started alone)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        binding = _binding.get()
        if binding is None:
            cls = type(self)
            mailbox_size, ask_timeout, max_crashes = class_settings(cls)
            binding = Binding(
                mailbox=Mailbox(cls.__name__, mailbox_size, default_dead_letters(), max_crashes),
                service=cls.__name__,
                ask_timeout=ask_timeout,
                owns_mailbox=True,
            )
        self._binding = binding
        self._mailbox = binding.mailbox
        self.actor_inbox = binding.mailbox
        self._actor_ref = IncarnationRef(self, binding.mailbox)
        self.service_name = binding.service
        self._death: BaseException | None = None
        self._repeat_crash = False
        self._failure_hook_ran = False
        self._stop_expected = False
        self._abandoned = False
        self._thread: threading.Thread | None = None
        self._counter: Any = None
        self._hook: Any = None
        self._hooked: Any = None

    @staticmethod
    def _create_actor_inbox() -> Any:
        # Replaced in __init__ by the service's mailbox; nothing is allocated here.
        return None

    @classmethod
    def _create_future(cls) -> pykka.Future[Any]:
        # A classmethod (Pykka declares a staticmethod) so plain Pykka refs and
        # proxies also get this class's default reply deadline.
        return ReplyFuture(cls.ask_timeout, cls.__name__)

    def _start_actor_loop(self) -> None:
        thread = threading.Thread(
            target=self._actor_loop,
            name=f"{self.service_name}-{next(_thread_ids)}",
            daemon=self.use_daemon_thread,
        )
        self._thread = thread
        thread.start()

    # -- the loop --------------------------------------------------------------

    def _actor_loop(self) -> None:
        # Pykka's loop, unable to die silently: whatever escapes setup or the
        # running loop is a runtime fault, and teardown (which tells the
        # supervisor) always runs.
        where = "setup"
        try:
            self._actor_loop_setup()
            where = "running"
            self._actor_loop_running()
        except BaseException as exc:  # noqa: BLE001 - reported below, never silent
            self._fault(exc, where)
        self._actor_loop_teardown()

    def _actor_loop_setup(self) -> None:
        if self.batch_scheduling:
            schedule_as_batch()
        _context.set_actor_name(self.service_name)
        self._counter = self._mailbox.attach_consumer()
        try:
            self.on_start()
        except BaseException as exc:  # noqa: BLE001 - a failed start is a death the supervisor handles
            self._death = exc
            _log.error("actor.start_failed", service=self.service_name, error=short_repr(exc),
                       exc_info=exc)
            pykka.ActorRegistry.unregister(self.actor_ref)
            self.actor_stopped.set()
            return
        self._announce_started()

    def _announce_started(self) -> None:
        """Tell the runtime that `on_start` completed (a supervisor waits for its children)."""
        hook = self._binding.on_started
        if hook is not None:
            hook(self)

    def _actor_loop_running(self) -> None:  # noqa: PLR0912, PLR0915 - the hot path, inlined on purpose
        mailbox = self._mailbox
        take = mailbox.take
        control, redeliver, requeued, dequeue, give_back = mailbox.consumer_lanes()
        queued = Queued
        stopped = self.actor_stopped
        counter = self._counter
        special = _SPECIAL_CLASSES
        handle_special = self._handle_receive
        on_receive = self.on_receive
        current = _context.current_context_getter  # the ContextVar's C `get`: no frame
        install = _context.install
        # The message in flight, until it is settled: an `Item`, or a `Queued` message
        # as the work queue holds it (`as_item` makes it an `Item` where one is needed).
        item: Item | Queued | None = None
        try:
            while not stopped.is_set():
                # `take`, with its common case inlined: no call and no tuple per message.
                if control or redeliver or requeued:
                    item = take()
                    envelope, context = item[0], item[1]
                else:
                    item = dequeue()
                    if item.__class__ is queued:
                        give_back(0)
                        envelope = item
                        context = item.context
                    elif item.__class__ is tuple:
                        give_back(0)
                        envelope, context = item[0], item[1]
                    else:
                        item = None  # a wake-up: a lane holds something
                        continue
                if context is not current():
                    install(context)
                reply_to = envelope.reply_to
                message = envelope.message
                try:
                    if message.__class__ in special or isinstance(message, ControlMessage):
                        response = handle_special(message)
                    elif _context.tracer is None:
                        response = on_receive(message)
                    else:
                        response = self._observed(message)
                except BaseException as exc:  # noqa: BLE001 - let it crash, but never silently
                    if reply_to is not None and isinstance(exc, Exception):
                        reply_to.set_exception(exc_info=(type(exc), exc, exc.__traceback__))
                    elif isinstance(exc, UnhandledMessage):
                        self._unhandled(as_item(item), exc)
                    else:
                        self._crash(as_item(item), exc)
                        return
                else:
                    if reply_to is not None:
                        reply_to.set(response)
                counter.value += 1
                item = None
        except BaseException as fault:
            self._recover_in_flight(None if item is None else as_item(item), fault)
            raise

    def _observed(self, message: Any) -> Any:
        """`on_receive` through the tracing hook (`actors.observability`), made once per hook."""
        hook = _context.tracer
        if hook is None:
            return self.on_receive(message)
        if self._hook is not hook:
            self._hook = hook
            self._hooked = hook.wrap_handler(self.service_name, self.on_receive)
        return self._hooked(message)

    def _actor_loop_teardown(self) -> None:
        # Every step is guarded: the watcher must hear of this death whatever fails first.
        try:
            self._mailbox.detach_consumer(self._counter)
            if self._binding.owns_mailbox:
                self._mailbox.close("crashed" if self._death is not None else "stopped")
        except BaseException as exc:  # noqa: BLE001 - reported, then the watcher still runs
            self._fault(exc, "teardown")
        self._notify_watcher()

    def _notify_watcher(self) -> None:
        watcher = self._binding.watcher
        if watcher is None:
            return
        for _ in range(2):
            try:
                watcher(self, self._death)
            except BaseException as exc:  # noqa: BLE001 - tried twice, then the mailbox closes
                self._log_fault(exc, "watcher")
            else:
                return
        # Nobody will restart this service: close its mailbox, so that senders are
        # told at once and what was queued is dead-lettered instead of waiting forever.
        try:
            self._mailbox.close("crashed")
        except BaseException as exc:  # noqa: BLE001 - nothing is left to try
            self._log_fault(exc, "watcher")

    def _fault(self, exc: BaseException, where: str) -> None:
        """A failure in the runtime's own code: log it and end this incarnation as a crash."""
        if self._death is None:
            self._death = exc
        self._log_fault(exc, where)
        try:
            pykka.ActorRegistry.unregister(self.actor_ref)
        except BaseException as again:  # noqa: BLE001 - keep going: the watcher must run
            self._log_fault(again, where)
        self.actor_stopped.set()
        self._run_on_failure(exc)

    def _log_fault(self, exc: BaseException, where: str, **fields: Any) -> None:
        try:
            _log.error("runtime.fault", service=self.service_name, error=short_repr(exc),
                       where=where, exc_info=exc, **fields)
        except BaseException:  # noqa: BLE001 - logging itself is broken: last resort
            with contextlib.suppress(BaseException):
                sys.stderr.write(f"stanchion runtime.fault service={self.service_name!r} "
                                 f"where={where} error={short_repr(exc)}\n")

    def _recover_in_flight(self, item: Item | None, fault: BaseException) -> None:
        """Put back (a tell) or fail (an ask) the message a runtime fault interrupted."""
        if item is None:
            return
        envelope = item[0]
        try:
            if envelope.reply_to is not None:
                error = ServiceCrashed(self.service_name, fault)
                with contextlib.suppress(Exception):  # it may already have its reply
                    envelope.reply_to.set_exception(exc_info=(type(error), error, None))
            elif not is_control(envelope.message):
                self._mailbox.redeliver(item, fault)
        except BaseException as again:  # noqa: BLE001 - last resort: a dead letter, never a loss
            self._log_fault(again, "redeliver", message_type=type(envelope.message).__name__)
            try:
                self._mailbox.dead_letters.add(DeadLetter(
                    self.service_name, envelope.message, "fault", error=short_repr(fault),
                    context=item[1]))
            except BaseException as lost:  # noqa: BLE001 - logged above and here
                self._log_fault(lost, "dead_letter")

    def _handle_receive(self, message: Any) -> Any:
        if isinstance(message, StopIncarnation):
            if message.epoch == self._binding.epoch:
                self._stop()
            return None
        return super()._handle_receive(message)

    def _crash(self, item: Item, exc: BaseException) -> None:
        self._death = exc
        self._repeat_crash = item[2] > 0
        envelope = item[0]
        _log.error("actor.crashed", service=self.service_name, error=short_repr(exc),
                   message_type=type(envelope.message).__name__, exc_info=exc)
        pykka.ActorRegistry.unregister(self.actor_ref)
        self.actor_stopped.set()
        self._run_on_failure(exc)
        # Fail the waiting asks before the message is dead-lettered, so that anyone
        # who waits for the dead letter and then asks is not failed by this crash.
        if not self._binding.pooled:
            self._mailbox.fail_pending_asks(ServiceCrashed(self.service_name, exc))
        if not is_control(envelope.message):
            self._mailbox.redeliver(item, exc)

    def _run_on_failure(self, exc: BaseException) -> None:
        if self._failure_hook_ran:
            return
        self._failure_hook_ran = True
        try:
            self.on_failure(type(exc), exc, exc.__traceback__)
        except Exception as hook_exc:  # noqa: BLE001 - the actor is already dead; record it
            _log.error("actor.on_failure_failed", service=self.service_name,
                       error=short_repr(hook_exc))

    def _unhandled(self, item: Item, exc: UnhandledMessage) -> None:
        envelope, context, _ = item
        self._mailbox.dead_letters.add(DeadLetter(self.service_name, envelope.message,
                                                  "unhandled", error=str(exc), context=context))

    def service(self, name: str) -> ServiceRef[Any]:
        """The stable ref to another service of the `ActorSystem` this service runs in.

        How one service calls another: look the peer up (in `on_start`, or when a
        message needs it) and `ask` or `tell` it like any ref. The ref stays valid
        across the peer's restarts. Raises `UnknownService` for a name not in the
        tree, and for any name when this actor was started alone, outside a system.

        Example:
            >>> from actors.supervision import ActorSystem, ChildSpec
            >>> class Payments(ServiceActor):
            ...     def on_receive(self, amount):
            ...         return f"charged {amount}"
            >>> class Orders(ServiceActor):
            ...     def on_start(self):
            ...         self.payments = self.service("payments")
            ...     def on_receive(self, order):
            ...         return self.payments.ask(order["amount"], timeout=2.0)
            >>> with ActorSystem([ChildSpec("payments", Payments),
            ...                   ChildSpec("orders", Orders)]) as system:
            ...     system.service("orders").ask({"amount": 25})
            'charged 25'
        """
        resolve = self._binding.resolve
        if resolve is None:
            raise UnknownService(name, [], f"{self.service_name!r} was started alone, outside "
                                 "an ActorSystem, so it has no peers: start it from a ChildSpec, "
                                 "or pass it the refs it needs as arguments")
        return resolve(name)

    def on_receive(self, message: Any) -> Any:
        """Handle a plain (non-proxy) message; override it in your service.

        The default refuses the message: an asker gets `UnhandledMessage`, and a
        told message is dead-lettered with reason `unhandled` (logged as
        `message.dead_lettered`). Pykka's default would log it and answer `None`,
        which an asker cannot tell from a real reply. Call
        `super().on_receive(message)` for messages your service does not handle.
        """
        raise UnhandledMessage(self.service_name, type(self).__name__, message)

    # -- introspection for the runtime -------------------------------------------

    @property
    def repeat_crash(self) -> bool:
        """Whether the message that crashed this incarnation had crashed an earlier one."""
        return self._repeat_crash

    def abandon(self) -> None:
        """Mark this incarnation as left behind: a stop waited for it and gave up."""
        self._abandoned = True

    @property
    def abandoned(self) -> bool:
        """Whether a stop gave up waiting for this incarnation (its handler is stuck)."""
        return self._abandoned

    def expect_stop(self) -> None:
        """Mark the coming stop as requested by the runtime (not an unexpected exit)."""
        self._stop_expected = True

    @property
    def stop_expected(self) -> bool:
        """Whether the runtime asked this incarnation to stop."""
        return self._stop_expected

    def join(self, timeout: float | None) -> bool:
        """Wait for the actor's thread to end; `True` if it did."""
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        return not thread.is_alive()

