"""One set of validators for every public config, spec and entry point.

Each function checks one kind of value and either returns it (normalised:
an `int` stays an `int`, a number becomes a `float`) or raises `ConfigError`
naming the field, the value and what would be accepted. A `bool` is never a
number here (`True` is not a pool size), a float is never an integer (1.5
services cannot serve a name), NaN is never a number, and infinity is refused
unless the caller says it means "no limit". A duration is at most
`MAX_SECONDS` (ten years): a longer one means "never" in practice, and it
would overflow the timer thread's wait.

Example:
    >>> integer("pool_size", 4, minimum=1)
    4
    >>> integer("pool_size", True, minimum=1)
    Traceback (most recent call last):
    ...
    actors.ConfigError: pool_size=True is invalid: expected an integer >= 1
    >>> seconds("timeout", float("inf"))
    Traceback (most recent call last):
    ...
    actors.ConfigError: timeout=inf is invalid: expected a finite number of seconds \
> 0 and <= 315360000
"""

from __future__ import annotations

import math
import os
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from actors.core._errors import ConfigError

E = TypeVar("E")

#: The longest name (service, queue, event, saga id...) accepted anywhere.
MAX_NAME_LENGTH = 200

#: The longest duration `seconds` accepts unless told otherwise: ten years.
#: `threading` refuses waits beyond about 292 years (`threading.TIMEOUT_MAX`),
#: and a timer that long would kill the one timer thread that runs them all.
MAX_SECONDS = 10 * 365 * 86_400.0

# Names already accepted (with the default length): a queue or event name is
# checked once per process, not on every enqueue or publish. Bounded, so a
# stream of unique names costs a full check each, never unbounded memory.
_GOOD_NAMES: set[str] = set()
_GOOD_NAMES_MAX = 10_000


def is_number(value: object) -> bool:
    """Whether `value` is an `int` or `float` but not a `bool` (NaN and inf included)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_finite_number(value: object) -> bool:
    """Whether `value` is a real, finite `int` or `float` (never a `bool`).

    An `int` too large for a float counts as not finite: every use of the
    value as seconds or a rate would overflow.
    """
    if not is_number(value):
        return False
    try:
        return math.isfinite(value)  # type: ignore[arg-type]
    except OverflowError:
        return False


def _figure(value: float) -> str:
    """`1e+06` is harder to read in an error than `1000000`."""
    return f"{value:.0f}" if float(value).is_integer() and abs(value) < 1e18 else f"{value:g}"


def _range_text(minimum: float | None, maximum: float | None, exclusive_minimum: bool) -> str:
    parts = []
    if minimum is not None:
        parts.append(f"{'>' if exclusive_minimum else '>='} {_figure(minimum)}")
    if maximum is not None:
        parts.append(f"<= {_figure(maximum)}")
    return " and ".join(parts)


def integer(field: str, value: object, *, minimum: int | None = None,
            maximum: int | None = None) -> int:
    """An `int` (not a bool, not a float) within `[minimum, maximum]`."""
    if (not isinstance(value, int) or isinstance(value, bool)
            or (minimum is not None and value < minimum)
            or (maximum is not None and value > maximum)):
        # Worded only on failure: validation runs on hot paths (every saga start).
        bounds = _range_text(minimum, maximum, exclusive_minimum=False)
        raise ConfigError(field, value, f"an integer {bounds}".rstrip())
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


def _refused(field: str, value: object, *, minimum: float | None, maximum: float | None,
             exclusive_minimum: bool, allow_inf: bool, unit: str) -> ConfigError:
    """`number`'s refusal, worded only on failure (validation runs on hot paths)."""
    bounds = _range_text(minimum, maximum, exclusive_minimum)
    kind = "a number" if allow_inf else "a finite number"
    expected = f"{kind}{' of ' + unit if unit else ''} {bounds}".rstrip()
    if allow_inf:
        expected += " (or math.inf for no limit)"
    return ConfigError(field, value, expected)


