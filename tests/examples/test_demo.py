"""demo.py runs end to end (short), and its JSON summary keeps the story's promises."""

from __future__ import annotations

import io
import itertools
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from actors import logtool
from actors.supervision import ActorSystem
from examples.peaksale import Story, StoryConfig
from examples.peaksale._checkout_phase import checkout_order, run_checkouts
from examples.peaksale._sms_phase import run_sms_outage
from examples.shop import CheckoutLedger, checkout_services
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
    # The command the demo suggests reads in a minute: refusals are summarised, not listed.
    suggested = re.search(r"try: stanchion-logs (\S+) (.*)\)", done.stdout)
    assert suggested, done.stdout[-500:]
    out = io.StringIO()
    assert logtool.main([suggested.group(1), *suggested.group(2).split()], stdout=out,
                        stderr=io.StringIO()) == 0
    assert len(out.getvalue().splitlines()) <= 15, out.getvalue()
    events = [json.loads(line) for line in log_lines]
    refusals = [e for e in events if e["event"] == "mailbox.rejected"]
    # Every refusal counted (the retry queue's own asks may be refused too).
    assert sum(e["count"] for e in refusals) >= summary["services"]["payment-gateway"]["rejected"]
    assert len(refusals) <= summary["elapsed_s"] + 1  # at most one line a second
    assert not [e for e in events if e["event"] == "call.rejected" and e["level"] != "info"]


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


