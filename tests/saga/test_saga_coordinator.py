"""The saga coordinator: forward, compensation in reverse, retries, timeouts, bulkheads,
operators, bad input, many sagas at once, recovery, events and logs."""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors import ConfigError, MailboxFull, ServiceActor, capture_logs
from actors.backends import MemorySagaLog, SqliteSagaLog
from actors.backends.redis import RedisSagaLog
from actors.bus import EventBus
from actors.retry import RetryPolicy
from actors.saga import (
    DuplicateSaga,
    SagaCommand,
    SagaDataNotSerializable,
    SagaDefinition,
    SagaLog,
    Sagas,
    SagaStatus,
    SagaStep,
    StepStatus,
    UnknownSagaService,
)
from actors.supervision import ActorSystem, ChildSpec
from examples.shop import (
    CHECKOUT,
    CheckoutLedger,
    check_books,
    checkout_definition,
    checkout_services,
)
from tests.redis_server import redis_server
from tests.saga.saga_helpers import FAST_RETRY, FAST_UNDO, Gate, fast_checkout, order, running_shop

STEPS = ["create_order", "reserve_inventory", "process_payment", "schedule_shipping"]
_prefixes = itertools.count()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def saga_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SagaLog]:
    """The same behaviour on every backend of the saga log."""
    log: SagaLog
    if request.param == "memory":
        log = MemorySagaLog()
    elif request.param == "sqlite":
        log = SqliteSagaLog(tmp_path / "sagas.sqlite3")
    else:
        log = RedisSagaLog(request.getfixturevalue("redis_url"),
                           prefix=f"coordinator{next(_prefixes)}")
    yield log
    log.close()


def test_a_checkout_completes_and_its_status_shows_every_step(saga_log: SagaLog) -> None:
    with running_shop(saga_log) as shop:
        saga_id = shop.sagas.start_saga("checkout", order(amount=25), saga_id="c-1")
        saga = shop.sagas.wait(saga_id, timeout=10)
    assert saga.status is SagaStatus.COMPLETED
    assert [s.name for s in saga.steps] == STEPS
    assert all(s.status is StepStatus.SUCCEEDED and s.attempts == 1 for s in saga.steps)
    assert all(s.started_at is not None and s.finished_at is not None for s in saga.steps)
    assert saga.data["order_id"] == "o-c-1"
    assert saga.data["payment_id"] == "p-c-1"
    books = check_books(shop.ledger, [saga])
    assert books.ok, books.problems
    assert (books.charged, books.refunded, books.stock_used) == (25, 0, 1)
    assert [s.id for s in shop.sagas.by_status(SagaStatus.COMPLETED)] == ["c-1"]


def test_a_refused_payment_compensates_the_done_steps_in_reverse_order(saga_log: SagaLog) -> None:
    with running_shop(saga_log) as shop:
        saga_id = shop.sagas.start_saga(
            "checkout", order(process_payment={"do": {"kind": "reject"}}))
        saga = shop.sagas.wait(saga_id, timeout=10)
        effects = [(e.step, e.undo) for e in shop.ledger.effects() if e.saga_id == saga_id]
    assert saga.status is SagaStatus.COMPENSATED
    assert effects == [("create_order", False), ("reserve_inventory", False),
                       ("reserve_inventory", True), ("create_order", True)]
    statuses = {s.name: s.status for s in saga.steps}
    assert statuses == {"create_order": StepStatus.COMPENSATED,
                        "reserve_inventory": StepStatus.COMPENSATED,
                        "process_payment": StepStatus.FAILED,
                        "schedule_shipping": StepStatus.PENDING}
    assert check_books(shop.ledger, [saga]).ok


def test_a_failing_step_is_retried_and_then_succeeds(saga_log: SagaLog) -> None:
    with running_shop(saga_log) as shop:
        saga_id = shop.sagas.start_saga(
            "checkout", order(reserve_inventory={"do": {"kind": "error", "times": 2}}))
        saga = shop.sagas.wait(saga_id, timeout=10)
    assert saga.status is SagaStatus.COMPLETED
    assert saga.record("reserve_inventory").attempts == 3


