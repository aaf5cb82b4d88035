"""Sagas: multi-step work across services, with compensations in reverse order on failure.

A saga is declared as data (`SagaDefinition`, `SagaStep`). See docs/saga.md.
"""

from actors.saga._definition import SagaDefinition, SagaStep, UnknownSagaService
from actors.saga._log import (
    DuplicateSaga,
    MemorySagaLog,
    SagaDataNotSerializable,
    SagaLog,
    SagaLogClosed,
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

__all__ = [
    "ENDS",
    "Action",
    "DuplicateSaga",
    "FailureReason",
    "Finished",
    "MemorySagaLog",
    "RetryLater",
    "Saga",
    "SagaDataNotSerializable",
    "SagaDefinition",
    "SagaLog",
    "SagaLogClosed",
    "SagaMachine",
    "SagaStatus",
    "SagaStep",
    "SendCommand",
    "SqliteSagaLog",
    "StepRecord",
    "StepStatus",
    "Stuck",
    "UnknownSagaService",
    "idempotency_key",
]
