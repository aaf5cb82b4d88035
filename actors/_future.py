"""A reply future that is cheap to create and always has a deadline.

Pykka's `ThreadingFuture` builds a `threading.Condition` per request; a single
pre-acquired lock is enough for a one-shot reply and costs a fraction of that.
`get()` without a timeout uses the service's default, so no caller waits
forever unless it asks to with `timeout=math.inf`.
"""

from __future__ import annotations

import math
import queue
import sys
import threading
from typing import Any, TypeVar

import pykka

from actors._errors import AskTimeout

T = TypeVar("T")

_NO_RESULT: Any = object()


class ReplyFuture(pykka.Future[T]):
    """The future returned by `ServiceRef.ask(..., block=False)` and by proxy calls."""

    def __init__(self, default_timeout: float | None = None, service: str = "") -> None:
        super().__init__()
        self._ready = threading.Lock()
        self._ready.acquire()
        self._value: Any = _NO_RESULT
        self._exc: BaseException | None = None
        self._default_timeout = default_timeout
        self._service = service

    def get(self, *, timeout: float | None = None) -> Any:
        """Wait for the reply; raise `AskTimeout` after `timeout` (default: the service's)."""
        if self._get_hook is not None:
            return super().get(timeout=timeout)
        if timeout is None:
            timeout = self._default_timeout
        if self._value is _NO_RESULT and self._exc is None:
            if timeout is None or math.isinf(timeout):
                acquired = self._ready.acquire()
            else:
                acquired = self._ready.acquire(timeout=max(0.0, timeout))
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

    def done(self) -> bool:
        """Whether a reply or an error has been delivered."""
        return self._value is not _NO_RESULT or self._exc is not None