def test_a_step_that_keeps_failing_is_compensated_after_its_attempts() -> None:
    with running_shop(MemorySagaLog()) as shop:
        saga_id = shop.sagas.start_saga(
            "checkout", order(schedule_shipping={"do": {"kind": "error", "times": 99}}))
        saga = shop.sagas.wait(saga_id, timeout=10)
        books = check_books(shop.ledger, [saga])
    assert saga.status is SagaStatus.COMPENSATED
    assert saga.record("schedule_shipping").attempts == FAST_RETRY.max_attempts
    assert books.ok
    assert (books.charged, books.refunded) == (20, 20)


def _impatient() -> SagaDefinition:
    """One attempt per step with a 50 ms timeout; compensations patient enough to
    outlast a 100 ms hang of the service they queue behind."""
    undo = RetryPolicy(max_attempts=6, base_delay=0.05, max_delay=0.2, jitter="none")
    return checkout_definition(timeout=0.05, retry=RetryPolicy(max_attempts=1),
                               compensation_retry=undo)


@pytest.mark.parametrize("applied", [True, False])
def test_a_timed_out_step_is_compensated_because_it_may_have_happened(applied: bool) -> None:
    with running_shop(MemorySagaLog(), definitions=[_impatient()]) as shop:
        saga_id = shop.sagas.start_saga("checkout", order(process_payment={
            "do": {"kind": "timeout", "seconds": 0.1, "applied": applied}}))
        saga = shop.sagas.wait(saga_id, timeout=10)
        books = check_books(shop.ledger, [saga])
    payment = saga.record("process_payment")
    assert saga.status is SagaStatus.COMPENSATED
    assert payment.status is StepStatus.COMPENSATED
    assert payment.may_have_happened
    assert books.ok, books.problems
    assert (books.charged, books.refunded) == ((20, 20) if applied else (0, 0))


def test_a_compensation_that_arrives_first_stops_the_late_action() -> None:
    # The payment hangs past its timeout before applying anything; the refund
    # arrives first (nothing to refund) and the late charge must then be skipped.
    ledger = CheckoutLedger()
    with running_shop(MemorySagaLog(), ledger=ledger, definitions=[_impatient()]) as shop:
        saga_id = shop.sagas.start_saga("checkout", order(
            process_payment={"do": {"kind": "timeout", "seconds": 0.1, "applied": False}}))
        saga = shop.sagas.wait(saga_id, timeout=10)
        assert saga.status is SagaStatus.COMPENSATED
        # A late resend of the charge (same key) is answered without charging.
        late = shop.system.service("payments").ask(SagaCommand(
            saga_id, "process_payment", "charge", {"amount": 20},
            f"{saga_id}:process_payment:do", False), timeout=5)
    assert late == {"skipped": True}
    assert check_books(ledger, [saga]).charged == 0


def test_a_compensation_that_keeps_failing_flags_the_saga_for_an_operator() -> None:
    bus_events: list[Any] = []
    seen = threading.Event()
    with ActorSystem(checkout_services(ledger := CheckoutLedger())) as system:
        bus = EventBus.start(system)

        def record(payload: Any) -> None:
            bus_events.append(payload)
            if "step" in payload:
                seen.set()

        bus.subscribe("saga.#", record)
        sagas = Sagas.start(system, [fast_checkout()], MemorySagaLog(), bus=bus)
        with capture_logs() as logs:
            saga_id = sagas.start_saga("checkout", order(
                process_payment={"do": {"kind": "reject"}},
                reserve_inventory={"undo": {"kind": "error", "times": 4}}))
            stuck = sagas.wait(saga_id, timeout=10)
        assert stuck.status is SagaStatus.COMPENSATION_FAILED
        assert stuck.stuck
        assert stuck.record("reserve_inventory").status is StepStatus.COMPENSATION_FAILED
        assert [s.id for s in sagas.stuck()] == [saga_id]
        books = check_books(ledger, [stuck])
        assert books.ok
        assert books.outstanding_quantity == 1
        assert any(e["event"] == "saga.stuck" and e["saga_id"] == saga_id for e in logs)
        assert seen.wait(5)
        assert {"saga_id": saga_id, "step": "reserve_inventory"}.items() <= next(
            e for e in bus_events if "step" in e).items()
        # The 4th failure is the first attempt of the operator's retry; the 5th succeeds.
        assert sagas.retry(saga_id) is True
        final = sagas.wait(saga_id, timeout=10)
        assert final.status is SagaStatus.COMPENSATED
        assert sagas.retry(saga_id) is False  # no longer stuck
        assert check_books(ledger, [final]).ok


