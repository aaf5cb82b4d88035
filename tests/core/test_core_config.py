"""Supervision settings and call timeouts are validated where they are given, by field."""

from __future__ import annotations

import asyncio
import math
import random
import threading
from typing import Any

import pytest

from actors import AskTimeout, ConfigError, DeadLetterStore, ServiceActor
from actors.retry import RetryPolicy
from actors.supervision import ActorSystem, ChildSpec, RestartIntensity, SupervisorSpec
from tests.supervision.supervision_helpers import Probe, Worker

NAN, INF = math.nan, math.inf


class Echo(ServiceActor):
    def on_receive(self, message: Any) -> Any:
        return message


CHILD_SPEC_BAD = [
    ("name", ""), ("name", " padded"), ("name", "trailing\n"), ("name", "bell\a"),
    ("name", "\ud800"), ("name", 7), ("name", None), ("name", "x" * 201),
    ("actor_class", object), ("actor_class", "Echo"), ("actor_class", Echo()),
    ("args", "abc"), ("args", b"abc"), ("args", 5), ("args", None), ("args", {1, 2}),
    ("kwargs", [("a", 1)]), ("kwargs", {1: "a"}), ("kwargs", "a=1"),
    ("restart", "sometimes"), ("restart", 1),
    ("pool_size", 0), ("pool_size", True), ("pool_size", 1.5), ("pool_size", "2"),
    ("pool_size", None), ("pool_size", 10**9), ("pool_size", NAN),
    ("mailbox_size", 0), ("mailbox_size", False), ("mailbox_size", 2.0),
    ("mailbox_size", 10**12), ("mailbox_size", "10"),
    ("ask_timeout", 0), ("ask_timeout", -1), ("ask_timeout", NAN), ("ask_timeout", INF),
    ("ask_timeout", True), ("ask_timeout", "5"),
    ("shutdown_timeout", 0), ("shutdown_timeout", INF), ("shutdown_timeout", NAN),
    ("shutdown_timeout", 1e300), ("shutdown_timeout", None), ("shutdown_timeout", False),
]


@pytest.mark.parametrize(("field", "value"), CHILD_SPEC_BAD)
def test_child_spec_refuses_each_bad_field_by_name(field, value):
    settings: dict[str, Any] = {"name": "echo", "actor_class": Echo}
    settings[field] = value
    with pytest.raises(ConfigError) as info:
        ChildSpec(**settings)
    assert info.value.field == field


def test_child_spec_normalises_what_it_accepts():
    spec = ChildSpec("echo", Echo, args=[1, 2], kwargs={"a": 1}, ask_timeout=2,
                     shutdown_timeout=1)
    assert spec.args == (1, 2)
    assert spec.kwargs == {"a": 1}
    assert spec.effective_ask_timeout == 2.0


@pytest.mark.parametrize(("attribute", "value"), [
    ("mailbox_size", 0), ("mailbox_size", True), ("mailbox_size", 2.5),
    ("ask_timeout", NAN), ("ask_timeout", INF), ("ask_timeout", 0), ("ask_timeout", "1"),
    ("max_message_crashes", 0), ("max_message_crashes", 1.0), ("max_message_crashes", None),
])
def test_service_actor_class_attributes_are_checked_at_start(attribute, value):
    bad = type("Bad", (Echo,), {attribute: value})
    with pytest.raises(ConfigError, match=f"Bad.{attribute}="):
        ChildSpec("bad", bad)
    with pytest.raises(ConfigError, match=f"Bad.{attribute}="):
        bad.start()


SUPERVISOR_SPEC_BAD = [
    ("name", ""), ("name", "tab\tinside"), ("name", 3),
    ("children", "abc"), ("children", ChildSpec("echo", Echo)), ("children", None),
    ("children", [ChildSpec("echo", Echo), "echo"]), ("children", {"echo": 1}),
    ("strategy", "one_for_some"), ("strategy", None),
    ("max_restarts", -1), ("max_restarts", True), ("max_restarts", 2.5), ("max_restarts", None),
    ("within_seconds", 0), ("within_seconds", NAN), ("within_seconds", INF),
    ("within_seconds", "5"), ("within_seconds", False),
    ("restart_backoff", 0.1), ("restart_backoff", None), ("restart_backoff", "fast"),
    ("restart", "never"),
    ("shutdown_timeout", INF), ("shutdown_timeout", -1), ("shutdown_timeout", NAN),
]


@pytest.mark.parametrize(("field", "value"), SUPERVISOR_SPEC_BAD)
def test_supervisor_spec_refuses_each_bad_field_by_name(field, value):
    settings: dict[str, Any] = {"name": "shop", "children": []}
    settings[field] = value
    with pytest.raises(ConfigError) as info:
        SupervisorSpec(**settings)
    assert info.value.field == field


