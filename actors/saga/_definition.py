"""A saga declared as data: ordered steps, each with its command and its compensation."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from actors.core import ConfigError, StanchionError, validate as check
from actors.retry import RetryPolicy


class UnknownSagaService(StanchionError, LookupError):
    """A step names a service that the actor system does not have."""

    def __init__(self, saga: str, step: str, service: str, known: Iterable[str]) -> None:
        self.saga, self.step, self.service = saga, step, service
        listing = ", ".join(sorted(known)) or "none"
        super().__init__(
            f"saga {saga!r} step {step!r} sends to service {service!r}, which is not running "
            f"(known: {listing}); start it in the ActorSystem or fix the step")


def _step_retry() -> RetryPolicy:
    return RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=1.0, jitter="full")


def _compensation_retry() -> RetryPolicy:
    return RetryPolicy(max_attempts=10, base_delay=0.1, max_delay=5.0, jitter="full")


@dataclass(frozen=True, slots=True)
class SagaStep:
    """One step: send `command` to `service`; undo it with `compensation` on failure.

    Args:
        name: unique within the saga ("reserve_inventory"). Names, services
            and commands are printable strings of at most 200 characters, with
            no surrounding whitespace (`actors.core._validate.name`).
        service: the service actor's name in the system.
        command: the command name the service understands ("reserve").
        compensation: the command that undoes it ("release"), or `None` when
            there is nothing to undo (a notification). It must be safe to run
            for an action that never took effect: a timed-out step is
            compensated too, since it may have happened.
        timeout: seconds to wait for the service's reply (finite, > 0, at most
            ten years).
        retry: how often the command is tried before the saga compensates
            (3 attempts, 50 ms to 1 s backoff by default).
        compensation_retry: how often a compensation is tried before the saga
            is flagged `compensation_failed` for an operator (10 attempts, up to
            5 s apart by default).

    Example:
        >>> SagaStep("reserve_inventory", "inventory", "reserve", "release").timeout
        5.0
    """

    name: str
    service: str
    command: str
    compensation: str | None = None
    timeout: float = 5.0
    retry: RetryPolicy = field(default_factory=_step_retry)
    compensation_retry: RetryPolicy = field(default_factory=_compensation_retry)

    def __post_init__(self) -> None:
        for label in ("name", "service", "command"):
            check.name(label, getattr(self, label))
        check.optional(check.name, "compensation", self.compensation)
        check.seconds("timeout", self.timeout)  # a timer: never inf, NaN or centuries
        check.instance("retry", self.retry, RetryPolicy, "an actors.retry.RetryPolicy")
        if not (isinstance(self.compensation_retry, RetryPolicy)
                and self.compensation_retry.max_attempts is not None):
            raise ConfigError("compensation_retry", self.compensation_retry,
                              "a RetryPolicy with a max_attempts (past it the saga is flagged "
                              "for an operator)")


#: The most steps a saga may have (each is a durable round trip; more is a design smell).
MAX_STEPS = 1000


@dataclass(frozen=True, slots=True)
class SagaDefinition:
    """A named, ordered list of steps (1 to 1000, with unique names).

    Example:
        >>> checkout = SagaDefinition("checkout", [
        ...     SagaStep("create_order", "orders", "create", "cancel"),
        ...     SagaStep("reserve_inventory", "inventory", "reserve", "release"),
        ...     SagaStep("process_payment", "payments", "charge", "refund"),
        ...     SagaStep("notify", "notifications", "send"),
        ... ])
        >>> [step.name for step in checkout.steps]
        ['create_order', 'reserve_inventory', 'process_payment', 'notify']
        >>> SagaDefinition("empty", [])
        Traceback (most recent call last):
        ...
        actors.ConfigError: steps=[] is invalid: expected a list of 1 to 1000 SagaStep
    """

    name: str
    steps: Sequence[SagaStep]

    def __post_init__(self) -> None:
        check.name("name", self.name)
        steps = check.items("steps", self.steps, SagaStep, "SagaStep", min_length=1,
                            max_length=MAX_STEPS)
        names = [step.name for step in steps]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError("steps", duplicates, "unique step names")
        object.__setattr__(self, "steps", steps)

    def step(self, name: str) -> SagaStep:
        """The step called `name`; `ConfigError` if there is none."""
        check.name("step", name)
        for step in self.steps:
            if step.name == name:
                return step
        raise ConfigError("step", name, f"one of {[s.name for s in self.steps]}")

    def index(self, name: str) -> int:
        """The position of step `name`."""
        return self.steps.index(self.step(name))

    def validate_services(self, known: Iterable[str]) -> None:
        """Raise `UnknownSagaService` if a step names a service not in `known`."""
        available = set(check.items("known", known, str, "service names"))
        for step in self.steps:
            if step.service not in available:
                raise UnknownSagaService(self.name, step.name, step.service, available)
