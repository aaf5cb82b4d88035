"""The demo's view: every figure of a snapshot appears in the rendering, the plain fallback
prints one readable line per phase, and bad snapshots are refused clearly."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from rich.console import Console

from actors import ConfigError
from actors.bulkhead import CallerMetrics
from examples.peaksale.view import (
    PLAIN_LEGEND,
    BreakerView,
    BusCounts,
    DemoSnapshot,
    LiveView,
    QueueCounts,
    SagaCounts,
    ServiceCounts,
    render,
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
        sagas=SagaCounts(completed=808, compensated=909, compensation_failed=11),
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
                   1616, 17):
        assert str(figure) in text, f"{figure} missing from:\n{text}"
    assert "closed closed open open half-open closed" in text
    assert "rejected fast 707" in text
    assert "compensation failed 11" in text
    assert "dead-lettered 14" in text
    assert "depth 17" in text


def test_the_breaker_strip_shows_only_the_recent_states() -> None:
    snap = DemoSnapshot("breaker", 1.0, breaker_states=["open"] * 20 + ["half_open", "closed"])
    text = recorded(render(snap))
    assert "open open half-open closed" in text
    assert text.count("open ") + text.count("open\n") < 20


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
    assert "sagas 808/909/11 | bus 1212/1313/14 | queue 1515/1616/17" in lines[1]
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
