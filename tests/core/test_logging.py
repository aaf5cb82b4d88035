"""Structured logs: JSON lines, correlation ids across actors, masking."""

from __future__ import annotations

import io
import json
import threading

import pytest
import structlog

from actors import (
    ConfigError,
    Sensitive,
    ServiceActor,
    bind_context,
    capture_logs,
    configure_logging,
    current_context,
)
from actors.supervision import ActorSystem, ChildSpec
from tests.conftest import named


class Payment(ServiceActor):
    def on_receive(self, message: dict[str, str]) -> str:
        structlog.get_logger().info("payment.charged", card_number=message["card"])
        return "charged"


class Orders(ServiceActor):
    def __init__(self, payment_name: str, system_box: list[ActorSystem]) -> None:
        super().__init__()
        self.payment_name = payment_name
        self.system_box = system_box

    def on_receive(self, message: dict[str, str]) -> str:
        log = structlog.get_logger()
        with bind_context(order_id=message["order_id"]):
            log.info("order.created", phone=message["phone"])
            payment = self.system_box[0].service(self.payment_name)
            return str(payment.ask({"card": message["card"]}))


def test_correlation_ids_flow_from_actor_to_actor(events):
    box: list[ActorSystem] = []
    system = ActorSystem([ChildSpec("payment", Payment),
                          ChildSpec("orders", Orders, args=("payment", box))])
    box.append(system)
    with system, bind_context(request_id="req-7"):
        reply = system.service("orders").ask(
            {"order_id": "o-1", "phone": "+447911123456", "card": "4111111111111111"})
    assert reply == "charged"
    created = named(events, "order.created")[0]
    charged = named(events, "payment.charged")[0]
    assert created["request_id"] == "req-7"
    assert created["order_id"] == "o-1"
    assert created["actor"] == "orders"
    # The payment actor's log carries the ids of the request that caused it.
    assert charged["request_id"] == "req-7"
    assert charged["order_id"] == "o-1"
    assert charged["actor"] == "payment"
    assert created["phone"] == "***3456"
    assert charged["card_number"] == "***1111"


def test_context_does_not_leak_between_messages(events):
    seen: list[dict[str, object]] = []
    done = threading.Event()

    class Recorder(ServiceActor):
        def on_receive(self, message: str) -> None:
            seen.append(dict(current_context()))
            if message == "second":
                done.set()

    ref = Recorder.start()
    with bind_context(request_id="first"):
        ref.tell("first")
    ref.tell("second")
    assert done.wait(5)
    ref.stop(timeout=5)
    assert seen == [{"request_id": "first"}, {}]


def test_json_file_lines_have_the_schema(tmp_path):
    path = tmp_path / "logs" / "app.jsonl"
    console = io.StringIO()
    configure_logging(level="info", json_file=path, console=console)
    try:
        log = structlog.get_logger()
        with bind_context(saga_id="s-1"):
            log.info("saga.started", note="text to +44 7911 123456", token=Sensitive("abc"))
        log.debug("debug.hidden")
    finally:
        configure_logging(level="warning")
    lines = path.read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["event"] == "saga.started"
    assert record["level"] == "info"
    assert record["saga_id"] == "s-1"
    assert record["timestamp"].endswith("Z")
    assert "T" in record["timestamp"]
    assert "7911 123456" not in lines[0]
    assert record["token"] == "***"
    assert "saga.started" in console.getvalue()
    assert "7911 123456" not in console.getvalue()


def test_sensitive_keys_are_configurable_and_nested_values_masked():
    with capture_logs(sensitive_keys={"ssn"}) as captured:
        structlog.get_logger().info("user.updated", ssn="123-45-6789",
                                    profile={"ssn": "987-65-4321", "name": "Ada"})
    event = captured[0]
    assert event["ssn"] == "***89"
    assert event["profile"] == {"ssn": "***21", "name": "Ada"}


def test_unknown_level_is_a_config_error():
    with pytest.raises(ConfigError, match="level='loud' is invalid"):
        configure_logging(level="loud")
