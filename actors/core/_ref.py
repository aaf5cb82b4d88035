"""`ServiceRef`: a stable handle to a named service that survives restarts."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, Literal, TypeVar, overload

import pykka
from pykka._envelope import Envelope

from actors.core._future import ReplyFuture, checked_timeout
from actors.core._mailbox import Mailbox, MailboxStats

A = TypeVar("A", bound=pykka.Actor)


def _no_actor() -> None:
    return None


class IncarnationRef(pykka.ActorRef[A]):
    """The `actor_ref` of one service incarnation (what `ServiceActor.start()` returns).

    Pykka's `ActorRef`, sending straight into the service's bounded mailbox:
    the same errors (`ActorDeadError` once the incarnation has stopped,
    `MailboxFull`/`ServiceStopped` at once), one call less per message.
    """

    def __init__(self, actor: A, mailbox: Mailbox) -> None:
        super().__init__(actor)
        self.actor_inbox = mailbox
        self._mailbox = mailbox

    def tell(self, message: Any) -> None:
        """Send without waiting; `ActorDeadError`, `MailboxFull` or `ServiceStopped` at once."""
        if self.actor_stopped.is_set():
            raise pykka.ActorDeadError(f"{self} not found")
        self._mailbox.post(message)

    @overload
    def ask(
        self, message: Any, *, block: Literal[False], timeout: float | None = None
    ) -> pykka.Future[Any]: ...

    @overload
    def ask(
        self, message: Any, *, block: Literal[True] = True, timeout: float | None = None
    ) -> Any: ...

    @overload
    def ask(
        self, message: Any, *, block: bool = True, timeout: float | None = None
    ) -> Any | pykka.Future[Any]: ...

    def ask(
        self, message: Any, *, block: bool = True, timeout: float | None = None
    ) -> Any | pykka.Future[Any]:
        """Send and wait for the reply (default deadline: the actor class's `ask_timeout`).

        As Pykka's: an incarnation that has stopped fails the reply with
        `ActorDeadError`; a full or stopped mailbox raises at once.
        """
        future = self.actor_class._create_future()  # Pykka's hook, as in its own ask
        if self.actor_stopped.is_set():
            dead = pykka.ActorDeadError(f"{self} not found")
            future.set_exception(exc_info=(type(dead), dead, None))
        else:
            self._mailbox.post(message, future)
        if block:
            return future.get(timeout=timeout)
        return future


class ServiceRef(pykka.ActorRef[A]):
    """A handle to a service by name: look it up once, keep using it across restarts.

    Messages go to the service's mailbox, which outlives any one incarnation:
    a message sent while the service restarts is handled by the new
    incarnation. Once the service is stopped for good, sends raise
    `ServiceStopped`. `proxy()` works as with Pykka.

    Example:
        >>> from actors import ServiceActor
        >>> from actors.supervision import ActorSystem, ChildSpec
        >>> class Echo(ServiceActor):
        ...     def on_receive(self, message):
        ...         return message
        >>> with ActorSystem([ChildSpec("echo", Echo)]) as system:
        ...     echo = system.service("echo")
        ...     echo.ask("hi", timeout=1.0)
        'hi'
    """

    def __init__(
        self,
        name: str,
        mailbox: Mailbox,
        actor_class: type[A],
        ask_timeout: float,
        stopper: Callable[[float | None], bool] | None = None,
    ) -> None:
        # Pykka's ActorRef.__init__ wants one live actor; this ref spans many.
        self.name = name
        self.actor_class = actor_class
        self.actor_urn = f"urn:stanchion:service:{name}"
        self.actor_inbox = mailbox
        self.actor_stopped = threading.Event()
        self.ask_timeout = ask_timeout
        self.restarts = 0
        self._mailbox = mailbox
        self._stopper = stopper
        self._actor_weakref = _no_actor  # type: ignore[assignment]

    def _bind_incarnation(self, actor: A) -> None:
        self._actor_weakref = weakref.ref(actor)

    def __repr__(self) -> str:
        return f"<ServiceRef {self.name!r}>"

    def __str__(self) -> str:
        return f"service {self.name!r}"

    def is_alive(self) -> bool:
        """Whether the service accepts messages (it may be between incarnations)."""
        return not self._mailbox.closed

    def tell(self, message: Any) -> None:
        """Send without waiting; raise `MailboxFull` or `ServiceStopped` at once."""
        self._mailbox.post(message)

    def offer(self, message: Any) -> bool:
        """Send if the mailbox has room; `False` instead of `MailboxFull`, and nothing logged.

        Meant for signals that coalesce (wake-ups, nudges), not for work.
        """
        return self._mailbox.offer(Envelope(message))

    @overload
    def ask(
        self, message: Any, *, block: Literal[False], timeout: float | None = None
    ) -> pykka.Future[Any]: ...

    @overload
    def ask(
        self, message: Any, *, block: Literal[True] = True, timeout: float | None = None
    ) -> Any: ...

    @overload
    def ask(
        self, message: Any, *, block: bool = True, timeout: float | None = None
    ) -> Any | pykka.Future[Any]: ...

    def ask(
        self, message: Any, *, block: bool = True, timeout: float | None = None
    ) -> Any | pykka.Future[Any]:
        """Send and wait for the reply, at most `timeout` seconds (default: the service's).

        Raises `MailboxFull` or `ServiceStopped` at once if the message cannot be
        queued, `AskTimeout` if no reply comes in time, and re-raises the
        handler's exception if it failed. With `block=False`, returns a future
        whose `get()` applies the same default deadline. `timeout` is seconds
        >= 0 or `math.inf` (wait forever); anything else raises `ConfigError`
        before the message is sent.
        """
        if timeout is not None and (timeout.__class__ is not float or not timeout >= 0.0):
            timeout = checked_timeout(timeout)
        future: ReplyFuture[Any] = ReplyFuture(self.ask_timeout, self.name)
        self._mailbox.post(message, future)
        if block:
            return future.get(timeout=timeout)
        return future

    async def ask_async(self, message: Any, *, timeout: float | None = None) -> Any:
        """Send and await the reply from asyncio code without blocking the event loop.

        Same errors as `ask`: `MailboxFull`/`ServiceStopped` at once, `AskTimeout`
        after `timeout` (default: the service's), or the handler's exception; a
        `timeout` that is not seconds >= 0 or `math.inf` raises `ConfigError`.
        """
        if timeout is not None:
            timeout = checked_timeout(timeout)
        future: ReplyFuture[Any] = ReplyFuture(
            timeout if timeout is not None else self.ask_timeout, self.name)
        self._mailbox.post(message, future)
        return await future

    @overload
    def stop(self, *, block: Literal[True] = True, timeout: float | None = None) -> bool: ...

    @overload
    def stop(
        self, *, block: Literal[False], timeout: float | None = None
    ) -> pykka.Future[bool]: ...

    @overload
    def stop(
        self, *, block: bool = True, timeout: float | None = None
    ) -> bool | pykka.Future[bool]: ...

    def stop(
        self, *, block: bool = True, timeout: float | None = None
    ) -> bool | pykka.Future[bool]:
        """Stop the service for good (its supervisor will not restart it).

        Returns `True` if it was running. With `block=False`, returns a future.
        """
        if timeout is not None:
            timeout = checked_timeout(timeout)
        stopper = self._stopper
        result = False if stopper is None else stopper(timeout)
        if block:
            return result
        future: ReplyFuture[bool] = ReplyFuture(timeout, self.name)
        future.set(result)
        return future

    def stats(self) -> MailboxStats:
        """Depth, capacity and counters, read without a message round trip."""
        return self._mailbox.stats()
