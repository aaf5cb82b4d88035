"""The demo's terminal view: live panels from snapshots, plain lines for logs, a summary table."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import IO, Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from actors.core import ConfigError, validate as check
from examples.peaksale.view._snapshot import DemoSnapshot

STRIP_LENGTH = 8
"""How many recent breaker states the strip shows (it fits 80 columns)."""

_STATE_STYLES = {"closed": "green", "open": "bold red", "forced_open": "bold magenta",
                 "half_open": "yellow"}


def _state_name(state: str) -> str:
    return state.replace("_", "-")


def breaker_strip(states: Sequence[str], length: int = STRIP_LENGTH) -> Text:
    """The last `length` breaker states, oldest first, each in its colour.

    A state repeated in a row is shown once: the strip is the breaker's
    transitions, however often it was sampled.

    Example:
        >>> breaker_strip(["closed", "open", "open", "half_open", "closed"]).plain
        'closed open half-open closed'
    """
    changes = [state for n, state in enumerate(states) if n == 0 or states[n - 1] != state]
    strip = Text()
    for n, state in enumerate(changes[-length:]):
        if n:
            strip.append(" ")
        strip.append(_state_name(state), style=_STATE_STYLES.get(state, "white"))
    return strip if strip.plain else Text("-", style="dim")


def render(snapshot: DemoSnapshot) -> Group:
    """One frame of the live view: phase, per-service calls, breaker, sagas, bus, queue.

    Example:
        >>> import io
        >>> from rich.console import Console
        >>> from examples.peaksale.view import DemoSnapshot, ServiceCounts
        >>> console = Console(record=True, width=100, file=io.StringIO())
        >>> snap = DemoSnapshot("payment hangs", 3.0,
        ...                     services={"payment": ServiceCounts(accepted=5, rejected=41)})
        >>> console.print(render(snap))
        >>> "payment hangs" in console.export_text()
        True
    """
    header = Text.assemble(("phase ", "dim"), (snapshot.phase, "bold cyan"),
                           (f"   {snapshot.elapsed:6.1f}s", "dim"))
    services = Table(title="calls per service", title_justify="left", expand=False)
    services.add_column("service")
    for column in ("accepted", "rejected", "timed out", "fallbacks"):
        services.add_column(column, justify="right")
    for name, c in snapshot.services.items():
        services.add_row(name, str(c.accepted),
                         Text(str(c.rejected), style="red" if c.rejected else ""),
                         Text(str(c.timed_out), style="yellow" if c.timed_out else ""),
                         str(c.fallbacks))
    if not snapshot.services:
        services.add_row(Text("no calls yet", style="dim"), "", "", "", "")
    breaker, sagas, bus, queue = snapshot.breaker, snapshot.sagas, snapshot.bus, snapshot.queue
    lines = Table.grid(padding=(0, 2))
    lines.add_column(style="bold")
    lines.add_column()
    sms = snapshot.sms
    lines.add_row("sms", f"sent {sms.sent}  queued {sms.queued} (circuit open "
                         f"{sms.circuit_open})  delivered later {sms.delivered_later}")
    lines.add_row("breaker", Text.assemble(
        (_state_name(breaker.state), _STATE_STYLES.get(breaker.state, "white")),
        f"  provider calls {breaker.provider_calls}  rejected fast {breaker.rejected_fast}"))
    lines.add_row("recent states", breaker_strip(snapshot.breaker_states))
    lines.add_row("sagas", f"started {sagas.started}  completed {sagas.completed}  "
                           f"compensated {sagas.compensated}  "
                           f"compensation failed {sagas.compensation_failed}")
    lines.add_row("bus", f"published {bus.published}  delivered {bus.delivered}  "
                         f"dead-lettered {bus.dead_lettered}")
    lines.add_row("queue", f"enqueued {queue.enqueued}  delivered {queue.delivered}  "
                           f"depth {queue.depth}")
    return Group(header, services, lines)


def plain_line(snapshot: DemoSnapshot) -> str:
    """The snapshot as one line of plain text, for logs that are not a terminal.

    Example:
        >>> from examples.peaksale.view import DemoSnapshot, ServiceCounts
        >>> snap = DemoSnapshot("normal traffic", 1.25,
        ...                     services={"inventory": ServiceCounts(accepted=9)})
        >>> plain_line(snap)  # doctest: +NORMALIZE_WHITESPACE
        '[   1.2s] normal traffic | inventory 9/0/0/0 | sms 0/0/0 |
         breaker closed (0 calls, 0 fast) | sagas 0/0/0/0 | bus 0/0/0 | queue 0/0/0'
    """
    services = " ".join(f"{name} {c.accepted}/{c.rejected}/{c.timed_out}/{c.fallbacks}"
                        for name, c in snapshot.services.items()) or "no calls"
    b, s, bus, q = snapshot.breaker, snapshot.sagas, snapshot.bus, snapshot.queue
    sms = snapshot.sms
    return (f"[{snapshot.elapsed:6.1f}s] {snapshot.phase} | {services} | "
            f"sms {sms.sent}/{sms.queued}/{sms.delivered_later} | "
            f"breaker {_state_name(b.state)} ({b.provider_calls} calls, {b.rejected_fast} fast) | "
            f"sagas {s.started}/{s.completed}/{s.compensated}/{s.compensation_failed} | "
            f"bus {bus.published}/{bus.delivered}/{bus.dead_lettered} | "
            f"queue {q.enqueued}/{q.delivered}/{q.depth}")


PLAIN_LEGEND = ("columns: service accepted/rejected/timed_out/fallbacks; "
                "sms sent/queued/delivered_later; "
                "sagas started/completed/compensated/compensation_failed; "
                "bus published/delivered/dead_lettered; queue enqueued/delivered/depth")
"""Printed once at the top of plain output, so each line's numbers can be read."""


