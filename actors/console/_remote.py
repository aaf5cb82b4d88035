"""A console over what a Redis backend holds, for a system running in another process."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from actors.backends import Backend, open_backend
from actors.console._model import Console
from actors.core import ConfigError, validate as check

#: The most keys one discovery scan looks at (a console is not a migration tool).
MAX_SCANNED = 100_000
# A queue of a RedisTaskStore has a stream of priority 0 under one of these names (its
# key layout 2, and layout 1 until a store migrates the queue on its first use).
QUEUE_KEY_TAILS = (":p0", ":s0")


def store_console(url: str, *, prefix: str | None = None,
                  title: str = "stanchion") -> tuple[Console, Backend]:
    """A console reading the saga log and task stores at `url` (`redis://host:port/db`).

    `prefix` is the backend's key prefix (`open_backend(url, prefix=...)`); when
    `None` it is found in the keys, which must then hold exactly one system's.
    Returns the console and the backend (close it when done). Breakers, the
    supervision tree and the runtime's dead letters live in the running
    process: this console does not show them.
    """
    check.url("url", url, schemes=("redis", "rediss"))
    check.optional(check.name, "prefix", prefix, max_length=64)
    import redis  # noqa: PLC0415 - the redis extra
    import redis.exceptions  # noqa: PLC0415

    client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5.0,
                                  socket_connect_timeout=5.0)
    try:
        keys = [*(key for tail in QUEUE_KEY_TAILS for key in _scan(client, f"*:tq:*{tail}")),
                *_scan(client, "*:saga:state")]
    except redis.exceptions.RedisError as exc:
        raise ConfigError("url", url, f"a Redis that answers ({exc})") from exc
    finally:
        client.close()
    if prefix is None:
        found = sorted({p for p in map(_prefix_of, keys) if p is not None})
        if len(found) > 1:
            raise ConfigError("prefix", None, f"one of the prefixes found: {found[:20]}")
        prefix = found[0] if found else "stanchion"
    check.name("prefix", prefix, max_length=64)
    backend = open_backend(url, prefix=prefix)
    console = Console(title=title)
    console.watch(backend.saga_log())
    pattern = re.compile(re.escape(prefix) + r"-([A-Za-z0-9][A-Za-z0-9_.-]{0,63}):tq:.+:[ps]0")
    stores = sorted({m.group(1) for key in keys if (m := pattern.fullmatch(key))})
    for name in stores:
        store = backend.task_store(name)
        console.watch_store(name, store, _lister(store, f"{prefix}-{name}"))
    return console, backend


def _prefix_of(key: str) -> str | None:
    if key.endswith(":saga:state"):
        return key[: -len(":saga:state")]
    head = key.split(":tq:", 1)[0]
    prefix, dash, _store = head.rpartition("-")
    return prefix if dash else None


def _scan(client: object, pattern: str) -> list[str]:
    found: list[str] = []
    for key in client.scan_iter(match=pattern, count=1000):  # type: ignore[attr-defined]
        found.append(str(key))
        if len(found) >= MAX_SCANNED:
            break
    return found


def _lister(store: Any, store_prefix: str) -> Callable[[], Sequence[str]]:
    """The queues of one `RedisTaskStore`, found again on each read (a new queue shows up).

    Through the store's own client (closed with the backend) and its error
    translation: Redis gone is a `RedisUnavailable`, as for any store call.
    """
    head = f"{store_prefix}:tq:"

    def queues() -> Sequence[str]:
        keys: list[str] = store.call("list queues", lambda: [
            key for tail in QUEUE_KEY_TAILS
            for key in _scan(store.client, f"{glob_escape(head)}*{tail}")])
        return sorted({key[len(head):].rpartition(":")[0] for key in keys})

    return queues


def glob_escape(text: str) -> str:
    """`text` with Redis glob characters escaped, to match it literally."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)
