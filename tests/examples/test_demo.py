"""demo.py runs end to end (short), and its JSON summary keeps the story's promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.redis_server import redis_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_whole_story_keeps_its_promises(tmp_path: Path) -> None:
    summary_path = tmp_path / "summary.json"
    done = subprocess.run(
        [sys.executable, "demo.py", "--duration", "12", "--plain", "--json", str(summary_path),
         "--log-file", str(tmp_path / "demo.jsonl"), "--workdir", str(tmp_path / "data")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    assert summary["breaker"]["sms_lost"] == 0
    assert summary["queue"]["lost"] == 0
    assert summary["queue"]["converged"] is True
    assert summary["sagas"]["invariants_ok"] is True
    assert summary["ok"] is True
    for name in ("payment-gateway", "stock-lookup", "notification"):
        assert set(summary["services"][name]) == {"accepted", "rejected", "timed_out",
                                                  "fallbacks"}
    assert summary["services"]["payment-gateway"]["fallbacks"] > 0
    assert summary["breaker"]["provider_calls_during_outage"] < (
        summary["breaker"]["requests_during_outage"])
    assert summary["bus"]["published"] > 0
    assert "payment slows down" in done.stdout  # the plain view printed the phases
    log_lines = (tmp_path / "demo.jsonl").read_text().splitlines()
    assert any('"saga_id"' in line for line in log_lines)


def test_a_bad_option_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "demo.py", "--scenario", "everything"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "invalid choice: 'everything'" in done.stderr
    done = subprocess.run([sys.executable, "demo.py", "--duration", "1", "--workdir",
                           str(tmp_path / "d"), "--log-file", str(tmp_path / "l.jsonl")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "duration=1.0 is invalid: expected seconds from 5 to 3600" in done.stderr


@pytest.mark.slow
def test_the_story_runs_on_redis_with_one_option(tmp_path: Path) -> None:
    summary_path = tmp_path / "summary.json"
    with redis_server(tmp_path / "redis") as server:
        done = subprocess.run(
            [sys.executable, "demo.py", "--duration", "8", "--plain", "--backend", server.url,
             "--json", str(summary_path), "--log-file", str(tmp_path / "demo.jsonl"),
             "--workdir", str(tmp_path / "data")],
            cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    assert summary["backend"] == server.url
    assert summary["ok"] is True, summary["checks"]
    assert not list((tmp_path / "data").glob("*.sqlite3"))  # everything durable went to Redis
