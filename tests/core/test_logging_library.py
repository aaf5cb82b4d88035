"""A library must not write to stdout: without `configure_logging`, stanchion is quiet.

Each case runs in a fresh interpreter, since logging configuration is process-wide.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import structlog

from actors.core import LibraryLogger

APP = textwrap.dedent("""
    import threading
    from actors import MailboxFull, ServiceActor
    from actors.supervision import ActorSystem, ChildSpec

    gate = threading.Event()

    class Slow(ServiceActor):
        def on_receive(self, message):
            gate.wait(10)
            return message

    with ActorSystem([ChildSpec("slow", Slow, mailbox_size=1)]) as system:
        slow = system.service("slow")
        slow.tell(1)              # taken in hand, blocks
        try:
            for n in range(10):   # the mailbox of 1 fills, then refuses
                slow.tell(n)
        except MailboxFull:
            pass
        gate.set()
    print("the program's own output")
""")


def _run(prelude: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", prelude + APP], capture_output=True,
                          text=True, timeout=60, cwd=cwd, check=True)


def test_without_configure_logging_stdout_is_the_programs_own(tmp_path):
    done = _run("", tmp_path)
    assert done.stdout == "the program's own output\n"
    # Warnings and above reach stderr through stdlib logging; info and debug do not.
    assert "mailbox.rejected service='slow'" in done.stderr
    assert "system.started" not in done.stderr
    assert "actor.started" not in done.stderr


def test_an_app_that_configures_stdlib_logging_receives_stanchions_records(tmp_path):
    prelude = ("import logging, sys\n"
               "logging.basicConfig(stream=sys.stderr, level=logging.INFO,"
               " format='%(name)s %(levelname)s %(message)s')\n")
    done = _run(prelude, tmp_path)
    assert done.stdout == "the program's own output\n"
    assert "stanchion.system INFO system.started" in done.stderr
    assert "stanchion.mailbox WARNING mailbox.rejected" in done.stderr


def test_configure_logging_sends_everything_where_it_says_and_nothing_to_stdout(tmp_path):
    prelude = "from actors import configure_logging\nconfigure_logging(json_file='app.jsonl')\n"
    done = _run(prelude, tmp_path)
    assert done.stdout == "the program's own output\n"
    assert done.stderr == ""
    events = [json.loads(line)["event"] for line in (tmp_path / "app.jsonl").open()]
    assert "system.started" in events
    assert "mailbox.rejected" in events


def test_capture_logs_leaves_an_unconfigured_process_unconfigured(tmp_path):
    prelude = ("from actors import capture_logs\n"
               "with capture_logs():\n"
               "    pass\n")
    done = _run(prelude, tmp_path)
    assert done.stdout == "the program's own output\n"


def test_a_level_the_app_filters_out_costs_no_processing_and_follows_reconfiguration():
    seen: list[str] = []

    def spy(_logger: object, _method: str, event_dict: dict[str, object]) -> dict[str, object]:
        seen.append(str(event_dict["event"]))
        return event_dict

    log = LibraryLogger("stanchion.test")
    previous = structlog.get_config()
    try:
        for level in (logging.WARNING, logging.DEBUG, logging.ERROR):
            structlog.configure(processors=[spy, structlog.processors.JSONRenderer()],
                                wrapper_class=structlog.make_filtering_bound_logger(level),
                                logger_factory=structlog.ReturnLoggerFactory())
            log.debug("debug")
            log.warning("warning")
        # A wrapper without levels (plain BoundLogger) keeps every line, as before.
        structlog.configure(processors=[spy, structlog.processors.JSONRenderer()],
                            wrapper_class=structlog.BoundLogger,
                            logger_factory=structlog.ReturnLoggerFactory())
        log.debug("unfiltered")
    finally:
        structlog.configure(**previous)
    assert seen == ["warning", "debug", "warning", "unfiltered"]
