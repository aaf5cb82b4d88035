"""Shared fixtures: captured events, a Redis server per module, no leaked threads."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from actors import capture_logs
from tests import hypothesis_profiles  # noqa: F401 - registers and loads the profile
from tests.redis_server import redis_server


@pytest.fixture
def events() -> Iterator[list[dict[str, object]]]:
    """Structured events written during the test, fully processed."""
    with capture_logs() as captured:
        yield captured


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of the test module's own on 127.0.0.1 (skipped, or failed in CI, without one).

    Tests sharing it keep apart by key prefix.
    """
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
def no_thread_leaks() -> Iterator[None]:
    """Fail if the test leaves a thread running that it did not find."""
    before = set(threading.enumerate())
    yield
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    for thread in leftover:
        thread.join(2.0)
    leftover = [t.name for t in leftover if t.is_alive()]
    assert not leftover, f"threads left running: {leftover}"


def named(events: list[dict[str, object]], name: str) -> list[dict[str, object]]:
    """The captured events called `name`."""
    return [e for e in events if e.get("event") == name]
