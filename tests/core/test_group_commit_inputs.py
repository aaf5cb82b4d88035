"""`GroupCommit` refuses hostile inputs with a typed error, before any write is queued."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytest

from actors.core import ConfigError, GroupCommit


class Closed(Exception):
    pass


class TimedOut(Exception):
    pass


def writer(max_batch: Any = 8) -> GroupCommit[str]:
    def commit(items: list[str]) -> Sequence[Any]:
        return [item.upper() for item in items]
    return GroupCommit(commit, max_batch=max_batch, closed_error=Closed,
                       timeout_error=lambda operation, timeout: TimedOut(operation))


@pytest.mark.parametrize("max_batch", [0, -1, 1.5, True, "8", None])
def test_a_max_batch_that_is_not_a_positive_integer_is_refused(max_batch: Any) -> None:
    with pytest.raises(ConfigError, match="max_batch"):
        writer(max_batch)


@pytest.mark.parametrize("timeout", [math.nan, math.inf, -1.0, 0.0, 1e12, "5", None, True])
def test_a_submit_timeout_that_cannot_be_waited_on_is_refused(timeout: Any) -> None:
    commits = writer()
    with pytest.raises(ConfigError, match="timeout"):
        commits.submit("put", "a", timeout)
    assert commits.submitted == 0
    assert commits.submit("put", "a", 5) == "A"  # an int timeout is fine
    commits.close()


def test_a_submit_after_close_raises_the_closed_error() -> None:
    commits = writer()
    assert commits.close()
    with pytest.raises(Closed):
        commits.submit("put", "a", 1.0)
    with pytest.raises(Closed):
        commits.submit_async("put", "a", None)
    assert commits.close()  # twice is fine


@pytest.mark.parametrize("timeout", [math.nan, math.inf, -1.0, "5", None])
def test_flush_and_close_refuse_a_timeout_they_cannot_wait_on(timeout: Any) -> None:
    commits = writer()
    with pytest.raises(ConfigError, match="timeout"):
        commits.flush(timeout)
    with pytest.raises(ConfigError, match="timeout"):
        commits.close(timeout)
    assert not commits.is_closed  # refused before closing anything
    assert commits.flush(0)
    assert commits.close(0)
