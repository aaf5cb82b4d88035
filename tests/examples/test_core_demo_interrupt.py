"""Ctrl-C during demo.py: out within 2 s, one short line, no traceback, exit code 130."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("interrupt_after", [
    "columns:",  # the first line: services are starting
    "then hangs",  # the payment handler is about to be stuck forever
])
def test_ctrl_c_stops_the_demo_at_once_with_a_short_message(tmp_path, interrupt_after):
    process = subprocess.Popen(
        [sys.executable, "-u", "demo.py", "--plain", "--scenario", "bulkhead", "--duration",
         "6", "--log-file", str(tmp_path / "demo.jsonl"), "--workdir", str(tmp_path / "data")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if interrupt_after in line:
                break
        else:
            pytest.fail(f"demo ended before printing {interrupt_after!r}")
        if interrupt_after == "then hangs":
            # Into the hang, which starts a moment after its phase line: this
            # places the interrupt in time, it does not wait for a condition.
            time.sleep(1.0)
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
        took = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, stderr[-2000:]
    assert took < 2.0, f"took {took:.2f}s to exit"
    assert "Traceback" not in stderr
    assert "interrupted: the demo stopped early" in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr[-2000:]
