"""Every public constructor of the pattern packages, fed hostile values one field at a time.

The constructors are found from each package's `__all__`, so a class added
later is walked without anyone remembering to. For each one, every
parameter in turn is replaced by a hostile value (wrong types, NaN, +-inf,
huge and negative numbers, bools, None, strings with control characters,
lone surrogates or a trailing newline, unhashable containers) while the
others keep a valid baseline. The rule: either it constructs, and then the
value is of the annotated type (a finite number, valid Unicode, a printable
name where a name is expected), or it raises a `ConfigError` naming that
field (or a related one, for a cross-field rule) or another `StanchionError`
that mentions it. Never a raw TypeError, ValueError, OverflowError...
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import importlib
import inspect
import itertools
import math
import os
import random
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from rich.console import Console

from actors import ConfigError, ServiceActor, StanchionError
from actors.backends import MemorySagaLog, MemoryTaskStore
from actors.backends.memory import MemoryOutbox
from actors.breaker import BreakerGate, CircuitBreaker
from actors.bulkhead import CallerMetrics
from actors.bus import EventBus
from actors.core import _validate as check
from actors.core._errors import short_repr
from actors.outbox import OutboxConfig
from actors.ratelimit import TokenBucket
from actors.retry import RetryPolicy
from actors.saga import SagaDefinition, SagaStep
from actors.sms import SmsMessage
from actors.supervision import ActorSystem, ChildSpec
from actors.taskqueue import QueueSpec, TaskQueueConfig, TaskQueueService, TaskStore
from actors.testing import FaultScript
from examples.shop import CHECKOUT, CheckoutLedger
from tests.hypothesis_profiles import examples

PACKAGES = ("actors.retry", "actors.ratelimit", "actors.breaker", "actors.bulkhead",
            "actors.bus", "actors.saga", "actors.taskqueue", "actors.sms", "actors.testing",
            "actors.outbox",
            "actors.logtool", "actors.backends", "examples.peaksale", "examples.peaksale.view",
            "examples.shop", "examples.profiles")

# -- what is not walked, and why ---------------------------------------------------------------
# Besides these names, three kinds are skipped wholesale (see `kind_skipped`): exceptions
# the library raises (their arguments are what it observed, not settings; the ones users
# raise to steer the library are walked, see USER_RAISED), enums (a bad value is Python's
# ValueError by contract), and protocols (not constructible).

_OUTPUT = ("an output: built by the library from validated inputs and handed to the caller; "
           "checking it would tax every call and protect nothing")
SKIPPED: dict[str, str] = {
    # outputs: metrics, snapshots, events, records, decisions
    "RetryBudgetMetrics": _OUTPUT, "RateLimitMetrics": _OUTPUT, "BreakerMetrics": _OUTPUT,
    "BreakerTransition": _OUTPUT,
    "Permit": _OUTPUT, "WindowTotals": _OUTPUT, "CallerMetrics": _OUTPUT,
    "IngressMetrics": _OUTPUT, "LatencySnapshot": _OUTPUT, "Event": _OUTPUT,
    "DeadEvent": _OUTPUT, "SubscriberMetrics": _OUTPUT, "Effect": _OUTPUT,
    "CheckoutBooks": _OUTPUT, "Saga": _OUTPUT, "StepRecord": _OUTPUT, "SagaCommand": _OUTPUT,
    "SendCommand": _OUTPUT, "RetryLater": _OUTPUT, "Finished": _OUTPUT, "Stuck": _OUTPUT,
    "Task": _OUTPUT, "Lease": _OUTPUT, "ClaimedTask": _OUTPUT, "DeadLetteredTask": _OUTPUT,
    "QueueStats": _OUTPUT, "QueueMetrics": _OUTPUT, "WriteStats": _OUTPUT, "RetryAt": _OUTPUT,
    "DeliveryMetrics": _OUTPUT,
    "GiveUp": _OUTPUT, "SmsReceipt": _OUTPUT, "SmsOutcome": _OUTPUT, "SmsMetrics": _OUTPUT,
    "ProviderRequest": _OUTPUT, "DeliveredText": _OUTPUT, "ProviderMetrics": _OUTPUT,
    "Record": _OUTPUT, "BadLine": _OUTPUT, "EventCount": _OUTPUT, "CorruptSaga": _OUTPUT,
    "AdaptiveLimitMetrics": _OUTPUT, "BreakerSyncMetrics": _OUTPUT,
    "ChoreographyMetrics": _OUTPUT, "RetryThrottleMetrics": _OUTPUT, "TimelineEntry": _OUTPUT,
    "OutboxMessage": _OUTPUT, "OutboxMetrics": _OUTPUT, "OutboxStats": _OUTPUT,
    "RelayActor": "started by OutboxRelay.start with the relay it built (walked through start)",
    "ChoreographyState": "the tracker's core, built by Choreography.start from a validated "
                         "definition (walked through start)",
    "SagaMetrics": _OUTPUT,
    # handles and actors the library builds itself from validated values
    "Subscription": "a handle returned by EventBus.subscribe",
    "GateActor": "started by BreakerGate.start with the gate it built (walked through start)",
    "QueueWorker": "started by TaskQueueService.start with its internal pool",
    "SagaCoordinator": "started by Sagas.start with internal wiring (walked through start)",
    "Backend": "built by open_backend from a validated URL (tests/backends walks open_backend)",
    # the Redis classes need a running Redis; tests/backends and tests/hostile's data walk
    # drive them against one
    "RedisTaskStore": "needs a running Redis", "RedisSagaLog": "needs a running Redis",
    "RedisGroupRegistry": "needs a running Redis",
}
USER_RAISED = {"RetryAfter"}  # raised by users' delivery functions; its delay is a setting


def kind_skipped(cls: type) -> str | None:
    if issubclass(cls, BaseException) and cls.__name__ not in USER_RAISED:
        return "an exception the library raises"
    if issubclass(cls, enum.Enum):
        return "an enum"
    if getattr(cls, "_is_protocol", False):
        return "a protocol"
    return None


def exported_classes() -> dict[str, type]:
    found: dict[str, type] = {}
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isclass(value):
                found[name] = value
    return found


CLASSES = exported_classes()
WALKED = {name: cls for name, cls in CLASSES.items()
          if name not in SKIPPED and kind_skipped(cls) is None}


def is_factory(cls: type) -> bool:
    """Built with `Cls.start(system, ...)` rather than `Cls(...)`."""
    return isinstance(vars(cls).get("start"), classmethod) and not issubclass(cls, ServiceActor)


# -- valid baselines ---------------------------------------------------------------------------

_names = itertools.count(1)


@dataclass
class Context:
    system: ActorSystem
    base_url: str
    tmp: Path
    made: list[Any] = field(default_factory=list)

    def unique(self, prefix: str) -> str:
        return f"{prefix}{next(_names)}"


ECHO_SAGA = SagaDefinition("echo", [SagaStep("say", "echo", "say")])


def _deliver(task: object) -> None:
    return None


BASELINES: dict[str, Callable[[Context], dict[str, Any]]] = {
    # only what a valid call needs beyond the defaults
    "RateLimitConfig": lambda c: {"rate_per_second": 10.0, "burst": 5},
    "TokenBucket": lambda c: {"rate_per_second": 10.0, "burst": 5},
    "BreakerGate": lambda c: {"system": c.system, "name": c.unique("gate"), "target": "echo"},
    "CircuitBreaker": lambda c: {"name": "sms"},
    "BreakerSync": lambda c: {"breakers": [CircuitBreaker("sms")], "send": lambda m: None},
    "AdaptiveLimit": lambda c: {"name": "svc"},
    "RelayCore": lambda c: {"config": OutboxConfig(), "clock": lambda: 0.0,
                            "rng": random.Random(0)},
    "OutboxRelay": lambda c: {"system": c.system, "store": MemoryOutbox(),
                              "publish": lambda message: None, "name": c.unique("relay")},
    "Choreography": lambda c: {"system": c.system, "bus": EventBus.start(
        c.system, name=c.unique("bus")), "definition": ECHO_SAGA, "prefix": c.unique("echo")},
    "CountWindow": lambda c: {"size": 10},
    "TimeWindow": lambda c: {"seconds": 10},
    "Ingress": lambda c: {"limiter": TokenBucket(10, 5)},
    "ServiceCaller": lambda c: {"ref": c.system.service("echo"), "timeout": 1.0,
                                "fallback": lambda reason, error: None},
    "EventBus": lambda c: {"system": c.system, "name": c.unique("bus")},
    "CheckoutService": lambda c: {"ledger": CheckoutLedger()},
    "Orders": lambda c: {"ledger": CheckoutLedger()},
    "Inventory": lambda c: {"ledger": CheckoutLedger()},
    "Payments": lambda c: {"ledger": CheckoutLedger()},
    "Shipping": lambda c: {"ledger": CheckoutLedger()},
    "SagaDefinition": lambda c: {"name": "pay", "steps": [SagaStep("a", "svc", "do")]},
    "SagaMachine": lambda c: {"definition": CHECKOUT},
    "SagaStep": lambda c: {"name": "reserve", "service": "inventory", "command": "reserve"},
    "Sagas": lambda c: {"system": c.system, "definitions": [ECHO_SAGA], "log": MemorySagaLog(),
                        "name": c.unique("sagas")},
    "NewTask": lambda c: {"queue": "q", "payload": {"v": 1}},
    "ProfileUpdate": lambda c: {"user_id": "u-1", "version": 1, "fields": {}},
    "QueueSpec": lambda c: {"queue": "q", "deliver": "svc"},
    "RetryAfter": lambda c: {"delay": 1.0},
    "SqliteSagaLog": lambda c: {"path": c.tmp / f"{c.unique('sagas')}.db"},
    "SqliteTaskStore": lambda c: {"config": TaskQueueConfig(
        sqlite_path=c.tmp / f"{c.unique('tasks')}.sqlite3")},
    "TaskQueue": lambda c: {"store": MemoryTaskStore()},
    "TaskQueueService": lambda c: {"system": c.system, "store": MemoryTaskStore(),
                                   "queues": [QueueSpec("q", _deliver)],
                                   "name": c.unique("tq")},
    "TaskSchedule": lambda c: {"policy": RetryPolicy(), "clock": lambda: 0.0,
                               "rng": random.Random(0)},
    "NotificationService": lambda c: {"system": c.system, "settings": _sms_settings(c),
                                      "name": c.unique("sms")},
    "SendSms": lambda c: {"message": SmsMessage("+15551234567", "hi", "k-1")},
    "SmsClient": lambda c: {"base_url": c.base_url},
    "SmsMessage": lambda c: {"to": "+15551234567", "body": "hi"},
    "SmsSender": lambda c: {"client_factory": lambda: None},
    "SmsConfig": lambda c: {"base_url": c.base_url},
    "TaskQueueOutbox": lambda c: {"system": c.system, "store": MemoryTaskStore(),
                                  "deliver": lambda message, task: None,
                                  "queue": c.unique("sms"), "name": c.unique("outbox")},
    "Fault": lambda c: {"kind": "slow", "seconds": 0.1},
    "ScriptedService": lambda c: {"script": FaultScript()},
    "DemoSnapshot": lambda c: {"phase": "warm-up", "elapsed": 1.0},
    "LiveView": lambda c: {"snapshot": lambda: None, "auto_refresh": False},
    "Story": lambda c: {"config": _story_config(), "rng": random.Random(0)},
}


def _sms_settings(c: Context) -> Any:
    from actors.sms import SmsConfig  # noqa: PLC0415 - kept beside its one use

    return SmsConfig(c.base_url)


def _story_config() -> Any:
    from examples.peaksale import StoryConfig  # noqa: PLC0415 - kept beside its one use

    return StoryConfig(backend="memory")


# -- what counts as an acceptable refusal --------------------------------------------------------

# Cross-field rules: a valid value for the first field can make the second one wrong.
RELATED: dict[tuple[str, str], set[str]] = {
    ("RetryPolicy", "base_delay"): {"max_delay"},
    ("BreakerConfig", "window_size"): {"minimum_calls"},
    ("BreakerConfig", "window_type"): {"window_size", "minimum_calls"},
    ("BreakerConfig", "wait_in_open"): {"max_wait_in_open"},
    ("BreakerConfig", "failure_predicate"): {"breaker"},
    ("SmsConfig", "max_connections"): {"max_keepalive"},
    ("SmsConfig", "breaker"): {"breaker"},
    ("SmsClient", "max_connections"): {"max_keepalive"},
    ("DemoSnapshot", "services"): {"services"},
    ("AdaptiveLimitConfig", "min_limit"): {"initial_limit", "max_limit"},
    ("AdaptiveLimitConfig", "max_limit"): {"initial_limit"},
}

# Parameters whose accepted strings must be names (`actors.core._validate.name`).
NAME_FIELDS = {"name", "queue", "service", "command", "compensation", "target", "run_id",
               "user_id", "phase", "saga_id", "state"}

# Where infinity is a documented "no limit" (none so far in these packages).
INF_OK: set[tuple[str, str]] = set()


def accepts_refusal(owner: str, param: str, value: object, error: BaseException) -> bool:
    if isinstance(error, ConfigError):
        allowed = {param} | RELATED.get((owner, param), set())
        return any(error.field == name or error.field.endswith(f".{name}")
                   or error.field.startswith(f"{name}") for name in allowed)
    if isinstance(error, StanchionError):
        text = str(error)
        shown = short_repr(str(value) if isinstance(value, os.PathLike) else value)
        return param in text or shown in text
    return False


# -- a small runtime type check against the annotations ------------------------------------------

LOCALNS: dict[str, Any] = {
    "ActorSystem": ActorSystem, "EventBus": EventBus, "TaskStore": TaskStore,
    "CallerMetrics": CallerMetrics, "Console": Console, "BreakerGate": BreakerGate,
    "TaskQueueService": TaskQueueService,
}


def hints_of(target: Callable[..., Any]) -> dict[str, Any]:
    globalns = getattr(inspect.getmodule(target), "__dict__", {})
    if inspect.isclass(target) and not dataclasses.is_dataclass(target):
        target = target.__init__  # the class's own annotations are its attributes'
    return typing.get_type_hints(target, globalns=globalns, localns=LOCALNS)


def conforms(value: object, hint: Any, owner: str, param: str) -> bool:
    """Whether `value` is of type `hint` (what an accepted value must be)."""
    if hint is Any or isinstance(hint, typing.TypeVar):
        return True
    if hint is None or hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, arg, owner, param) for arg in args)
    if origin is typing.Literal:
        return any(type(value) is type(arg) and value == arg for arg in args)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        finite = (owner, param) in INF_OK or check.is_finite_number(value)
        return check.is_number(value) and (finite or value == math.inf)
    if hint is str:
        return isinstance(value, str) and check.text_problem(value) is None
    if origin is type:
        return isinstance(value, type) and issubclass(value, args[0])
    if origin is collections.abc.Callable or hint is collections.abc.Callable:
        return callable(value)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(conforms(item, args[0], owner, param) for item in value)
        return len(args) == len(value) and all(
            conforms(item, arg, owner, param) for item, arg in zip(value, args, strict=True))
    if origin in (list, collections.abc.Sequence, collections.abc.Iterable):
        return (isinstance(value, collections.abc.Iterable)
                and not isinstance(value, str | bytes)
                and (not isinstance(value, collections.abc.Sequence)
                     or all(conforms(item, args[0], owner, param) for item in value)))
    if origin in (dict, collections.abc.Mapping):
        return isinstance(value, collections.abc.Mapping) and all(
            conforms(k, args[0], owner, param) and conforms(v, args[1], owner, param)
            for k, v in value.items())
    if origin is not None:
        return isinstance(value, origin)
    if hint in (typing.TextIO, IO):
        return callable(getattr(value, "write", None))
    if getattr(hint, "_is_protocol", False) and not getattr(hint, "_is_runtime_protocol", False):
        members = [n for n in vars(hint) if not n.startswith("_")]
        return all(hasattr(value, n) for n in members)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # an alias we cannot check at run time


# -- hostile values ------------------------------------------------------------------------------


class Unhashable(list[int]):
    """A list: unhashable, iterable, and equal to nothing useful."""


class Hostile:
    """An object whose every dunder that a validator might touch raises."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no eq")

    def __hash__(self) -> int:
        raise RuntimeError("no hash")

    def __iter__(self) -> Iterator[int]:
        raise RuntimeError("no iter")


