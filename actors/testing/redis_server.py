"""A throwaway redis-server on 127.0.0.1: a free port, a directory of your choice, stopped after.

For tests and benchmarks of code that uses the Redis backends:

    with redis_server(tmp_path, appendonly=True) as server:
        store = RedisTaskStore(server.url)
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from actors.core import StanchionError


class RedisServerMissing(StanchionError):
    """redis-server is not installed on this machine."""

    def __init__(self) -> None:
        super().__init__("redis-server not found: install it (`apt-get install redis-server`) "
                         "to use a local Redis for tests and benchmarks")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server process bound to 127.0.0.1; `restart()` keeps its data directory."""

    def __init__(self, directory: Path, *, appendonly: bool = False,
                 appendfsync: str = "always", binary: str | None = None) -> None:
        found = binary or shutil.which("redis-server")
        if found is None:
            raise RedisServerMissing
        self.binary = found
        self.directory = directory
        self.port = free_port()
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's redis:// URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and return once it answers PING."""
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port),
                "--dir", str(self.directory), "--save", "", "--protected-mode", "yes",
                "--appendonly", "yes" if self.appendonly else "no",
                "--appendfsync", self.appendfsync, "--logfile", str(self.directory / "log")]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL,  # noqa: S603 - our args
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
                        raise StanchionError(f"redis-server did not start: {detail}") from None
                    time.sleep(0.02)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: what a crash looks like; whatever was not persisted is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        """Terminate the server (SIGKILL if it does not stop within 10 s)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> None:
        """Kill and start again on the same port and directory."""
        self.kill()
        self.start()


@contextmanager
def redis_server(directory: Path, *, appendonly: bool = False,
                 appendfsync: str = "always") -> Iterator[RedisServer]:
    """A started `RedisServer`, stopped when the block ends."""
    server = RedisServer(directory, appendonly=appendonly, appendfsync=appendfsync)
    server.start()
    try:
        yield server
    finally:
        server.stop()
