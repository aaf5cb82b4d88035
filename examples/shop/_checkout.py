"""The checkout saga, and example services that honour the saga contract.

create order -> reserve inventory -> process payment -> schedule shipping.

The four services keep one `CheckoutLedger` of effects (in memory, or in
SQLite so that it survives a crash like a real service's database). Each
command is applied at most once per idempotency key, in the same write that
records the key; a compensation of an action that never happened records
that, so the late action is skipped if it arrives afterwards. The ledger is
what tests and the demo check the books against (`check_books`).

With `with_outbox=True` every effect is also announced through a transactional
outbox: the ledger writes an outbox row in the same transaction as the effect
(SQLite), or the same commit (memory), and an `OutboxRelay` started on
`ledger.outbox` publishes it (topic `checkout.<service>.applied` or
`.undone`, aggregate the saga id, event id the idempotency key). A crash
between the two can neither lose the announcement nor announce an effect
that never committed (docs/outbox.md).

Faults can be scripted per saga through its data, for tests and the demo:
`{"faults": {"process_payment": {"do": {"kind": "error", "times": 2}}}}`;
kinds are `error` (fail the first `times` attempts), `reject` (refuse for
good), `timeout` (answer `seconds` late, after applying the effect unless
`"applied": false`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from actors.backends.memory import MemoryOutbox
from actors.backends.sqlite import SqliteOutbox
from actors.core import ConfigError, ServiceActor, validate as check
from actors.retry import RetryPolicy
from actors.saga import Saga, SagaCommand, SagaDefinition, SagaStatus, SagaStep, StepRejected
from actors.supervision import ChildSpec

_log = structlog.get_logger("stanchion.checkout")

CHECKOUT = SagaDefinition("checkout", [
    SagaStep("create_order", "orders", "create", "cancel"),
    SagaStep("reserve_inventory", "inventory", "reserve", "release"),
    SagaStep("process_payment", "payments", "charge", "refund"),
    SagaStep("schedule_shipping", "shipping", "schedule", "cancel_shipment"),
])
"""The 4-step checkout: create order, reserve inventory, process payment, schedule shipping."""


def checkout_definition(*, timeout: float = 5.0, retry: RetryPolicy | None = None,
                        compensation_retry: RetryPolicy | None = None) -> SagaDefinition:
    """The checkout with other timeouts or retry policies (tests, demos)."""
    options: dict[str, Any] = {"timeout": timeout}
    if retry is not None:
        options["retry"] = retry
    if compensation_retry is not None:
        options["compensation_retry"] = compensation_retry
    return SagaDefinition("checkout", [
        SagaStep(step.name, step.service, step.command, step.compensation, **options)
        for step in CHECKOUT.steps])


@dataclass(frozen=True, slots=True)
class Effect:
    """One applied command or compensation. `amount` is what it changed (0: nothing)."""

    key: str
    service: str
    saga_id: str
    step: str
    undo: bool
    amount: int
    answer: Mapping[str, Any] | None = None


class CheckoutLedger:
    """The example services' effects, each recorded once per idempotency key.

    Args:
        path: a SQLite file (WAL, synchronous=NORMAL: an effect committed
            before the reply survives SIGKILL), or `None` for memory.
            `ConfigError` if it cannot be opened.
        initial_stock: units in stock before any reservation (an integer >= 0).
        with_outbox: announce every effect through a transactional outbox
            (`ledger.outbox`: a `SqliteOutbox` in the same file, or a
            `MemoryOutbox`); start an `OutboxRelay` on it to publish.
    """

    def __init__(self, path: str | Path | None = None, *, initial_stock: int = 1_000_000,
                 with_outbox: bool = False) -> None:
        check.optional(check.path, "path", path)
        check.integer("initial_stock", initial_stock, minimum=0, maximum=2**62)
        check.boolean("with_outbox", with_outbox)
        self.initial_stock = initial_stock
        self._lock = threading.Lock()
        self._effects: dict[str, Effect] = {}
        self._net: Counter[str] = Counter()
        self._conn: sqlite3.Connection | None = None
        if path is not None:
            self._conn = _open_ledger(path)
            for row in self._conn.execute("SELECT key, service, saga_id, step, undo, amount, "
                                          "answer FROM effects"):
                answer = json.loads(row[6]) if row[6] is not None else None
                self._add(Effect(row[0], row[1], row[2], row[3], bool(row[4]), row[5], answer))
        self.outbox: SqliteOutbox | MemoryOutbox | None = None
        if with_outbox:
            self.outbox = SqliteOutbox(path) if path is not None else MemoryOutbox()

    def _add(self, effect: Effect) -> None:
        self._effects[effect.key] = effect
        self._net[effect.service] += -effect.amount if effect.undo else effect.amount

    def get(self, key: str) -> Effect | None:
        """The effect recorded under `key`, if any."""
        with self._lock:
            return self._effects.get(key)

    def record(self, effect: Effect) -> Effect:
        """Record `effect` unless its key is already there; returns the one that stands."""
        with self._lock:
            existing = self._effects.get(effect.key)
            if existing is not None:
                return existing
            if self._conn is not None:
                self._write(self._conn, effect)
            elif isinstance(self.outbox, MemoryOutbox):
                with self.outbox.transaction() as tx:
                    tx.add(effect.saga_id, announcement_topic(effect), announcement(effect),
                           event_id=effect.key)
            self._add(effect)
            return effect

    def _write(self, conn: sqlite3.Connection, effect: Effect) -> None:
        answer = json.dumps(effect.answer) if effect.answer is not None else None
        row = (effect.key, effect.service, effect.saga_id, effect.step, int(effect.undo),
               effect.amount, answer)
        if not isinstance(self.outbox, SqliteOutbox):
            conn.execute("INSERT INTO effects VALUES (?, ?, ?, ?, ?, ?, ?)", row)
            return
        conn.execute("BEGIN IMMEDIATE")  # the effect and its announcement: one transaction
        try:
            conn.execute("INSERT INTO effects VALUES (?, ?, ?, ?, ?, ?, ?)", row)
            self.outbox.add(conn, effect.saga_id, announcement_topic(effect),
                            announcement(effect), event_id=effect.key)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def effects(self) -> list[Effect]:
        """Every recorded effect."""
        with self._lock:
            return list(self._effects.values())

    def net(self, service: str) -> int:
        """What a service's actions changed, minus what their compensations undid."""
        with self._lock:
            return self._net[service]

    def stock(self) -> int:
        """Units left in stock."""
        return self.initial_stock - self.net("inventory")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if isinstance(self.outbox, SqliteOutbox):
                self.outbox.close()


