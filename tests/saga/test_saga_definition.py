"""Saga definitions are validated data: bad input is a typed error naming the field."""

from __future__ import annotations

import pytest

from actors import ConfigError
from actors.retry import RetryPolicy
from actors.saga import SagaDefinition, SagaStep, UnknownSagaService

CHECKOUT = SagaDefinition("checkout", [
    SagaStep("create_order", "orders", "create", "cancel"),
    SagaStep("reserve_inventory", "inventory", "reserve", "release"),
    SagaStep("process_payment", "payments", "charge", "refund"),
    SagaStep("notify", "notifications", "send"),
])


def test_steps_are_looked_up_by_name_and_services_checked():
    assert CHECKOUT.index("process_payment") == 2
    assert CHECKOUT.step("notify").compensation is None
    CHECKOUT.validate_services(["orders", "inventory", "payments", "notifications", "x"])
    with pytest.raises(UnknownSagaService, match=r"step 'process_payment' sends to service "
                                                 r"'payments', which is not running"):
        CHECKOUT.validate_services(["orders", "inventory", "notifications"])
    with pytest.raises(ConfigError, match="step='ship'"):
        CHECKOUT.step("ship")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SagaDefinition("s", []), "steps=[]"),
        (lambda: SagaDefinition("", [SagaStep("a", "svc", "do")]), "name=''"),
        (lambda: SagaDefinition("s", [SagaStep("a", "svc", "do"), SagaStep("a", "svc", "do")]),
         "unique step names"),
        (lambda: SagaStep("a", "svc", "do", timeout=-1), "timeout=-1"),
        (lambda: SagaStep("a", "svc", "do", timeout=0), "timeout=0"),
        (lambda: SagaStep("a", "", "do"), "service=''"),
        (lambda: SagaStep("a", "svc", "do", compensation=""), "compensation=''"),
        (lambda: SagaStep("a", "svc", "do",
                          compensation_retry=RetryPolicy(max_attempts=None)),
         "compensation_retry="),
    ],
)
def test_bad_definitions_are_config_errors(make, message):
    with pytest.raises(ConfigError, match="invalid: expected") as info:
        make()
    assert message in str(info.value)
