"""The shared validators: every wrong kind of value is a `ConfigError` naming the field."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from actors import ConfigError
from actors.core import _validate as v


def assert_names_field(error: ConfigError, field: str) -> None:
    assert error.field == field
    assert f"{field}=" in str(error)


HOSTILE = st.one_of(
    st.none(), st.booleans(), st.text(max_size=5), st.binary(max_size=5),
    st.floats(allow_nan=True, allow_infinity=True), st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2), st.just(object()),
)


@given(HOSTILE)
def test_integer_accepts_only_ints_in_range(value: object) -> None:
    try:
        result = v.integer("pool_size", value, minimum=1)
    except ConfigError as exc:
        error = exc
    else:
        assert type(result) is int
        assert result >= 1
        return
    assert_names_field(error, "pool_size")


@pytest.mark.parametrize("value", [True, False, 1.5, 2.0, "3", None, -1, 0])
def test_integer_refuses_bools_floats_strings_and_out_of_range(value: object) -> None:
    with pytest.raises(ConfigError, match="an integer >= 1"):
        v.integer("pool_size", value, minimum=1)


@given(HOSTILE)
def test_seconds_is_finite_and_positive_unless_told(value: object) -> None:
    try:
        result = v.seconds("timeout", value)
    except ConfigError as exc:
        assert_names_field(exc, "timeout")
    else:
        assert math.isfinite(result)
        assert result > 0


def test_seconds_takes_inf_only_when_allowed_and_never_nan() -> None:
    assert v.seconds("timeout", math.inf, allow_inf=True) == math.inf
    for bad in (math.inf, math.nan, -1.0, 0, True):
        with pytest.raises(ConfigError, match="timeout="):
            v.seconds("timeout", bad)
    with pytest.raises(ConfigError):
        v.seconds("timeout", math.nan, allow_inf=True)
    assert v.seconds("delay", 0, allow_zero=True) == 0.0


def test_fraction_and_boolean_and_one_of() -> None:
    assert v.fraction("rate", 0.5) == 0.5
    with pytest.raises(ConfigError, match=r"<= 1"):
        v.fraction("rate", 1.5)
    assert v.boolean("flag", True) is True
    with pytest.raises(ConfigError, match="True or False"):
        v.boolean("flag", 1)
    assert v.one_of("mode", "a", ["a", "b"]) == "a"
    with pytest.raises(ConfigError, match="one of"):
        v.one_of("mode", ["unhashable"], ["a", "b"])


@pytest.mark.parametrize("value", ["", " svc", "svc\n", "a\x00b", "\ud800", "x" * 201, 3, None,
                                   "zero\u200bwidth"])
def test_names_refuse_invisible_differences(value: object) -> None:
    with pytest.raises(ConfigError, match="name="):
        v.name("name", value)


def test_names_accept_printable_unicode() -> None:
    assert v.name("name", "profile->billing") == "profile->billing"
    assert v.name("name", "café ☕ order-7") == "café ☕ order-7"


def test_error_messages_stay_short_for_huge_or_hostile_values() -> None:
    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no repr for you")

    with pytest.raises(ConfigError) as huge:
        v.integer("size", "x" * 10_000_000)
    assert len(str(huge.value)) < 300
    with pytest.raises(ConfigError, match="Hostile"):
        v.integer("size", Hostile())


def test_text_problem_names_the_lone_surrogate() -> None:
    assert v.text_problem("fine") is None
    problem = v.text_problem("ab\udc80")
    assert problem is not None
    assert "index 2" in problem


def test_seconds_are_bounded_so_no_timer_overflows_its_wait() -> None:
    assert v.seconds("timeout", v.MAX_SECONDS) == v.MAX_SECONDS
    for bad in (v.MAX_SECONDS * 2, 1e300, 2**80):
        with pytest.raises(ConfigError, match="timeout="):
            v.seconds("timeout", bad)
    assert v.seconds("timeout", math.inf, allow_inf=True) == math.inf  # "no limit" stays
    assert v.seconds("timeout", 7200.0, maximum=None) == 7200.0


def test_optional_wraps_any_check() -> None:
    assert v.optional(v.integer, "limit", None, minimum=1) is None
    assert v.optional(v.integer, "limit", 3, minimum=1) == 3
    with pytest.raises(ConfigError, match="expected None or an integer >= 1"):
        v.optional(v.integer, "limit", 0, minimum=1)


def test_text_takes_any_valid_unicode_within_length() -> None:
    assert v.text("reason", "line one\nline two") == "line one\nline two"
    for bad in (None, b"bytes", "x\udc80", "x" * 11):
        with pytest.raises(ConfigError, match="reason="):
            v.text("reason", bad, max_length=10)


@pytest.mark.parametrize("value", ["ftp://host", "http://", "http://host:70000", "http://[::1",
                                   "http://a b", "http://host/\n", "https://\ud800", None, 3])
def test_url_refuses_what_a_client_could_not_use(value: object) -> None:
    with pytest.raises(ConfigError, match="base_url="):
        v.url("base_url", value)


def test_url_takes_other_schemes_when_told() -> None:
    assert v.url("backend", "redis://127.0.0.1:6379/0", ("redis",)) == "redis://127.0.0.1:6379/0"
    with pytest.raises(ConfigError, match="a URL starting redis://"):
        v.url("backend", "http://x", ("redis",))


def test_path_takes_str_and_pathlike_without_nul() -> None:
    assert v.path("sqlite_path", Path("a/b.db")) == Path("a/b.db")
    for bad in ("", "a\x00b", "a\udc80", 3, None, b"bytes.db"):
        with pytest.raises(ConfigError, match="sqlite_path="):
            v.path("sqlite_path", bad)


def test_items_returns_a_tuple_and_names_the_wrong_item() -> None:
    assert v.items("steps", iter([1, 2]), int, "integers") == (1, 2)
    with pytest.raises(ConfigError, match=r"item 1 is a str"):
        v.items("steps", [1, "2"], int, "integers")
    for bad in ("12", {"a": 1}, None, 5):
        with pytest.raises(ConfigError, match="steps="):
            v.items("steps", bad, int, "integers")
    with pytest.raises(ConfigError, match="a list of 1 to 2 integers"):
        v.items("steps", [1, 2, 3], int, "integers", min_length=1, max_length=2)

    def exploding() -> Iterator[int]:
        yield 1
        raise RuntimeError("hostile iterator")

    with pytest.raises(ConfigError, match="steps="):
        v.items("steps", exploding(), int, "integers")


def test_a_name_seen_before_is_not_checked_again_but_bad_ones_always_are() -> None:
    assert v.name("queue", "billing") == "billing"
    assert "billing" in v._GOOD_NAMES
    assert v.name("queue", "billing") == "billing"
    for _ in range(2):
        with pytest.raises(ConfigError):
            v.name("queue", "billing\n")
    assert v.name("queue", "x" * 5, max_length=5) == "xxxxx"
    assert "xxxxx" not in v._GOOD_NAMES  # only names checked against the default length
