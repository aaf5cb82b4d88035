"""`Backend`: one storage, chosen by URL, for the task stores, the saga log and the bus groups."""

from __future__ import annotations

import dataclasses
import re
import threading
from pathlib import Path
from types import TracebackType
from typing import Literal

from actors.backends._url import without_password
from actors.backends.memory import MemorySagaLog, MemoryTaskStore
from actors.backends.sqlite import SqliteSagaLog, SqliteTaskStore
from actors.bus.storage import GroupRegistry
from actors.core import ConfigError, StanchionError, validate as check
from actors.saga.storage import SagaLog
from actors.taskqueue.storage import TaskQueueConfig, TaskStore

Kind = Literal["memory", "sqlite", "redis"]

_URLS = "memory://, sqlite:///path/to/dir or redis://host:port/db"
# A store's name becomes a file name (SQLite) or part of a key prefix (Redis).
_STORE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class BackendNotInstalled(StanchionError):
    """The backend a URL asks for needs a package that is not installed (an extra)."""

    def __init__(self, kind: str, extra: str) -> None:
        self.kind = kind
        self.extra = extra
        super().__init__(f"the {kind} backend needs the {extra!r} package, which is not "
                         f"installed: pip install 'stanchion[{extra}]'")


class Backend:
    """Where one system's durable state lives: task stores, the saga log, durable bus groups.

    Open one with `open_backend(url)`; everything it opens is closed by
    `close()` (or on leaving `with`). Each named task store is opened once and
    handed out again; its durable bus groups live beside its tasks
    (`group_registry(name)`, which the bus also finds by itself from the store).

    Where things go, by URL:

    - `memory://`: in this process, lost on exit.
    - `sqlite:///path/to/dir`: a directory (created if missing) holding
      `<name>.sqlite3` per task store and `sagas.sqlite3`. As in SQLAlchemy,
      `sqlite:///rel/dir` is relative to the working directory and
      `sqlite:////abs/dir` is absolute.
    - `redis://host:port/db` (or `rediss://`): keys under `<prefix>-<name>` per
      task store and `<prefix>` for the saga log. Needs `stanchion[redis]`.

    Example:
        >>> from actors.backends import open_backend
        >>> from actors.taskqueue import TaskQueue
        >>> with open_backend("memory://") as backend:
        ...     tasks = TaskQueue(backend.task_store("orders"))
        ...     _ = tasks.enqueue("billing", {"order_id": "o-1"})
        ...     tasks.stats("billing").depth, backend.kind
        (1, 'memory')
    """

    def __init__(self, url: str, kind: Kind, *, directory: Path | None = None,
                 prefix: str = "stanchion") -> None:
        self.url = url
        self.kind: Kind = kind
        self.directory = directory
        self.prefix = prefix
        self._stores: dict[str, tuple[TaskStore, TaskQueueConfig | None]] = {}
        self._saga_log: SagaLog | None = None
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"Backend({self.kind}, {without_password(self.url)!r})"

    def task_store(self, name: str = "tasks", config: TaskQueueConfig | None = None) -> TaskStore:
        """The task store called `name` (opened on first use; the same one afterwards).

        `config` applies when the store is opened (for SQLite its `sqlite_path`
        is the backend's `<name>.sqlite3`); asking again for `name` with another
        config is a `ConfigError`.
        """
        if not (isinstance(name, str) and _STORE_NAME.fullmatch(name)):
            raise ConfigError("name", name, "a store name of 1 to 64 letters, digits, '_', "
                                            "'.' or '-', starting with a letter or digit")
        check.optional(check.instance, "config", config, kind=TaskQueueConfig,
                       what="an actors.taskqueue.TaskQueueConfig")
        with self._lock:
            self._check_open()
            found = self._stores.get(name)
            if found is not None:
                if config is not None and config != found[1]:
                    raise ConfigError("config", config, f"the config task store {name!r} was "
                                                        "opened with (or None)")
                return found[0]
            store = self._open_store(name, config)
            self._stores[name] = (store, config)
            return store

    def group_registry(self, name: str = "tasks") -> GroupRegistry:
        """The durable bus groups kept beside the task store `name`."""
        registry: GroupRegistry = self.task_store(name).group_registry()  # type: ignore[attr-defined]
        return registry

    def saga_log(self) -> SagaLog:
        """The saga log (opened on first use; the same one afterwards)."""
        with self._lock:
            self._check_open()
            if self._saga_log is None:
                self._saga_log = self._open_saga_log()
            return self._saga_log

    def close(self) -> None:
        """Close every store and the saga log this backend opened; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            opened: list[TaskStore | SagaLog] = [store for store, _ in self._stores.values()]
            if self._saga_log is not None:
                opened.append(self._saga_log)
        for each in reversed(opened):
            each.close()

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- per kind ----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigError("backend", self, "an open backend (this one was closed)")

    def _open_store(self, name: str, config: TaskQueueConfig | None) -> TaskStore:
        if self.kind == "memory":
            return MemoryTaskStore(config)
        if self.kind == "sqlite":
            assert self.directory is not None
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{name}.sqlite3"
            return SqliteTaskStore(dataclasses.replace(config or TaskQueueConfig(),
                                                       sqlite_path=path))
        from actors.backends.redis import RedisTaskStore  # noqa: PLC0415 - optional extra

        return RedisTaskStore(self.url, config, prefix=f"{self.prefix}-{name}")

    def _open_saga_log(self) -> SagaLog:
        if self.kind == "memory":
            return MemorySagaLog()
        if self.kind == "sqlite":
            assert self.directory is not None
            self.directory.mkdir(parents=True, exist_ok=True)
            return SqliteSagaLog(self.directory / "sagas.sqlite3")
        from actors.backends.redis import RedisSagaLog  # noqa: PLC0415 - optional extra

        return RedisSagaLog(self.url, prefix=self.prefix)


def open_backend(url: str, *, prefix: str = "stanchion") -> Backend:
    """The backend at `url`: `memory://`, `sqlite:///path/to/dir` or `redis://host:port/db`.

    Nothing is opened until a store or the log is asked for, except that a
    Redis URL checks the `redis` package is installed (`BackendNotInstalled`
    otherwise). `prefix` (Redis only) keeps several systems apart in one Redis.
    A URL that is none of these is a `ConfigError` naming the forms accepted.

    Example:
        >>> open_backend("sqlite:///stanchion-data").directory
        PosixPath('stanchion-data')
        >>> open_backend("postgres://db/1")
        Traceback (most recent call last):
        ...
        actors.ConfigError: url='postgres://db/1' is invalid: expected memory://, \
sqlite:///path/to/dir or redis://host:port/db
    """
    if not isinstance(url, str):
        raise ConfigError("url", url, _URLS)
    scheme, separator, rest = url.partition("://")
    if not separator:
        raise ConfigError("url", url, _URLS)
    if scheme == "memory":
        if rest:
            raise ConfigError("url", url, "memory:// with nothing after it")
        return Backend(url, "memory")
    if scheme == "sqlite":
        problem = check.text_problem(rest)
        if not rest.startswith("/") or rest == "/" or problem is not None or "?" in rest:
            raise ConfigError("url", url, "sqlite:///relative/dir or sqlite:////absolute/dir "
                                          "(a directory, no query)")
        return Backend(url, "sqlite", directory=Path(check.path("url", rest[1:])))
    if scheme in ("redis", "rediss"):
        check.url("url", url, schemes=("redis", "rediss"))
        check.name("prefix", prefix, max_length=64)
        try:
            import redis  # noqa: F401, PLC0415 - only to say which extra is missing
        except ImportError:
            raise BackendNotInstalled("redis", "redis") from None
        return Backend(url, "redis", prefix=prefix)
    raise ConfigError("url", url, _URLS)

