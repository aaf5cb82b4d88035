"""A fake SMS provider: a real HTTP server on 127.0.0.1 with knobs for latency, errors, outages.

It is what embedders' tests and the outage benchmark talk to, through real
sockets, so timeouts, refused connections and pooled keep-alive connections
behave as they do against a real provider. It keeps its own log of every
request it received: "how many requests reached the provider" is measured
here, not inferred from the caller's side.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import random
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from actors.core import StanchionError, validate as check

OutageMode = Literal["refuse", "503"]

_E164 = re.compile(r"\+[1-9]\d{7,14}")
_MESSAGES_PATH = "/v1/messages"
_MAX_REQUEST_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class ProviderRequest:
    """One request the fake provider received, and what it answered.

    `status` is the HTTP status sent back, or 0 when the connection was
    dropped without an answer (a refuse-mode outage hit a kept-alive
    connection). `duplicate` is true when the idempotency key had already been
    delivered and the stored answer was replayed. `at` is `time.time()`.
    """

    at: float
    key: str | None
    to: str | None
    status: int
    message_id: str | None = None
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class DeliveredText:
    """One text the fake provider accepted: what a phone would receive (once per key)."""

    key: str
    to: str
    body: str
    message_id: str
    at: float


@dataclass(frozen=True, slots=True)
class ProviderMetrics:
    """Counts over every request received since start (or the last `clear`).

    `requests` counts all of them; `delivered` unique texts; `duplicates`
    repeated keys answered from the stored reply; `server_errors` injected
    500/503s and 503-mode outage answers; `rate_limited` 429s; `rejected`
    400s; `dropped` connections closed without an answer in refuse mode.
    """

    requests: int
    delivered: int
    duplicates: int
    server_errors: int
    rate_limited: int
    rejected: int
    dropped: int


class FakeProviderError(StanchionError, RuntimeError):
    """The fake provider was used in a way it cannot honour (not started, port taken...)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], provider: FakeSmsProvider) -> None:
        self.provider = provider
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real provider and a pooled client use
    timeout = 10.0  # an idle kept-alive connection is closed after this many seconds
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's
        # algorithm meets the client's delayed ACK and each answer waits ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.provider._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.provider._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        return  # the provider keeps its own request log; stderr noise helps nobody

    def do_POST(self) -> None:
        self.server.provider._handle(self)

    def do_GET(self) -> None:
        self.reply(404, {"error": "not_found", "detail": f"POST {_MESSAGES_PATH}"})

    def reply(self, status: int, body: dict[str, Any],
              headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class FakeSmsProvider:
    """An SMS provider's HTTP API on 127.0.0.1, with run-time knobs for every failure mode.

    `POST /v1/messages` with JSON `{"to", "body", "idempotency_key"}` (the key
    may also come in an `Idempotency-Key` header) answers 200 with
    `{"id": ..., "status": "accepted"}`. A key already delivered replays the
    first answer (same id) and is not a second text. Knobs, changeable while
    it runs from any thread: `set_latency`, `set_error_rate` (500/503 drawn
    from a seeded rng), `set_quota` (429 with `Retry-After`), `outage("refuse")`
    (the listening socket is closed: connections are refused) or
    `outage("503")`, `recover()`, and `reject(number)` (400 for that number).

    Args:
        seed: seeds the rng that draws injected errors, so runs repeat (an int).
        latency: seconds added before answering each request (0 to 3600).
        error_rate: fraction of requests answered 500 or 503 (0 to 1).
        quota: requests accepted per `quota_window` seconds, an integer >= 1
            (`None`: unlimited).
        quota_window: the quota's window, in seconds (> 0, at most a day).
        port: the port to listen on, 0 to 65535; 0 picks a free one.

    Example:
        >>> import httpx
        >>> with FakeSmsProvider(seed=1) as provider:
        ...     answer = httpx.post(provider.base_url + "/v1/messages", json={
        ...         "to": "+15551234567", "body": "hi", "idempotency_key": "k-1"})
        ...     again = httpx.post(provider.base_url + "/v1/messages", json={
        ...         "to": "+15551234567", "body": "hi", "idempotency_key": "k-1"})
        ...     answer.status_code, answer.json()["id"] == again.json()["id"]
        (200, True)
        >>> len(provider.delivered()), provider.metrics().duplicates
        (1, 1)
    """

    def __init__(self, *, seed: int = 0, latency: float = 0.0, error_rate: float = 0.0,
                 quota: int | None = None, quota_window: float = 1.0, port: int = 0,
                 clock: Callable[[], float] = time.time) -> None:
        check.integer("seed", seed)
        check.integer("port", port, minimum=0, maximum=65535)  # 0: pick a free one
        check.callable_("clock", clock, "a function returning time.time() seconds")
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._clock = clock
        self._latency = 0.0
        self._error_rate = 0.0
        self._quota: int | None = None
        self._quota_window = 1.0
        self.set_latency(latency)
        self.set_error_rate(error_rate)
        self.set_quota(quota, quota_window)
        self._outage: OutageMode | None = None
        self._rejected_numbers: set[str] = set()
        self._window_start = 0.0
        self._window_count = 0
        self._ids = itertools.count(1)
        self._log: list[ProviderRequest] = []
        self._delivered: dict[str, DeliveredText] = {}
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._started = False

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> FakeSmsProvider:
        """Listen on 127.0.0.1 (a free port unless one was given) in a background thread."""
        with self._lock:
            if self._started:
                raise FakeProviderError("the fake SMS provider is already started; stop() it "
                                        "first or use another instance")
            self._started = True
            self._stopping.clear()
            self._listen()
        return self

    def stop(self) -> None:
        """Stop listening, close every open connection, and end the server's threads."""
        with self._lock:
            if not self._started:
                return
            self._started = False
            self._stopping.set()
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is not None:
            self._close(server, thread)
        self._drop_connections()

    def __enter__(self) -> FakeSmsProvider:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The TCP port it listens on (kept across a refuse-mode outage)."""
        if self._port == 0:
            raise FakeProviderError("the fake SMS provider has no port yet; call start() first")
        return self._port

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`: what an `SmsClient` is pointed at."""
        return f"http://127.0.0.1:{self.port}"

    def _listen(self) -> None:
        try:
            server = _Server(("127.0.0.1", self._port), self)
        except OSError as exc:
            raise FakeProviderError(
                f"the fake SMS provider cannot listen on 127.0.0.1:{self._port} ({exc}); pass "
                "port=0 for a free port, or free the port") from exc
        self._port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  name=f"fake-sms-{self._port}", daemon=True)
        self._server, self._thread = server, thread
        thread.start()

    @staticmethod
    def _close(server: _Server, thread: threading.Thread | None) -> None:
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(5.0)

    def _track(self, connection: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _drop_connections(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    # -- knobs ------------------------------------------------------------------------------

    def set_latency(self, seconds: float) -> None:
        """Add `seconds` before every answer (0 for none)."""
        check.seconds("latency", seconds, allow_zero=True, maximum=3600.0)
        with self._lock:
            self._latency = float(seconds)

    def set_error_rate(self, fraction: float) -> None:
        """Answer this fraction of requests with 500 or 503 (drawn from the seeded rng)."""
        check.fraction("error_rate", fraction)
        with self._lock:
            self._error_rate = float(fraction)

    def set_quota(self, requests: int | None, window: float = 1.0) -> None:
        """Accept at most `requests` per `window` seconds, then 429 with `Retry-After`."""
        check.optional(check.integer, "quota", requests, minimum=1)  # requests per window
        check.seconds("quota_window", window, maximum=86_400.0)
        with self._lock:
            self._quota = requests
            self._quota_window = float(window)
            self._window_count = 0

    def reject(self, number: str) -> None:
        """Answer 400 for every text to `number` (a blocked or unreachable number)."""
        check.text("number", number, max_length=64)
        with self._lock:
            self._rejected_numbers.add(number)

    def outage(self, mode: OutageMode = "refuse") -> None:
        """Go down: "refuse" closes the listening socket and open connections; "503" answers 503."""
        check.one_of("mode", mode, ("refuse", "503"))
        with self._lock:
            if not self._started:
                raise FakeProviderError("start() the fake SMS provider before an outage")
            previous = self._outage
            self._outage = mode
            server, thread = (self._server, self._thread) if mode == "refuse" else (None, None)
            if server is not None:
                self._server = self._thread = None
        if server is not None:
            self._close(server, thread)
            self._drop_connections()
        elif mode == "503" and previous == "refuse":
            with self._lock:
                self._listen()

    def recover(self) -> None:
        """End an outage: listen again on the same port and answer normally."""
        with self._lock:
            if not self._started:
                raise FakeProviderError("start() the fake SMS provider before recover()")
            refused = self._outage == "refuse"
            self._outage = None
            if refused and self._server is None:
                self._listen()

    @property
    def outage_mode(self) -> OutageMode | None:
        """The current outage ("refuse" or "503"), or `None` when up."""
        return self._outage

    # -- what it saw --------------------------------------------------------------------------

    def requests(self, since: float | None = None, until: float | None = None
                 ) -> list[ProviderRequest]:
        """Every request received, oldest first; `since`/`until` bound `at` (inclusive)."""
        with self._lock:
            log = list(self._log)
        return [r for r in log
                if (since is None or r.at >= since) and (until is None or r.at <= until)]

    def delivered(self) -> dict[str, DeliveredText]:
        """The texts delivered, one per idempotency key."""
        with self._lock:
            return dict(self._delivered)

    def texts_to(self, number: str) -> list[DeliveredText]:
        """The texts delivered to `number`, oldest first."""
        with self._lock:
            return sorted((t for t in self._delivered.values() if t.to == number),
                          key=lambda t: t.at)

    def metrics(self) -> ProviderMetrics:
        """Counts over every request received (see `ProviderMetrics`)."""
        with self._lock:
            log = list(self._log)
            delivered = len(self._delivered)
        statuses = [r.status for r in log]
        return ProviderMetrics(
            requests=len(log), delivered=delivered,
            duplicates=sum(1 for r in log if r.duplicate),
            server_errors=sum(1 for s in statuses if s >= 500),
            rate_limited=statuses.count(429), rejected=statuses.count(400),
            dropped=statuses.count(0))


    counters = metrics  # the name before issue #12

    def clear(self) -> None:
        """Forget the request log and the delivered texts (knobs are kept)."""
        with self._lock:
            self._log.clear()
            self._delivered.clear()

    # -- serving (handler threads) ---------------------------------------------------------------

    def _handle(self, handler: _Handler) -> None:
        now = self._clock()
        if handler.path.split("?", 1)[0] != _MESSAGES_PATH:
            handler.reply(404, {"error": "not_found", "detail": f"POST {_MESSAGES_PATH}"})
            return
        parsed, problem = _read_json(handler)
        key = handler.headers.get("Idempotency-Key") or (
            parsed.get("idempotency_key") if parsed else None)
        key = key if isinstance(key, str) and key else None
        to = parsed.get("to") if parsed else None
        to = to if isinstance(to, str) else None
        with self._lock:
            outage, latency = self._outage, self._latency
        if outage == "refuse":
            self._record(ProviderRequest(now, key, to, 0))
            handler.drop()
            return
        if outage == "503":
            self._answer(handler, ProviderRequest(now, key, to, 503),
                         {"error": "service_unavailable", "detail": "provider outage"})
            return
        if latency > 0 and self._stopping.wait(latency):
            handler.drop()
            return
        with self._lock:
            retry_after = self._over_quota(now)
            if retry_after is not None:
                request = ProviderRequest(now, key, to, 429)
                self._log.append(request)
                answer: tuple[int, dict[str, Any], dict[str, str]] = (
                    429, {"error": "rate_limited"}, {"Retry-After": str(retry_after)})
            else:
                answer, request = self._accept(now, parsed, problem, key, to)
        handler.reply(*answer)

    def _over_quota(self, now: float) -> int | None:
        quota = self._quota
        if quota is None:
            return None
        window = self._quota_window
        if now >= self._window_start + window:
            self._window_start = math.floor(now / window) * window
            self._window_count = 0
        self._window_count += 1
        if self._window_count <= quota:
            return None
        return max(1, math.ceil(self._window_start + window - now))

    def _accept(self, now: float, parsed: dict[str, Any] | None, problem: str | None,
                key: str | None, to: str | None
                ) -> tuple[tuple[int, dict[str, Any], dict[str, str]], ProviderRequest]:
        body = parsed.get("body") if parsed else None
        if problem is None:
            problem = _problem(to, body, key)
        if problem is None and to in self._rejected_numbers:
            problem = "the number is blocked or unreachable"
        if problem is not None:
            request = ProviderRequest(now, key, to, 400)
            self._log.append(request)
            return (400, {"error": "invalid_request", "detail": problem}, {}), request
        assert key is not None
        assert to is not None
        assert isinstance(body, str)
        first = self._delivered.get(key)
        if first is not None:
            request = ProviderRequest(now, key, to, 200, first.message_id, duplicate=True)
            self._log.append(request)
            return (200, {"id": first.message_id, "status": "accepted"}, {}), request
        if self._error_rate > 0 and self._rng.random() < self._error_rate:
            status = self._rng.choice((500, 503))
            request = ProviderRequest(now, key, to, status)
            self._log.append(request)
            return (status, {"error": "internal_error"}, {}), request
        message_id = f"SM{next(self._ids):08d}"
        self._delivered[key] = DeliveredText(key, to, body, message_id, now)
        request = ProviderRequest(now, key, to, 200, message_id)
        self._log.append(request)
        return (200, {"id": message_id, "status": "accepted"}, {}), request

    def _record(self, request: ProviderRequest) -> None:
        with self._lock:
            self._log.append(request)

    def _answer(self, handler: _Handler, request: ProviderRequest, body: dict[str, Any]) -> None:
        self._record(request)
        handler.reply(request.status, body)

    def __repr__(self) -> str:
        where = f"127.0.0.1:{self._port}" if self._port else "not started"
        return f"<FakeSmsProvider {where} outage={self._outage}>"


def _read_json(handler: _Handler) -> tuple[dict[str, Any] | None, str | None]:
    try:
        length = int(handler.headers.get("Content-Length") or 0)
    except ValueError:
        return None, "Content-Length is not a number"
    if not 0 < length <= _MAX_REQUEST_BYTES:
        handler.close_connection = True
        return None, f"the body must be 1 to {_MAX_REQUEST_BYTES} bytes of JSON"
    raw = handler.rfile.read(length)
    try:
        parsed = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None, "the body is not JSON"
    if not isinstance(parsed, dict):
        return None, "the body must be a JSON object"
    return parsed, None


def _problem(to: str | None, body: object, key: str | None) -> str | None:
    if to is None or not _E164.fullmatch(to):
        return "'to' must be an E.164 number: '+' then 8 to 15 digits"
    if not isinstance(body, str) or not body.strip():
        return "'body' must be a non-empty string"
    if key is None:
        return "an idempotency key is required (JSON 'idempotency_key' or Idempotency-Key)"
    return None


ProviderCounters = ProviderMetrics  # the name before issue #12
