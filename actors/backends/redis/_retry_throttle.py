"""`RedisRetryThrottle`: one gRPC-style retry token count shared by processes, in batches."""

from __future__ import annotations

import threading

import redis.exceptions

from actors.backends.redis._client import connect
from actors.core import LibraryLogger, validate as check
from actors.retry import RetryThrottle, RetryThrottleConfig, RetryThrottleMetrics

_log = LibraryLogger("stanchion.retry")

# KEYS: the count. ARGV: delta, max_tokens. Starts full; clamped to [0, max].
_APPLY = """
local t = tonumber(redis.call('GET', KEYS[1]) or ARGV[2])
t = math.min(tonumber(ARGV[2]), math.max(0, t + tonumber(ARGV[1])))
redis.call('SET', KEYS[1], tostring(t))
return tostring(t)
"""


class RedisRetryThrottle:
    """A `RetryThrottle` whose token count lives in Redis, shared by every process.

    Calls (`record_success`, `record_failure`, `allow_retry`) are local: a
    short lock, no round trip. A thread of this object sends the local change
    every `flush_interval` seconds in one Lua step and takes back the shared
    count. When Redis is down, the process throttles on its own count
    (`retry.throttle_unavailable`, once; `retry.throttle_restored` after) and
    sends what it owes once Redis is back. `stop()` ends the thread.

    Args:
        url: e.g. `redis://127.0.0.1:6379/0`.
        name: the shared count's name (every process of one dependency uses the same).
        config: `RetryThrottleConfig` (the same in every process).
        flush_interval: seconds between batches, > 0 and at most 60; default 0.05.
        prefix: key prefix; default "stanchion".
    """

    def __init__(self, url: str, name: str, config: RetryThrottleConfig | None = None, *,
                 flush_interval: float = 0.05, prefix: str = "stanchion",
                 socket_timeout: float = 1.0) -> None:
        check.name("name", name)
        check.name("prefix", prefix)
        check.seconds("flush_interval", flush_interval, maximum=60.0)
        self.throttle = RetryThrottle(config)
        self.key = f"{prefix}:retry-throttle:{name}"
        self.flush_interval = flush_interval
        self._client = connect(url, socket_timeout=socket_timeout, retries=0)
        self._apply = self._client.register_script(_APPLY)
        self._stop = threading.Event()
        self._connected = True
        self._flushed = threading.Condition()
        self._flushes = 0
        self._thread = threading.Thread(target=self._loop, name=f"retry-throttle-{name}",
                                        daemon=True)
        self._thread.start()

    def __enter__(self) -> RedisRetryThrottle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def record_success(self) -> None:
        """A call succeeded (local; sent with the next batch)."""
        self.throttle.record_success()

    def record_failure(self) -> None:
        """A call failed (local; sent with the next batch)."""
        self.throttle.record_failure()

    def allow_retry(self) -> bool:
        """Whether a retry may be sent now, on the last shared count plus local changes."""
        return self.throttle.allow_retry()

    def metrics(self) -> RetryThrottleMetrics:
        """The throttle's counts as this process sees them."""
        return self.throttle.metrics()

    @property
    def connected(self) -> bool:
        """Whether the last batch reached Redis."""
        return self._connected

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait for the next batch to be sent (tests, shutdown); False on timeout or Redis down."""
        with self._flushed:
            seen = self._flushes
            done = self._flushed.wait_for(lambda: self._flushes > seen, timeout)
        return done and self._connected

    def stop(self, timeout: float = 5.0) -> None:
        """Send what is left (if Redis answers) and stop the thread."""
        self._stop.set()
        self._thread.join(timeout)
        self._client.close()

    def _loop(self) -> None:
        while True:
            stopping = self._stop.wait(self.flush_interval)
            self._send()
            if stopping:
                return

    def _send(self) -> None:
        delta = self.throttle.take_delta()
        try:
            shared = self._apply(keys=[self.key],
                                 args=[repr(delta), repr(self.throttle.config.max_tokens)])
        except redis.exceptions.RedisError as exc:
            self.throttle.give_back(delta)
            if self._connected:
                self._connected = False
                _log.warning("retry.throttle_unavailable", key=self.key, error=repr(exc),
                             decisions="local")
        else:
            self.throttle.set_shared(float(shared))
            if not self._connected:
                self._connected = True
                _log.info("retry.throttle_restored", key=self.key)
        with self._flushed:
            self._flushes += 1
            self._flushed.notify_all()