def summary_table(summary: Mapping[str, Any], *, title: str = "summary") -> Table:
    """The end-of-demo summary: one row per figure; nested mappings become dotted names.

    Example:
        >>> import io
        >>> from rich.console import Console
        >>> console = Console(record=True, width=80, file=io.StringIO())
        >>> console.print(summary_table({"bulkhead": {"orders": 812,
        ...     "healthy_p99_ms": {"inventory": 1.4}}, "ok": True}))
        >>> text = console.export_text()
        >>> "healthy_p99_ms.inventory" in text and "812" in text
        True
    """
    table = Table(title=title)
    table.add_column("part", style="bold")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for part, figures in summary.items():
        if isinstance(figures, Mapping):
            for key, value in _flatten(figures):
                table.add_row(str(part), key, _value(value))
        else:
            table.add_row(str(part), "", _value(figures))
    return table


def summary_report(summary: Mapping[str, Any], *,
                   title: str = "summary (every figure measured; --json PATH writes them all)",
                   ) -> Table:
    """The end-of-demo summary, short enough for a 40-row terminal: one line per story part.

    The key figures of each part the story told, in words; `summary_table`
    (or the `--json` file) has every figure.

    Example:
        >>> import io
        >>> from rich.console import Console
        >>> console = Console(record=True, width=80, file=io.StringIO())
        >>> console.print(summary_report({"scenario": "saga", "seed": 7, "backend": "memory",
        ...     "duration_s": 5, "elapsed_s": 5.4, "ok": True, "checks": {"saga_invariants": True},
        ...     "sagas": {"started": 200, "completed": 172, "compensated": 22,
        ...               "compensation_failed": 6, "stuck_retried_by_operator": 6,
        ...               "invariants_ok": True, "charged": 100, "refunded": 40,
        ...               "completed_amount": 60}}))
        >>> text = console.export_text()
        >>> "200 started: 172 completed, 22 compensated, 6 stuck, retried" in text
        True
    """
    table = Table.grid(padding=(0, 2))
    table.title = title
    table.title_justify = "left"
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.add_row("run", f"{summary.get('scenario')}, seed {summary.get('seed')}, "
                         f"{summary.get('backend')}: {_value(summary.get('duration_s'))} s asked, "
                         f"{_value(summary.get('elapsed_s'))} s taken")
    for name, c in dict(summary.get("services", {})).items():
        table.add_row(name, f"{c['accepted']} answered, {c['rejected']} refused, "
                            f"{c['timed_out']} timed out, {c['fallbacks']} fell back")
    if "bulkhead" in summary:
        b = summary["bulkhead"]
        table.add_row("orders", f"{b['orders']} placed, {b['ingress_rejected']} refused; "
                                f"{b['payment_pending']} payment pending, "
                                f"{b['payment_pending_settled']} settled")
        before, during = b["healthy_p99_ms_before"], b["healthy_p99_ms_during"]
        table.add_row("p99 (hang)", ", ".join(
            f"{name} {_ms(before.get(name))} -> {_ms(during.get(name))} ms" for name in before))
    if "breaker" in summary:
        r = summary["breaker"]
        table.add_row("sms outage", f"{r['requests_during_outage']} sent, "
                      f"{r['provider_calls_during_outage']} reached provider "
                      f"({100 * r['provider_call_ratio_during_outage']:.1f}%), p50 "
                      f"{_ms(r['fail_fast_p50_us'], 0)} us, {r['breaker_trips']} trips")
        table.add_row("sms", f"{r['sms_accepted']} accepted, {r['sms_delivered']} delivered "
                             f"({r['sent_at_once']} at once), "
                             + _flag(f"{r['sms_lost']} lost", r["sms_lost"] == 0))
    if "sagas" in summary:
        g = summary["sagas"]
        table.add_row("sagas", f"{g['started']} started: {g['completed']} completed, "
                      f"{g['compensated']} compensated, {g['compensation_failed']} stuck, "
                      + ("retried" if g["stuck_retried_by_operator"] == g["compensation_failed"]
                         else f"{g['stuck_retried_by_operator']} retried"))
        if "choreographed" in g:
            table.add_row("styles", f"{g['orchestrated']} orchestrated (Sagas), "
                                    f"{g['choreographed']} choreographed (over the bus)")
        table.add_row("books", _flag("balanced" if g["invariants_ok"] else "do not balance",
                                     bool(g["invariants_ok"]))
                      + f": charged {g['charged']}, refunded {g['refunded']}, completed "
                        f"orders {g['completed_amount']}")
    if "outbox" in summary:
        o = summary["outbox"]
        table.add_row("outbox", f"{o['committed']} committed, {o['announced']} announced "
                                f"({o['duplicates_dropped']} repeats dropped), "
                      + _flag(f"{o['missing']} missing", o["missing"] == 0)
                      + ("" if not o["not_committed"] else ", " + _flag(
                          f"{o['not_committed']} never committed", False)))
    if "bus" in summary:
        e = summary["bus"]
        table.add_row("bus", f"{e['published']} published, {e['delivered']} delivered, "
                             f"{e['dead_lettered']} dead-lettered, {e['backlog']} left")
    if "queue" in summary:
        q = summary["queue"]
        table.add_row("profiles", f"{q['delivered']} of {q['enqueued']} delivered, "
                      f"{q['mail_backlog_while_down']} waited for mail; "
                      + _flag("converged" if q["converged"] else "not converged",
                              bool(q["converged"])) + f", {q['lost']} lost")
    checks = dict(summary.get("checks", {}))
    failed = [name for name, held in checks.items() if not held]
    table.add_row("checks", Text(f"all {len(checks)} hold" if not failed
                                 else f"FAILED: {', '.join(failed)}",
                                 style="bold green" if not failed else "bold red"))
    return table


