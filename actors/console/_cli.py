"""`stanchion-console`: the operator console over a Redis backend, from another process."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence

from actors.core import StanchionError, configure_logging

EPILOG = """examples:
  stanchion-console redis://127.0.0.1:6379/0
  stanchion-console redis://127.0.0.1:6379/0 --prefix shop --port 9000 --read-only
Inside a running system, call actors.console.serve_console(system) instead (docs/console.md).
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stanchion-console",
        description="Serve the operator console over what a Redis backend holds: sagas, "
                    "queues and their dead letters.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="the backend's URL: redis://host:port/db")
    parser.add_argument("--prefix", help="the backend's key prefix (default: the one found)")
    parser.add_argument("--host", default="127.0.0.1", help="listen here (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8765, help="default: %(default)s; 0: any")
    parser.add_argument("--token", help="the secret actions need (default: a new one, printed)")
    parser.add_argument("--read-only", action="store_true", help="refuse every action")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a --host that is not a loopback address")
    return parser


def main(argv: Sequence[str] | None = None, stop: threading.Event | None = None) -> int:
    """Run the console until Ctrl-C (or until `stop` is set); the exit code."""
    args = _parser().parse_args(argv)
    configure_logging(level="warning")
    try:
        from actors.console._remote import store_console  # noqa: PLC0415 - needs the extras
        from actors.console._server import serve_console  # noqa: PLC0415

        console, backend = store_console(args.url, prefix=args.prefix)
        try:
            server = serve_console(console, host=args.host, port=args.port, token=args.token,
                                   read_only=args.read_only, allow_remote=args.allow_remote)
        except BaseException:
            backend.close()
            raise
    except (StanchionError, ImportError) as exc:
        print(f"stanchion-console: {exc}", file=sys.stderr)
        return 2
    print(f"stanchion console: {server.url}", flush=True)
    if not args.read_only:
        print(f"sign in (carries the token): {server.login_url}", flush=True)
    try:
        (stop or threading.Event()).wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        backend.close()
    return 0


def entry_point() -> None:
    """The console script."""
    sys.exit(main())