class SlowDiskLog(MemorySagaLog):
    """A durable log whose writes land a while later on a writer thread, as on a slow disk."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: queue.Queue[Any] = queue.Queue()
        self.writer = threading.Thread(target=self._write_each, daemon=True)
        self.writer.start()

    def save(self, saga: Any, done: Any = None) -> None:
        self.writes.put((saga, done))

    def _write_each(self) -> None:
        while (item := self.writes.get()) is not None:
            time.sleep(0.05)  # the commit's latency, not a wait for anything
            MemorySagaLog.save(self, *item)

    def close(self) -> None:
        self.writes.put(None)
        self.writer.join(5)
        super().close()


@pytest.mark.parametrize("slow", [False, True], ids=["backends", "slow-disk"])
def test_wait_after_retry_waits_for_the_retried_run(saga_log: SagaLog, slow: bool) -> None:
    # Issue 13: retry answered before the retried state was durable, so a wait that
    # followed read the stale compensation_failed from a log that writes later.
    log = SlowDiskLog() if slow else saga_log
    with ActorSystem(checkout_services(CheckoutLedger())) as system:
        sagas = Sagas.start(system, [fast_checkout()], log)
        saga_id = sagas.start_saga("checkout", order(
            process_payment={"do": {"kind": "reject"}},
            reserve_inventory={"undo": {"kind": "error", "times": 4}}))
        assert sagas.wait(saga_id, timeout=10).status is SagaStatus.COMPENSATION_FAILED
        assert sagas.retry(saga_id) is True
        assert sagas.log.get(saga_id).status is not SagaStatus.COMPENSATION_FAILED
        assert sagas.wait(saga_id, timeout=10).status is SagaStatus.COMPENSATED
    if slow:
        log.close()


def test_every_saga_event_on_the_bus_names_itself_and_its_outcome() -> None:
    seen: list[dict[str, Any]] = []
    two = threading.Semaphore(0)
    with ActorSystem(checkout_services(CheckoutLedger())) as system:
        bus = EventBus.start(system)

        def record(payload: Any) -> None:
            seen.append(payload)
            if payload.get("event") in ("saga.completed", "saga.compensated"):
                two.release()

        bus.subscribe("saga.#", record)
        sagas = Sagas.start(system, [fast_checkout()], MemorySagaLog(), bus=bus)
        sagas.start_saga("checkout", order(), saga_id="ok")
        sagas.start_saga("checkout", order(process_payment={"do": {"kind": "reject"}}),
                         saga_id="no")
        assert two.acquire(timeout=10)
        assert two.acquire(timeout=10)
    ends = {p["saga_id"]: (p["event"], p["status"]) for p in seen
            if p["event"] != "saga.started"}
    assert ends == {"ok": ("saga.completed", "completed"),
                    "no": ("saga.compensated", "compensated")}
    assert all(p["event"] == "saga.started" for p in seen if p["saga_id"] and "status" not in p)


class Hung(ServiceActor):
    """A service whose first command blocks until the test releases it."""

    mailbox_size = 1

    def __init__(self, gate: Gate) -> None:
        super().__init__()
        self.gate = gate

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, SagaCommand):
            if not message.compensate:
                self.gate.entered.set()
                self.gate.release.wait(10)
            return None
        return super().on_receive(message)


def test_a_full_service_mailbox_is_a_step_failure_with_its_own_reason() -> None:
    gate = Gate()
    blocker = SagaDefinition("blocker", [SagaStep("hold", "tiny", "hold", timeout=30)])
    victim = SagaDefinition("victim", [
        SagaStep("order", "orders", "create", "cancel", retry=FAST_RETRY),
        SagaStep("hold", "tiny", "hold", "undo", retry=FAST_RETRY, timeout=30)])
    with running_shop(MemorySagaLog(), definitions=[blocker, victim],
                      extra=[ChildSpec("tiny", Hung, args=(gate,))]) as shop:
        first = shop.sagas.start_saga("blocker", {})
        assert gate.entered.wait(5)
        shop.system.service("tiny").tell(SagaCommand("x", "fill", "fill", {}, "x", True))
        with capture_logs() as logs:
            saga_id = shop.sagas.start_saga("victim", {})
            saga = shop.sagas.wait(saga_id, timeout=10)
        gate.release.set()
        assert shop.sagas.wait(first, timeout=10).status is SagaStatus.COMPLETED
    assert saga.status is SagaStatus.COMPENSATED
    reasons = [e["reason"] for e in logs if e["event"] == "saga.step_failed"]
    assert reasons == ["mailbox_full"] * FAST_RETRY.max_attempts  # type: ignore[operator]
    assert "mailbox" in (saga.record("hold").error or "")


def test_a_stopped_service_is_a_step_failure_and_the_saga_compensates() -> None:
    with running_shop(MemorySagaLog()) as shop:
        shop.system.service("shipping").stop()
        with capture_logs() as logs:
            saga = shop.sagas.wait(shop.sagas.start_saga("checkout", order()), timeout=10)
    assert saga.status is SagaStatus.COMPENSATED
    assert {e["reason"] for e in logs if e["event"] == "saga.step_failed"} == {"unavailable"}
    assert check_books(shop.ledger, [saga]).ok


class OddReplies(ServiceActor):
    def on_receive(self, message: Any) -> Any:
        if isinstance(message, SagaCommand):
            return None if message.compensate else {"when": {1, 2}}
        return super().on_receive(message)


def test_a_reply_that_is_not_json_fails_the_step_instead_of_poisoning_the_log() -> None:
    definition = SagaDefinition("odd", [SagaStep("odd", "odd", "do", "undo",
                                                 retry=RetryPolicy(max_attempts=1))])
    with running_shop(MemorySagaLog(), definitions=[definition],
                      extra=[ChildSpec("odd", OddReplies)]) as shop:
        saga = shop.sagas.wait(shop.sagas.start_saga("odd", {}), timeout=10)
    assert saga.status is SagaStatus.COMPENSATED
    assert "not a JSON object" in (saga.record("odd").error or "")


def test_bad_input_is_refused_with_typed_errors_and_the_coordinator_keeps_serving() -> None:
    log = MemorySagaLog()
    with running_shop(log) as shop:
        first = shop.sagas.start_saga("checkout", order(), saga_id="dup")
        with pytest.raises(DuplicateSaga, match="'dup' already exists"):
            shop.sagas.start_saga("checkout", order(), saga_id="dup")
        with pytest.raises(ConfigError, match="definition='refund'"):
            shop.sagas.start_saga("refund", order())
        with pytest.raises(SagaDataNotSerializable, match=r"plain JSON.*\$\.when"):
            shop.sagas.start_saga("checkout", {"when": {1, 2}}, saga_id="bad-data")
        with pytest.raises(ConfigError, match="timeout=-1"):
            shop.sagas.start_saga("checkout", order(), timeout=-1)
        with pytest.raises(ConfigError, match="saga_id=' ' is invalid"):
            shop.sagas.start_saga("checkout", order(), saga_id=" ")
        assert log.get("bad-data") is None
        assert shop.sagas.wait(first, timeout=10).status is SagaStatus.COMPLETED
        after = shop.sagas.start_saga("checkout", order())
        assert shop.sagas.wait(after, timeout=10).status is SagaStatus.COMPLETED
        assert shop.system.service("sagas").stats().crashes == 0


def test_definitions_are_checked_against_the_running_services() -> None:
    ghost = SagaDefinition("ghost", [SagaStep("a", "orders", "create"),
                                     SagaStep("b", "warehouse", "pick")])
    with ActorSystem(checkout_services()) as system:
        with pytest.raises(UnknownSagaService, match="'warehouse', which is not running"):
            Sagas.start(system, [ghost], MemorySagaLog())
        with pytest.raises(ConfigError, match="unique names"):
            Sagas.start(system, [CHECKOUT, CHECKOUT], MemorySagaLog())
        with pytest.raises(ConfigError, match="at least one"):
            Sagas.start(system, [], MemorySagaLog())


class HeldLog(MemorySagaLog):
    """A log whose first write holds the coordinator's thread until released."""

    def __init__(self, gate: Gate) -> None:
        super().__init__()
        self.gate = gate

    def create(self, saga: Any, done: Any) -> None:
        if not self.gate.entered.is_set():
            self.gate.entered.set()
            self.gate.release.wait(10)
        super().create(saga, done)