def announcement_topic(effect: Effect) -> str:
    """The event an effect is announced as: `checkout.<service>.applied` or `.undone`."""
    return f"checkout.{effect.service}.{'undone' if effect.undo else 'applied'}"


def announcement(effect: Effect) -> dict[str, Any]:
    """What an effect's announcement carries (the envelope adds event id, aggregate, seq)."""
    return {"key": effect.key, "service": effect.service, "saga_id": effect.saga_id,
            "step": effect.step, "undo": effect.undo, "amount": effect.amount}


def _open_ledger(path: str | Path) -> sqlite3.Connection:
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")  # the ledger survives a crash like a real one
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS effects (key TEXT PRIMARY KEY, service TEXT, "
            "saga_id TEXT, step TEXT, undo INTEGER, amount INTEGER, answer TEXT)")
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        raise ConfigError("path", path, f"a SQLite file that can be opened and written "
                          f"({exc})") from exc
    return conn


class CheckoutService(ServiceActor):
    """Runs saga commands against the ledger, once per idempotency key."""

    mailbox_size = 10_000
    #: the service's name in `CHECKOUT` ("orders", "inventory", ...)
    kind = ""

    def __init__(self, ledger: CheckoutLedger) -> None:
        check.instance("ledger", ledger, CheckoutLedger, "an actors.saga.CheckoutLedger")
        super().__init__()
        self.ledger = ledger
        self.attempts: Counter[str] = Counter()

    def on_receive(self, message: Any) -> Any:
        if not isinstance(message, SagaCommand):
            return super().on_receive(message)
        done = self.ledger.get(message.idempotency_key)
        if done is not None:
            return done.answer  # a resent command: the first answer, nothing changes
        self.attempts[message.idempotency_key] += 1
        fault = _fault(message)
        kind = fault.get("kind")
        if kind == "reject":
            raise StepRejected(f"{self.kind}: {message.command} refused (scripted)")
        if kind == "error" and self.attempts[message.idempotency_key] <= fault.get("times", 1):
            raise RuntimeError(f"{self.kind}: {message.command} failed (scripted)")
        late = kind == "timeout" and self.attempts[message.idempotency_key] <= fault.get(
            "times", 1)
        if late and not fault.get("applied", True):
            time.sleep(float(fault.get("seconds", 0.1)))  # a hung dependency, nothing applied
            raise RuntimeError(f"{self.kind}: {message.command} gave up after hanging")
        effect = self.ledger.record(self._effect(message))
        _log.info("checkout.command_applied", step=message.step, command=message.command,
                  compensate=message.compensate, amount=effect.amount)
        if late:
            time.sleep(float(fault.get("seconds", 0.1)))  # applied, but the answer is late
        return effect.answer

    def _effect(self, command: SagaCommand) -> Effect:
        do_key = command.idempotency_key.removesuffix(":undo") + ":do"
        undo_key = command.idempotency_key.removesuffix(":do") + ":undo"
        if command.compensate:
            # Undo only what was done; an action that never happened undoes to nothing,
            # and the record stops it from happening later.
            done = self.ledger.get(do_key)
            amount = done.amount if done is not None else 0
            return Effect(command.idempotency_key, self.kind, command.saga_id, command.step,
                          True, amount)
        if self.ledger.get(undo_key) is not None:
            return Effect(command.idempotency_key, self.kind, command.saga_id, command.step,
                          False, 0, {"skipped": True})
        amount, answer = self.apply(command)
        return Effect(command.idempotency_key, self.kind, command.saga_id, command.step,
                      False, amount, answer)

    def apply(self, command: SagaCommand) -> tuple[int, Mapping[str, Any] | None]:
        """The forward action: (amount changed, answer); raise `StepRejected` to refuse."""
        return 1, None