FIXED: tuple[Any, ...] = (
    None, True, False, 0, -1, 1.5, -0.0, math.nan, math.inf, -math.inf, 1e308, 2**64,
    -(2**63), 10**100, "", " ", "name\n", "a\x00b", "\ud800", "\u202eevil", "x" * 10_000,
    b"bytes", [], [1], {}, {"a": 1}, set(), Unhashable([1]), object(), Hostile(),
    complex(1, 1), Path("/nonexistent/dir/file.db"),
)

GENERATED = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.text(st.characters(exclude_categories=()), max_size=30),
    st.booleans(),
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.tuples(st.integers(), st.text(max_size=3)),
    st.sets(st.integers(), max_size=2),
)


# -- the walk ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    owner: str
    param: str

    def __str__(self) -> str:
        return f"{self.owner}.{self.param}"


def target_of(cls: type) -> Callable[..., Any]:
    return cls.start if is_factory(cls) else cls  # type: ignore[attr-defined, no-any-return]


def parameters_of(cls: type) -> list[str]:
    signature = inspect.signature(target_of(cls))
    return [name for name, p in signature.parameters.items()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


CASES = [Case(name, param) for name, cls in sorted(WALKED.items())
         for param in parameters_of(cls)]
FACTORY_CASES = [c for c in CASES if is_factory(WALKED[c.owner])]
PLAIN_CASES = [c for c in CASES if not is_factory(WALKED[c.owner])]


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Context]:
    from actors.testing import FakeSmsProvider  # noqa: PLC0415 - kept beside its one use

    class Echo(ServiceActor):
        def on_receive(self, message: Any) -> Any:
            return message

    tmp = tmp_path_factory.mktemp("hostile")
    cwd = Path.cwd()
    os.chdir(tmp)  # a hostile path that is accepted creates its file here, not in the repo
    try:
        with (FakeSmsProvider() as provider,
              ActorSystem([ChildSpec("echo", Echo)], rng=random.Random(0)) as system):
            yield Context(system, provider.base_url, tmp)
    finally:
        os.chdir(cwd)


