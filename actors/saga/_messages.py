"""What a service receives for a saga step, and how it refuses one for good."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from actors.core import StanchionError


class StepRejected(StanchionError):
    """Raise from a service's saga command to refuse it for good, with no retry.

    A business refusal (card declined, out of stock): the saga compensates at once.
    """


@dataclass(frozen=True, slots=True)
class SagaCommand:
    """A step's command, or with `compensate` its compensation, as a service receives it.

    The service contract (docs/saga.md):

    - Deduplicate on `idempotency_key`: a resent command gets the first
      answer and changes nothing (it is resent after a timeout or a crash).
    - A compensation of an action that never took effect is a success that
      changes nothing; and if the compensation arrives first, the late
      action must not take effect afterwards.
    - Answer with a mapping to add to the saga's data (e.g. a payment id),
      or `None`; raise `StepRejected` to refuse for good, any other
      exception for a failure worth retrying.

    Example:
        >>> SagaCommand("s-1", "charge", "charge", {"amount": 20}, "s-1:charge:do", False).key
        ('s-1', 'charge')
    """

    saga_id: str
    step: str
    command: str
    data: Mapping[str, Any]
    idempotency_key: str
    compensate: bool

    @property
    def key(self) -> tuple[str, str]:
        """The (saga, step) pair that an action and its compensation share."""
        return (self.saga_id, self.step)
