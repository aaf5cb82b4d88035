"""Names moved or renamed by issue #12 still resolve; example names say where they went."""

from __future__ import annotations

import importlib

import pytest

import actors
import actors.supervision
import stanchion
import supervisor

# (old module, old name) -> (module, name) it is now
ALIASES = {
    ("actors", "CircuitOpen"): ("actors.breaker", "CircuitOpen"),
    ("actors.taskqueue", "MemoryTaskStore"): ("actors.backends", "MemoryTaskStore"),
    ("actors.taskqueue", "SqliteTaskStore"): ("actors.backends", "SqliteTaskStore"),
    ("actors.taskqueue", "WriteStats"): ("actors.backends", "WriteStats"),
    ("actors.saga", "MemorySagaLog"): ("actors.backends", "MemorySagaLog"),
    ("actors.saga", "SqliteSagaLog"): ("actors.backends", "SqliteSagaLog"),
    ("actors.redis", "RedisTaskStore"): ("actors.backends.redis", "RedisTaskStore"),
    ("actors.redis", "RedisSagaLog"): ("actors.backends.redis", "RedisSagaLog"),
    ("actors.redis", "RedisGroupRegistry"): ("actors.backends.redis", "RedisGroupRegistry"),
    ("actors.redis", "RedisUnavailable"): ("actors.backends.redis", "RedisUnavailable"),
    ("actors.sms", "FakeSmsProvider"): ("actors.testing", "FakeSmsProvider"),
    ("actors.sms", "ProviderCounters"): ("actors.testing", "ProviderMetrics"),
    ("actors.sms", "SmsSettings"): ("actors.sms", "SmsConfig"),
    ("actors.ratelimit", "RateLimit"): ("actors.ratelimit", "RateLimitConfig"),
    ("actors.bulkhead", "CallCounts"): ("actors.bulkhead", "CallerMetrics"),
    ("actors.bulkhead", "IngressCounts"): ("actors.bulkhead", "IngressMetrics"),
    ("actors.retry", "RetryPolicy"): ("actors.core", "RetryPolicy"),
    ("actors.taskqueue", "QueueMetrics"): ("actors.taskqueue", "DeliveryMetrics"),
    ("actors.bus", "SubscriberMetrics"): ("actors.taskqueue", "DeliveryMetrics"),
}


@pytest.mark.parametrize(("old", "new"), ALIASES.items(), ids=".".join)
def test_an_old_name_is_the_new_object(old: tuple[str, str], new: tuple[str, str]) -> None:
    assert getattr(importlib.import_module(old[0]), old[1]) is getattr(
        importlib.import_module(new[0]), new[1])


def test_old_method_names_are_the_new_methods() -> None:
    from actors.bulkhead import Ingress, ServiceCaller  # noqa: PLC0415
    from actors.testing import FakeSmsProvider  # noqa: PLC0415

    assert ServiceCaller.counts is ServiceCaller.metrics
    assert Ingress.counts is Ingress.metrics
    assert FakeSmsProvider.counters is FakeSmsProvider.metrics


@pytest.mark.parametrize(("module", "name", "where"), [
    ("actors.saga", "checkout_definition", "examples.shop"),
    ("actors.saga", "CheckoutLedger", "examples.shop"),
    ("actors.saga", "CHECKOUT", "examples.shop"),
    ("actors.taskqueue", "ProfileReplica", "examples.profiles"),
    ("actors.taskqueue", "DestinationDown", "examples.profiles"),
])
def test_an_example_name_says_where_it_went(module: str, name: str, where: str) -> None:
    with pytest.raises(AttributeError, match=f"moved to {where}"):
        getattr(importlib.import_module(module), name)


def test_an_unknown_name_is_a_plain_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        actors.Nope  # noqa: B018


def test_the_facades_export_the_same_objects() -> None:
    for name in actors.supervision.__all__:
        assert getattr(supervisor, name) is getattr(actors.supervision, name)
        assert getattr(stanchion, name) is getattr(actors.supervision, name)
    for name in actors.__all__:
        assert getattr(stanchion, name) is getattr(actors, name)
    assert set(stanchion.__all__) == set(actors.__all__) | set(actors.supervision.__all__)


def test_public_errors_are_named_where_users_import_them() -> None:
    assert repr(actors.ConfigError) == "<class 'actors.ConfigError'>"
