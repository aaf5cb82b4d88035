"""Breakers in several processes that hear each other: the transport-free core.

Each process keeps deciding locally (no shared lock, no round trip on the call
path). `BreakerSync` listens to its breakers' transitions and hands a small
JSON message to a transport (`send`); messages from other processes come back
through `receive`, which applies them: an `opened` opens the local breaker for
the sender's wait plus `follower_grace` (so the sender's half-open probes
decide first, and a failed probe re-opens everyone before they probe), a
`closed` after recovery lets the others probe at once, and an operator's
`forced_open`, `disabled` or `reset` reaches every process. Transitions caused
by a message are not sent again. The Redis transport is
`actors.backends.redis.RedisBreakerSync`.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from actors.breaker._breaker import BreakerTransition, CircuitBreaker
from actors.core import ConfigError, LibraryLogger, validate as check

_log = LibraryLogger("stanchion.breaker")

REMOTE = "remote "
"""The prefix of a transition's reason when another process caused it (never re-sent)."""

_KINDS = {"breaker.opened": "opened", "breaker.closed": "closed",
          "breaker.forced_open": "forced_open", "breaker.disabled": "disabled",
          "breaker.reset": "reset"}
_ALL_KINDS = (*_KINDS.values(), "window")


@dataclass(frozen=True, slots=True)
class BreakerSyncConfig:
    """How processes share breaker transitions.

    Args:
        follower_grace: seconds a breaker opened by another process waits
            beyond the sender's wait, so the sender probes first; default 0.2
            (well above a probe's round trip to a provider that answers 503s).
        window_interval: seconds between batches of each closed breaker's new
            outcomes (calls, failures, slow) sent to the others, who add them
            to their own windows: N processes trip on the evidence of all, not
            each on its own. Default 0.02; batched, never a round trip per call.
        channel: the transport's channel name; default "stanchion:breakers".
    """

    follower_grace: float = 0.2
    channel: str = "stanchion:breakers"
    window_interval: float = 0.02

    def __post_init__(self) -> None:
        check.seconds("follower_grace", self.follower_grace, allow_zero=True, maximum=3600.0)
        check.seconds("window_interval", self.window_interval, maximum=60.0)
        check.name("channel", self.channel)


@dataclass(frozen=True, slots=True)
class BreakerSyncMetrics:
    """Messages sent and received, and whether the transport works now."""

    origin: str
    sent: int
    send_failed: int
    received: int
    applied: int
    ignored: int
    connected: bool


