"""One set of validators for every public config, spec and entry point.

Each function checks one kind of value and either returns it (normalised:
an `int` stays an `int`, a number becomes a `float`) or raises `ConfigError`
naming the field, the value and what would be accepted. A `bool` is never a
number here (`True` is not a pool size), a float is never an integer (1.5
services cannot serve a name), NaN is never a number, and infinity is refused
unless the caller says it means "no limit".

Example:
    >>> integer("pool_size", 4, minimum=1)
    4
    >>> integer("pool_size", True, minimum=1)
    Traceback (most recent call last):
    ...
    actors._errors.ConfigError: pool_size=True is invalid: expected an integer >= 1
    >>> seconds("timeout", float("inf"))
    Traceback (most recent call last):
    ...
    actors._errors.ConfigError: timeout=inf is invalid: expected a finite number of seconds > 0
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable
from typing import Any, TypeVar

from actors._errors import ConfigError

E = TypeVar("E")

#: The longest name (service, queue, event, saga id...) accepted anywhere.
MAX_NAME_LENGTH = 200


def is_number(value: object) -> bool:
    """Whether `value` is an `int` or `float` but not a `bool` (NaN and inf included)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_finite_number(value: object) -> bool:
    """Whether `value` is a real, finite `int` or `float` (never a `bool`)."""
    return is_number(value) and math.isfinite(value)  # type: ignore[arg-type]


def _range_text(minimum: float | None, maximum: float | None, exclusive_minimum: bool) -> str:
    parts = []
    if minimum is not None:
        parts.append(f"{'>' if exclusive_minimum else '>='} {minimum:g}")
    if maximum is not None:
        parts.append(f"<= {maximum:g}")
    return " and ".join(parts)


def integer(field: str, value: object, *, minimum: int | None = None,
            maximum: int | None = None) -> int:
    """An `int` (not a bool, not a float) within `[minimum, maximum]`."""
    bounds = _range_text(minimum, maximum, exclusive_minimum=False)
    expected = f"an integer {bounds}".rstrip()
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(field, value, expected)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ConfigError(field, value, expected)
    return value


def optional_integer(field: str, value: object, *, minimum: int | None = None,
                     maximum: int | None = None) -> int | None:
    """`None`, or an integer as `integer` accepts it."""
    if value is None:
        return None
    try:
        return integer(field, value, minimum=minimum, maximum=maximum)
    except ConfigError as exc:
        raise ConfigError(field, value, f"None or {exc.expected}") from None


def number(field: str, value: object, *, minimum: float | None = None,
           maximum: float | None = None, exclusive_minimum: bool = False,
           allow_inf: bool = False, unit: str = "") -> float:
    """A real number (int or float, not a bool, never NaN) within the bounds.

    `allow_inf=True` accepts `math.inf` as a documented "no limit"; the bounds
    still apply to it (so `-inf` fails a `minimum`).
    """
    bounds = _range_text(minimum, maximum, exclusive_minimum)
    kind = "a number" if allow_inf else "a finite number"
    expected = f"{kind}{' of ' + unit if unit else ''} {bounds}".rstrip()
    if allow_inf:
        expected += " (or math.inf for no limit)"
    if not is_number(value):
        raise ConfigError(field, value, expected)
    try:
        as_float = float(value)  # type: ignore[arg-type]
    except OverflowError:  # an int beyond float range: an infinity of the same sign
        as_float = math.inf if value > 0 else -math.inf  # type: ignore[operator]
    if math.isnan(as_float) or (math.isinf(as_float) and not allow_inf):
        raise ConfigError(field, value, expected)
    if minimum is not None and (as_float <= minimum if exclusive_minimum else as_float < minimum):
        raise ConfigError(field, value, expected)
    if maximum is not None and as_float > maximum:
        raise ConfigError(field, value, expected)
    return as_float


def seconds(field: str, value: object, *, allow_zero: bool = False,
            allow_inf: bool = False, maximum: float | None = None) -> float:
    """A duration in seconds: > 0 (or >= 0 with `allow_zero`), finite unless `allow_inf`."""
    return number(field, value, minimum=0.0, exclusive_minimum=not allow_zero,
                  maximum=maximum, allow_inf=allow_inf, unit="seconds")


def optional_seconds(field: str, value: object, *, allow_zero: bool = False,
                     allow_inf: bool = False) -> float | None:
    """`None`, or a duration as `seconds` accepts it."""
    if value is None:
        return None
    try:
        return seconds(field, value, allow_zero=allow_zero, allow_inf=allow_inf)
    except ConfigError as exc:
        raise ConfigError(field, value, f"None or {exc.expected}") from None


def fraction(field: str, value: object, *, exclusive_minimum: bool = False) -> float:
    """A number in [0, 1] (or (0, 1] with `exclusive_minimum`)."""
    return number(field, value, minimum=0.0, maximum=1.0, exclusive_minimum=exclusive_minimum)


def boolean(field: str, value: object) -> bool:
    """Exactly `True` or `False` (not 0, 1 or a string)."""
    if not isinstance(value, bool):
        raise ConfigError(field, value, "True or False")
    return value


def one_of(field: str, value: E, choices: Iterable[E]) -> E:
    """One of `choices` (compared with `==`; unhashable values are simply refused)."""
    options = list(choices)
    try:
        found = value in options
    except Exception:  # noqa: BLE001 - a hostile __eq__ is a wrong value, not a crash
        found = False
    if not found:
        raise ConfigError(field, value, f"one of {options!r}")
    return value


def instance(field: str, value: object, kind: type[E] | tuple[type, ...], what: str) -> E:
    """An instance of `kind`; `what` says in words what is expected."""
    if not isinstance(value, kind):
        raise ConfigError(field, value, what)
    return value  # type: ignore[return-value]


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as UTF-8 text, or `None` if it can (lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"a lone surrogate {value[exc.start]!r} at index {exc.start} (not valid Unicode)"
    return None


def name(field: str, value: object, *, max_length: int = MAX_NAME_LENGTH) -> str:
    """A name (service, queue, event, saga id...): printable text, trimmed, not too long.

    Refused: a non-string, the empty string, surrounding whitespace (a trailing
    newline makes a different name that looks the same in every log),
    control characters, lone surrogates, and more than `max_length` characters.
    """
    expected = (f"a non-empty string of at most {max_length} printable characters, "
                "with no surrounding whitespace")
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise ConfigError(field, value, expected)
    if value != value.strip():
        raise ConfigError(field, value, expected + " (strip it first)")
    problem = text_problem(value)
    if problem is not None:
        raise ConfigError(field, value, f"{expected}; it holds {problem}")
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            raise ConfigError(field, value,
                              f"{expected}; it holds the control character {char!r}")
    return value


def callable_(field: str, value: object, what: str = "a callable") -> Any:
    """Something that can be called."""
    if not callable(value):
        raise ConfigError(field, value, what)
    return value