def number(field: str, value: object, *, minimum: float | None = None,
           maximum: float | None = None, exclusive_minimum: bool = False,
           allow_inf: bool = False, unit: str = "") -> float:
    """A real number (int or float, not a bool, never NaN) within the bounds.

    `allow_inf=True` accepts `math.inf` as a documented "no limit"; the bounds
    still apply to it (so `-inf` fails a `minimum`).
    """
    if not is_number(value):
        raise _refused(field, value, minimum=minimum, maximum=maximum, unit=unit,
                       exclusive_minimum=exclusive_minimum, allow_inf=allow_inf)
    try:
        as_float = float(value)  # type: ignore[arg-type]
    except OverflowError:  # an int beyond float range: an infinity of the same sign
        as_float = math.inf if value > 0 else -math.inf  # type: ignore[operator]
    if math.isnan(as_float) or (math.isinf(as_float) and not allow_inf):
        raise _refused(field, value, minimum=minimum, maximum=maximum, unit=unit,
                       exclusive_minimum=exclusive_minimum, allow_inf=allow_inf)
    if minimum is not None and (as_float <= minimum if exclusive_minimum else as_float < minimum):
        raise _refused(field, value, minimum=minimum, maximum=maximum, unit=unit,
                       exclusive_minimum=exclusive_minimum, allow_inf=allow_inf)
    if maximum is not None and as_float > maximum and as_float != math.inf:
        raise _refused(field, value, minimum=minimum, maximum=maximum, unit=unit,
                       exclusive_minimum=exclusive_minimum, allow_inf=allow_inf)
    return as_float


def seconds(field: str, value: object, *, allow_zero: bool = False,
            allow_inf: bool = False, maximum: float | None = MAX_SECONDS) -> float:
    """A duration in seconds: > 0 (or >= 0 with `allow_zero`), at most `maximum`.

    Finite unless `allow_inf` (then `math.inf` means "no limit" whatever the maximum).

    Example:
        >>> seconds("poll_interval", 0.2)
        0.2
        >>> seconds("poll_interval", 1e12)
        Traceback (most recent call last):
        ...
        actors.ConfigError: poll_interval=1000000000000.0 is invalid: expected a \
finite number of seconds > 0 and <= 315360000
    """
    return number(field, value, minimum=0.0, exclusive_minimum=not allow_zero,
                  maximum=maximum, allow_inf=allow_inf, unit="seconds")


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
    if type(value) is str and max_length == MAX_NAME_LENGTH and value in _GOOD_NAMES:
        return value
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
    if type(value) is str and max_length == MAX_NAME_LENGTH and len(_GOOD_NAMES) < _GOOD_NAMES_MAX:
        _GOOD_NAMES.add(value)
    return value


def callable_(field: str, value: object, what: str = "a callable") -> Any:
    """Something that can be called."""
    if not callable(value):
        raise ConfigError(field, value, what)
    return value


def optional(check: Callable[..., E], field: str, value: object, **options: Any) -> E | None:
    """`None`, or a value as `check(field, value, **options)` accepts it.

    Example:
        >>> optional(name, "compensation", None) is None
        True
        >>> optional(name, "compensation", "")
        Traceback (most recent call last):
        ...
        actors.ConfigError: compensation='' is invalid: expected None or a non-empty \
string of at most 200 printable characters, with no surrounding whitespace
    """
    if value is None:
        return None
    try:
        return check(field, value, **options)
    except ConfigError as exc:
        raise ConfigError(field, value, f"None or {exc.expected}") from None


def text(field: str, value: object, *, max_length: int = 10_000) -> str:
    """Free text (a reason, a label): a string of valid Unicode, at most `max_length` long.

    Example:
        >>> text("reason", "maintenance window")
        'maintenance window'
        >>> text("reason", "bad \\udc80")
        Traceback (most recent call last):
        ...
        actors.ConfigError: reason='bad \\udc80' is invalid: expected a string of at \
most 10000 characters; it holds a lone surrogate '\\udc80' at index 4 (not valid Unicode)
    """
    expected = f"a string of at most {max_length} characters"
    if not isinstance(value, str) or len(value) > max_length:
        raise ConfigError(field, value, expected)
    problem = text_problem(value)
    if problem is not None:
        raise ConfigError(field, value, f"{expected}; it holds {problem}")
    return value


