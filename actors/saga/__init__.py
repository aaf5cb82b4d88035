"""Sagas: multi-step work across services, with compensations in reverse order on failure.

A saga is declared as data (`SagaDefinition`, `SagaStep`). See docs/saga.md.
"""

from typing import TYPE_CHECKING

from actors.core import lazy_names
from actors.saga._choreography import (
    Choreography,
    ChoreographyMetrics,
    ChoreographyState,
    TimelineEntry,
)
from actors.saga._coordinator import SagaCoordinator
from actors.saga._definition import SagaDefinition, SagaStep, UnknownSagaService
from actors.saga._errors import (
    DuplicateSaga,
    SagaDataNotSerializable,
    SagaLogClosed,
    SagaLogError,
)
from actors.saga._log import CorruptSaga, SagaLog
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
from actors.saga._metrics import DURATION_BUCKETS_S, SagaMetrics
from actors.saga._sagas import Sagas

if TYPE_CHECKING:
    from actors.backends import MemorySagaLog as MemorySagaLog, SqliteSagaLog as SqliteSagaLog

# The logs live in actors.backends (a higher layer): re-exported on first use,
# so the saga never imports a backend. The checkout services were an example, never
# the library: they are in examples/shop.
__getattr__ = lazy_names(
    __name__, globals(),
    lazy=dict.fromkeys(("MemorySagaLog", "SqliteSagaLog"), "actors.backends"),
    moved=dict.fromkeys(
        ("CHECKOUT", "CheckoutBooks", "CheckoutLedger", "CheckoutService", "Effect",
         "Inventory", "Orders", "Payments", "Shipping", "check_books", "checkout_definition",
         "checkout_services"), "examples.shop (the repository's examples/shop/)"))

__all__ = [
    "DURATION_BUCKETS_S",
    "ENDS",
    "Action",
    "Choreography",
    "ChoreographyMetrics",
    "ChoreographyState",
    "CorruptSaga",
    "DuplicateSaga",
    "FailureReason",
    "Finished",
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
    "SagaMetrics",
    "SagaStatus",
    "SagaStep",
    "Sagas",
    "SendCommand",
    "StepRecord",
    "StepRejected",
    "StepStatus",
    "Stuck",
    "TimelineEntry",
    "UnknownSagaService",
    "idempotency_key",
]
