"""`stanchion-console`'s refusals: one line on stderr and exit code 2."""

from __future__ import annotations

import socket

import pytest

from actors.console._cli import main


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(("argv", "says"), [
    (["http://127.0.0.1:1/0"], "url="),
    (["redis://127.0.0.1:{port}/0"], "a Redis that answers"),
    (["redis://127.0.0.1:{port}/0", "--prefix", " padded "], "prefix="),
])
def test_bad_arguments_exit_2_with_one_line(argv: list[str], says: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    port = _free_port()  # nothing listens there
    assert main([arg.format(port=port) for arg in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stanchion-console: ")
    assert says in err
    assert err.count("\n") == 1