def url(field: str, value: object, schemes: Iterable[str] = ("http", "https")) -> str:
    """A URL with one of `schemes`, a host, a valid port and no whitespace or control characters.

    Example:
        >>> url("base_url", "https://sms.example.com/api")
        'https://sms.example.com/api'
        >>> url("base_url", "https://sms.example.com:99999")
        Traceback (most recent call last):
        ...
        actors.ConfigError: base_url='https://sms.example.com:99999' is invalid: \
expected a URL starting http:// or https://, with a host; Port out of range 0-65535
    """
    allowed = tuple(schemes)
    expected = f"a URL starting {' or '.join(s + '://' for s in allowed)}, with a host"
    if not isinstance(value, str):
        raise ConfigError(field, value, expected)
    problem = text_problem(value)
    if problem is None and any(char.isspace() or unicodedata.category(char) == "Cc"
                               for char in value):
        problem = "whitespace or a control character (percent-encode it)"
    if problem is not None:
        raise ConfigError(field, value, f"{expected}; it holds {problem}")
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises for a port out of range or not a number
    except ValueError as exc:
        raise ConfigError(field, value, f"{expected}; {exc}") from None
    if parts.scheme not in allowed or not parts.hostname:
        raise ConfigError(field, value, expected)
    return value


def path(field: str, value: object) -> str | os.PathLike[str]:
    """A file path (`str` or `pathlib.Path`): not empty, no NUL byte, valid Unicode.

    Example:
        >>> path("sqlite_path", "tasks.sqlite3")
        'tasks.sqlite3'
        >>> path("sqlite_path", "tasks\\x00.db")
        Traceback (most recent call last):
        ...
        actors.ConfigError: sqlite_path='tasks\\x00.db' is invalid: expected a file \
path (str or pathlib.Path), not empty, without NUL bytes
    """
    expected = "a file path (str or pathlib.Path), not empty, without NUL bytes"
    if not isinstance(value, str | os.PathLike):
        raise ConfigError(field, value, expected)
    try:
        as_text = os.fspath(value)
    except TypeError:
        raise ConfigError(field, value, expected) from None
    if not isinstance(as_text, str) or not as_text or "\x00" in as_text:
        raise ConfigError(field, value, expected)
    problem = text_problem(as_text)
    if problem is not None:
        raise ConfigError(field, value, f"{expected}; it holds {problem}")
    return value


def items(field: str, value: object, kind: type[E] | tuple[type, ...], what: str, *,
          min_length: int = 0, max_length: int | None = None) -> tuple[E, ...]:
    """A list, tuple or other iterable (not a string or a mapping) of `kind`, as a tuple.

    `what` names one item in words ("SagaStep"); the error for a wrong item
    says which one.

    Example:
        >>> items("steps", [1, 2], int, "integer", min_length=1)
        (1, 2)
        >>> items("steps", [1, "2"], int, "integer")
        Traceback (most recent call last):
        ...
        actors.ConfigError: steps='2' is invalid: expected a list of integer \
(item 1 is a str)
    """
    if min_length and max_length is not None:
        expected = f"a list of {min_length} to {max_length} {what}"
    elif min_length:
        expected = f"a list of at least {'one' if min_length == 1 else min_length} {what}"
    elif max_length is not None:
        expected = f"a list of at most {max_length} {what}"
    else:
        expected = f"a list of {what}"
    if isinstance(value, str | bytes | bytearray | Mapping):
        raise ConfigError(field, value, expected)
    try:
        result: tuple[Any, ...] = tuple(value)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - not iterable, or a hostile iterator: a wrong value
        raise ConfigError(field, value, expected) from None
    if len(result) < min_length or (max_length is not None and len(result) > max_length):
        raise ConfigError(field, list(result), expected)
    for index, item in enumerate(result):
        if not isinstance(item, kind):
            raise ConfigError(field, item,
                              f"a list of {what} (item {index} is a {type(item).__name__})")
    return result
