"""Sagas: multi-step work across services, with compensations in reverse order on failure.

A saga is declared as data (`SagaDefinition`, `SagaStep`). See docs/saga.md.
"""

from actors.saga._batching import SagaLogClosed, SagaLogError
from actors.saga._checkout import (
    CHECKOUT,
    CheckoutBooks,
    CheckoutLedger,
    CheckoutService,
    Effect,
    Inventory,
    Orders,
    Payments,
    Shipping,
    check_books,
    checkout_definition,
    checkout_services,
)
from actors.saga._coordinator import SagaCoordinator
from actors.saga._definition import SagaDefinition, SagaStep, UnknownSagaService
from actors.saga._log import (
    CorruptSaga,
    DuplicateSaga,
    MemorySagaLog,
    SagaDataNotSerializable,
    SagaLog,
    SqliteSagaLog,
)
from actors.saga._machine import (
    ENDS,
    Action,
    FailureReason,
    Finished,
    RetryLater,
    Saga,
    SagaMachine,
    SagaStatus,
    SendCommand,
    StepRecord,
    StepStatus,
    Stuck,
    idempotency_key,
)
from actors.saga._messages import SagaCommand, StepRejected
from actors.saga._sagas import Sagas

__all__ = [
    "CHECKOUT",
    "ENDS",
    "Action",
    "CheckoutBooks",
    "CheckoutLedger",
    "CheckoutService",
    "CorruptSaga",
    "DuplicateSaga",
    "Effect",
    "FailureReason",
    "Finished",
    "Inventory",
    "MemorySagaLog",
    "Orders",
    "Payments",
    "RetryLater",
    "Saga",
    "SagaCommand",
    "SagaCoordinator",
    "SagaDataNotSerializable",
    "SagaDefinition",
    "SagaLog",
    "SagaLogClosed",
    "SagaLogError",
    "SagaMachine",
    "SagaStatus",
    "SagaStep",
    "Sagas",
    "SendCommand",
    "Shipping",
    "SqliteSagaLog",
    "StepRecord",
    "StepRejected",
    "StepStatus",
    "Stuck",
    "UnknownSagaService",
    "check_books",
    "checkout_definition",
    "checkout_services",
    "idempotency_key",
]