def demo(tmp_path: Path, *options: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    summary_path = tmp_path / "summary.json"
    done = subprocess.run(
        [sys.executable, "demo.py", "--plain", "--json", str(summary_path),
         "--log-file", str(tmp_path / "demo.jsonl"), "--workdir", str(tmp_path / "data"),
         *options],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done, json.loads(summary_path.read_text())


def figures(line: str, part: str) -> list[int]:
    """The slash-separated figures of `part` in a plain line ('sagas 12/9/2/1' -> [12, 9, 2, 1])."""
    found = re.search(rf"\| {part} ([0-9/]+)", line)
    assert found, line
    return [int(n) for n in found.group(1).split("/")]


def test_one_scenario_takes_its_duration_and_counts_each_saga_once(tmp_path: Path) -> None:
    done, summary = demo(tmp_path, "--scenario", "saga", "--duration", "5")
    assert summary["elapsed_s"] >= 5.0  # the checkouts alone were offered for 5 s
    sagas = summary["sagas"]
    assert sagas["started"] == 5 * 40  # 40 checkouts a second
    lines = [line for line in done.stdout.splitlines() if line.startswith("[")]
    for line in lines:  # never more outcomes than sagas started, retries included
        started, *outcomes = figures(line, "sagas")
        assert sum(outcomes) <= started, line
    started, completed, compensated, failed = figures(lines[-1], "sagas")
    assert started == sagas["started"]
    assert completed == sagas["completed"]
    # After the operator's retries, every stuck saga ended compensated.
    assert (compensated, failed) == (sagas["compensated"] + sagas["compensation_failed"], 0)


def test_checkouts_run_both_saga_styles_and_the_outbox_announces_every_effect(
        tmp_path: Path) -> None:
    done, summary = demo(tmp_path, "--scenario", "saga", "--duration", "5")
    sagas, outbox = summary["sagas"], summary["outbox"]
    # Every other checkout is choreographed; one set of books covers both styles.
    assert (sagas["orchestrated"], sagas["choreographed"]) == (100, 100)
    assert sagas["invariants_ok"] is True, sagas["problems"]
    assert sagas["completed"] + sagas["compensated"] + sagas["compensation_failed"] == 200
    # Each command and compensation applied is one committed effect, announced once.
    assert outbox["committed"] >= 4 * sagas["completed"]
    assert outbox["announced"] == outbox["committed"] == outbox["relay_published"]
    assert (outbox["missing"], outbox["not_committed"]) == (0, 0)
    assert summary["checks"]["every_effect_announced"] is True
    flat = " ".join(done.stdout.split())
    assert (f"outbox {outbox['committed']} committed, {outbox['committed']} announced "
            f"(0 repeats dropped), 0 missing") in flat
    assert "styles 100 orchestrated (Sagas), 100 choreographed (over the bus)" in flat
    assert "books balanced" in flat


def test_the_last_figures_are_read_before_the_stores_close(tmp_path: Path) -> None:
    done, summary = demo(tmp_path, "--scenario", "queue", "--duration", "5")
    assert "snapshot failed" not in done.stdout + done.stderr
    assert summary["elapsed_s"] >= 5.0 * 0.7  # updates are offered for 70% of the phase
    last = done.stdout.splitlines()[-1 - next(
        n for n, line in enumerate(reversed(done.stdout.splitlines())) if "(end) |" in line)]
    enqueued, delivered, depth = figures(last, "queue")
    assert (enqueued, delivered, depth) == (summary["queue"]["enqueued"],
                                            summary["queue"]["delivered"], 0)


def checkout_statuses(tmp_path: Path, draws_elsewhere: int) -> dict[str, str]:
    story = Story(StoryConfig(scenario="saga", backend="memory", workdir=tmp_path),
                  random.Random(7))
    for _ in range(draws_elsewhere):  # what other phases' threads happen to draw meanwhile
        story.rng.random()
    ledger = CheckoutLedger()
    try:
        with ActorSystem(checkout_services(ledger)) as system:
            summary = run_checkouts(system, story, ledger, None, seconds=0.5, rate=60)
        assert summary["invariants_ok"], summary["problems"]
        return {saga.id: str(saga.status) for saga in story.saga_log().by_status(None)}
    finally:
        story.close()


def test_the_same_seed_runs_the_same_checkouts_to_the_same_ends(tmp_path: Path) -> None:
    first = checkout_statuses(tmp_path, draws_elsewhere=0)
    again = checkout_statuses(tmp_path, draws_elsewhere=137)
    assert sorted(first) == sorted(f"order-7-{n}" for n in range(30))
    assert again == first
    assert set(first.values()) == {"completed", "compensated"}  # the stuck ones were retried


def test_the_docs_timeline_example_is_a_declined_card_in_every_seed_7_run(tmp_path) -> None:
    text = (ROOT / "docs" / "demo.md").read_text()
    order = re.search(r"--timeline (order-7-(\d+))", text)
    assert order, "docs/demo.md shows no --timeline example"
    n = int(order.group(2))
    # The shortest story (5 s, all phases) starts 40 checkouts: order-7-0 to order-7-39.
    assert n < 40
    story = Story(StoryConfig(backend="memory", workdir=tmp_path), random.Random(7))
    saga_id, data = checkout_order(story, n)
    assert saga_id == order.group(1)
    assert data["faults"] == {"process_payment": {"do": {"kind": "reject"}}}
    shown = text.split(order.group(0), 1)[1].split("```text", 1)[1].split("```", 1)[0]
    assert "saga.step_failed" in shown
    assert "saga.compensated" in shown


def test_the_breaker_strip_follows_every_transition_of_the_sms_breaker(tmp_path) -> None:
    story = Story(StoryConfig(scenario="breaker", backend="memory", workdir=tmp_path),
                  random.Random(7))
    try:
        with ActorSystem([]) as system:
            summary = run_sms_outage(system, story, 2.0)
        states = list(story.breaker_states)
        final_state = story.counters["breaker_view"]().state
    finally:
        story.close()
    assert summary["breaker_trips"] >= 1
    assert states[0] == "closed"
    assert "half_open" in states  # each wait in open ends half-open, and the strip shows it
    assert all(a != b for a, b in itertools.pairwise(states)), states  # no repeats
    assert states.count("open") == summary["breaker_trips"]
    assert states[-1] == final_state  # where the breaker is, not a sample behind
