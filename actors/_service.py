"""`ServiceActor`: a Pykka threading actor behind a bounded mailbox.

The receive loop replaces Pykka's so that it can install the sender's
correlation context for each message, count what it processed, and on a crash
keep the message that crashed it (for redelivery or dead letters) instead of
dropping the rest of the mailbox. This relies on Pykka 4's loop hooks
(`_actor_loop_setup/_running/_teardown`), which is why the dependency is pinned
to Pykka 4.x.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from typing import Any, ClassVar

import pykka
import structlog
from pykka.messages import ProxyCall, ProxyGetAttr, ProxySetAttr, _ActorStop

from actors import _context
from actors._deadletters import default_dead_letters
from actors._errors import ServiceCrashed, require
from actors._future import ReplyFuture
from actors._mailbox import ControlMessage, Mailbox, is_control

_log = structlog.get_logger("stanchion.actor")

# Messages Pykka's own dispatcher must see (stop and proxy traffic); everything
# else goes straight to on_receive, skipping a chain of isinstance checks.
_SPECIAL_CLASSES: frozenset[type] = frozenset(
    {_ActorStop, ProxyCall, ProxyGetAttr, ProxySetAttr}
)
_thread_ids = count(1)

DeathWatcher = Callable[["ServiceActor", BaseException | None], None]


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
    extra: dict[str, Any] = field(default_factory=dict)


_binding: contextvars.ContextVar[Binding | None] = contextvars.ContextVar(
    "stanchion_binding", default=None
)


def bind_next_start(binding: Binding) -> contextvars.Token[Binding | None]:
    """Make the next actor constructed in this thread use `binding`."""
    return _binding.set(binding)


def unbind(token: contextvars.Token[Binding | None]) -> None:
    """Undo `bind_next_start`."""
    _binding.reset(token)


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

    service_name: str
    """The name callers use for this service (the class name when started alone)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        binding = _binding.get()
        if binding is None:
            cls = type(self)
            require(cls.ask_timeout > 0, "ask_timeout", cls.ask_timeout, "seconds > 0")
            binding = Binding(
                mailbox=Mailbox(cls.__name__, cls.mailbox_size, default_dead_letters(),
                                cls.max_message_crashes),
                service=cls.__name__,
                ask_timeout=cls.ask_timeout,
                owns_mailbox=True,
            )
        self._binding = binding
        self._mailbox = binding.mailbox
        self.actor_inbox = binding.mailbox
        self._actor_ref.actor_inbox = binding.mailbox
        self.service_name = binding.service
        self._death: BaseException | None = None
        self._stop_expected = False
        self._thread: threading.Thread | None = None

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

    def _actor_loop_setup(self) -> None:
        _context.set_actor_name(self.service_name)
        self._counter = self._mailbox.attach_consumer()
        try:
            self.on_start()
        except Exception as exc:  # noqa: BLE001 - a failed start is a death the supervisor handles
            self._death = exc
            _log.error("actor.start_failed", service=self.service_name, error=repr(exc),
                       exc_info=exc)
            pykka.ActorRegistry.unregister(self.actor_ref)
            self.actor_stopped.set()

    def _actor_loop_running(self) -> None:
        take = self._mailbox.take
        stopped = self.actor_stopped
        counter = self._counter
        special = _SPECIAL_CLASSES
        handle_special = self._handle_receive
        on_receive = self.on_receive
        current = _context.capture
        install = _context.install
        while not stopped.is_set():
            item = take()
            envelope = item[0]
            if item[1] is not current():
                install(item[1])
            reply_to = envelope.reply_to
            message = envelope.message
            try:
                if message.__class__ in special or isinstance(message, ControlMessage):
                    response = handle_special(message)
                else:
                    response = on_receive(message)
            except BaseException as exc:  # noqa: BLE001 - let it crash, but never silently
                if reply_to is not None and isinstance(exc, Exception):
                    reply_to.set_exception(exc_info=(type(exc), exc, exc.__traceback__))
                else:
                    self._crash(item, exc)
                    return
            else:
                if reply_to is not None:
                    reply_to.set(response)
            counter.value += 1

    def _actor_loop_teardown(self) -> None:
        self._mailbox.detach_consumer(self._counter)
        if self._binding.owns_mailbox:
            self._mailbox.close("crashed" if self._death is not None else "stopped")
        watcher = self._binding.watcher
        if watcher is not None:
            watcher(self, self._death)

    def _handle_receive(self, message: Any) -> Any:
        if isinstance(message, StopIncarnation):
            if message.epoch == self._binding.epoch:
                self._stop()
            return None
        return super()._handle_receive(message)

    def _crash(self, item: Any, exc: BaseException) -> None:
        self._death = exc
        envelope = item[0]
        _log.error("actor.crashed", service=self.service_name, error=repr(exc),
                   message_type=type(envelope.message).__name__, exc_info=exc)
        pykka.ActorRegistry.unregister(self.actor_ref)
        self.actor_stopped.set()
        try:
            self.on_failure(type(exc), exc, exc.__traceback__)
        except Exception as hook_exc:  # noqa: BLE001 - the actor is already dead; record it
            _log.error("actor.on_failure_failed", service=self.service_name,
                       error=repr(hook_exc))
        # Fail the waiting asks before the message is dead-lettered, so that anyone
        # who waits for the dead letter and then asks is not failed by this crash.
        if not self._binding.pooled:
            self._mailbox.fail_pending_asks(ServiceCrashed(self.service_name, exc))
        if not is_control(envelope.message):
            self._mailbox.redeliver(item, exc)

    # -- introspection for the runtime -------------------------------------------

    @property
    def death_reason(self) -> BaseException | None:
        """Why this incarnation ended: the exception, or `None` for a clean stop."""
        return self._death

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