def test_a_full_coordinator_refuses_new_sagas_at_once() -> None:
    gate = Gate()
    with running_shop(HeldLog(gate), mailbox_size=5) as shop:
        first = shop.sagas.start_saga_async("checkout", order())
        assert gate.entered.wait(5)
        queued = [shop.sagas.start_saga_async("checkout", order()) for _ in range(5)]
        with pytest.raises(MailboxFull, match="sagas"):
            shop.sagas.start_saga_async("checkout", order())
        gate.release.set()
        ids = [f.get(timeout=10) for f in [first, *queued]]
        final = shop.sagas.wait_all(ids, timeout=20)
    assert {s.status for s in final} == {SagaStatus.COMPLETED}


def test_a_thousand_sagas_in_flight_and_a_slow_step_delays_no_other() -> None:
    gate = Gate()
    slow = SagaDefinition("slow", [SagaStep("hold", "tiny", "hold", timeout=30)])
    with running_shop(MemorySagaLog(), definitions=[fast_checkout(timeout=10), slow],
                      extra=[ChildSpec("tiny", Hung, args=(gate,))]) as shop:
        stalled = shop.sagas.start_saga("slow", {})
        assert gate.entered.wait(5)
        futures = [shop.sagas.start_saga_async("checkout", order()) for _ in range(1000)]
        ids = [f.get(timeout=30) for f in futures]
        finished = shop.sagas.wait_all(ids, timeout=60)
        assert shop.sagas.status(stalled).status is SagaStatus.RUNNING  # type: ignore[union-attr]
        gate.release.set()
        assert shop.sagas.wait(stalled, timeout=10).status is SagaStatus.COMPLETED
        threads = threading.active_count()
    assert {s.status for s in finished} == {SagaStatus.COMPLETED}
    assert threads < 50  # one coordinator thread, not a thread per saga
    books = check_books(shop.ledger, finished)
    assert books.ok
    assert books.completed_amount == 20_000


