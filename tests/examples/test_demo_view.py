"""The demo's view: every figure of a snapshot appears in the rendering, the plain fallback
prints one readable line per phase, and bad snapshots are refused clearly."""

from __future__ import annotations

import dataclasses
import io
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from actors import ConfigError
from actors.bulkhead import CallerMetrics
from examples.peaksale.view import (
    PLAIN_LEGEND,
    STRIP_LENGTH,
    BreakerView,
    BusCounts,
    DemoSnapshot,
    LiveView,
    QueueCounts,
    SagaCounts,
    ServiceCounts,
    SmsCounts,
    plain_line,
    render,
    summary_report,
    summary_table,
    wants_plain,
)

STATES = ["closed", "closed", "open", "open", "half_open", "closed"]


def full_snapshot(phase: str = "payment slowdown", elapsed: float = 12.5) -> DemoSnapshot:
    return DemoSnapshot(
        phase, elapsed,
        services={"payment": ServiceCounts(accepted=101, rejected=202, timed_out=303,
                                           fallbacks=505),
                  "inventory": ServiceCounts(accepted=404)},
        breaker_states=STATES,
        breaker=BreakerView("half_open", provider_calls=606, rejected_fast=707),
        sms=SmsCounts(sent=1717, queued=1818, circuit_open=1800, delivered_later=1920),
        sagas=SagaCounts(completed=808, compensated=909, compensation_failed=11, started=1728),
        bus=BusCounts(published=1212, delivered=1313, dead_lettered=14),
        queue=QueueCounts(enqueued=1515, delivered=1616, depth=17))


