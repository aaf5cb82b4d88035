"""What a person watching `demo.py` sees: a live terminal view, then a summary table."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from actors.peaksale._story import Story

Snapshot = dict[str, Any]


def snapshot(story: Story) -> Snapshot:
    """The story's counters right now, read without messages to the actors."""
    counters = story.counters
    view: Snapshot = {"phase": story.phase, "elapsed": story.elapsed(), "services": {}}
    for name, caller in dict(counters.get("callers", {})).items():
        c = caller.counts()
        view["services"][name] = {"accepted": c.accepted, "rejected": c.rejected,
                                  "timed_out": c.timed_out, "fallbacks": c.fallbacks}
    sms = counters.get("sms")
    if sms is not None:
        view["services"]["sms"] = dict(sms())
    view["breaker"] = list(story.breaker_states[-24:])
    view["sagas"] = dict(counters.get("saga_outcomes", {}))
    bus = counters.get("bus_figures")
    view["bus"] = bus() if bus is not None else {}
    queue = counters.get("queue_figures")
    view["queue"] = queue() if queue is not None else {}
    return view


def render(view: Snapshot) -> Group:
    """The live view of one snapshot."""
    header = Text(f"{view['elapsed']:6.1f}s  {view['phase']}", style="bold cyan")
    services = Table(title="services", expand=False)
    for column in ("service", "accepted", "rejected", "timed out", "fallbacks"):
        services.add_column(column, justify="left" if column == "service" else "right")
    for name, c in view["services"].items():
        services.add_row(name, *(str(c.get(k, "")) for k in
                                 ("accepted", "rejected", "timed_out", "fallbacks")))
    states = " ".join(view["breaker"]) or "-"
    lines = Table.grid(padding=(0, 2))
    lines.add_row("SMS breaker", Text(states, style=_breaker_style(view["breaker"])))
    lines.add_row("sagas", _pairs(view["sagas"]))
    lines.add_row("bus", _pairs(view["bus"]))
    lines.add_row("queue", _pairs(view["queue"]))
    return Group(header, services, lines)


def _pairs(values: Mapping[str, Any]) -> str:
    return "  ".join(f"{k}={v}" for k, v in values.items()) or "-"


def _breaker_style(states: list[str]) -> str:
    if not states:
        return "dim"
    return {"closed": "green", "open": "red", "half_open": "yellow"}.get(states[-1], "white")


def summary_table(summary: Mapping[str, Any]) -> Table:
    """The final summary, one row per figure."""
    table = Table(title="summary (every figure measured)")
    table.add_column("part")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for part, figures in summary.items():
        if isinstance(figures, Mapping):
            for key, value in _flatten(figures):
                table.add_row(part, key, str(value))
        else:
            table.add_row(part, "", str(figures))
    return table


def _flatten(values: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows.extend(_flatten(value, f"{name}."))
        else:
            rows.append((name, value))
    return rows


class LiveView:
    """Refreshes `render(snapshot(story))` a few times a second on a terminal.

    Not on a terminal, with `plain=True` or with NO_COLOR set, it prints one
    plain line per phase instead, so CI logs stay readable.
    """

    def __init__(self, story: Story, *, plain: bool = False, out: TextIO | None = None) -> None:
        self.story = story
        self.out = out or sys.stdout
        self.plain = plain or not self.out.isatty() or "NO_COLOR" in os.environ
        self.console = Console(file=self.out, no_color=self.plain)
        self._live: Live | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._printed = ""

    def __enter__(self) -> LiveView:
        if self.plain:
            self._thread = threading.Thread(target=self._print_phases, daemon=True,
                                            name="demo-view")
            self._thread.start()
        else:
            self._live = Live(self._render(), console=self.console, refresh_per_second=4,
                              get_renderable=self._render)
            self._live.__enter__()
        return self

    def _render(self) -> Group:
        return render(snapshot(self.story))

    def _print_phases(self) -> None:
        while not self._stop.wait(0.1):
            self._print_phase()

    def _print_phase(self) -> None:
        phase = self.story.phase
        if phase != self._printed:
            self._printed = phase
            print(f"[{self.story.elapsed():6.1f}s] {phase}", file=self.out, flush=True)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1)
            self._print_phase()
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)

    def show(self, renderable: Any) -> None:
        self.console.print(renderable)

