"""Errors of the Redis backends."""

from __future__ import annotations

from actors.taskqueue import TaskStoreError


class RedisUnavailable(TaskStoreError):
    """Redis could not be reached, or did not answer in time, after the configured retries.

    If the connection dropped after the command was sent, it may or may not have
    run: an enqueue may then be stored once or, if you retry, twice. Delivery is
    at-least-once anyway, so make destinations idempotent (see docs/scaling.md).
    """

    def __init__(self, operation: str, url: str, cause: BaseException) -> None:
        super().__init__(operation, cause)
        self.url = url
        self.args = (
            f"Redis at {_safe(url)} is unavailable during {operation}: {cause}; the call may or "
            "may not have taken effect; retry it (deliveries are at-least-once), and check that "
            "redis-server is running and reachable",
        )

    def __str__(self) -> str:
        return str(self.args[0])


def _safe(url: str) -> str:
    """The URL without a password."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.split('@', 1)[1]}"