def attempt(target: Callable[..., Any], kwargs: dict[str, Any]) -> tuple[Any, Exception | None]:
    """What `target(**kwargs)` returned, or the exception it raised (classifying it is the test)."""
    try:
        return target(**kwargs), None
    except Exception as error:
        return None, error


def build(case: Case, value: object, ctx: Context) -> None:
    cls = WALKED[case.owner]
    kwargs = BASELINES.get(case.owner, lambda c: {})(ctx)
    kwargs[case.param] = value
    target = target_of(cls)
    made, refusal = attempt(target, kwargs)
    if refusal is not None:
        assert accepts_refusal(case.owner, case.param, value, refusal), (
            f"{case}={short_repr(value)} raised {type(refusal).__name__}: {refusal}")
        return
    try:
        # What was kept (a list may be stored as a tuple, a str path as a Path), or what was given.
        try:
            kept = getattr(made, case.param, value) if not is_factory(cls) else value
        except StanchionError:  # a property that needs a started object (a provider's port)
            kept = value
        hint = hints_of(target).get(case.param, Any)
        assert conforms(kept, hint, case.owner, case.param), (
            f"{case} accepted {short_repr(value)} (kept as {short_repr(kept)}), which is not "
            f"a {hint}")
        if case.param in NAME_FIELDS and isinstance(kept, str):
            check.name(case.param, kept)  # accepted, so it must be a clean name
    finally:
        _dispose(made, ctx)


