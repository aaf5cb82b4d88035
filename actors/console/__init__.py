"""The operator console: a web page over a running system (`pip install 'stanchion[console]'`).

It shows the supervision tree (mailbox depth, rate, restarts), circuit
breakers with their history, sagas and their timelines, queues, and the dead
letters of the runtime, the buses and the queues; an operator with the token
forces breakers, retries stuck sagas and replays or purges dead letters.
Starlette and uvicorn serve it, htmx (vendored) keeps it live. Nothing here
is imported by `import actors`. See docs/console.md.

Example:
    >>> from actors.supervision import ActorSystem
    >>> with ActorSystem() as system, serve_console(system, port=0) as server:
    ...     server.url.startswith("http://127.0.0.1:")
    True
"""

from actors.console._app import create_app
from actors.console._errors import ActionRefused, ActionUnavailable, ConsoleNotInstalled, NotFound
from actors.console._model import (
    BreakerRow,
    Console,
    LetterRow,
    QueueRow,
    ServiceRow,
    Transition,
)
from actors.console._server import ConsoleServer, serve_console

__all__ = [
    "ActionRefused",
    "ActionUnavailable",
    "BreakerRow",
    "Console",
    "ConsoleNotInstalled",
    "ConsoleServer",
    "LetterRow",
    "NotFound",
    "QueueRow",
    "ServiceRow",
    "Transition",
    "create_app",
    "serve_console",
]
