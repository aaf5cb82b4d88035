"""The pooled Redis client every Redis backend opens the same way."""

from __future__ import annotations

import redis
import redis.exceptions
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from actors.core import require


def connect(url: str, *, socket_timeout: float, retries: int,
            single_connection: bool = False) -> redis.Redis:
    """A client with a connection pool, timeouts, and retries with backoff on a dropped link.

    `single_connection`: one connection of its own, taken at once (so this call
    connects), for a caller that makes one call at a time on a hot path: redis-py
    then skips the pool's hand-out and its readiness check (a `poll` system call)
    on every command.
    """
    require(isinstance(url, str) and url.startswith(("redis://", "rediss://", "unix://")),
            "url", url, "a redis://host:port/db URL")
    require(isinstance(retries, int) and retries >= 0, "retries", retries, "an integer >= 0")
    require(isinstance(socket_timeout, int | float) and socket_timeout > 0, "socket_timeout",
            socket_timeout, "seconds > 0")
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        encoding_errors="replace",  # a corrupt value is reported, not a crash
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries),
        retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError],
        health_check_interval=30,
        single_connection_client=single_connection,
    )
