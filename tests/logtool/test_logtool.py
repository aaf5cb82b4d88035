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