def _ms(value: Any, digits: int = 1) -> str:
    return "-" if not isinstance(value, int | float) else f"{value:.{digits}f}"


def _flag(text: str, good: bool) -> str:
    return f"[green]{text}[/]" if good else f"[bold red]{text}[/]"


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return str(value)


def _flatten(values: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows.extend(_flatten(value, f"{name}."))
        else:
            rows.append((name, value))
    return rows


def wants_plain(stream: IO[str], *, plain: bool = False,
                environ: Mapping[str, str] | None = None) -> bool:
    """Plain lines instead of the live view: asked for, NO_COLOR set, or not a terminal.

    Example:
        >>> import io
        >>> wants_plain(io.StringIO()), wants_plain(sys.stdout, environ={"NO_COLOR": "1"})
        (True, True)
    """
    env = os.environ if environ is None else environ
    # no-color.org: NO_COLOR counts when present and not empty.
    if plain or env.get("NO_COLOR", "") != "" or env.get("TERM") == "dumb":
        return True
    isatty = getattr(stream, "isatty", None)
    return not (callable(isatty) and isatty())


class LiveView:
    """Shows `snapshot()` live while the demo runs, or a plain line per phase for logs.

    On a terminal, a `rich.live.Live` re-renders `render(snapshot())`
    `refresh_per_second` times a second. Not on a terminal, with `plain=True`
    (`--plain`), with `NO_COLOR` set or `TERM=dumb`, it prints `plain_line` once
    per phase instead, and once more at the end, so CI logs stay readable.
    `snapshot` must be quick and must not raise: it is called from the view's
    thread; if it raises anyway, the view shows the error and keeps going.

    Args:
        snapshot: returns the figures now, as a `DemoSnapshot`.
        plain: force plain lines.
        out: where to write (default: stdout); ignored when `console` is given.
        console: a `rich.console.Console` to draw on (tests pass a recording one).
        refresh_per_second: how often the view polls `snapshot` (0.5 to 30).
        environ: the environment to read NO_COLOR/TERM from (default: os.environ).
        auto_refresh: poll from a thread; `False` leaves it to `refresh()` calls.

    Example:
        >>> import io
        >>> from examples.peaksale.view import DemoSnapshot
        >>> phase = ["warming up"]
        >>> out = io.StringIO()
        >>> with LiveView(lambda: DemoSnapshot(phase[0], 0.0), out=out,
        ...               auto_refresh=False) as view:
        ...     phase[0] = "payment hangs"
        ...     view.refresh()
        >>> [line.split("|")[0].strip() for line in out.getvalue().splitlines()[1:]]
        ['[   0.0s] warming up', '[   0.0s] payment hangs', '[   0.0s] payment hangs (end)']
    """

    def __init__(self, snapshot: Callable[[], DemoSnapshot], *, plain: bool = False,
                 out: TextIO | None = None, console: Console | None = None,
                 refresh_per_second: float = 4.0, environ: Mapping[str, str] | None = None,
                 auto_refresh: bool = True) -> None:
        check.callable_("snapshot", snapshot, "a callable returning a DemoSnapshot")
        check.boolean("plain", plain)
        if out is not None and not callable(getattr(out, "write", None)):
            raise ConfigError("out", out, "a text stream (with write), or None for stdout")
        check.optional(check.instance, "console", console, kind=Console,
                       what="a rich.console.Console")
        check.number("refresh_per_second", refresh_per_second, minimum=0.5, maximum=30.0,
                     unit="refreshes a second")
        if environ is not None and not (isinstance(environ, Mapping) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in environ.items())):
            raise ConfigError("environ", environ, "a mapping of str to str like os.environ, "
                              "or None")
        check.boolean("auto_refresh", auto_refresh)
        self._snapshot = snapshot
        self.console = console if console is not None else Console(
            file=out if out is not None else sys.stdout)
        stream = self.console.file
        self.plain = wants_plain(stream, plain=plain, environ=environ) if console is None else (
            plain or not self.console.is_terminal)
        self.refresh_per_second = float(refresh_per_second)
        self.auto_refresh = auto_refresh
        self._live: Live | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._last_phase: str | None = None
        self.last_snapshot: DemoSnapshot | None = None
        """The most recent snapshot shown."""

    def __enter__(self) -> LiveView:
        if self.plain:
            self._write(PLAIN_LEGEND)
            self.refresh()
            if self.auto_refresh:
                self._thread = threading.Thread(target=self._poll, daemon=True,
                                                name="demo-view")
                self._thread.start()
        else:
            self._live = Live(console=self.console, auto_refresh=self.auto_refresh,
                              refresh_per_second=self.refresh_per_second,
                              get_renderable=self._frame, redirect_stdout=False,
                              redirect_stderr=False)
            self._live.__enter__()
            self._live.refresh()  # the first frame now, not after the first interval
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)  # draws the final frame
        else:
            self.refresh()
            last = self.last_snapshot
            if last is not None:
                self._write(plain_line(last).replace(f"] {last.phase} |",
                                                     f"] {last.phase} (end) |", 1))

    def refresh(self) -> None:
        """Take a snapshot now: redraw the live view, or print a line if the phase changed."""
        if self._live is not None:
            self._live.refresh()
            return
        snap = self._take()
        if snap is None:
            return
        with self._lock:
            changed = snap.phase != self._last_phase
            self._last_phase = snap.phase
        if changed:
            self._write(plain_line(snap))

    def show(self, renderable: Any) -> None:
        """Print something (the summary table) on the view's console after the live part."""
        self.console.print(renderable)

    def _poll(self) -> None:
        while not self._stop.wait(1 / self.refresh_per_second):
            self.refresh()

    def _take(self) -> DemoSnapshot | None:
        try:
            snap = self._snapshot()
        except Exception as exc:  # noqa: BLE001 - a failing figure must not stop the demo
            self._write(f"view: snapshot failed: {exc!r}")
            return None
        self.last_snapshot = snap
        return snap

    def _frame(self) -> Group | Text:
        try:
            snap = self._snapshot()
        except Exception as exc:  # noqa: BLE001 - a failing figure must not stop the demo
            return Text(f"snapshot failed: {exc!r}", style="bold red")
        self.last_snapshot = snap
        return render(snap)

    def _write(self, line: str) -> None:
        stream = self.console.file
        with self._lock:
            stream.write(line + "\n")
            stream.flush()
