"""The outbox: where an SMS that could not be sent now waits, durably, for its retries.

`SmsOutbox` is the one method the notification service needs (`put`);
`TaskQueueOutbox` implements it on the durable task queue, so a queued SMS
survives a crash and the store is chosen by one argument (memory, SQLite,
Redis). Retry timing is the queue's: its `RetryPolicy` (exponential backoff,
full jitter) raised to whatever floor the delivery reports with `RetryAfter`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from actors.core import CorruptData, validate as check
from actors.retry import RetryPolicy
from actors.sms._errors import OutboxUnavailable, SmsError
from actors.sms._message import SmsMessage
from actors.supervision import ActorSystem
from actors.taskqueue import (
    QueueMetrics,
    QueueSpec,
    Task,
    TaskQueueService,
    TaskStore,
    TaskStoreError,
)

SMS_RETRY_POLICY = RetryPolicy(max_attempts=None, base_delay=1.0, max_delay=60.0,
                               multiplier=2.0, jitter="full")
"""The outbox backoff we recommend: 1 s doubling to 60 s, full jitter, never giving up.

Give it to the store: `TaskQueueConfig(retry=SMS_RETRY_POLICY, ...)`. A cap
of a minute keeps the wait after a long outage short (the breaker, not the
backoff, protects the provider then), and an SMS is never dead-lettered for
running out of attempts.
"""


@runtime_checkable
class SmsOutbox(Protocol):
    """Somewhere to keep an SMS until it can be sent; it must survive what the caller doesn't."""

    def put(self, message: SmsMessage, not_before: float) -> None:
        """Keep `message` and deliver it no earlier than `not_before` (a `time.time()` value).

        Returns once the message is safe; raises `OutboxUnavailable` if it is not.
        """


DeliverQueued = Callable[[SmsMessage, Task], None]
"""Sends a queued SMS: returns when delivered; raises `RetryAfter` or a failure to retry,
`PermanentDeliveryError` to give up."""


class TaskQueueOutbox:
    """An `SmsOutbox` on the durable task queue: one queue, a pool of delivering workers.

    Example:
        >>> import threading, time
        >>> from actors.sms import SmsMessage
        >>> from actors.backends import MemoryTaskStore
        >>> from actors.supervision import ActorSystem
        >>> delivered = threading.Event()
        >>> def deliver(message, task):
        ...     delivered.set()
        >>> with ActorSystem() as system:
        ...     outbox = TaskQueueOutbox.start(system, MemoryTaskStore(), deliver)
        ...     outbox.put(SmsMessage("+15551234567", "hi", "k-1"), time.time())
        ...     delivered.wait(5.0)
        True
    """

    def __init__(self, tasks: TaskQueueService, queue: str) -> None:
        self.tasks = tasks
        self.queue = queue

    @classmethod
    def start(cls, system: ActorSystem, store: TaskStore, deliver: DeliverQueued, *,
              queue: str = "sms", name: str = "sms-outbox", workers: int = 2,
              batch_size: int = 10, poll_interval: float = 0.2) -> TaskQueueOutbox:
        """Start the queue's workers in `system`; each due SMS is handed to `deliver`.

        Keep `batch_size` times the slowest delivery under the store's
        `visibility_timeout`, or a batch's lease expires mid-way and another
        worker sends its SMS concurrently (the idempotency key still makes it
        one text, but the provider sees two requests).
        """
        check.callable_("deliver", deliver, "a function (SmsMessage, Task) -> None")
        spec = QueueSpec(queue, "unset", workers=workers, batch_size=batch_size,
                         poll_interval=poll_interval)  # checks them before anything starts

        def deliver_task(task: Task) -> None:
            try:
                message = SmsMessage.from_payload(task.payload)
            except SmsError as exc:  # not an SMS we queued: dead-lettered, never retried
                raise CorruptData(f"is not a queued SMS: {exc}") from exc
            deliver(message, task)

        tasks = TaskQueueService.start(
            system, store, [dataclasses.replace(spec, deliver=deliver_task)], name=name)
        return cls(tasks, queue)

    def put(self, message: SmsMessage, not_before: float) -> None:
        """Persist `message`, due at `not_before`; returns once committed."""
        try:
            self.tasks.enqueue(self.queue, message.as_payload(), at=not_before)
        except TaskStoreError as exc:
            raise OutboxUnavailable(exc) from exc

    @property
    def retry_policy(self) -> RetryPolicy:
        """The backoff between deliveries: the store's `TaskQueueConfig.retry`."""
        return self.tasks.store.config.retry

    def metrics(self) -> QueueMetrics:
        """Depth, delayed, in flight, dead-lettered, and the workers' counters."""
        return self.tasks.metrics(self.queue)

    def wait_until_drained(self, timeout: float) -> bool:
        """Wait until no SMS is due, delayed or in flight; `False` after `timeout` seconds."""
        return self.tasks.wait_until_drained(self.queue, timeout)

    def stop(self, timeout: float | None = None) -> None:
        """Stop the workers; queued SMS stay in the store for the next start."""
        self.tasks.stop(timeout)
