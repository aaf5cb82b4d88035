"""The exception hierarchy: every error stanchion raises derives from `StanchionError`.

Each message says what happened and what the caller can do about it.
"""

from __future__ import annotations

import reprlib

import pykka

_short = reprlib.Repr()
_short.maxstring = 80
_short.maxother = 80
_short.maxlong = 40


def short_repr(value: object) -> str:
    """A bounded, never-failing repr for error messages (a 10 MB value stays one line)."""
    try:
        return _short.repr(value)
    except Exception:  # noqa: BLE001 - a hostile __repr__ must not hide the real error
        return f"<{type(value).__name__} object>"


class StanchionError(Exception):
    """Root of every error raised by stanchion."""


class ConfigError(StanchionError, ValueError):
    """A configuration value is out of range or of the wrong kind.

    Raised at construction time, naming the field and the accepted range, so a
    bad setting never reaches a running actor.
    """

    def __init__(self, field: str, value: object, expected: str) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(f"{field}={short_repr(value)} is invalid: expected {expected}")


def require(condition: bool, field: str, value: object, expected: str) -> None:
    """Raise `ConfigError(field, value, expected)` unless `condition` holds."""
    if not condition:
        raise ConfigError(field, value, expected)


class MailboxFull(StanchionError):
    """The service's bounded mailbox is full; the message was not accepted.

    Nothing was queued. Run your fallback, shed the request, or retry later:
    the service is saturated and waiting would only spread the overload.
    """

    def __init__(self, service: str, depth: int, capacity: int) -> None:
        self.service = service
        self.depth = depth
        self.capacity = capacity
        super().__init__(
            f"mailbox of {service!r} is full ({depth}/{capacity}): the message was rejected; "
            "run a fallback or retry later"
        )


class AskTimeout(StanchionError, pykka.Timeout):
    """No reply arrived within the call's timeout.

    The message may still be processed later; make the request idempotent if you
    retry it.
    """

    def __init__(self, service: str, timeout: float) -> None:
        self.service = service
        self.timeout = timeout
        super().__init__(
            f"{service!r} did not reply within {timeout:g}s; the request may still be "
            "processed, so retry only idempotent requests"
        )


class ServiceStopped(StanchionError, pykka.ActorDeadError):
    """The service is stopped (or its system is shut down) and accepts no messages."""

    def __init__(self, service: str, detail: str = "", hint: str = "") -> None:
        self.service = service
        suffix = f": {detail}" if detail else ""
        super().__init__(
            f"service {service!r} is stopped and accepts no messages{suffix}; "
            + (hint or "look the service up again from a running ActorSystem")
        )


class ServiceCrashed(StanchionError, pykka.ActorDeadError):
    """The service crashed while this request was waiting in its mailbox.

    The request was not processed. The supervisor is restarting the service; the
    request can be sent again.
    """

    def __init__(self, service: str, cause: BaseException | None) -> None:
        self.service = service
        self.cause = cause
        super().__init__(
            f"service {service!r} crashed ({cause!r}) before handling this request; "
            "it is being restarted, so send the request again"
        )


class UnhandledMessage(StanchionError):
    """The service has no handler for this plain message (it defines no `on_receive`).

    Raised to an asker; a told message is dead-lettered with reason `unhandled`.
    Define `on_receive` on the actor class, or call its methods through `proxy()`.
    """

    def __init__(self, service: str, actor_class: str, message: object) -> None:
        self.service = service
        self.actor_class = actor_class
        self.message_type = type(message).__name__
        super().__init__(
            f"service {service!r} ({actor_class}) has no handler for a {self.message_type} "
            "message: define on_receive on the actor class, or call its methods through "
            "proxy()"
        )


class UnknownService(StanchionError, LookupError):
    """No service of that name is registered in the actor system."""

    def __init__(self, name: str, known: list[str], hint: str = "") -> None:
        self.name = name
        self.known = known
        listing = ", ".join(sorted(known)) or "none"
        super().__init__(
            f"no service named {short_repr(name)} in this system (known: {listing}); "
            + (hint or "add a ChildSpec for it or check the spelling")
        )


class SystemNotRunning(StanchionError, RuntimeError):
    """The actor system is not running (not started yet, or already shut down)."""