def test_unfinished_sagas_are_recovered_by_a_new_coordinator(tmp_path: Path) -> None:
    ledger_path, log_path = tmp_path / "ledger.sqlite3", tmp_path / "sagas.sqlite3"
    gate = Gate()
    hold = SagaDefinition("checkout", [
        SagaStep(s.name, "tiny" if s.name == "schedule_shipping" else s.service, s.command,
                 s.compensation, retry=FAST_RETRY, compensation_retry=FAST_UNDO)
        for s in CHECKOUT.steps])
    ledger = CheckoutLedger(ledger_path)
    log = SqliteSagaLog(log_path)
    with running_shop(log, ledger=ledger, definitions=[hold],
                      extra=[ChildSpec("tiny", Hung, args=(gate,))]) as shop:
        ids = [shop.sagas.start_saga("checkout", order(), saga_id=f"r-{i}") for i in range(3)]
        assert gate.entered.wait(5)
        log.flush()
        # The process "dies" with shipping hung: its handler is abandoned, not awaited.
        shop.system.shutdown(timeout=0.5)
    log.close()
    ledger.close()
    gate.release.set()
    # A new process: same files, every service healthy.
    ledger = CheckoutLedger(ledger_path)
    log = SqliteSagaLog(log_path)
    try:
        assert {s.id for s in log.unfinished()} == set(ids)
        with capture_logs() as logs, running_shop(log, ledger=ledger) as shop:
            final = shop.sagas.wait_all(ids, timeout=20)
        assert {s.status for s in final} == {SagaStatus.COMPLETED}
        assert sum(e["event"] == "saga.recovered" for e in logs) == 3
        books = check_books(ledger, final)
        assert books.ok
        assert books.charged == 60
    finally:
        log.close()
        ledger.close()


