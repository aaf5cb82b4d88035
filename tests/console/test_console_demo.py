"""`demo.py --console` serves the console on the running story and prints its URL."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_prints_the_console_url_and_shows_the_story(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "demo.py"), "--console", "--console-port", "0",
         "--scenario", "breaker", "--duration", "6", "--plain", "--backend", "memory",
         "--workdir", str(tmp_path / "data"), "--log-file", str(tmp_path / "demo.jsonl")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        found = re.search(r"operator console: (http://127\.0\.0\.1:\d+/)", first)
        assert found, first
        second = process.stdout.readline()
        assert "login?token=" in second
        url = found.group(1)
        assert httpx.get(url, timeout=10).status_code == 200
        # The story's system and its breaker are shown once the story has started them
        # (another process: poll the page, within the story's few seconds).
        deadline = time.monotonic() + 30
        shown = ""
        while 'data-breaker="sms-breaker"' not in shown and time.monotonic() < deadline:
            shown = httpx.get(url, timeout=10).text
            time.sleep(0.05)
        assert 'data-breaker="sms-breaker"' in shown
        assert 'data-service="orders"' in shown
        _out, err = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 0, err[-2000:]