def test_a_single_spec_for_children_is_refused_with_a_hint():
    with pytest.raises(ConfigError, match=r"wrap a single spec: \[spec\]"):
        ActorSystem(ChildSpec("echo", Echo))  # type: ignore[arg-type]


SYSTEM_BAD = [
    ("children", "echo"), ("name", "root\n"),
    ("max_restarts", True), ("within_seconds", INF), ("restart_backoff", object()),
    ("dead_letter_capacity", 0), ("dead_letter_capacity", 1.5), ("dead_letter_capacity", True),
    ("shutdown_timeout", INF), ("shutdown_timeout", NAN), ("shutdown_timeout", 0),
    ("start_timeout", INF), ("start_timeout", -1),
    ("rng", 42), ("rng", "seed"), ("clock", 1.0), ("clock", lambda: NAN),
]


@pytest.mark.parametrize(("field", "value"), SYSTEM_BAD)
def test_actor_system_refuses_each_bad_setting_by_name(field, value, no_thread_leaks):
    with pytest.raises(ConfigError) as info:
        ActorSystem(**{field: value})
    assert info.value.field in (field, "capacity")  # DeadLetterStore names its own field


@pytest.mark.parametrize(("max_restarts", "within"), [
    (-1, 5.0), (True, 5.0), (1.0, 5.0), (3, 0), (3, NAN), (3, INF), (3, "5"),
])
def test_restart_intensity_refuses_bad_values(max_restarts, within):
    with pytest.raises(ConfigError):
        RestartIntensity(max_restarts, within)


@pytest.mark.parametrize("capacity", [0, -1, True, 1.5, "10", None])
def test_dead_letter_capacity_is_an_integer(capacity):
    with pytest.raises(ConfigError, match="capacity="):
        DeadLetterStore(capacity)


@pytest.mark.parametrize("timeout", [NAN, -1, -INF, "1", True, [1], object()])
def test_a_bad_ask_timeout_is_refused_before_anything_is_sent(timeout, no_thread_leaks):
    with ActorSystem([ChildSpec("echo", Echo)], rng=random.Random(1)) as system:
        echo = system.service("echo")
        with pytest.raises(ConfigError, match="timeout="):
            echo.ask("hi", timeout=timeout)
        with pytest.raises(ConfigError, match="timeout="):
            echo.ask("hi", block=False, timeout=timeout)
        assert echo.stats().processed == 0  # nothing was queued
        future = echo.ask("hi", block=False)
        with pytest.raises(ConfigError, match="timeout="):
            future.get(timeout=timeout)
        assert future.get(timeout=5) == "hi"


def test_ask_timeout_zero_only_takes_a_reply_that_is_there_and_inf_waits(no_thread_leaks):
    probe, gate = Probe(), threading.Event()
    with ActorSystem([ChildSpec("w", Worker, args=(probe, gate))]) as system:
        ref = system.service("w")
        ref.tell("block")
        probe.wait_for("blocked", "w")
        with pytest.raises(AskTimeout):
            ref.ask("now", timeout=0)
        future = ref.ask("later", block=False)
        gate.set()
        assert future.get(timeout=INF) == "later"
        assert ref.ask("huge", timeout=1e300) == "huge"  # a finite wait beyond any lock's limit


async def _ask_async(ref: Any, timeout: Any) -> Any:
    return await ref.ask_async("hi", timeout=timeout)


@pytest.mark.parametrize("timeout", [NAN, -1, "1", False])
def test_a_bad_ask_async_timeout_is_refused(timeout, no_thread_leaks):
    with ActorSystem([ChildSpec("echo", Echo)]) as system:
        echo = system.service("echo")
        with pytest.raises(ConfigError, match="timeout="):
            asyncio.run(_ask_async(echo, timeout))
        assert asyncio.run(_ask_async(echo, INF)) == "hi"


@pytest.mark.parametrize("timeout", [NAN, -1, INF, "1"])
def test_shutdown_and_stop_timeouts_are_checked(timeout, no_thread_leaks):
    with ActorSystem([ChildSpec("echo", Echo)]) as system:
        with pytest.raises(ConfigError, match="timeout="):
            system.shutdown(timeout)
        if timeout != INF:  # inf is "wait forever" for a stop
            with pytest.raises(ConfigError, match="timeout="):
                system.service("echo").stop(timeout=timeout)
        with pytest.raises(ConfigError, match="timeout="):
            system.wait_failed(timeout)
        assert system.running


def test_restart_backoff_must_be_a_retry_policy():
    ActorSystem(restart_backoff=RetryPolicy(max_attempts=None))
    with pytest.raises(ConfigError, match="restart_backoff="):
        ActorSystem(restart_backoff={"base_delay": 0.1})  # type: ignore[arg-type]
