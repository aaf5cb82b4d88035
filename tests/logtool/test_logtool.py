"""`stanchion-logs`: filtering, timelines across actors, and corrupt lines that are skipped."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import structlog

from actors import ServiceActor, bind_context, configure_logging
from actors.logtool import main
from actors.supervision import ActorSystem, ChildSpec


class Stock(ServiceActor):
    def on_receive(self, message: str) -> str:
        structlog.get_logger().info("stock.reserved", sku=message)
        return "reserved"


class Checkout(ServiceActor):
    def __init__(self, box: list[ActorSystem]) -> None:
        super().__init__()
        self.box = box

    def on_receive(self, message: str) -> str:
        log = structlog.get_logger()
        with bind_context(saga_id=f"saga-{message}"):
            log.info("saga.started")
            self.box[0].service("stock").ask("sku-1")
            log.warning("saga.completed")
        return "done"


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    path = tmp_path / "app.jsonl"
    configure_logging(level="info", json_file=path)
    box: list[ActorSystem] = []
    system = ActorSystem([ChildSpec("stock", Stock), ChildSpec("checkout", Checkout, args=(box,))])
    box.append(system)
    try:
        with system:
            for n in (1, 2):
                with bind_context(request_id=f"req-{n}"):
                    system.service("checkout").ask(str(n))
    finally:
        configure_logging(level="warning", console=True)
    with path.open("a") as f:
        f.write('{"event": "cut off by a cra\n')
        f.write("[1, 2]\n")
    return path


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_timeline_tells_one_saga_story_across_actors_in_order(log_file):
    code, out, err = run(str(log_file), "--timeline", "saga-2")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("timeline of saga-2: 3 events across 2 actors (checkout, stock)")
    events = [line.split()[3] for line in lines[1:]]
    assert events == ["saga.started", "stock.reserved", "saga.completed"]
    assert all("saga_id=saga-2" in line for line in lines[1:])
    assert "app.jsonl:" in err  # the corrupt lines are reported, not fatal


def test_corrupt_and_partial_lines_are_reported_with_line_numbers(log_file):
    total = len(log_file.read_text().splitlines())
    code, _, err = run(str(log_file), "--event", "saga.*")
    assert code == 0
    assert f":{total - 1}: skipped: not valid JSON" in err
    assert f":{total}: skipped: a JSON list, not an object" in err


@pytest.mark.parametrize(
    ("args", "expected_events"),
    [
        (("--id", "req-1", "--event", "saga.*"), ["saga.started", "saga.completed"]),
        (("--actor", "sto*", "--id", "req-2"), ["stock.reserved"]),
        (("--level", "warning", "--event", "saga.*"), ["saga.completed", "saga.completed"]),
        (("--field", "sku=sku-1", "--id", "saga-1"), ["stock.reserved"]),
    ],
)
def test_filters_combine(log_file, args, expected_events):
    code, out, _ = run(str(log_file), *args, "--json")
    assert code == 0
    assert [json.loads(line)["event"] for line in out.splitlines()] == expected_events


def test_time_range_and_no_match_exit_code(log_file):
    code, out, _ = run(str(log_file), "--since", "2000-01-01T00:00:00Z", "--until",
                       "2000-01-02T00:00:00", "--json")
    assert (code, out) == (1, "")


def test_bad_usage_is_a_clear_error(log_file, tmp_path):
    code, _, err = run(str(log_file), "--since", "yesterday")
    assert code == 2
    assert "--since='yesterday' is invalid: expected an ISO 8601 time" in err
    code, _, err = run(str(log_file), "--field", "novalue")
    assert code == 2
    assert "KEY=VALUE" in err
    code, _, err = run(str(tmp_path / "missing.jsonl"))
    assert code == 2
    assert "cannot read" in err


def test_console_script_is_installed(log_file):
    script = Path(sys.executable).with_name("stanchion-logs")
    result = subprocess.run([str(script), str(log_file), "--timeline", "saga-1"],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert "timeline of saga-1" in result.stdout


def write_lines(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_id_and_timeline_match_the_callers_correlation_id(tmp_path):
    # ServiceCaller.call(..., correlation_id="req-9") binds correlation_id on every line.
    log = write_lines(tmp_path / "app.jsonl", [
        {"event": "call.rejected", "level": "info", "service": "stock",
         "correlation_id": "req-9", "timestamp": "2026-01-01T00:00:01Z"},
        {"event": "order.placed", "level": "info", "actor": "orders",
         "correlation_id": "req-9", "timestamp": "2026-01-01T00:00:00Z"},
        {"event": "order.placed", "level": "info", "actor": "orders",
         "correlation_id": "req-10", "timestamp": "2026-01-01T00:00:02Z"},
    ])
    code, out, _ = run(str(log), "--id", "req-9", "--json")
    assert code == 0
    assert [json.loads(line)["event"] for line in out.splitlines()] == [
        "call.rejected", "order.placed"]
    code, out, _ = run(str(log), "--timeline", "req-9")
    assert code == 0
    assert out.splitlines()[0].startswith("timeline of req-9: 2 events across 1 actors")
    assert [line.split()[3] for line in out.splitlines()[1:]] == [
        "order.placed", "call.rejected"]


def test_count_tells_what_went_wrong_in_a_few_lines(tmp_path):
    noisy = [{"event": "mailbox.rejected", "level": "warning", "service": "payment",
              "timestamp": f"2026-01-01T00:00:{n % 60:02d}Z"} for n in range(5000)]
    noisy += [{"event": "breaker.opened", "level": "warning", "breaker": "sms",
               "timestamp": "2026-01-01T00:01:00Z"},
              {"event": "order.placed", "level": "info", "actor": "orders",
               "timestamp": "2026-01-01T00:01:00Z"}]
    log = write_lines(tmp_path / "app.jsonl", noisy)
    code, out, _ = run(str(log), "--level", "warning", "--count")
    assert code == 0
    assert [line.split() for line in out.splitlines()] == [
        ["5001", "lines,", "2", "kinds"],
        ["5000", "warning", "mailbox.rejected", "payment"],
        ["1", "warning", "breaker.opened", "sms"]]
    with pytest.raises(SystemExit) as refused:
        run(str(log), "--count", "--json")
    assert refused.value.code == 2


@pytest.mark.parametrize("options", [(), ("--json",), ("--timeline", "saga-1"), ("--count",)])
def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path, options):
    records = [{"event": "saga.started", "level": "info", "saga_id": "saga-1",
                "actor": f"a{n % 50}", "event_n": n, "timestamp": "2026-01-01T00:00:00Z"}
               for n in range(5_000)]  # more than a pipe buffer
    log = write_lines(tmp_path / "big.jsonl", records)
    script = Path(sys.executable).with_name("stanchion-logs")
    # `stanchion-logs big.jsonl | head -1`: the reader takes one line and closes the pipe.
    process = subprocess.Popen([str(script), str(log), *options], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stderr is not None
    process.stdout.readline()
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) in (0, 141)
    assert err == ""