def test_lifecycle_events_reach_the_bus_and_every_log_line_has_the_saga_id() -> None:
    seen: list[tuple[str, Any]] = []
    done = threading.Event()
    with ActorSystem(checkout_services()) as system:
        bus = EventBus.start(system)

        def on_event(name: str) -> Any:
            def handler(payload: Any) -> None:
                seen.append((name, payload["saga_id"]))
                if name == "completed":
                    done.set()
            return handler

        bus.subscribe("saga.started", on_event("started"))
        bus.subscribe("saga.completed", on_event("completed"))
        sagas = Sagas.start(system, [fast_checkout()], MemorySagaLog(), bus=bus)
        with capture_logs() as logs:
            saga_id = sagas.start_saga("checkout", order(
                reserve_inventory={"do": {"kind": "error", "times": 1}}))
            sagas.wait(saga_id, timeout=10)
        assert done.wait(5)
    assert sorted(seen) == [("completed", saga_id), ("started", saga_id)]
    saga_lines = [e for e in logs if e["event"].startswith("saga.")]
    assert {e["event"] for e in saga_lines} >= {"saga.started", "saga.step_failed",
                                                "saga.completed"}
    assert all(e.get("saga_id") == saga_id for e in saga_lines)


class WatchedRedisLog(RedisSagaLog):
    """Signals the first failed write, so the test knows the outage was felt."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failed = threading.Event()

    def save(self, saga: Any, done: Any = None) -> None:
        def watched(error: BaseException | None) -> None:
            if error is not None:
                self.failed.set()
            if done is not None:
                done(error)

        super().save(saga, watched)


def test_a_saga_waits_out_a_redis_outage_and_then_completes(tmp_path: Path) -> None:
    gate = Gate()
    hold = SagaDefinition("checkout", [
        SagaStep(s.name, "tiny" if s.name == "schedule_shipping" else s.service, s.command,
                 s.compensation, retry=FAST_RETRY, compensation_retry=FAST_UNDO)
        for s in CHECKOUT.steps])
    with redis_server(tmp_path / "redis", appendonly=True) as server:
        log = WatchedRedisLog(server.url, socket_timeout=0.3, retries=1)
        try:
            with running_shop(log, definitions=[hold],
                              extra=[ChildSpec("tiny", Hung, args=(gate,))]) as shop:
                saga_id = shop.sagas.start_saga("checkout", order())
                assert gate.entered.wait(5)
                server.stop()
                with capture_logs() as logs:
                    gate.release.set()  # shipping answers; writing that down fails
                    assert log.failed.wait(10)
                    server.restart()
                    saga = shop.sagas.wait(saga_id, timeout=30)
            assert saga.status is SagaStatus.COMPLETED
            failures = [e for e in logs if e["event"] == "saga.log_write_failed"]
            assert failures
            assert failures[0]["saga_id"] == saga_id
            assert "RedisUnavailable" in failures[0]["error"]
        finally:
            log.close()
