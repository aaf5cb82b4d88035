"""`serve_console`: the console's web server (uvicorn) on a thread of its own."""

from __future__ import annotations

import ipaddress
import secrets
import threading
import time
from collections.abc import Iterable
from types import TracebackType

from actors.console._app import create_app
from actors.console._errors import ConsoleNotInstalled
from actors.console._model import Console
from actors.core import ConfigError, LibraryLogger, StanchionError, validate as check
from actors.supervision import ActorSystem

try:
    import uvicorn
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ConsoleNotInstalled("uvicorn") from exc

_log = LibraryLogger("stanchion.console")

#: Seconds `serve_console` waits for the server to listen.
START_TIMEOUT = 10.0


class ConsoleServer:
    """A running console: its `url`, its `token`, and `stop()`. Also a context manager.

    `login_url` signs the browser in (it carries the token: give it only to
    operators). Stop it before the system it shows; `stop()` is idempotent.
    """

    def __init__(self, console: Console, server: uvicorn.Server, thread: threading.Thread, *,
                 host: str, port: int, token: str, read_only: bool) -> None:
        self.console = console
        self.host = host
        self.port = port
        self.token = token
        self.read_only = read_only
        self._server = server
        self._thread = thread

    @property
    def url(self) -> str:
        """Where the console answers, e.g. `http://127.0.0.1:8765/`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def login_url(self) -> str:
        """`url` with the token: opening it signs the browser in (`url` in read-only mode)."""
        return self.url if self.read_only else f"{self.url}login?token={self.token}"

    @property
    def running(self) -> bool:
        """Whether the server thread still serves."""
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop serving; `True` if the server thread ended within `timeout` seconds."""
        check.seconds("timeout", timeout)
        self._server.should_exit = True
        self._thread.join(timeout)
        stopped = not self._thread.is_alive()
        _log.info("console.stopped", url=self.url, clean=stopped)
        return stopped

    def __enter__(self) -> ConsoleServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<ConsoleServer {self.url}{' read-only' if self.read_only else ''}>"


def serve_console(system: ActorSystem | Console | None = None, *, watch: Iterable[object] = (),
                  host: str = "127.0.0.1", port: int = 8765, token: str | None = None,
                  read_only: bool = False, refresh_seconds: float = 2.0,
                  allow_remote: bool = False) -> ConsoleServer:
    """Serve the operator console of a running system; returns once it listens.

    Args:
        system: the `ActorSystem` to show (or a `Console` you built and watched).
        watch: patterns to show besides the tree and the runtime's dead letters:
            breakers, `Sagas`, `TaskQueueService`s, `EventBus`es (`Console.watch`).
        host: where to listen; a loopback address unless `allow_remote`.
        port: the TCP port (0: any free port; read `.port` afterwards).
        token: the secret actions need (at least 16 characters); generated when
            `None` (read it from `.token` or `.login_url`).
        read_only: refuse every action (403) and show no buttons.
        refresh_seconds: how often the page refreshes its sections.
        allow_remote: allow a non-loopback `host`: anyone who reaches it sees
            the system (actions still need the token; put TLS in front).

    Example:
        >>> from actors.supervision import ActorSystem
        >>> with ActorSystem() as system, serve_console(system, port=0) as console:
        ...     console.url.startswith("http://127.0.0.1:")
        True
    """
    console = system if isinstance(system, Console) else Console(system)
    console.watch(*check.items("watch", list(watch) if not isinstance(watch, str) else watch,
                               object, "patterns to show"))
    check.text("host", host, max_length=255)
    check.boolean("allow_remote", allow_remote)
    if not allow_remote and not _loopback(host):
        raise ConfigError("host", host, "a loopback address such as 127.0.0.1 (or pass "
                                        "allow_remote=True, and put TLS in front)")
    port = check.integer("port", port, minimum=0, maximum=65535)
    generated = token is None
    secret = secrets.token_urlsafe(24) if token is None else token
    app = create_app(console, token=secret, read_only=read_only,
                     refresh_seconds=refresh_seconds)
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                            lifespan="off", server_header=False)
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            server.run()
        except BaseException as exc:  # noqa: BLE001 - reported to the caller below
            failure.append(exc)

    thread = threading.Thread(target=serve, name="stanchion-console", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    # uvicorn sets a flag, no event, once it listens: poll it briefly.
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        server.should_exit = True
        thread.join(START_TIMEOUT)
        cause = failure[0] if failure else None
        raise StanchionError(f"the console could not listen on {host}:{port} "
                             f"({cause!r}; is the port in use?)") from cause
    bound = server.servers[0].sockets[0].getsockname()[1] if server.servers else port
    handle = ConsoleServer(console, server, thread, host=host, port=int(bound), token=secret,
                           read_only=read_only)
    _log.info("console.started", url=handle.url, read_only=read_only,
              token_generated=generated, live=console.live)
    return handle


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
