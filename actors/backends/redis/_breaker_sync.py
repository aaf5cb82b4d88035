"""`RedisBreakerSync`: breaker transitions shared between processes over Redis pub/sub."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Iterable

import redis.exceptions

from actors.backends.redis._client import connect
from actors.breaker import BreakerSync, BreakerSyncConfig, BreakerSyncMetrics, CircuitBreaker
from actors.core import validate as check

_RECONNECT_S = (0.05, 2.0)  # first and longest wait between attempts to reach Redis


class RedisBreakerSync:
    """Publishes the local breakers' transitions on a Redis channel and applies the others'.

    A transition is queued and published by a thread of this object, never on
    the caller's thread; a second thread subscribes and applies what other
    processes send (see `BreakerSync` for the rules). When Redis is down each
    process simply decides alone (logged once as `breaker.sync_unavailable`,
    then `breaker.sync_restored`); transitions that happened meanwhile are not
    replayed. Call `stop()` (or use it as a context manager) to end both threads.

    Args:
        url: e.g. `redis://127.0.0.1:6379/0`.
        breakers: the breakers to share, by name (the same names in every process).
        config: a `BreakerSyncConfig` (grace, channel).
        origin: this process's id in messages; default pid and a random suffix.
        socket_timeout: seconds before a Redis call is abandoned.
    """

    def __init__(self, url: str, breakers: Iterable[CircuitBreaker], *,
                 config: BreakerSyncConfig | None = None, origin: str | None = None,
                 socket_timeout: float = 1.0) -> None:
        check.seconds("socket_timeout", socket_timeout, maximum=60.0)
        self.url = url
        self._client = connect(url, socket_timeout=socket_timeout, retries=0)
        self._queue: queue.Queue[str] = queue.Queue(maxsize=1000)
        self.sync = BreakerSync(breakers, self._enqueue, config=config, origin=origin)
        self.channel = self.sync.config.channel
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._threads = [
            threading.Thread(target=self._publish_loop, name="breaker-sync-publish",
                             daemon=True),
            threading.Thread(target=self._subscribe_loop, name="breaker-sync-subscribe",
                             daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def __enter__(self) -> RedisBreakerSync:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_subscribed(self, timeout: float) -> bool:
        """Wait until the subscription is in place (messages sent from then on arrive)."""
        return self._subscribed.wait(timeout)

    def metrics(self) -> BreakerSyncMetrics:
        """The sync's counters (sent, received, applied...) and whether Redis is reachable."""
        return self.sync.metrics()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop both threads and close the connection; the breakers carry on alone."""
        self._stop.set()
        self.sync.close()
        for thread in self._threads:
            thread.join(timeout)
        self._client.close()

    def _enqueue(self, message: str) -> None:
        self._queue.put_nowait(message)  # queue.Full: counted as a failed send

    def _publish_loop(self) -> None:
        interval = self.sync.config.window_interval
        next_windows = time.monotonic()
        while not self._stop.is_set():
            try:
                messages = [self._queue.get(timeout=max(0.0, next_windows - time.monotonic()))]
            except queue.Empty:
                messages = []
            if time.monotonic() >= next_windows:
                messages += self.sync.window_messages()
                next_windows = time.monotonic() + interval
            for message in messages:
                try:
                    self._client.publish(self.channel, message)
                except redis.exceptions.RedisError as exc:
                    self.sync.transport_failed(exc)  # dropped: each process decides alone now
                    break
                self.sync.transport_restored()

    def _subscribe_loop(self) -> None:
        wait = _RECONNECT_S[0]
        while not self._stop.is_set():
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
            try:
                pubsub.subscribe(self.channel)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.1)
                    if message is None:
                        if not self._subscribed.is_set() and pubsub.subscribed:
                            self._subscribed.set()
                            self.sync.transport_restored()
                            wait = _RECONNECT_S[0]
                        continue
                    if message.get("type") == "message":
                        self.sync.receive(message["data"])
            except (redis.exceptions.RedisError, OSError) as exc:
                self._subscribed.clear()
                self.sync.transport_failed(exc)
                self._stop.wait(wait)
                wait = min(_RECONNECT_S[1], wait * 2)
            finally:
                with contextlib.suppress(Exception):
                    pubsub.close()
