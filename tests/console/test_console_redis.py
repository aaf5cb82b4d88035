"""`stanchion-console redis://...` in another process shows and replays what the stores hold."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from actors.backends import open_backend
from actors.console import create_app
from actors.console._remote import store_console
from actors.saga import SagaStatus
from actors.taskqueue import NewTask
from tests.console.scenario import Incident
from tests.redis_server import redis_server

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "another-process-token"


@pytest.fixture(scope="module")
def incident(redis_url: str) -> Iterator[Incident]:
    with open_backend(redis_url, prefix="console-test") as backend, Incident(backend) as running:
        yield running


@pytest.fixture(scope="module")
def console_url(redis_url: str, incident: Incident) -> Iterator[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", "from actors.console._cli import entry_point; entry_point()",
         redis_url, "--port", "0", "--token", TOKEN],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # printed once it listens
        found = re.search(r"(http://127\.0\.0\.1:\d+/)", first)
        assert found, first + (process.stderr.read() if process.poll() is not None else "")
        yield found.group(1)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def test_the_console_of_another_process_shows_what_redis_holds(console_url: str,
                                                               incident: Incident) -> None:
    page = httpx.get(console_url, timeout=10)
    assert page.status_code == 200
    assert "reading the stores" in page.text
    assert 'data-saga="order-7"' in page.text
    assert 'data-queue="emails"' in page.text
    assert f'data-letter="queue:tasks/{incident.task_id}"' in page.text
    timeline = httpx.get(f"{console_url}sagas/order-7", timeout=10).text
    assert "stock ledger offline" in timeline
    assert 'id="retry-saga"' not in timeline  # the coordinator runs elsewhere


def test_it_replays_a_queue_dead_letter_but_cannot_retry_a_saga(console_url: str,
                                                                incident: Incident) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    refused = httpx.post(f"{console_url}dead-letters/replay", timeout=10,
                         data={"source": "queue:tasks", "key": incident.task_id})
    assert refused.status_code == 401
    retry = httpx.post(f"{console_url}sagas/order-7/retry", headers=headers, timeout=10)
    assert retry.status_code == 409
    assert "coordinator" in retry.text
    assert incident.sagas.status("order-7").status is SagaStatus.COMPENSATION_FAILED
    incident.switch.mend()
    replayed = httpx.post(f"{console_url}dead-letters/replay", headers=headers, timeout=10,
                          data={"source": "queue:tasks", "key": incident.task_id})
    assert replayed.status_code == 200, replayed.text
    assert incident.switch.wait(incident.switch.tasks)
    assert incident.switch.tasks == [{"to": "bob"}]


def test_a_redis_that_goes_away_is_a_503_not_a_crash(tmp_path: Path) -> None:
    with redis_server(tmp_path) as server, open_backend(server.url, prefix="gone") as backend:
        backend.task_store("tasks").enqueue_many([NewTask("q", {"n": 1})], now=0.0)
        console, remote = store_console(server.url)
        try:
            app = create_app(console, token=TOKEN * 2)
            with TestClient(app, base_url="http://127.0.0.1") as http:
                assert 'data-queue="q"' in http.get("/").text
                server.stop()
                for path in ("/", "/fragments/queues", "/fragments/sagas"):
                    answer = http.get(path)
                    assert answer.status_code == 503, (path, answer.text)
        finally:
            remote.close()
