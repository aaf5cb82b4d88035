"""A child process whose stdout is read on a thread, so every wait on it has a deadline.

The crash tests (tests/backends/test_group_commit_crash.py,
tests/taskqueue/test_taskqueue_crash.py) start one, read its lines, and SIGKILL it.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading

import pytest

LINE_TIMEOUT = 20.0


class KillableChild:
    """Run `argv`; its stdout lines arrive on a queue read by a daemon thread."""

    def __init__(self, argv: list[str]) -> None:
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def next_line(self) -> str:
        try:
            line = self.lines.get(timeout=LINE_TIMEOUT)
        except queue.Empty:
            pytest.fail(f"the child printed nothing for {LINE_TIMEOUT}s")
        if line is None:
            stderr = self.process.stderr.read() if self.process.stderr else ""
            pytest.fail(f"the child exited early ({self.process.poll()}): {stderr}")
        return line

    def kill(self) -> list[str]:
        """SIGKILL the child, reap it, and return the lines it wrote before dying."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=LINE_TIMEOUT)
        self._reader.join(LINE_TIMEOUT)
        rest = []
        while (line := self.lines.get_nowait()) is not None:
            rest.append(line)
        return rest

    def reap(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=LINE_TIMEOUT)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
