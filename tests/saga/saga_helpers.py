"""Shared set-up for the saga tests: fast retry policies and a started checkout."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from actors.retry import RetryPolicy
from actors.saga import SagaDefinition, SagaLog, Sagas
from actors.supervision import ActorSystem, ChildSpec
from examples.shop import CheckoutLedger, checkout_definition, checkout_services

FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.005, jitter="full")
FAST_UNDO = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.005, jitter="full")


def fast_checkout(timeout: float = 2.0) -> SagaDefinition:
    return checkout_definition(timeout=timeout, retry=FAST_RETRY, compensation_retry=FAST_UNDO)


@dataclass
class Shop:
    system: ActorSystem
    sagas: Sagas
    ledger: CheckoutLedger


@contextmanager
def running_shop(log: SagaLog, *, ledger: CheckoutLedger | None = None,
                 definitions: list[SagaDefinition] | None = None,
                 extra: list[ChildSpec] | None = None, **options: Any) -> Iterator[Shop]:
    books = ledger if ledger is not None else CheckoutLedger()
    specs = checkout_services(books) + list(extra or [])
    with ActorSystem(specs) as system:
        sagas = Sagas.start(system, definitions or [fast_checkout()], log, **options)
        yield Shop(system, sagas, books)


def order(amount: int = 20, quantity: int = 1, **faults: dict[str, Any]) -> dict[str, Any]:
    """A checkout's data; `faults` maps a step name to its scripted faults."""
    data: dict[str, Any] = {"amount": amount, "quantity": quantity}
    if faults:
        data["faults"] = faults
    return data


class Gate:
    """An event a hung service waits on; set by the test to release it."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
