"""Event names and subscription patterns: dot-separated segments, `*` and `#` wildcards."""

from __future__ import annotations

import re
from functools import lru_cache

from actors.core import ConfigError, validate as check

_SEGMENT = re.compile(r"[A-Za-z0-9_\-]+")
_SEGMENTS = "dot-separated segments of letters, digits, '_' or '-'"


def _segment_problem(index: int, segment: str, *, wildcards: bool) -> str | None:
    """Why segment `index` (0-based) cannot stand in a name or pattern, or None if it can."""
    if _SEGMENT.fullmatch(segment) or (wildcards and segment in ("*", "#")):
        return None
    where = f"segment {index + 1}"
    if not segment:
        return f"{where} is empty (two dots in a row, or a dot at either end)"
    if "*" in segment or "#" in segment:
        if not wildcards:
            return (f"{where} ({segment!r}) holds a wildcard ('*' or '#'): wildcards belong in "
                    "subscription patterns, not in the names of published events")
        return (f"{where} ({segment!r}) mixes a wildcard with text: a wildcard is a whole "
                "segment, '*' for exactly one segment ('order.*'), '#' for zero or more "
                "('order.#')")
    return f"{where} ({segment!r}) holds a character other than letters, digits, '_' or '-'"


def validate_event_name(name: object) -> str:
    """Return `name` if it is a valid event name, else raise `ConfigError`.

    An event name is one or more dot-separated segments of ASCII letters,
    digits, `_` or `-`, at most 200 characters in all.

    Example:
        >>> validate_event_name("order.created")
        'order.created'
        >>> validate_event_name("order..created")  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ...
        actors.ConfigError: event_name='order..created' is invalid: expected
        dot-separated segments of letters, digits, '_' or '-', such as 'order.created';
        segment 2 is empty (two dots in a row, or a dot at either end)
    """
    checked = check.name("event_name", name)
    for index, segment in enumerate(checked.split(".")):
        problem = _segment_problem(index, segment, wildcards=False)
        if problem is not None:
            raise ConfigError("event_name", name,
                              f"{_SEGMENTS}, such as 'order.created'; {problem}")
    return checked


def validate_pattern(pattern: object) -> str:
    """Return `pattern` if valid: segments, or `*` (one segment) or `#` (zero or more).

    Example:
        >>> validate_pattern("order.#")
        'order.#'
        >>> validate_pattern("order.cre*")  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ...
        actors.ConfigError: pattern='order.cre*' is invalid: expected a pattern of
        dot-separated segments of letters, digits, '_' or '-', or wildcards, such as
        'order.*'; segment 2 ('cre*') mixes a wildcard with text: a wildcard is a whole
        segment, '*' for exactly one segment ('order.*'), '#' for zero or more ('order.#')
    """
    checked = check.name("pattern", pattern)
    for index, segment in enumerate(checked.split(".")):
        problem = _segment_problem(index, segment, wildcards=True)
        if problem is not None:
            raise ConfigError("pattern", pattern,
                              f"a pattern of {_SEGMENTS}, or wildcards, such as 'order.*'; "
                              f"{problem}")
    return checked


def matches(pattern: str, event_name: str) -> bool:
    """Whether `event_name` matches `pattern` (both strings; `ConfigError` otherwise).

    Example:
        >>> [matches("order.*", n) for n in ("order.created", "order", "order.paid.late")]
        [True, False, False]
        >>> [matches("order.#", n) for n in ("order", "order.paid.late", "orders.x")]
        [True, True, False]
    """
    if type(pattern) is not str:
        validate_pattern(pattern)
    if type(event_name) is not str:
        validate_event_name(event_name)
    return _matches(pattern, event_name)


@lru_cache(maxsize=4096)
def _matches(pattern: str, event_name: str) -> bool:
    return _match(pattern.split("."), event_name.split("."))


def _match(pattern: list[str], name: list[str]) -> bool:
    """Walk the pattern once, keeping every position in `name` it can have reached.

    O(segments x segments): a pattern such as `#.a.#.a.#.b` cannot make it
    backtrack exponentially.
    """
    positions = {0}
    for segment in pattern:
        if segment == "#":
            positions = set(range(min(positions), len(name) + 1))
        else:
            positions = {i + 1 for i in positions
                         if i < len(name) and segment in ("*", name[i])}
        if not positions:
            return False
    return len(name) in positions
