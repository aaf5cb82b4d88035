"""`Sagas`: start, query and retry sagas run by a supervised coordinator actor."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from actors.core import ConfigError, DataNotSerializable, ReplyFuture, codec, validate as check
from actors.saga._coordinator import OperatorRetry, SagaCoordinator, StartSaga
from actors.saga._definition import SagaDefinition
from actors.saga._errors import SagaDataNotSerializable
from actors.saga._log import CorruptSaga, SagaLog
from actors.saga._machine import Saga, SagaStatus
from actors.saga._metrics import SagaCounters, SagaMetrics
from actors.supervision import ActorSystem, ChildSpec

if TYPE_CHECKING:
    from actors.bus import EventBus


_LOG_METHODS = ("create", "save", "flush", "get", "by_status", "unfinished", "close")


class Sagas:
    """Runs sagas in an `ActorSystem`: one coordinator actor, a log, your definitions.

    Example:
        >>> from actors import ServiceActor
        >>> from actors.backends import MemorySagaLog
        >>> from actors.saga import SagaDefinition, SagaStep
        >>> from actors.supervision import ActorSystem, ChildSpec
        >>> class Payments(ServiceActor):
        ...     def on_receive(self, command):  # a SagaCommand
        ...         return {"payment_id": "p-1"} if not command.compensate else None
        >>> pay = SagaDefinition("pay", [SagaStep("charge", "payments", "charge", "refund")])
        >>> with ActorSystem([ChildSpec("payments", Payments)]) as system:
        ...     sagas = Sagas.start(system, [pay], MemorySagaLog())
        ...     saga_id = sagas.start_saga("pay", {"amount": 20})
        ...     sagas.wait(saga_id, timeout=5).status
        <SagaStatus.COMPLETED: 'completed'>
    """

    def __init__(self, system: ActorSystem, log: SagaLog, name: str,
                 definitions: Sequence[SagaDefinition],
                 on_finished: Callable[[str], None] | None = None) -> None:
        self.system = system
        self.log = log
        self.name = name
        self.definitions = {d.name: d for d in definitions}
        self._finished = threading.Condition()
        self._on_finished = on_finished
        self.counters = SagaCounters(list(self.definitions))

    @classmethod
    def start(cls, system: ActorSystem, definitions: Sequence[SagaDefinition], log: SagaLog,
              *, name: str = "sagas", bus: EventBus | None = None,
              rng: random.Random | None = None,
              clock: Callable[[], float] = time.time,
              mailbox_size: int | None = None,
              on_finished: Callable[[str], None] | None = None) -> Sagas:
        """Start the coordinator, which first recovers the log's unfinished sagas.

        `on_finished(saga_id)` is called once a saga's end is durable (on the
        log's writer thread: keep it short). `mailbox_size` bounds the sagas
        waiting to start, 1 to 1,000,000 (default `SagaCoordinator.mailbox_size`, 10,000); past
        it `start_saga` raises `MailboxFull` at once. Replies from services never wait behind it.
        Raises `ConfigError` for no definitions or duplicate names, and
        `UnknownSagaService` if a step names a service the system lacks.
        """

        check.instance("system", system, ActorSystem, "a running supervisor.ActorSystem")

        definitions = list(check.items("definitions", definitions, SagaDefinition,
                                       "SagaDefinition", min_length=1))
        names = [d.name for d in definitions]
        if len(set(names)) != len(names):
            raise ConfigError("definitions", names, "definitions with unique names")
        if not all(callable(getattr(log, method, None)) for method in _LOG_METHODS):
            raise ConfigError("log", log, "a SagaLog (MemorySagaLog, SqliteSagaLog, RedisSagaLog)")
        check.name("name", name)
        if bus is not None and not callable(getattr(bus, "publish", None)):
            raise ConfigError("bus", bus, "an actors.bus.EventBus, or None")
        check.optional(check.instance, "rng", rng, kind=random.Random, what="a random.Random")
        check.callable_("clock", clock, "a function returning time.time() seconds")
        # A mailbox allocates its places up front: a million is already a lot of sagas waiting.
        check.optional(check.integer, "mailbox_size", mailbox_size, minimum=1,
                       maximum=1_000_000)
        check.optional(check.callable_, "on_finished", on_finished,
                       what="a function taking the saga id")
        scheduler = system.scheduler
        known = system.service_names()
        for definition in definitions:
            definition.validate_services(known)
        sagas = cls(system, log, name, definitions, on_finished)
        system.start_child(ChildSpec(name, SagaCoordinator, args=(tuple(definitions), log),
                                     kwargs={"resolve": system.service,
                                             "scheduler": scheduler,
                                             "rng": rng or random.Random(), "clock": clock,
                                             "bus": bus, "on_finished": sagas._notify,
                                             "counters": sagas.counters},
                                     mailbox_size=mailbox_size))
        return sagas

    def _notify(self, saga_id: str) -> None:
        if self._on_finished is not None:
            self._on_finished(saga_id)
        with self._finished:
            self._finished.notify_all()

    def start_saga(self, definition: str, data: Mapping[str, Any], *,
                   saga_id: str | None = None, timeout: float = 10.0) -> str:
        """Start a saga; returns its id once it is durably created.

        Raises, with no saga created: `ConfigError` (unknown definition, bad
        id or timeout; an id is a name: printable, no lone surrogates, at most
        200 characters), `SagaDataNotSerializable` (data that is not plain
        JSON, deeper than 100 levels or larger than 4 MiB encoded), `DuplicateSaga`,
        `MailboxFull` (the coordinator is saturated: try later), `AskTimeout`.
        """
        reply: ReplyFuture[str] = self.start_saga_async(definition, data, saga_id=saga_id,
                                                        timeout=timeout)
        result: str = reply.get()
        return result

    def start_saga_async(self, definition: str, data: Mapping[str, Any], *,
                         saga_id: str | None = None,
                         timeout: float = 10.0) -> ReplyFuture[str]:
        """`start_saga` without waiting: a future of the id (awaitable from asyncio)."""
        if definition.__class__ is not str or definition not in self.definitions:
            raise ConfigError("definition", definition, f"one of {sorted(self.definitions)}")
        check.optional(check.name, "saga_id", saga_id)
        check.seconds("timeout", timeout)
        chosen = saga_id or uuid.uuid4().hex
        try:
            plain = dict(data) if isinstance(data, Mapping) else None
        except Exception:  # noqa: BLE001 - a hostile mapping is a wrong value, not a crash
            plain = None
        if plain is None:
            raise ConfigError("data", data, "a mapping of JSON values")
        try:
            codec.check(plain)
        except DataNotSerializable as exc:
            raise SagaDataNotSerializable(chosen, exc) from exc
        reply: ReplyFuture[str] = ReplyFuture(timeout, self.name)
        self.system.service(self.name).tell(StartSaga(definition, chosen, plain, reply))
        return reply

    def metrics(self) -> dict[str, SagaMetrics]:
        """Per definition: started, completed, compensated, ..., in flight, durations.

        Read from counters the coordinator keeps; no message is sent to it.
        """
        return self.counters.snapshot()

    def status(self, saga_id: str) -> Saga | None:
        """The saga's state, steps, attempts and timestamps, as last written to the log."""
        return self.log.get(saga_id)

    def by_status(self, status: SagaStatus | None = None, limit: int = 1000) -> list[Saga]:
        """Sagas in a state, oldest first: e.g. `SagaStatus.COMPENSATION_FAILED` for operators."""
        return self.log.by_status(status, limit)

    def corrupt(self) -> list[CorruptSaga]:
        """Sagas the log holds but cannot read (quarantined): their ids and why, for an operator.

        Recovery skipped them (logging `saga.corrupt`); the other sagas run as
        usual. Repair or delete the stored state, then restart the coordinator
        to recover a repaired saga.
        """
        return self.log.corrupt()

    def stuck(self, limit: int = 1000) -> list[Saga]:
        """Sagas whose compensations kept failing: they wait for an operator's `retry`."""
        return self.by_status(SagaStatus.COMPENSATION_FAILED, limit)

    def retry(self, saga_id: str, timeout: float = 10.0) -> bool:
        """An operator retries a stuck saga's compensations; `False` if it is not stuck."""
        check.name("saga_id", saga_id)
        check.seconds("timeout", timeout)
        reply: ReplyFuture[bool] = ReplyFuture(timeout, self.name)
        self.system.service(self.name).tell(OperatorRetry(saga_id, reply))
        result: bool = reply.get()
        return result

    def wait(self, saga_id: str, timeout: float = 30.0) -> Saga:
        """Wait until the saga reaches an end; returns its final state."""
        check.name("saga_id", saga_id)
        check.seconds("timeout", timeout, allow_zero=True)
        deadline = time.monotonic() + timeout
        with self._finished:
            while True:
                saga = self.log.get(saga_id)
                if saga is not None and saga.finished:
                    return saga
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"saga {saga_id!r} did not finish within {timeout:g}s "
                                       f"(last state: {saga.status if saga else 'unknown'})")
                # Finishing notifies under this lock, so no wake-up is lost between
                # the read above and this wait.
                self._finished.wait(min(remaining, 1.0))

    def wait_all(self, saga_ids: Sequence[str], timeout: float = 60.0) -> list[Saga]:
        """Wait until every saga reaches an end; their final states, in order."""
        check.items("saga_ids", saga_ids, str, "saga ids")
        check.seconds("timeout", timeout, allow_zero=True)
        deadline = time.monotonic() + timeout
        return [self.wait(saga_id, max(0.001, deadline - time.monotonic()))
                for saga_id in saga_ids]