def _dispose(made: object, ctx: Context) -> None:
    for method in ("close", "stop"):
        action = getattr(made, method, None)
        if callable(action) and not isinstance(made, ServiceActor):
            action()
            return
    name = getattr(made, "name", None)
    if type(made).__name__ == "Sagas" and isinstance(name, str):
        ctx.system.service(name).stop()


def test_every_exported_class_is_walked_or_skipped_for_a_reason() -> None:
    stale = sorted(set(SKIPPED) - set(CLASSES))
    assert not stale, f"SKIPPED names classes no package exports any more: {stale}"
    missing = sorted(n for n, cls in WALKED.items() if parameters_of(cls)
                     and any(p.default is p.empty for p in inspect.signature(
                         target_of(cls)).parameters.values()
                             if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
                     and n not in BASELINES)
    assert not missing, f"add a valid baseline to BASELINES for {missing}"
    assert len(CASES) > 150  # the walk covers the packages, not a handful of classes


@pytest.mark.parametrize("case", PLAIN_CASES, ids=str)
def test_fixed_hostile_values(case: Case, context: Context) -> None:
    for value in FIXED:
        build(case, value, context)


@pytest.mark.parametrize("case", PLAIN_CASES, ids=str)
@settings(max_examples=examples(30), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=GENERATED)
def test_generated_hostile_values(case: Case, context: Context, value: object) -> None:
    build(case, value, context)


@pytest.mark.parametrize("case", FACTORY_CASES, ids=str)
def test_fixed_hostile_values_for_started_services(case: Case, context: Context) -> None:
    for value in FIXED:
        build(case, value, context)


@pytest.mark.parametrize("case", FACTORY_CASES, ids=str)
@settings(max_examples=examples(10), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=GENERATED)
def test_generated_hostile_values_for_started_services(case: Case, context: Context,
                                                        value: object) -> None:
    build(case, value, context)


# -- entry points that take user data (names, patterns, timeouts that become timers) -----------


@dataclass
class Services:
    bus: EventBus
    tasks: TaskQueueService
    sagas: Any
    sms: Any
    gate: BreakerGate


@pytest.fixture(scope="module")
def services(context: Context) -> Iterator[Services]:
    from actors.saga import Sagas  # noqa: PLC0415 - kept beside its one use
    from actors.sms import NotificationService  # noqa: PLC0415

    system = context.system
    found = Services(
        bus=EventBus.start(system, name="entry-bus"),
        tasks=TaskQueueService.start(system, MemoryTaskStore(), [QueueSpec("q", _deliver)],
                                     name="entry-tq"),
        sagas=Sagas.start(system, [ECHO_SAGA], MemorySagaLog(), name="entry-sagas"),
        sms=NotificationService.start(system, _sms_settings(context), name="entry-sms"),
        gate=BreakerGate.start(system, "entry-gate", target="echo"),
    )
    yield found
    found.sms.stop()
    found.tasks.stop()
    found.bus.stop()
    found.gate.stop()


def _unsubscribe(subscription: Any) -> None:
    subscription.unsubscribe()


ENTRY_POINTS: dict[str, tuple[Callable[[Services], Callable[..., Any]], dict[str, Any],
                              Callable[[Any], None]]] = {
    # name: (the bound method, a valid call's arguments, how to undo a call that worked)
    "EventBus.publish": (lambda s: s.bus.publish,
                         {"event_name": "order.created", "payload": {}}, lambda r: None),
    "EventBus.subscribe": (lambda s: s.bus.subscribe,
                           {"pattern": "order.*", "handler": _deliver, "name": None,
                            "durable": False, "timeout": 5.0}, _unsubscribe),
    "TaskQueueService.enqueue": (lambda s: s.tasks.enqueue,
                                 {"queue": "q", "payload": {}, "delay": 0.0, "at": None,
                                  "priority": 0}, lambda r: None),
    "Sagas.start_saga": (lambda s: s.sagas.start_saga,
                         {"definition": "echo", "data": {}, "saga_id": None, "timeout": 5.0},
                         lambda r: None),
    "NotificationService.send_sms": (lambda s: s.sms.send_sms,
                                     {"to": "+15551234567", "body": "hi",
                                      "idempotency_key": None, "timeout": 2.0},
                                     lambda r: None),
    "BreakerGate.ask": (lambda s: s.gate.ask, {"message": "hi", "timeout": 2.0},
                        lambda r: None),
}
ENTRY_CASES = [Case(name, param) for name, (_, baseline, _) in sorted(ENTRY_POINTS.items())
               for param in baseline if param not in ("payload", "data", "handler", "message")]
ENTRY_NAMES = NAME_FIELDS | {"event_name", "pattern", "definition", "idempotency_key"}


def call_entry(case: Case, value: object, found: Services) -> None:
    bound, baseline, undo = ENTRY_POINTS[case.owner]
    kwargs = {**baseline, case.param: value}
    result, refusal = attempt(bound(found), kwargs)
    if refusal is not None:
        assert accepts_refusal(case.owner, case.param, value, refusal), (
            f"{case}={short_repr(value)} raised {type(refusal).__name__}: {refusal}")
        return
    undo(result)
    if case.param in ENTRY_NAMES and isinstance(value, str):
        check.name(case.param, value, max_length=200)  # accepted, so a clean name


@pytest.mark.parametrize("case", ENTRY_CASES, ids=str)
def test_fixed_hostile_values_at_entry_points(case: Case, services: Services) -> None:
    for value in FIXED:
        call_entry(case, value, services)


@pytest.mark.parametrize("case", ENTRY_CASES, ids=str)
@settings(max_examples=examples(15), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=GENERATED)
def test_generated_hostile_values_at_entry_points(case: Case, services: Services,
                                                  value: object) -> None:
    call_entry(case, value, services)
