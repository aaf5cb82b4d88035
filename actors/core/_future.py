"""A reply future that is cheap to create and always has a deadline.

Pykka's `ThreadingFuture` builds a `threading.Condition` per request; a single
pre-acquired lock is enough for a one-shot reply and costs a fraction of that.
`get()` without a timeout uses the service's default, so no caller waits
forever unless it asks to with `timeout=math.inf`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import queue
import sys
import threading
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import pykka
from pykka._future import _Unset

from actors.core import _validate
from actors.core._errors import AskTimeout

T = TypeVar("T")

_NO_RESULT: Any = object()

# Creates the callback list of a future that had none (rare: asyncio waiters).
_CALLBACKS_LOCK = threading.Lock()

# Waits at least this long are waits without a deadline (the lock refuses longer ones).
_FOREVER = threading.TIMEOUT_MAX

_new_lock = threading.Lock


def checked_timeout(timeout: object) -> float:
    """A per-call timeout: seconds >= 0, or `math.inf` to wait forever; else `ConfigError`."""
    return _validate.seconds("timeout", timeout, allow_zero=True, allow_inf=True)


class ReplyFuture(pykka.Future[T]):
    """The future returned by `ServiceRef.ask(..., block=False)` and by proxy calls."""

    # pykka.Future.__init__ only sets these two per instance; as class defaults
    # every ask skips that call (set_get_hook and get still set them per instance).
    _get_hook = None
    _get_hook_result: Any = _Unset()

    def __init__(self, default_timeout: float | None = None, service: str = "") -> None:
        if default_timeout is not None and (default_timeout.__class__ is not float
                                            or not default_timeout >= 0.0):
            default_timeout = checked_timeout(default_timeout)
        ready = _new_lock()
        ready.acquire()
        self._ready = ready
        self._value: Any = _NO_RESULT
        self._exc: BaseException | None = None
        self._default_timeout = default_timeout
        self._service = service
        self._callbacks: list[Callable[[], object]] | None = None  # created on first use

    def get(self, *, timeout: float | None = None) -> Any:
        """Wait for the reply; raise `AskTimeout` after `timeout` (default: the service's).

        `timeout` is seconds >= 0 (0: only if the reply is already there), or
        `math.inf` to wait forever; anything else raises `ConfigError`.
        """
        if self._get_hook is not None:
            return super().get(timeout=timeout)
        if timeout is None:
            timeout = self._default_timeout
        elif timeout.__class__ is not float or not timeout >= 0.0:  # NaN fails the test too
            timeout = checked_timeout(timeout)
        if self._value is _NO_RESULT and self._exc is None:
            if timeout is None or timeout >= _FOREVER:
                acquired = self._ready.acquire()
            else:
                acquired = self._ready.acquire(timeout=timeout)
            if not acquired:
                raise AskTimeout(self._service, timeout if timeout is not None else math.inf)
            self._ready.release()  # let any other waiter through as well
        if self._exc is not None:
            raise self._exc
        return self._value

    def set(self, value: Any | None = None) -> None:
        """Deliver the reply (called once, by the actor)."""
        if self._value is not _NO_RESULT or self._exc is not None:
            raise queue.Full
        self._value = value
        self._ready.release()
        if self._callbacks is not None:
            self._run_callbacks()

    def set_exception(self, exc_info: Any = None) -> None:
        """Deliver an error instead of a reply: an exception, or an exc_info triple."""
        if self._value is not _NO_RESULT or self._exc is not None:
            raise queue.Full
        if exc_info is None:
            exc_info = sys.exc_info()
        exc = exc_info if isinstance(exc_info, BaseException) else exc_info[1]
        if exc is None:
            exc = exc_info[0]()
        self._exc = exc
        self._ready.release()
        if self._callbacks is not None:
            self._run_callbacks()

    def _run_callbacks(self) -> None:
        # list.pop is atomic: each callback runs exactly once even if
        # add_done_callback races with set().
        callbacks = self._callbacks
        while callbacks:
            try:
                callback = callbacks.pop()
            except IndexError:
                return
            callback()

    def add_done_callback(self, callback: Callable[[], object]) -> None:
        """Call `callback()` (in the replying thread) once a reply or error is set."""
        callbacks = self._callbacks
        if callbacks is None:
            # Under a lock, so two first callbacks cannot each install their own list.
            # set() reads the list after publishing the result, and this checks done()
            # after appending, so whichever runs second runs the callback.
            with _CALLBACKS_LOCK:
                if self._callbacks is None:
                    self._callbacks = []
                callbacks = self._callbacks
        callbacks.append(callback)
        if self.done():
            self._run_callbacks()

    def __await__(self) -> Generator[Any, None, T]:
        """Await the reply from asyncio without blocking the event loop.

        The service's deadline applies: `AskTimeout` after `ask_timeout` seconds.
        """
        if not self.done():
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[None] = loop.create_future()

            def resolve() -> None:
                if not waiter.done():
                    waiter.set_result(None)

            def wake() -> None:
                # A loop closed while we waited has nobody left to wake.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(resolve)

            self.add_done_callback(wake)
            timeout = self._default_timeout
            try:
                yield from asyncio.wait_for(waiter, timeout).__await__()
            except TimeoutError:
                raise AskTimeout(self._service,
                                 timeout if timeout is not None else math.inf) from None
        result: T = self.get(timeout=0)
        return result

    def done(self) -> bool:
        """Whether a reply or an error has been delivered."""
        return self._value is not _NO_RESULT or self._exc is not None
