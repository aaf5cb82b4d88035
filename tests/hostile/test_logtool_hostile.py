"""`stanchion-logs` given hostile files: it ends with a message and a status, never a traceback.

Run as users run it: the installed console script in a child process, with
real pipes, so encoding and closed-pipe behaviour are the real ones.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from actors.logtool import BadLine, Record, read_records
from actors.logtool._cli import EXIT_PIPE_CLOSED, MAX_BAD_LINES_SHOWN

SCRIPT = Path(sys.executable).parent / "stanchion-logs"
COMMAND = ([str(SCRIPT)] if SCRIPT.exists()
           else [sys.executable, "-c", "from actors.logtool._cli import entry_point; "
                 "entry_point()"])
GOOD = json.dumps({"event": "order.created", "order_id": "o-1", "level": "info"})


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*COMMAND, *args], input=stdin, capture_output=True, timeout=60,
                          check=False, env={**os.environ, "PYTHONIOENCODING": "utf-8"})


def assert_no_traceback(result: subprocess.CompletedProcess[bytes]) -> None:
    assert b"Traceback" not in result.stderr, result.stderr.decode("utf-8", "replace")


def test_hostile_files_end_with_a_message_never_a_traceback(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 40 + b"\n{\xff\xfe}\n" * 30)
    surrogates = tmp_path / "surrogates.jsonl"
    surrogates.write_bytes(b'{"event": "a\\ud800b", "order_id": "o-1"}\n'
                           b'{"event": "caf\xe9", "order_id": "o-1"}\n')
    deep = tmp_path / "deep.jsonl"
    deep.write_text("[" * 100_000 + "]" * 100_000 + "\n" + GOOD + "\n")
    huge_int = tmp_path / "huge_int.jsonl"
    huge_int.write_text('{"event": "x", "n": ' + "9" * 10_000 + "}\n" + GOOD + "\n")
    cases = {
        # file: (exit status, what stderr says)
        str(surrogates): (0, b""),
        str(deep): (0, b"nested too deeply"),
        str(huge_int): (0, b"not readable JSON"),
        str(tmp_path / "missing.jsonl"): (2, b"No such file or directory"),
        str(tmp_path): (2, b"Is a directory"),
        str(garbage): (1, b"more bad lines skipped"),
    }
    for path, (status, said) in cases.items():
        result = run(path)
        assert_no_traceback(result)
        assert result.returncode == status, (path, result.stderr)
        assert said in result.stderr, (path, result.stderr)
    shown = run(str(garbage)).stderr.decode().splitlines()
    assert len(shown) == MAX_BAD_LINES_SHOWN + 1  # then a count, not thousands of lines
    printed = run(str(surrogates)).stdout.decode("utf-8")
    assert "a\\ud800b" in printed  # the lone surrogate shown as an escape
    assert "caf\ufffd" in printed  # undecodable bytes replaced


def test_a_huge_line_is_skipped_unread_and_the_next_line_still_found(tmp_path: Path) -> None:
    log = tmp_path / "huge.jsonl"
    with log.open("w") as out:
        out.write('{"event": "x", "v": "' + "a" * 10_500_000 + '"}\n')
        out.write(GOOD + "\n")
    result = run(str(log), "--id", "o-1")
    assert_no_traceback(result)
    assert result.returncode == 0
    assert b"longer than 10000000 characters" in result.stderr
    assert b"order.created" in result.stdout


def test_lines_over_the_limit_become_bad_lines_in_bounded_memory() -> None:
    stream = io.StringIO("x" * 150 + "\n" + GOOD + "\n" + "y" * 5000)
    items = list(read_records(stream, max_line_chars=100))
    assert [type(i) for i in items] == [BadLine, Record, BadLine]
    assert items[1].event == "order.created"


def test_standard_input_with_invalid_utf8_is_read_with_replacements() -> None:
    result = run("-", stdin=b'{"event": "caf\xe9", "order_id": "o-1"}\n\xff\xfe\n')
    assert_no_traceback(result)
    assert result.returncode == 0
    assert "caf\ufffd" in result.stdout.decode("utf-8")
    assert b"-:2: skipped" in result.stderr


def many_lines(tmp_path: Path) -> Path:
    log = tmp_path / "many.jsonl"
    log.write_text("".join(json.dumps({"event": "e", "i": i}) + "\n" for i in range(50_000)))
    return log


def test_a_reader_that_stops_early_ends_it_quietly(tmp_path: Path) -> None:
    log = many_lines(tmp_path)
    child = subprocess.Popen([*COMMAND, str(log)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    assert child.stdout is not None
    assert child.stderr is not None
    first = child.stdout.readline()
    child.stdout.close()  # what `| head -1` does after its line
    status = child.wait(timeout=60)
    errors = child.stderr.read()
    child.stderr.close()
    assert b"e" in first
    assert errors == b""
    assert status == EXIT_PIPE_CLOSED


@pytest.mark.skipif(shutil.which("head") is None or shutil.which("sh") is None,
                    reason="needs a POSIX shell and head")
def test_piping_into_head_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    log = many_lines(tmp_path)
    command = " ".join(f"'{part}'" for part in [*COMMAND, str(log)])
    result = subprocess.run(f"{command} | head -1", shell=True, capture_output=True,
                            timeout=60, check=False)
    assert result.stderr == b""
    assert len(result.stdout.splitlines()) == 1


@pytest.mark.parametrize("options", [(), ("--count",)])
def test_control_characters_in_fields_cannot_forge_lines_or_reach_the_terminal(
        tmp_path: Path, options: tuple[str, ...]) -> None:
    log = tmp_path / "controls.jsonl"
    log.write_text(json.dumps({"event": "x\x1b[31m", "level": "warning\nFAKE",
                               "actor": "a\rb\x9b"}) + "\n", encoding="utf-8")
    result = run(str(log), *options)
    assert_no_traceback(result)
    assert result.returncode == 0
    shown = result.stdout.decode("utf-8")
    assert "\x1b" not in shown
    assert "\r" not in shown
    assert "\x9b" not in shown
    assert "\\x1b[31m" in shown
    assert "\\x0aFAKE" in shown
    assert len(shown.splitlines()) == (2 if options else 1)
