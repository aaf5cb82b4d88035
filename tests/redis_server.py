"""The Redis tests' server: the library's throwaway redis-server, skipped when it is missing.

Without redis-server on the machine the Redis tests are skipped with a message
saying how to enable them; with STANCHION_REQUIRE_REDIS=1 (set by .ci/run)
they fail instead, so CI can never silently skip them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from actors.testing.redis_server import RedisServer

INSTALL_HINT = ("redis-server not found: install it (`apt-get install redis-server`) to run the "
                "Redis tests; CI installs it and sets STANCHION_REQUIRE_REDIS=1")


def require_redis_server() -> str:
    """The redis-server binary, or skip (fail in CI) with how to get it."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("STANCHION_REQUIRE_REDIS") == "1":
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    return binary


@contextmanager
def redis_server(directory: Path, *, appendonly: bool = False,
                 appendfsync: str = "always") -> Iterator[RedisServer]:
    server = RedisServer(directory, appendonly=appendonly, appendfsync=appendfsync,
                         binary=require_redis_server())
    server.start()
    try:
        yield server
    finally:
        server.stop()