class BreakerSync:
    """Shares the transitions of `breakers` with other processes through `send`.

    Example:
        >>> a, b = CircuitBreaker("sms"), CircuitBreaker("sms")
        >>> sync_b = BreakerSync([b], send=lambda message: None, origin="b")
        >>> sync_a = BreakerSync([a], send=sync_b.receive, origin="a")
        >>> a.force_open("provider maintenance")
        >>> b.state.value, b.metrics().state is a.metrics().state
        ('forced_open', True)
    """

    def __init__(self, breakers: Iterable[CircuitBreaker], send: Callable[[str], object], *,
                 config: BreakerSyncConfig | None = None, origin: str | None = None) -> None:
        config = config if config is not None else BreakerSyncConfig()
        check.instance("config", config, BreakerSyncConfig, "a BreakerSyncConfig, or None")
        check.callable_("send", send, "a function publishing one message (text)")
        self.breakers: dict[str, CircuitBreaker] = {}
        for breaker in check.items("breakers", breakers, CircuitBreaker, "CircuitBreaker",
                                   min_length=1):
            if breaker.name in self.breakers:
                raise ConfigError("breakers", breaker.name, "breakers with distinct names")
            self.breakers[breaker.name] = breaker
        self.config = config
        self.origin = origin if origin is not None else f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        check.name("origin", self.origin)
        self._send = send
        self._lock = threading.Lock()
        self._sent = self._send_failed = self._received = self._applied = self._ignored = 0
        self._connected = True
        # Breakers whose current open is their own trip: on simultaneous trips
        # the smallest origin leads (probes first), the others follow it.
        self._own_open: set[str] = set()
        self._last_window: dict[str, tuple[int, int, int]] = {}
        for breaker in self.breakers.values():
            breaker.add_listener(self._on_transition)
            # Starts the breaker counting the outcomes it judges (only a shared one does).
            self._last_window[breaker.name] = breaker.judged_outcomes()

    def close(self) -> None:
        """Stop listening to the breakers."""
        for breaker in self.breakers.values():
            breaker.remove_listener(self._on_transition)

    # -- outgoing ----------------------------------------------------------------------

    def _on_transition(self, event: BreakerTransition) -> None:
        kind = _KINDS.get(event.event)
        with self._lock:
            if kind == "opened" and not event.reason.startswith(REMOTE):
                self._own_open.add(event.breaker)
            else:
                self._own_open.discard(event.breaker)
        if kind is None or event.reason.startswith(REMOTE):
            return
        if kind == "closed" and event.from_state != "half_open":
            return
        message = json.dumps({"v": 1, "origin": self.origin, "breaker": event.breaker,
                              "kind": kind, "wait": event.wait, "reason": event.reason})
        try:
            self._send(message)
        except Exception as exc:  # noqa: BLE001 - the transport failing must not fail the caller
            self.transport_failed(exc)
            with self._lock:
                self._send_failed += 1
            return
        self.transport_restored()
        with self._lock:
            self._sent += 1

    def window_messages(self) -> list[str]:
        """The closed breakers' new local outcomes since the last call, one message each.

        The transport sends them every `window_interval` seconds; receivers add
        them to their own windows (`CircuitBreaker.record_remote`).
        """
        messages = []
        for name, breaker in self.breakers.items():
            now = breaker.judged_outcomes()
            last = self._last_window.get(name, (0, 0, 0))
            self._last_window[name] = now
            delta = (now[0] - last[0], now[1] - last[1], now[2] - last[2])
            if delta[0] <= 0:
                continue
            messages.append(json.dumps({
                "v": 1, "origin": self.origin, "breaker": name, "kind": "window", "wait": 0,
                "reason": "", "calls": delta[0], "failures": delta[1], "slow": delta[2]}))
        return messages

    def transport_failed(self, exc: BaseException) -> None:
        """The transport cannot send or receive: decisions stay local (logged once)."""
        with self._lock:
            was, self._connected = self._connected, False
        if was:
            _log.warning("breaker.sync_unavailable", origin=self.origin, error=repr(exc),
                         decisions="local")

    def transport_restored(self) -> None:
        """The transport works again (logged once)."""
        with self._lock:
            was, self._connected = self._connected, True
        if not was:
            _log.info("breaker.sync_restored", origin=self.origin)

    # -- incoming ----------------------------------------------------------------------

    def receive(self, raw: str | bytes) -> bool:
        """Apply one message from another process; False if ignored (own, unknown, malformed)."""
        with self._lock:
            self._received += 1
        message = _parse(raw)
        applied = message is not None and message["origin"] != self.origin and self._apply(
            message)
        with self._lock:
            if applied:
                self._applied += 1
            else:
                self._ignored += 1
        return applied

    def _apply(self, message: dict[str, Any]) -> bool:
        breaker = self.breakers.get(message["breaker"])
        if breaker is None:
            return False
        kind, origin = message["kind"], message["origin"]
        if kind == "window":
            return self._judge(breaker, origin, message)
        reason = f"{REMOTE}{origin}: {message['reason']}"[:500]
        if kind == "opened":
            with self._lock:
                leading = breaker.name in self._own_open and self.origin < origin
            if leading and breaker.state.value == "open":
                return False  # tripped here too, and this origin probes first
            return breaker.open_for(message["wait"] + self.config.follower_grace, reason)
        if kind == "closed":
            # The sender's probes passed: let this one probe now, on its own judgement.
            return breaker.probe_now(reason)
        if kind == "forced_open":
            breaker.force_open(reason)
        elif kind == "disabled":
            breaker.disable(reason)
        elif kind == "reset":
            breaker.reset(reason)
        return True

    def _judge(self, breaker: CircuitBreaker, origin: str, message: dict[str, Any]) -> bool:
        calls, failures, slow = (message.get(k) for k in ("calls", "failures", "slow"))
        if not (isinstance(calls, int) and isinstance(failures, int) and isinstance(slow, int)
                and 0 < calls <= 1_000_000 and 0 <= failures <= calls and 0 <= slow <= calls):
            return False
        # This process's own decision, on a window that holds every process's outcomes.
        return breaker.record_remote(calls, failures, slow, f"outcomes from {origin}")

    def metrics(self) -> BreakerSyncMetrics:
        """Counters and the transport's state."""
        with self._lock:
            return BreakerSyncMetrics(self.origin, self._sent, self._send_failed,
                                      self._received, self._applied, self._ignored,
                                      self._connected)


def _parse(raw: str | bytes) -> dict[str, Any] | None:
    try:
        message = json.loads(raw)
    except (ValueError, TypeError, RecursionError):
        return None
    if not (isinstance(message, dict) and message.get("v") == 1
            and isinstance(message.get("origin"), str)
            and isinstance(message.get("breaker"), str)
            and message.get("kind") in _ALL_KINDS
            and isinstance(message.get("reason"), str)):
        return None
    try:  # a sender's origin passed check.name; a reason with a lone surrogate cannot be logged
        check.name("origin", message["origin"])
    except ConfigError:
        return None
    if check.text_problem(message["reason"]) is not None:
        return None
    wait = message.get("wait")
    if not (isinstance(wait, int | float) and check.is_finite_number(wait)
            and 0 <= wait <= 86_400 * 365):
        return None
    return message
