"""The console's web app: Starlette routes over a `Console`, server-rendered with Jinja2.

Reads are plain GETs (pages, and fragments htmx polls for live updates).
Actions are POSTs that need the token: a `Authorization: Bearer <token>`
header, or the cookie set by `/login` on a same-origin request (the cookie is
HttpOnly and SameSite=Strict, and a cross-site `Origin` is refused).
"""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from actors.console._errors import ActionRefused, ActionUnavailable, ConsoleNotInstalled, NotFound
from actors.console._model import BREAKER_ACTIONS, LETTER_ACTIONS, SAGA_STATUSES, Console
from actors.core import (
    AskTimeout,
    ConfigError,
    LibraryLogger,
    MailboxFull,
    StanchionError,
    short_repr,
    validate as check,
)
from actors.saga import SagaLogError
from actors.taskqueue import TaskNotFound, TaskStoreError

try:
    import jinja2
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, RedirectResponse, Response
    from starlette.routing import Route
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ConsoleNotInstalled(exc.name or "starlette") from exc

_log = LibraryLogger("stanchion.console")

TOKEN_COOKIE = "stanchion_console_token"  # noqa: S105 - a cookie's name, not its value
OPERATOR_COOKIE = "stanchion_console_operator"
#: The largest action request body accepted (a form of a few short fields).
MAX_BODY = 16 * 1024
_HERE = Path(__file__).parent


def _clock_text(at: float | None) -> str:
    if at is None:
        return "-"
    try:
        return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, ValueError, OSError):  # a stored time out of the calendar's range
        return short_repr(at)


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_HERE / "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["clock"] = _clock_text
    return env


def _status_of(error: StanchionError) -> int:
    if isinstance(error, ActionRefused):
        return error.status
    if isinstance(error, ConfigError):
        return 400
    if isinstance(error, NotFound | TaskNotFound):
        return 404
    if isinstance(error, MailboxFull | AskTimeout | TaskStoreError | SagaLogError):
        return 503  # busy or unreachable now: worth trying again
    return 409  # ActionUnavailable and any other refusal of the runtime


def create_app(console: Console, *, token: str, read_only: bool = False,
               refresh_seconds: float = 2.0) -> Starlette:
    """The ASGI app serving `console`; actions need `token` (none at all when `read_only`)."""
    check.instance("console", console, Console, "an actors.console.Console")
    check.text("token", token, max_length=512)
    if len(token) < 16:
        raise ConfigError("token", "<hidden>", "a secret of at least 16 characters")
    check.boolean("read_only", read_only)
    refresh = check.seconds("refresh_seconds", refresh_seconds, maximum=3600)
    return _Site(console, token, read_only, refresh).app()


Endpoint = Callable[[Request], Awaitable[Response]]


