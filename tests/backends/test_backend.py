"""open_backend: one URL picks where the task stores, the saga log and the bus groups live."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from actors import ConfigError, StanchionError
from actors.backends import (
    Backend,
    BackendNotInstalled,
    MemorySagaLog,
    MemoryTaskStore,
    SqliteSagaLog,
    SqliteTaskStore,
    open_backend,
)
from actors.bus import EventBus
from actors.saga import SagaLog
from actors.supervision import ActorSystem
from actors.taskqueue import TaskQueue, TaskQueueConfig, TaskStore
from tests.bus.test_bus import Recorder
from tests.hypothesis_profiles import examples


def test_memory_opens_each_store_once_and_keeps_groups_beside_its_tasks():
    with open_backend("memory://") as backend:
        store = backend.task_store("orders")
        assert isinstance(store, MemoryTaskStore)
        assert backend.task_store("orders") is store
        assert backend.task_store("mail") is not store
        assert backend.group_registry("orders") is store.group_registry()
        assert isinstance(backend.saga_log(), MemorySagaLog)
        assert backend.saga_log() is backend.saga_log()
    with pytest.raises(ConfigError, match="an open backend"):
        backend.task_store("orders")


def test_sqlite_keeps_one_file_per_store_and_the_sagas_in_a_directory(tmp_path: Path):
    directory = tmp_path / "data" / "stanchion"
    with open_backend(f"sqlite:///{directory}") as backend:  # an absolute path: sqlite:////...
        assert backend.directory == directory
        config = TaskQueueConfig(visibility_timeout=3.0)
        store = backend.task_store("orders", config)
        assert isinstance(store, SqliteTaskStore)
        assert store.config.visibility_timeout == 3.0
        assert Path(store.config.sqlite_path) == directory / "orders.sqlite3"
        TaskQueue(store).enqueue("billing", {"order_id": "o-1"})
        assert isinstance(backend.saga_log(), SqliteSagaLog)
        with pytest.raises(ConfigError, match="the config task store 'orders' was opened with"):
            backend.task_store("orders", TaskQueueConfig(visibility_timeout=4.0))
    assert sorted(p.name for p in directory.glob("*.sqlite3")) == ["orders.sqlite3",
                                                                 "sagas.sqlite3"]
    with open_backend(f"sqlite:///{directory}") as again:  # the tasks are still there
        assert TaskQueue(again.task_store("orders")).stats("billing").depth == 1


def test_a_relative_sqlite_path_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    backend = open_backend("sqlite:///rel/dir")
    assert backend.directory == Path("rel/dir")
    backend.task_store()
    backend.close()
    assert (tmp_path / "rel" / "dir" / "tasks.sqlite3").exists()


def test_the_bus_finds_its_durable_groups_through_the_store(tmp_path: Path):
    with open_backend(f"sqlite:///{tmp_path}") as backend, ActorSystem() as system:
        bus = EventBus.start(system, store=backend.task_store("bus"))
        recorder = Recorder()
        bus.subscribe("order.*", recorder, name="audit", durable=True)
        assert backend.group_registry("bus").groups(bus.name) == {"audit": "order.*"}
        bus.publish("order.created", 1)
        assert recorder.wait_for(1) == [1]


def test_a_store_without_group_registry_is_refused_with_what_to_pass():
    class Plain(MemoryTaskStore):  # a task store that keeps no durable groups
        group_registry = None

    with ActorSystem() as system, pytest.raises(ConfigError, match="group_registry"):
        EventBus.start(system, store=Plain())  # type: ignore[arg-type]


@pytest.mark.parametrize("url", [
    "", "memory", "memory://x", "sqlite://", "sqlite:///", "sqlite://rel", "sqlite:///d?x=1",
    "postgres://db/1", "redis://", "redis://h:99999/0", "http://example.com", "file:///tmp",
    "sqlite:///a\ud800", "sqlite:///a\x00b",
])
def test_bad_urls_are_refused_naming_the_forms_accepted(url: str):
    with pytest.raises(ConfigError) as refused:
        open_backend(url)
    assert refused.value.field == "url"


@given(st.one_of(st.none(), st.integers(), st.floats(), st.binary(), st.text(max_size=40),
                 st.lists(st.text(max_size=3), max_size=2)))
@settings(max_examples=examples(200), deadline=None)
def test_any_value_is_a_backend_or_a_config_error(url: object):
    try:
        backend = open_backend(url)  # type: ignore[arg-type]
    except ConfigError:
        return
    assert isinstance(backend, Backend)


@given(st.one_of(st.none(), st.integers(), st.text(max_size=80)))
@settings(max_examples=examples(200), deadline=None)
def test_store_names_are_file_and_key_safe(name: object):
    backend = open_backend("memory://")
    try:
        store = backend.task_store(name)  # type: ignore[arg-type]
    except ConfigError:
        return
    assert isinstance(name, str)
    assert "/" not in name
    assert name.isprintable()
    assert isinstance(store, TaskStore)


def test_redis_without_the_extra_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "redis", None)  # as if the redis package were missing
    with pytest.raises(BackendNotInstalled, match=r"pip install 'stanchion\[redis\]'") as err:
        open_backend("redis://127.0.0.1:6379/0")
    assert isinstance(err.value, StanchionError)


def test_redis_builds_every_store_under_the_prefix(redis_url: str):
    from actors.backends import RedisSagaLog, RedisTaskStore  # noqa: PLC0415 - needs the extra

    with open_backend(redis_url, prefix="test-backend") as backend:
        store = backend.task_store("orders")
        assert isinstance(store, RedisTaskStore)
        assert backend.task_store("orders") is store
        log: SagaLog = backend.saga_log()
        assert isinstance(log, RedisSagaLog)
        backend.group_registry("orders").register("bus", "audit", "order.*")
        assert store.group_registry().groups("bus") == {"audit": "order.*"}
        assert "password" not in repr(open_backend("redis://user:password@127.0.0.1:6379/0"))
