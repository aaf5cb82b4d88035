"""The small APIs the console reads and acts through: services(), DeadLetterStore.remove,
EventBus.purge, and the console model's own reads."""

from __future__ import annotations

import threading
from typing import Any

from actors import DeadLetter, DeadLetterStore, ServiceActor
from actors.bus import EventBus, EventBusConfig
from actors.console import Console
from actors.retry import RetryPolicy
from actors.supervision import ActorSystem, ChildSpec, SupervisorSpec


class Echo(ServiceActor):
    def on_receive(self, message: Any) -> Any:
        return message


def test_services_lists_the_tree_with_supervisors_and_stats_without_a_message() -> None:
    tree = [ChildSpec("a", Echo), SupervisorSpec("shop", [ChildSpec("b", Echo)])]
    with ActorSystem(tree) as system:
        system.service("a").ask("hi")
        system.start_child(SupervisorSpec("late", [ChildSpec("c", Echo)]), parent="shop")
        root_processed = system.service("root").stats().processed
        infos = {info.name: info for info in system.services()}
        assert system.service("root").stats().processed == root_processed
        assert {name: info.supervisor for name, info in infos.items()} == {
            "root": None, "a": "root", "shop": "root", "b": "shop", "late": "shop", "c": "late"}
        assert infos["shop"].kind == "supervisor"
        assert infos["a"].kind == "worker"
        assert infos["a"].stats.processed == 1
        assert infos["a"].restarts == 0
        # The console shows it depth-first, children under their supervisor.
        rows = Console(system).tree()
        assert [(r.name, r.level) for r in rows] == [
            ("root", 0), ("a", 1), ("shop", 1), ("b", 2), ("late", 2), ("c", 3)]


def test_a_dead_letter_store_removes_one_letter() -> None:
    store = DeadLetterStore(capacity=10)
    first, second = DeadLetter("a", 1, "stopped"), DeadLetter("a", 1, "stopped")
    store.add(first)
    store.add(second)
    assert store.remove(second) is True
    assert store.list() == [first]
    assert store.list()[0] is first
    assert store.remove(second) is False
    assert store.total == 2


def test_a_bus_purges_dead_events() -> None:
    failed = threading.Event()

    def fail(_payload: Any) -> None:
        failed.set()
        raise RuntimeError("no")

    with ActorSystem() as system:
        bus = EventBus.start(system, EventBusConfig(retry=RetryPolicy(max_attempts=1)))
        bus.subscribe("x.*", fail, name="s")
        bus.subscribe("x.*", fail, name="t")
        bus.publish("x.a", 1)
        bus.publish("x.b", 2)
        assert bus.wait_for_dead_letters(4, timeout=10)
        assert bus.purge("s", select=lambda d: d.event.name == "x.a") == 1
        assert [(d.subscriber, d.event.name) for d in bus.dead_letters()
                if d.subscriber == "s"] == [("s", "x.b")]
        assert bus.purge() == 3
        assert bus.dead_letters() == []