class Orders(CheckoutService):
    """Creates orders; cancelling one closes it."""

    kind = "orders"

    def apply(self, command: SagaCommand) -> tuple[int, Mapping[str, Any] | None]:
        return 1, {"order_id": f"o-{command.saga_id}"}


class Inventory(CheckoutService):
    """Reserves stock (`quantity`, default 1); refuses when there is not enough."""

    kind = "inventory"

    def apply(self, command: SagaCommand) -> tuple[int, Mapping[str, Any] | None]:
        quantity = int(command.data.get("quantity", 1))
        if quantity > self.ledger.stock():
            raise StepRejected(f"out of stock: {quantity} wanted, {self.ledger.stock()} left")
        return quantity, {"reserved": quantity}


class Payments(CheckoutService):
    """Charges `amount`; refunding gives back what was charged, or nothing."""

    kind = "payments"

    def apply(self, command: SagaCommand) -> tuple[int, Mapping[str, Any] | None]:
        amount = int(command.data.get("amount", 0))
        if amount <= 0:
            raise StepRejected(f"amount must be > 0, got {amount}")
        return amount, {"payment_id": f"p-{command.saga_id}"}


class Shipping(CheckoutService):
    """Schedules a shipment; cancelling it unschedules."""

    kind = "shipping"


def _fault(command: SagaCommand) -> Mapping[str, Any]:
    faults = command.data.get("faults")
    if not isinstance(faults, Mapping):
        return {}
    step = faults.get(command.step)
    if not isinstance(step, Mapping):
        return {}
    fault = step.get("undo" if command.compensate else "do")
    return fault if isinstance(fault, Mapping) else {}


