"""An incident for the console to show: a stuck saga, dead letters everywhere, a breaker.

While `switch.broken` is set, the stock ledger cannot release, the mail
service crashes, the bus subscriber and the queue's deliveries fail. The
scenario waits until each has produced its stuck or dead item, then the test
mends the switch and acts through the console.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack
from typing import Any

from actors import ServiceActor
from actors.backends import Backend, MemorySagaLog, MemoryTaskStore
from actors.breaker import BreakerGate
from actors.bus import EventBus, EventBusConfig
from actors.retry import RetryPolicy
from actors.saga import SagaCommand, SagaDefinition, Sagas, SagaStatus, SagaStep, StepRejected
from actors.supervision import ActorSystem, ChildSpec
from actors.taskqueue import QueueSpec, Task, TaskQueueConfig, TaskQueueService

FAST = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02)


class Switch:
    """Broken at first; `mend()` makes everything work again."""

    def __init__(self) -> None:
        self.broken = True
        self.mail: list[Any] = []
        self.events: list[Any] = []
        self.tasks: list[Any] = []
        self.delivered = threading.Condition()

    def mend(self) -> None:
        self.broken = False

    def got(self, where: list[Any], item: Any) -> None:
        if self.broken:
            raise RuntimeError("down for the incident")
        with self.delivered:
            where.append(item)
            self.delivered.notify_all()

    def wait(self, where: list[Any], count: int = 1, timeout: float = 10.0) -> bool:
        with self.delivered:
            return self.delivered.wait_for(lambda: len(where) >= count, timeout)


class Stock(ServiceActor):
    def __init__(self, switch: Switch) -> None:
        super().__init__()
        self.switch = switch

    def on_receive(self, message: Any) -> Any:
        assert isinstance(message, SagaCommand)
        if message.compensate and self.switch.broken:
            raise RuntimeError("stock ledger offline")
        return {"reserved": True} if not message.compensate else None


class Pay(ServiceActor):
    def on_receive(self, message: Any) -> Any:
        assert isinstance(message, SagaCommand)
        raise StepRejected("card declined")


class Mail(ServiceActor):
    def __init__(self, switch: Switch) -> None:
        super().__init__()
        self.switch = switch

    def on_receive(self, message: Any) -> Any:
        self.switch.got(self.switch.mail, message)


ORDER = SagaDefinition("order", [
    SagaStep("reserve", "stock", "reserve", "release", timeout=2.0,
             compensation_retry=FAST),
    SagaStep("charge", "pay", "charge", None, timeout=2.0,
             retry=RetryPolicy(max_attempts=1)),
])


class Incident:
    """The running system and its patterns, once everything is stuck or dead-lettered."""

    def __init__(self, backend: Backend | None = None) -> None:
        self.switch = Switch()
        self.backend = backend
        self._stack = ExitStack()

    def __enter__(self) -> Incident:
        switch = self.switch
        self.system = self._stack.enter_context(ActorSystem([
            ChildSpec("stock", Stock, args=(switch,)),
            ChildSpec("pay", Pay),
            ChildSpec("mail", Mail, args=(switch,)),
        ]))
        try:
            self._start(switch)
        except BaseException:
            self._stack.close()
            raise
        return self

    def _start(self, switch: Switch) -> None:
        system = self.system
        config = TaskQueueConfig(retry=FAST)
        if self.backend is None:
            log: Any = MemorySagaLog()
            store: Any = MemoryTaskStore(config)
        else:
            log = self.backend.saga_log()
            store = self.backend.task_store("tasks", config)
        self.store = store
        self.gate = BreakerGate.start(system, "mail-breaker", target="mail")
        self.sagas = Sagas.start(system, [ORDER], log)
        self.bus = EventBus.start(system, EventBusConfig(retry=FAST))
        self.bus.subscribe("order.*", lambda payload: switch.got(switch.events, payload),
                           name="audit")

        def deliver(task: Task) -> None:
            switch.got(switch.tasks, task.payload)

        self.tasks = TaskQueueService.start(system, store, [
            QueueSpec("emails", deliver, workers=1, poll_interval=0.05)])

        self.saga_id = self.sagas.start_saga("order", {"order_id": "o-7"}, saga_id="order-7")
        system.service("mail").tell({"to": "ann", "text": "your order"})
        self.bus.publish("order.created", {"order_id": "o-7"})
        self.task_id = self.tasks.enqueue("emails", {"to": "bob"})

        assert self.sagas.wait(self.saga_id, 10).status is SagaStatus.COMPENSATION_FAILED
        assert system.dead_letters.wait_for(service="mail", reason="poison", timeout=10)
        assert self.bus.wait_for_dead_letters(1, "audit", timeout=10)
        assert self.tasks.wait_for("emails", lambda m: m.stats.dead_lettered == 1, 10)

    def watched(self) -> list[object]:
        """What a console of this incident watches."""
        return [self.gate, self.sagas, self.bus, self.tasks]

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
