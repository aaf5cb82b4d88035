"""The console's errors: each maps to one HTTP status with its message as the body."""

from __future__ import annotations

from actors.core import StanchionError


class ConsoleNotInstalled(StanchionError, ImportError):
    """The console needs the `console` extra (Starlette, uvicorn, Jinja2)."""

    def __init__(self, missing: str) -> None:
        self.missing = missing
        super().__init__(f"the operator console needs the {missing!r} package, which is not "
                         "installed: pip install 'stanchion[console]'")


class NotFound(StanchionError):
    """What a console request names (a saga, a breaker, a dead letter...) is not there (404)."""

    def __init__(self, kind: str, key: str, detail: str = "") -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"no {kind} {key!r}" + (f": {detail}" if detail else ""))


class ActionRefused(StanchionError):
    """A state-changing request that may not run: no or wrong token (401), read-only (403)."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(reason)


class ActionUnavailable(StanchionError):
    """The action exists but not for this target or in this mode (409), e.g. retrying a
    saga from a console that only reads the store."""
