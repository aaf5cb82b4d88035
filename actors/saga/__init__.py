"""Sagas: multi-step work across services, with compensations in reverse order on failure.

A saga is declared as data (`SagaDefinition`, `SagaStep`). See docs/saga.md.
"""

from actors.saga._definition import SagaDefinition, SagaStep, UnknownSagaService
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
    "FailureReason",
    "Finished",
    "RetryLater",
    "Saga",
    "SagaDefinition",
    "SagaMachine",
    "SagaStatus",
    "SagaStep",
    "SendCommand",
    "StepRecord",
    "StepStatus",
    "Stuck",
    "UnknownSagaService",
    "idempotency_key",
]