class _Site:
    """The routes of one console app and what they share."""

    def __init__(self, console: Console, token: str, read_only: bool, refresh: float) -> None:
        self.console = console
        self.token = token
        self.read_only = read_only
        self.refresh = refresh
        self.env = _templates()
        self.htmx = (_HERE / "static" / "htmx.min.js").read_bytes()

    def app(self) -> Starlette:
        read, guarded = self.read, self.guarded
        return Starlette(routes=[
            Route("/", read(self.index)),
            Route("/fragments/{part}", read(self.fragment)),
            Route("/sagas/{saga_id}", read(self.saga_page)),
            Route("/sagas/{saga_id}/steps", read(self.saga_steps)),
            Route("/dead-letter", read(self.letter_page)),
            Route("/static/htmx.min.js", self.htmx_js),
            Route("/login", guarded(self.login), methods=["GET", "POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/breakers/{name}/{action}", guarded(self.breaker_action), methods=["POST"]),
            Route("/sagas/{saga_id}/retry", guarded(self.saga_retry), methods=["POST"]),
            Route("/dead-letters/{action}", guarded(self.letter_action), methods=["POST"]),
        ])

    # -- plumbing ---------------------------------------------------------------------------

    def page(self, name: str, request: Request, code: int = 200,
             **values: Any) -> HTMLResponse:
        values.update(console=self.console, read_only=self.read_only, refresh=self.refresh,
                      signed_in=_signed_in(request, self.token),
                      operator=request.cookies.get(OPERATOR_COOKIE, ""),
                      saga_statuses=SAGA_STATUSES)
        return HTMLResponse(self.env.get_template(name).render(**values), status_code=code)

    def guarded(self, handler: Endpoint) -> Endpoint:
        """`handler`, with a typed error answered by its status and its message."""
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except StanchionError as error:
                status = _status_of(error)
                response = self.page("flash.html", request, status, ok=False,
                                     message=str(error))
                if status == 401:
                    response.headers["WWW-Authenticate"] = 'Bearer realm="stanchion console"'
                return response
        return run

    def read(self, handler: Callable[[Request], Response]) -> Endpoint:
        """A read that may block on a store: run on a worker thread, not the event loop."""
        async def run(request: Request) -> Response:
            return await run_in_threadpool(handler, request)
        return self.guarded(run)

    # -- reads ------------------------------------------------------------------------------

    def saga_search(self, request: Request) -> dict[str, Any]:
        query = request.query_params.get("q", "")
        status = request.query_params.get("status", "")
        return {"q": query, "status": status, "sagas": self.console.sagas(query, status)}

    def index(self, request: Request) -> Response:
        console = self.console
        return self.page("index.html", request, **self.saga_search(request),
                         tree=console.tree(), breakers=console.breakers(),
                         letters=console.dead_letters(), queues=console.queues())

    def fragment(self, request: Request) -> Response:
        part, console = request.path_params["part"], self.console
        if part == "tree":
            return self.page("_tree.html", request, tree=console.tree())
        if part == "breakers":
            return self.page("_breakers.html", request, breakers=console.breakers())
        if part == "sagas":
            return self.page("_sagas.html", request, **self.saga_search(request))
        if part == "dead-letters":
            return self.page("_letters.html", request, letters=console.dead_letters())
        if part == "queues":
            return self.page("_queues.html", request, queues=console.queues())
        raise NotFound("part of the page", short_repr(part))

    def saga_page(self, request: Request) -> Response:
        return self.page("saga.html", request,
                         saga=self.console.saga(request.path_params["saga_id"]))

    def saga_steps(self, request: Request) -> Response:
        return self.page("_saga_steps.html", request,
                         saga=self.console.saga(request.path_params["saga_id"]))

    def letter_page(self, request: Request) -> Response:
        letter = self.console.dead_letter(request.query_params.get("source", ""),
                                          request.query_params.get("key", ""))
        return self.page("letter.html", request, letter=letter)

    async def htmx_js(self, _request: Request) -> Response:
        return Response(self.htmx, media_type="text/javascript",
                        headers={"Cache-Control": "max-age=3600"})

    # -- sign-in ----------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        fields = await _form(request) if request.method == "POST" else dict(request.query_params)
        given = fields.get("token", "")
        operator = check.name("operator", fields.get("operator") or "operator", max_length=64)
        if not _same(given, self.token):
            _log.warning("console.action_refused", action="login", target="", operator=operator,
                         client=_client(request), reason="wrong token")
            raise ActionRefused(401, "wrong token: use the one the console printed at start "
                                     "(or the token you gave it)")
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="strict")
        response.set_cookie(OPERATOR_COOKIE, operator, httponly=True, samesite="strict")
        _log.info("console.signed_in", operator=operator, client=_client(request))
        return response

    async def logout(self, _request: Request) -> Response:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(TOKEN_COOKIE)
        response.delete_cookie(OPERATOR_COOKIE)
        return response

    # -- actions ----------------------------------------------------------------------------

    def authorize(self, request: Request, action: str, target: str) -> str:
        """The operator's name, once the request may change state; `ActionRefused` otherwise."""
        operator = request.headers.get("x-stanchion-operator") or request.cookies.get(
            OPERATOR_COOKIE) or "operator"
        refusal = _refusal(request, self.token, self.read_only)
        if refusal is not None:
            _log.warning("console.action_refused", action=action, target=target,
                         operator=operator[:64], client=_client(request),
                         reason=refusal.reason)
            raise refusal
        return check.name("operator", operator, max_length=64)

    async def act(self, request: Request, action: str, target: str,
                  run: Callable[[str], str]) -> Response:
        operator = self.authorize(request, action, target)
        try:
            outcome = await run_in_threadpool(run, operator)
        except StanchionError as error:
            _log.warning("console.action_failed", action=action, target=target,
                         operator=operator, client=_client(request), error=str(error))
            raise
        _log.info("console.action_performed", action=action, target=target,
                  operator=operator, client=_client(request), outcome=outcome)
        response = self.page("flash.html", request, ok=True,
                             message=f"{action} {target}: {outcome}")
        response.headers["HX-Trigger"] = "stanchion-refresh"
        return response

    async def breaker_action(self, request: Request) -> Response:
        name = request.path_params["name"]
        action = check.one_of("action", request.path_params["action"], BREAKER_ACTIONS)

        def run(operator: str) -> str:
            return self.console.breaker_action(name, action, operator).state.value

        return await self.act(request, f"breaker.{action}", name, run)

    async def saga_retry(self, request: Request) -> Response:
        saga_id = request.path_params["saga_id"]

        def run(_operator: str) -> str:
            if not self.console.retry_saga(saga_id):
                raise ActionUnavailable(f"saga {saga_id!r} is not stuck: only a saga whose "
                                        "compensations failed can be retried")
            return "compensations retried"

        return await self.act(request, "saga.retry", saga_id, run)

    async def letter_action(self, request: Request) -> Response:
        action = check.one_of("action", request.path_params["action"], LETTER_ACTIONS)
        fields = await _form(request)
        source, key = fields.get("source", ""), fields.get("key", "")
        target = f"{source[:200]}/{key[:200]}"

        def run(_operator: str) -> str:
            where = (self.console.replay if action == "replay" else self.console.purge)(
                source, key)
            return f"{'replayed to' if action == 'replay' else 'purged from'} {where}"

        return await self.act(request, f"dead_letter.{action}", target, run)