def checkout_services(ledger: CheckoutLedger | None = None, **options: Any) -> list[Any]:
    """`ChildSpec`s for the four checkout services sharing `ledger` (options go to `ChildSpec`)."""

    shared = ledger if ledger is not None else CheckoutLedger()
    return [ChildSpec(cls.kind, cls, args=(shared,), **options)
            for cls in (Orders, Inventory, Payments, Shipping)]


@dataclass
class CheckoutBooks:
    """Whether the services' books agree with the sagas' outcomes."""

    sagas: Counter[str] = field(default_factory=Counter)
    completed_amount: int = 0
    charged: int = 0
    refunded: int = 0
    stock_used: int = 0
    completed_quantity: int = 0
    outstanding_amount: int = 0
    outstanding_quantity: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_books(ledger: CheckoutLedger, sagas: Iterable[Saga]) -> CheckoutBooks:
    """Check the checkout invariants over finished sagas and the ledger.

    Every saga ended; a completed saga's four effects all stand; a compensated
    saga's effects all net to zero; stock used equals the quantity of completed
    orders (plus what stuck sagas still hold); money charged minus refunded
    equals the total of completed orders (plus what stuck sagas still hold).
    """
    books = CheckoutBooks()
    by_saga: dict[str, dict[str, int]] = {}
    for effect in ledger.effects():
        net = by_saga.setdefault(effect.saga_id, Counter())
        net[effect.service] += -effect.amount if effect.undo else effect.amount
        if effect.service == "payments":
            if effect.undo:
                books.refunded += effect.amount
            else:
                books.charged += effect.amount
    books.stock_used = ledger.net("inventory")
    seen: set[str] = set()
    for saga in sagas:
        seen.add(saga.id)
        _check_saga(books, saga, by_saga.get(saga.id, {}))
    strays = sorted(set(by_saga) - seen)
    if strays:
        books.problems.append(f"effects for sagas not in the log: {strays[:5]}")
    if books.charged - books.refunded != books.completed_amount + books.outstanding_amount:
        books.problems.append(
            f"money: charged {books.charged} - refunded {books.refunded} != completed "
            f"{books.completed_amount} + stuck {books.outstanding_amount}")
    if books.stock_used != books.completed_quantity + books.outstanding_quantity:
        books.problems.append(
            f"stock: used {books.stock_used} != completed {books.completed_quantity} + stuck "
            f"{books.outstanding_quantity}")
    return books


def _check_saga(books: CheckoutBooks, saga: Saga, net: Mapping[str, int]) -> None:
    books.sagas[str(saga.status)] += 1
    if saga.status is SagaStatus.COMPLETED:
        books.completed_amount += int(saga.data.get("amount", 0))
        books.completed_quantity += int(saga.data.get("quantity", 1))
        missing = [s.service for s in CHECKOUT.steps if net.get(s.service, 0) <= 0]
        if missing:
            books.problems.append(f"{saga.id} completed without effects in {missing}")
    elif saga.status is SagaStatus.COMPENSATED:
        left = {s: n for s, n in net.items() if n}
        if left:
            books.problems.append(f"{saga.id} compensated but effects remain: {left}")
    elif saga.status is SagaStatus.COMPENSATION_FAILED:
        books.outstanding_amount += net.get("payments", 0)
        books.outstanding_quantity += net.get("inventory", 0)
    else:
        books.problems.append(f"{saga.id} did not end: {saga.status}")
