"""Errors of the Redis backends."""

from __future__ import annotations

from actors.backends._url import without_password
from actors.taskqueue.storage import TaskStoreError


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
            f"Redis at {without_password(url)} is unavailable during {operation}: {cause}; the "
            "call may or may not have taken effect; retry it (deliveries are at-least-once), "
            "and check that redis-server is running and reachable",
        )

    def __str__(self) -> str:
        return str(self.args[0])

