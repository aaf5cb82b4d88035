"""The shared validators: every wrong kind of value is a `ConfigError` naming the field."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors import ConfigError
from actors import _validate as v


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