def recorded(renderable: Any) -> str:
    console = Console(record=True, width=120, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_every_figure_of_the_snapshot_is_rendered() -> None:
    text = recorded(render(full_snapshot()))
    assert "payment slowdown" in text
    assert "12.5s" in text
    for figure in (101, 202, 303, 505, 404, 606, 707, 808, 909, 11, 1212, 1313, 14, 1515,
                   1616, 17, 1717, 1818, 1800, 1920, 1728):
        assert str(figure) in text, f"{figure} missing from:\n{text}"
    assert "closed open half-open closed" in text
    assert "rejected fast 707" in text
    assert "compensation failed 11" in text
    assert "dead-lettered 14" in text
    assert "depth 17" in text


def test_the_breaker_strip_shows_only_the_recent_states() -> None:
    states = ["closed", "open", "half_open"] * 10 + ["closed"]
    text = recorded(render(DemoSnapshot("breaker", 1.0, breaker_states=states)))
    strip = next(line for line in text.splitlines() if "recent states" in line)
    assert strip.split("recent states")[1].split() == [
        "open", "half-open", "closed", "open", "half-open", "closed", "open", "half-open",
        "closed"][-STRIP_LENGTH:]


def test_the_breaker_strip_names_each_state_once_per_transition() -> None:
    # Sampled states repeat; the strip shows the changes, so half-open is never hidden.
    text = recorded(render(DemoSnapshot("breaker", 1.0, breaker_states=(
        ["closed"] * 9 + ["open"] * 9 + ["half_open"] + ["closed"] * 9))))
    strip = next(line for line in text.splitlines() if "recent states" in line)
    assert strip.split("recent states")[1].split() == ["closed", "open", "half-open", "closed"]


def test_the_sms_row_has_columns_of_its_own() -> None:
    snap = full_snapshot()
    text = recorded(render(snap))
    table = text.split("sms")[0]  # the per-service table comes first
    assert "1717" not in table
    assert "1818" not in table
    assert "sent 1717  queued 1818 (circuit open 1800)  delivered later 1920" in text
    assert "sms 1717/1818/1920" in plain_line(snap)
    assert "sms sent/queued/delivered_later" in PLAIN_LEGEND
    with pytest.raises(ConfigError, match="circuit_open"):
        SmsCounts(queued=1, circuit_open=2)


def test_the_sagas_row_shows_started_beside_the_outcomes() -> None:
    text = recorded(render(full_snapshot()))
    assert "started 1728  completed 808  compensated 909  compensation failed 11" in text


FULL_SUMMARY = json.loads((Path(__file__).parent / "full_summary.json").read_text())


def test_the_end_of_the_demo_fits_a_40_row_terminal_with_its_key_figures() -> None:
    # What stays on screen: the live view's last frame, the summary, two lines after it.
    console = Console(record=True, width=80, height=40, file=io.StringIO())
    services = {name: ServiceCounts(**figures)
                for name, figures in FULL_SUMMARY["services"].items()}
    states = ["closed", "open", "half_open", "open", "half_open", "closed", "open",
              "half_open", "closed"]
    console.print(render(dataclasses.replace(full_snapshot(), services=services,
                                             breaker_states=states)))
    console.print(summary_report(FULL_SUMMARY))
    text = console.export_text()
    assert len(text.splitlines()) + 2 <= 40, text
    summary_part = text[text.index("summary"):]
    for key_figure in ("250 answered, 61 refused, 7 timed out, 68 fell back",
                       "68 payment pending, 68 settled", "12 reached provider (6.0%)",
                       "335 accepted, 335 delivered (107 at once), 0 lost",
                       "64 started: 48 completed, 13 compensated, 3 stuck, retried",
                       "32 orchestrated (Sagas), 32 choreographed (over the bus)",
                       "262 committed, 262 announced (0 repeats dropped), 0 missing",
                       "balanced", "6 dead-lettered", "converged, 0 lost", "all 7 hold"):
        assert key_figure in " ".join(summary_part.split()), key_figure


def test_a_failed_check_is_named_in_the_summary() -> None:
    failing = json.loads(json.dumps(FULL_SUMMARY))
    failing["checks"]["no_sms_lost"] = False
    failing["breaker"]["sms_lost"] = 2
    text = recorded(summary_report(failing))
    assert "FAILED: no_sms_lost" in text
    assert "2 lost" in text


def test_an_empty_snapshot_renders_without_figures() -> None:
    text = recorded(render(DemoSnapshot("starting", 0.0)))
    assert "starting" in text
    assert "no calls yet" in text


def test_the_summary_table_flattens_nested_figures() -> None:
    text = recorded(summary_table({
        "bulkhead": {"orders": 812, "healthy_p99_ms": {"inventory": 1.4375, "notification": None}},
        "breaker": {"states": ["closed", "open", "closed"]},
        "ok": True}))
    assert "healthy_p99_ms.inventory" in text
    assert "1.4375" in text
    assert "812" in text
    assert "closed open closed" in text
    assert "True" in text


class Stream(io.StringIO):
    """A stream that tells the test when a line naming a phase has been written."""

    def __init__(self, tty: bool = False) -> None:
        super().__init__()
        self.tty = tty
        self.written = threading.Condition()

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        with self.written:
            n = super().write(text)
            self.written.notify_all()
        return n

    def wait_for(self, fragment: str, timeout: float = 5.0) -> bool:
        with self.written:
            return self.written.wait_for(lambda: fragment in self.getvalue(), timeout)


def test_not_a_terminal_prints_one_plain_line_per_phase() -> None:
    phase = ["normal traffic"]
    polled = threading.Event()

    def snapshot() -> DemoSnapshot:
        polled.set()
        return full_snapshot(phase[0])

    out = Stream(tty=False)
    with LiveView(snapshot, out=out, refresh_per_second=30) as view:
        assert view.plain
        assert out.wait_for("] normal traffic |")
        phase[0] = "payment slowdown"
        assert out.wait_for("] payment slowdown |"), out.getvalue()
        polled.clear()
        assert polled.wait(5)  # polled again with no new phase: nothing more is printed
    lines = out.getvalue().splitlines()
    assert lines[0] == PLAIN_LEGEND
    assert [line.split("] ")[1].split(" |")[0] for line in lines[1:]] == [
        "normal traffic", "payment slowdown", "payment slowdown (end)"]
    assert "payment 101/202/303/505" in lines[1]
    assert "breaker half-open (606 calls, 707 fast)" in lines[1]
    assert "sagas 1728/808/909/11 | bus 1212/1313/14 | queue 1515/1616/17" in lines[1]
    assert "\x1b[" not in out.getvalue()  # no escape codes in a log


@pytest.mark.parametrize(("tty", "plain", "environ", "expected"), [
    (False, False, {}, True),
    (True, False, {}, False),
    (True, True, {}, True),
    (True, False, {"NO_COLOR": "1"}, True),
    (True, False, {"NO_COLOR": ""}, False),
    (True, False, {"TERM": "dumb"}, True),
])
def test_plain_when_asked_no_color_dumb_or_not_a_terminal(
        tty: bool, plain: bool, environ: dict[str, str], expected: bool) -> None:
    assert wants_plain(Stream(tty), plain=plain, environ=environ) is expected
    view = LiveView(full_snapshot, out=Stream(tty), plain=plain, environ=environ)
    assert view.plain is expected


def terminal() -> tuple[Console, io.StringIO]:
    screen = io.StringIO()
    return Console(file=screen, force_terminal=True, width=120, record=True), screen


def test_on_a_terminal_the_live_view_redraws_from_snapshots() -> None:
    console, screen = terminal()
    phase = ["normal traffic"]
    with LiveView(lambda: full_snapshot(phase[0]), console=console, auto_refresh=False) as view:
        assert not view.plain
        assert "normal traffic" in screen.getvalue()  # the first frame, drawn at once
        phase[0] = "payment hangs"
        view.refresh()
        assert "payment hangs" in screen.getvalue()
    final = console.export_text()  # what stays on screen: the last frame
    assert "payment hangs" in final
    assert "1616" in final
    assert view.last_snapshot is not None
    assert view.last_snapshot.phase == "payment hangs"
    view.show(summary_table({"ok": True}))
    assert "summary" in console.export_text()


def test_a_failing_snapshot_is_shown_and_the_view_goes_on() -> None:
    broken = [False]

    def flaky() -> DemoSnapshot:
        if broken[0]:
            raise KeyError("queue_figures")
        return full_snapshot("normal traffic")

    out = Stream()
    with LiveView(flaky, out=out, auto_refresh=False) as view:
        broken[0] = True
        view.refresh()
        broken[0] = False
        view.refresh()
    assert "view: snapshot failed: KeyError('queue_figures')" in out.getvalue()
    assert "normal traffic (end)" in out.getvalue()
    console, screen = terminal()
    with LiveView(flaky, console=console, auto_refresh=False) as view:
        broken[0] = True
        view.refresh()
        assert "snapshot failed: KeyError('queue_figures')" in screen.getvalue()
        broken[0] = False
    assert "normal traffic" in console.export_text()


def test_service_counts_come_from_a_service_caller() -> None:
    counts = CallerMetrics("payment", accepted=5, rejected=4, timed_out=3, unavailable=0,
                        rate_limited=0, failed=0, fallbacks=7, p50_ms=None, p99_ms=None)
    assert ServiceCounts.from_call_counts(counts) == ServiceCounts(5, 4, 3, 7)


@pytest.mark.parametrize(("build", "message"), [
    (lambda: ServiceCounts(accepted=-1), r"ServiceCounts.accepted=-1 is invalid"),
    (lambda: SagaCounts(completed=1.5), r"SagaCounts.completed=1.5 is invalid"),
    (lambda: QueueCounts(depth=True), r"QueueCounts.depth=True is invalid"),
    (lambda: BreakerView(""), r"BreakerView.state='' is invalid"),
    (lambda: DemoSnapshot("x", -1.0), r"elapsed=-1.0 is invalid: expected a finite number"),
    (lambda: DemoSnapshot("x", 0.0, services={"p": 3}), r"services=.* is invalid"),
    (lambda: DemoSnapshot("x", 0.0, breaker_states="open"), r"breaker_states='open'"),
    (lambda: DemoSnapshot("x", 0.0, bus={"published": 1}), r"bus=.* is invalid: expected a "
                                                           r"BusCounts"),
    (lambda: LiveView(full_snapshot, refresh_per_second=100), r"refresh_per_second=100"),
    (lambda: LiveView(None), r"snapshot=None is invalid"),
])
def test_bad_figures_are_refused_with_the_field_named(build: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build()


def test_a_snapshot_cannot_be_changed_after_it_is_taken() -> None:
    services = {"payment": ServiceCounts(1)}
    snap = DemoSnapshot("x", 0.0, services=services, breaker_states=["closed"])
    services["inventory"] = ServiceCounts(2)
    assert list(snap.services) == ["payment"]
    assert snap.breaker_states == ("closed",)
    with pytest.raises(TypeError):
        snap.services["other"] = ServiceCounts()  # type: ignore[index]
