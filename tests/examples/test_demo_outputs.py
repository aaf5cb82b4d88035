"""demo.py touches only what it creates, and refuses bad outputs and backends before starting.

The story itself is replaced by a stub here (the end-to-end runs are in
test_demo.py), so each test takes well under a second.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import demo
from actors import configure_logging
from examples.peaksale import Story, StoryConfig

ROOT = Path(__file__).resolve().parents[2]
FULL_SUMMARY = json.loads((Path(__file__).parent / "full_summary.json").read_text())


class StubStory:
    """Stands in for `run_story`: writes into the story's store, returns a real summary."""

    def __init__(self) -> None:
        self.configs: list[StoryConfig] = []

    def __call__(self, config: StoryConfig, *, story: Story) -> dict[str, Any]:
        self.configs.append(config)
        story.task_store("tasks")  # a SQLite file in the run's directory
        return FULL_SUMMARY


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubStory]:
    stub = StubStory()
    monkeypatch.setattr(demo, "run_story", stub)
    sigint, excepthook = signal.getsignal(signal.SIGINT), threading.excepthook
    yield stub
    signal.signal(signal.SIGINT, sigint)
    threading.excepthook = excepthook
    configure_logging(level="warning", console=True)  # as tests are configured (conftest.py)


def run(tmp_path: Path, *options: str) -> int:
    defaults = {"--workdir": str(tmp_path / "data"), "--log-file": str(tmp_path / "demo.jsonl")}
    for option in options:
        defaults.pop(option, None)
    argv = ["--plain", "--scenario", "saga", "--duration", "5", *options]
    for option, value in defaults.items():
        argv += [option, value]
    return demo.main(argv)


def test_the_workdir_keeps_every_file_the_demo_did_not_create(tmp_path, stub, capsys):
    work = tmp_path / "mine"
    (work / "src").mkdir(parents=True)
    (work / "notes.txt").write_text("my notes")
    (work / "src" / "app.py").write_text("print('mine')")

    assert run(tmp_path, "--workdir", str(work)) == 0

    assert (work / "notes.txt").read_text() == "my notes"
    assert (work / "src" / "app.py").read_text() == "print('mine')"
    # The story's files went into a directory of its own under the one given...
    run_dir = stub.configs[0].workdir
    assert run_dir.parent == work
    assert run_dir.name.startswith("run-")
    # ...which the demo removed at the end, leaving the rest as it was.
    assert sorted(p.name for p in work.iterdir()) == ["notes.txt", "src"]


def test_a_workdir_the_demo_created_is_gone_after_the_run(tmp_path, stub, capsys):
    work = tmp_path / "new" / "data"
    assert run(tmp_path, "--workdir", str(work)) == 0
    assert stub.configs[0].workdir.parent == work
    assert not (tmp_path / "new").exists()  # created by the demo as well, so removed


def test_a_sqlite_url_directory_is_not_emptied_either(tmp_path, stub, capsys):
    store = tmp_path / "store"
    store.mkdir()
    (store / "keep.sqlite3").write_text("someone else's database")
    assert run(tmp_path, "--backend", f"sqlite:///{store}") == 0
    assert stub.configs[0].workdir.parent == store
    assert stub.configs[0].backend == f"sqlite:///{stub.configs[0].workdir}"
    assert [p.name for p in store.iterdir()] == ["keep.sqlite3"]


def test_a_log_file_that_is_not_a_demo_log_is_not_overwritten(tmp_path, stub, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("meeting notes\n")

    assert run(tmp_path, "--log-file", str(notes)) == 2

    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "is not an earlier demo log" in err
    assert "--force" in err
    assert notes.read_text() == "meeting notes\n"
    assert stub.configs == []  # refused before the story started


def test_force_replaces_it_and_a_demo_log_is_then_replaced_without_asking(tmp_path, stub,
                                                                           capsys):
    log = tmp_path / "notes.txt"
    log.write_text("meeting notes\n")
    assert run(tmp_path, "--log-file", str(log), "--force") == 0
    first = json.loads(log.read_text().splitlines()[0])
    assert first["event"] == demo.LOG_MARK
    assert first["seed"] == 7

    assert run(tmp_path, "--log-file", str(log)) == 0  # an earlier demo log: replaced
    assert len(stub.configs) == 2


def test_an_unwritable_json_path_fails_in_one_line_before_the_story(tmp_path, stub, capsys):
    missing = tmp_path / "nonexistent" / "dir" / "s.json"
    assert run(tmp_path, "--json", str(missing)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"--json {missing}" in err
    assert "does not exist" in err
    assert stub.configs == []


def test_a_json_file_that_is_not_a_summary_is_not_overwritten(tmp_path, stub, capsys):
    other = tmp_path / "package.json"
    other.write_text('{"name": "app"}')
    assert run(tmp_path, "--json", str(other)) == 2
    assert "not an earlier demo summary" in capsys.readouterr().err
    assert other.read_text() == '{"name": "app"}'
    assert run(tmp_path, "--json", str(other), "--force") == 0
    assert json.loads(other.read_text())["checks"] == FULL_SUMMARY["checks"]


def test_an_unreachable_backend_fails_in_one_line_before_the_story(tmp_path, stub, capsys):
    assert run(tmp_path, "--backend", "redis://127.0.0.1:1/0") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("demo.py: error: --backend redis://127.0.0.1:1/0: cannot use it")
    assert stub.configs == []
    assert not (tmp_path / "data").exists()


def test_the_demos_output_fits_a_40_row_terminal(tmp_path, stub, capsys):
    assert run(tmp_path, "--json", str(tmp_path / "s.json")) == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) <= 40, out
    flat = " ".join(out.split())
    assert "335 accepted, 335 delivered (107 at once), 0 lost" in flat
    assert "all 7 hold" in flat
    assert f"stanchion-logs {tmp_path / 'demo.jsonl'} --level warning --count" in flat


def test_refusals_from_the_command_line_have_no_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "demo.py", "--scenario", "saga", "--duration", "5", "--plain",
         "--backend", "redis://127.0.0.1:1/0", "--json", str(tmp_path / "s.json"),
         "--log-file", str(tmp_path / "demo.jsonl"), "--workdir", str(tmp_path / "data")],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
