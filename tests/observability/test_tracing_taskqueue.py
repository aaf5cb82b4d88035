"""Trace context travels in task rows: memory, SQLite and Redis, and across processes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from actors import ConfigError
from actors.backends import MemoryTaskStore, SqliteTaskStore, open_backend
from actors.core import context
from actors.supervision import ActorSystem
from actors.taskqueue import NewTask, QueueSpec, TaskQueue, TaskQueueConfig, TaskQueueService
from tests.observability.conftest import by_name

ROOT = Path(__file__).resolve().parents[2]


def test_a_failed_attempt_and_its_retry_are_spans_of_the_enqueuers_trace(
        spans: InMemorySpanExporter) -> None:
    attempts: list[int] = []
    done = threading.Event()

    def deliver(task: Any) -> None:
        attempts.append(task.attempts)
        if task.attempts == 1:
            raise ConnectionError("down")
        done.set()

    store = MemoryTaskStore()
    with ActorSystem() as system:
        service = TaskQueueService.start(system, store, [QueueSpec("q", deliver,
                                                                   poll_interval=0.01)])
        with context.tracer.span("checkout", {}) as root:  # type: ignore[union-attr]
            service.enqueue("q", {"n": 1})
        assert done.wait(10)
        assert service.wait_until_drained("q", 10)
    root_id = root.carrier().split("-")  # type: ignore[union-attr]
    delivered = by_name(spans.get_finished_spans(), "task.deliver")
    assert [s.attributes["stanchion.attempt"] for s in delivered] == [1, 2]  # type: ignore[index]
    for span in delivered:
        assert f"{span.context.trace_id:032x}" == root_id[1]
        assert span.parent is not None
        assert f"{span.parent.span_id:016x}" == root_id[2]
    assert delivered[0].status.status_code is StatusCode.ERROR
    assert delivered[1].status.status_code is StatusCode.UNSET
    # the pool's timer nudges are not traces of their own (one sent by the traced
    # enqueue is a span of its trace); the deliveries they make are
    polls = [s for s in spans.get_finished_spans()
             if (s.attributes or {}).get("stanchion.message_type") == "Poll"]
    assert all(s.context.trace_id == delivered[0].context.trace_id for s in polls)


def test_a_new_task_refuses_a_malformed_trace() -> None:
    with pytest.raises(ConfigError, match="trace"):
        NewTask("q", 1, trace="00-abc def")
    assert NewTask("q", 1).trace is None  # tracing off: nothing captured


@pytest.fixture(params=["sqlite", "redis"])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}"
    return str(request.getfixturevalue("redis_url"))


def test_a_task_enqueued_here_and_delivered_in_another_process_is_one_trace(
        spans: InMemorySpanExporter, backend_url: str) -> None:
    store = open_backend(backend_url, prefix="traced").task_store()
    try:
        with context.tracer.span("signup", {}) as root:  # type: ignore[union-attr]
            TaskQueue(store).enqueue("welcome", {"user": "u-1"})
        # The trace is stored with the row, so it survives this store being closed.
    finally:
        store.close()
    _, trace_id, span_id, _ = root.carrier().split("-")  # type: ignore[union-attr]
    proc = subprocess.Popen([sys.executable, "-m", "tests.procs.traced_worker_proc",
                             backend_url, "welcome"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err[-2000:]
    remote = json.loads(out.strip().splitlines()[-1])
    deliver = next(s for s in remote if s["name"] == "task.deliver")
    handle = next(s for s in remote if s["name"] == "actor.handle"
                  and s["service"] == "billing")
    assert deliver["trace_id"] == handle["trace_id"] == trace_id
    assert deliver["parent_id"] == span_id
    assert handle["parent_id"] == deliver["span_id"]


def test_a_schema_1_task_file_gains_the_trace_column_in_place(tmp_path: Path) -> None:
    path = tmp_path / "tasks.sqlite3"
    store = SqliteTaskStore(TaskQueueConfig(sqlite_path=path))
    TaskQueue(store).enqueue("q", {"old": True})
    store.close()
    with sqlite3.connect(path) as conn:  # what a file written by the previous version holds
        conn.execute("ALTER TABLE tasks DROP COLUMN trace")
        conn.execute("ALTER TABLE dead_letters DROP COLUMN trace")
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    store = SqliteTaskStore(TaskQueueConfig(sqlite_path=path))
    try:
        trace = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
        store.enqueue_many([NewTask("q", {"old": False}, trace=trace)], now=0.0)
        claimed = store.claim("q", "w", 10, now=time.time() + 1)
        assert {c.task.payload["old"]: c.task.trace for c in claimed} == {
            True: None, False: trace}
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (2,)
    conn.close()
