"""Sagas: multi-step work across services, with compensations in reverse order on failure.

A saga is declared as data (`SagaDefinition`, `SagaStep`). See docs/saga.md.
"""

from actors.saga._definition import SagaDefinition, SagaStep, UnknownSagaService

__all__ = ["SagaDefinition", "SagaStep", "UnknownSagaService"]
