"""A throwaway redis-server on 127.0.0.1 for tests: free port, temporary directory, stopped after.

Without redis-server on the machine the Redis tests are skipped with a message
saying how to enable them; with STANCHION_REQUIRE_REDIS=1 (set by .ci/run)
they fail instead, so CI can never silently skip them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server process; `restart()` keeps its data directory (AOF survives)."""

    def __init__(self, binary: str, directory: Path, *, appendonly: bool,
                 appendfsync: str = "always") -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        args = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port),
                "--dir", str(self.directory), "--save", "", "--protected-mode", "yes",
                "--appendonly", "yes" if self.appendonly else "no",
                "--appendfsync", self.appendfsync, "--logfile", str(self.directory / "log")]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + timeout
        try:
            while True:  # nothing to wait on but the socket itself
                try:
                    if client.ping():
                        return
                except redis.exceptions.ConnectionError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        log = self.directory / "log"
                        detail = log.read_text()[-2000:] if log.exists() else ""
                        raise RuntimeError(f"redis-server did not start: {detail}") from None
                    time.sleep(0.02)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: what a crash looks like; whatever was not persisted is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> None:
        self.kill()
        self.start()


@contextmanager
def redis_server(directory: Path, *, appendonly: bool = False,
                 appendfsync: str = "always") -> Iterator[RedisServer]:
    server = RedisServer(require_redis_server(), directory, appendonly=appendonly,
                         appendfsync=appendfsync)
    server.start()
    try:
        yield server
    finally:
        server.stop()
