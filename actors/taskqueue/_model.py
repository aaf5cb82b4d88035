"""The task queue's data: tasks, leases, statistics and the validated configuration."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

from actors.core import ConfigError, codec, context, validate as check
from actors.retry import RetryPolicy
from actors.taskqueue._errors import PayloadNotSerializable

Synchronous = Literal["NORMAL", "FULL"]

#: Priorities a task may have; higher is claimed first. A small fixed range maps
#: onto one index range per level in SQLite and one stream per level in Redis.
PRIORITIES = range(10)
_LOWEST, _HIGHEST = PRIORITIES[0], PRIORITIES[-1]


def encode_payload(payload: Any) -> str:
    """Encode a payload as compact JSON, refusing anything that would not round-trip.

    The one codec of every durable store (`actors.core._codec`): `json.dumps` alone
    would turn tuples into lists and int keys into strings, so the payload a
    worker receives would differ from the one enqueued; this refuses those,
    and anything nested deeper than 100 levels or larger than 4 MiB encoded,
    naming where the offending value is.

    Example:
        >>> encode_payload({"user_id": "u-1", "version": 3})
        '{"user_id":"u-1","version":3}'
        >>> encode_payload({"seen": {1, 2}})
        Traceback (most recent call last):
        ...
        actors.taskqueue._errors.PayloadNotSerializable: task payload is not JSON: $.seen ...
    """
    return codec.encode(payload, error=PayloadNotSerializable)


@dataclass(frozen=True, slots=True)
class NewTask:
    """A task to enqueue; the payload is checked and encoded on construction.

    Args:
        queue: the queue's name, typically one per destination ("profile->billing"):
            printable, at most 200 characters (`actors.core._validate.name`).
        payload: plain JSON data (see `encode_payload`).
        not_before: wall-clock time (`time.time()`) before which it is not handed
            out; `None` means as soon as it is enqueued.
        priority: 0 (default, lowest) to 9; higher priorities are claimed first.
        trace: the W3C `traceparent` of the span that enqueued it, stored with the
            task so its delivery joins the same trace (filled in from the current
            span when tracing is on; see docs/observability.md).

    Example:
        >>> NewTask("profile->billing", {"user_id": "u-1", "version": 3}).payload_json
        '{"user_id":"u-1","version":3}'
    """

    queue: str
    payload: Any
    not_before: float | None = None
    priority: int = 0
    trace: str | None = field(default=None, repr=False)
    payload_json: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Checked inline where it is cheap: this runs once per task enqueued.
        check.name("queue", self.queue)  # a known name is one set lookup
        if type(self.priority) is not int or not _LOWEST <= self.priority <= _HIGHEST:
            raise ConfigError("priority", self.priority,
                              f"an integer from {_LOWEST} to {_HIGHEST}")
        if self.not_before is not None and not check.is_finite_number(self.not_before):
            raise ConfigError("not_before", self.not_before,
                              "a finite time.time() value, or None")
        object.__setattr__(self, "payload_json", encode_payload(self.payload))
        if self.trace is not None and not context.is_traceparent(self.trace):
            raise ConfigError("trace", self.trace, "a W3C traceparent "
                              "('00-<32 hex>-<16 hex>-<2 hex>'), or None")
        if self.trace is None and context.tracer is not None:
            object.__setattr__(self, "trace", context.tracer.carrier())

    @classmethod
    def _encoded(cls, queue: str, payload: Any, payload_json: str,
                 not_before: float | None = None, priority: int = 0) -> NewTask:
        """A task whose payload the caller already encoded with `actors.core._codec.encode`.

        For stanchion's own stores that wrap user data in an envelope (the
        durable bus): they check the user's data at the door and encode the
        envelope once, however many queues it goes to.
        """
        task = object.__new__(cls)
        for attribute, value in (("queue", queue), ("payload", payload),
                                 ("not_before", not_before), ("priority", priority),
                                 ("payload_json", payload_json)):
            object.__setattr__(task, attribute, value)
        tracer = context.tracer
        object.__setattr__(task, "trace", None if tracer is None else tracer.carrier())
        check.name("queue", queue)
        return task


@dataclass(frozen=True, slots=True)
class Task:
    """A task as stored: its payload and its delivery history.

    `attempts` counts the claims made so far (including the current one when
    the task comes from `claim`); `not_before` is the time it became or becomes
    due; `last_error` is the error of the latest failed attempt.
    """

    id: str
    queue: str
    payload: Any
    attempts: int
    not_before: float
    priority: int
    enqueued_at: float
    last_error: str | None = None
    trace: str | None = None
    """The W3C `traceparent` stored with the task (None if it was enqueued untraced)."""


@dataclass(frozen=True, slots=True)
class Lease:
    """Proof that a worker holds a claimed task until `expires_at`.

    Only the current lease can ack, retry or dead-letter the task: once the
    lease expires and another worker claims the task, the old lease's `token`
    no longer matches and those calls return False.
    """

    task_id: str
    token: str
    worker_id: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class ClaimedTask:
    """A task handed to a worker, with the lease to ack or fail it with."""

    task: Task
    lease: Lease


@dataclass(frozen=True, slots=True)
class DeadLetteredTask:
    """A task taken out of circulation, kept until it is replayed.

    `reason` is `max_attempts` (its retry budget ran out), `corrupt` (its stored
    payload could not be decoded; `payload` is then `None` and `raw_payload`
    holds what was stored), or the reason given to `dead_letter` (e.g. `rejected`).
    `task.last_error` is the error that sent it there.
    """

    task: Task
    reason: str
    dead_lettered_at: float
    raw_payload: str


@dataclass(frozen=True, slots=True)
class QueueStats:
    """A queue's metrics at one instant.

    Attributes:
        depth: tasks claimable now (due, and not leased or with an expired lease).
        in_flight: tasks leased to a worker whose lease has not expired.
        delayed: tasks waiting for their `not_before` (delayed or backing off).
        dead_lettered: tasks in the dead-letter queue.
        oldest_age_s: seconds since the oldest not-yet-done task was enqueued
            (delayed and in-flight tasks included; 0.0 when there is none). For
            eventual consistency this is the staleness bound to alert on.
    """

    depth: int
    in_flight: int
    delayed: int
    dead_lettered: int
    oldest_age_s: float


def _default_retry() -> RetryPolicy:
    return RetryPolicy(max_attempts=None, base_delay=1.0, max_delay=300.0, jitter="full")


@dataclass(frozen=True, slots=True)
class TaskQueueConfig:
    """How the task queue stores, leases and retries tasks.

    Args:
        visibility_timeout: seconds a claimed task stays leased (finite, > 0);
            if the worker has not acked or failed it by then (it died, or
            hangs), the task is handed out again. Set it well above the
            slowest delivery.
        retry: backoff between attempts; the default retries forever
            (`max_attempts=None`), 1 s doubling up to 5 min, full jitter. With a
            `max_attempts`, a task that used them all goes to the dead-letter queue.
        max_claim_batch: the most tasks one `claim` may return (1 to 10,000).
        max_group_commit: the most store calls coalesced into one SQLite
            transaction (1 to 10,000).
        sqlite_path: the SQLite database file (created if missing).
        synchronous: "NORMAL" (default) commits to the write-ahead log without
            waiting for the disk: a committed task survives a crash of the process,
            even SIGKILL, but the last commits can be lost on power loss or an OS
            crash. "FULL" waits for the disk on every commit and survives those too,
            at a lower write rate (see docs/taskqueue.md for the figures).
        busy_timeout: seconds to wait for another process holding the database's
            write lock before a call fails (> 0, at most 3600).
        sqlite_page_size: the page size of a database file this store creates,
            a power of two from 512 to 65536 (default 4096, SQLite's). A file
            that exists keeps the size it was made with. 1024 makes a one-task
            commit about a third cheaper when payloads are small (a few hundred
            bytes), but claims of payloads over 1 KB much slower (overflow
            pages): see docs/taskqueue.md.
        write_timeout: seconds a call waits for its commit before raising
            `TaskStoreTimeout` (finite, > 0).

    Durations are at most ten years unless said otherwise.

    Example:
        >>> config = TaskQueueConfig(visibility_timeout=60.0, synchronous="FULL")
        >>> config.retry.max_attempts is None
        True
        >>> TaskQueueConfig(synchronous="OFF")
        Traceback (most recent call last):
        ...
        actors.ConfigError: synchronous='OFF' is invalid: expected 'NORMAL' or 'FULL'
    """

    visibility_timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=_default_retry)
    max_claim_batch: int = 1000
    max_group_commit: int = 256
    sqlite_path: str | Path = "stanchion-tasks.sqlite3"
    synchronous: Synchronous = "NORMAL"
    busy_timeout: float = 5.0
    write_timeout: float = 30.0
    sqlite_page_size: int = 4096

    def __post_init__(self) -> None:
        check.seconds("visibility_timeout", self.visibility_timeout)
        check.instance("retry", self.retry, RetryPolicy, "an actors.retry.RetryPolicy")
        check.integer("max_claim_batch", self.max_claim_batch, minimum=1, maximum=10_000)
        check.integer("max_group_commit", self.max_group_commit, minimum=1, maximum=10_000)
        check.path("sqlite_path", self.sqlite_path)
        if not (isinstance(self.synchronous, str) and self.synchronous in ("NORMAL", "FULL")):
            raise ConfigError("synchronous", self.synchronous, "'NORMAL' or 'FULL'")
        # SQLite's busy timeout is an int of milliseconds: an hour is plenty.
        check.seconds("busy_timeout", self.busy_timeout, maximum=3600.0)
        check.seconds("write_timeout", self.write_timeout)
        size = self.sqlite_page_size
        if not (type(size) is int and 512 <= size <= 65536 and size & (size - 1) == 0):
            raise ConfigError("sqlite_page_size", size,
                              "a power of two from 512 to 65536 (SQLite's default: 4096)")


def store_config(config: object) -> TaskQueueConfig:
    """A store's configuration: `config`, or the defaults for `None`."""
    if config is None:
        return TaskQueueConfig()
    return check.instance("config", config, TaskQueueConfig,
                          "an actors.taskqueue.TaskQueueConfig, or None for the defaults")


def queue_name(queue: object) -> str:
    """`queue` if it is a name a queue can have (`ConfigError` naming it if not).

    Stores check it at every door that takes a queue (claim, stats, dead letters):
    a name no enqueue could have made is a caller's mistake, not an empty queue.
    """
    return check.name("queue", queue)


def claim_request(queue: object, worker_id: object, limit: object, now: object,
                  max_claim_batch: int) -> tuple[str, str, int, float]:
    """A claim's arguments as every store checks them at its door (`ConfigError` if not).

    `queue` a queue name, `worker_id` any text (returned storable: lone
    surrogates escaped), `limit` an int from 1 to `max_claim_batch`, `now` a
    finite time (an infinite one would lease tasks for ever).
    """
    if type(worker_id) is not str:
        raise ConfigError("worker_id", worker_id, "a string")
    if type(limit) is not int or not 1 <= limit <= max_claim_batch:
        raise ConfigError("limit", limit,
                          f"an integer from 1 to max_claim_batch ({max_claim_batch})")
    return queue_name(queue), codec.storable_text(worker_id), limit, store_time("now", now)


def store_time(name: str, value: object) -> float:
    """A time a store is handed (`now`, `not_before`), as a float (`ConfigError` naming it
    unless it is a finite number): a NaN would make a task never due, inf never or for
    ever, and a string would stop every later claim of an in-memory queue."""
    if type(value) is float and math.isfinite(value):  # every call from a TaskQueue
        return value
    if not check.is_finite_number(value):
        raise ConfigError(name, value, "a finite time.time() value")
    return float(value)  # type: ignore[arg-type]


def new_tasks(tasks: object) -> list[NewTask]:
    """`tasks` as a list, if each is a `NewTask` (`ConfigError` naming the first that is
    not): what a store's `enqueue_many` takes."""
    if type(tasks) is not list and (not isinstance(tasks, Iterable)
                                    or isinstance(tasks, str | bytes | dict)):
        raise ConfigError("tasks", tasks, "a sequence of NewTask")
    checked: list[NewTask] = []
    for task in tasks:
        if type(task) is not NewTask:
            raise ConfigError("tasks", task, "NewTask objects")
        checked.append(task)
    return checked


@overload
def store_text(name: str, value: object) -> str: ...
@overload
def store_text(name: str, value: object, *, optional: Literal[True]) -> str | None: ...
def store_text(name: str, value: object, *, optional: bool = False) -> str | None:
    """`value` if it is text (or None, when `optional`): a failure's error or reason as a
    store's retry and dead-letter doors take it (`ConfigError` naming it if not)."""
    if type(value) is str or (optional and value is None):
        return value
    raise ConfigError(name, value, "a string, or None" if optional else "a string")


MAX_LISTING = 100_000


def listing_limit(limit: object) -> int:
    """How many dead letters a listing may return: an int from 0 to 100,000 (`ConfigError`
    if not: a bool, a float or a huge int failed inside the storage, and each store read
    a negative one its own way)."""
    if type(limit) is not int or not 0 <= limit <= MAX_LISTING:
        raise ConfigError("limit", limit, f"an integer from 0 to {MAX_LISTING:,}")
    return limit


def task_number(task_id: str) -> int | None:
    """The number a store's task id stands for (every store counts its ids in decimal),
    or None for text no store could have made (then the task is simply not found)."""
    return int(task_id) if task_id.isascii() and task_id.isdigit() else None


def lease_task_number(lease: Lease) -> int | None:
    """The task number `lease` names, or None for a lease no claim could have made (an id
    not in a store's decimal form, a token that is not storable text): it holds nothing."""
    if not lease.token.isascii() and codec.text_is_unstorable(lease.token):
        return None
    return task_number(lease.task_id)


def task_id_text(task_id: object) -> str:
    """`task_id` if it is text (`ConfigError` if not); an id the store never made is
    then simply not found."""
    if type(task_id) is not str:
        raise ConfigError("task_id", task_id, "a task id (a string) returned by enqueue")
    return task_id


def checked_leases(leases: Iterable[object]) -> list[Lease]:
    """`leases` if each is a `Lease` as a claim made it (`ConfigError` naming the first
    that is not): what a store's ack, retry and dead-letter doors take."""
    checked = list(leases)
    for lease in checked:
        if (type(lease) is not Lease or type(lease.task_id) is not str
                or type(lease.token) is not str):
            raise ConfigError("lease", lease, "a Lease returned by this store's claim")
    return checked  # type: ignore[return-value]


def decode_payload(raw: object) -> Any:
    """Decode a stored payload; `CorruptData` (a `ValueError`) if it cannot be, whatever it is."""
    return codec.decode(raw)


describe_raw = codec.describe_raw