def _same(given: str, token: str) -> bool:
    return secrets.compare_digest(given.encode("utf-8", "surrogatepass"), token.encode())


def _client(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else "unknown"


def _signed_in(request: Request, token: str) -> bool:
    return _same(request.cookies.get(TOKEN_COOKIE, ""), token)


def _refusal(request: Request, token: str, read_only: bool) -> ActionRefused | None:
    if read_only:
        return ActionRefused(403, "the console is read-only: it was started with read_only "
                                  "(--read-only); actions are refused")
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, given = header.partition(" ")
        if scheme.lower() == "bearer" and _same(given.strip(), token):
            return None
        return ActionRefused(401, "wrong token in the Authorization header: expected "
                                  "'Bearer <the console's token>'")
    if not _signed_in(request, token):
        return ActionRefused(401, "actions need the console's token: sign in with it first "
                                  "(or send 'Authorization: Bearer <token>')")
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host", ""):
        return ActionRefused(403, f"a request from another site ({short_repr(origin)}) may "
                                  "not act with the console's cookie")
    return None


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ConfigError("body", f"{len(body)} bytes", f"a form of at most {MAX_BODY} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("body", short_repr(body), "a UTF-8 form") from None
    try:
        fields = parse_qs(text, keep_blank_values=True, max_num_fields=20)
    except ValueError:
        raise ConfigError("body", short_repr(text), "a form of at most 20 fields") from None
    return {name: values[-1] for name, values in fields.items()}
