"""Event names and subscription patterns: dot-separated segments, `*` and `#` wildcards."""

from __future__ import annotations

import re
from functools import lru_cache

from actors._errors import ConfigError

_SEGMENT = re.compile(r"^[A-Za-z0-9_\-]+$")


def validate_event_name(name: object) -> str:
    """Return `name` if it is a valid event name, else raise `ConfigError`.

    Example:
        >>> validate_event_name("order.created")
        'order.created'
    """
    if not isinstance(name, str) or not name:
        raise ConfigError("event_name", name, "a non-empty string such as 'order.created'")
    for segment in name.split("."):
        if not _SEGMENT.match(segment):
            raise ConfigError("event_name", name,
                              "dot-separated segments of letters, digits, '_' or '-' "
                              "(wildcards belong in subscription patterns)")
    return name


def validate_pattern(pattern: object) -> str:
    """Return `pattern` if valid: segments, or `*` (one segment) or `#` (zero or more)."""
    if not isinstance(pattern, str) or not pattern:
        raise ConfigError("pattern", pattern, "a non-empty pattern such as 'order.*'")
    for segment in pattern.split("."):
        if segment not in ("*", "#") and not _SEGMENT.match(segment):
            raise ConfigError("pattern", pattern,
                              "dot-separated segments, '*' for exactly one segment, "
                              "'#' for zero or more")
    return pattern


@lru_cache(maxsize=4096)
def matches(pattern: str, event_name: str) -> bool:
    """Whether `event_name` matches `pattern`.

    Example:
        >>> [matches("order.*", n) for n in ("order.created", "order", "order.paid.late")]
        [True, False, False]
        >>> [matches("order.#", n) for n in ("order", "order.paid.late", "orders.x")]
        [True, True, False]
    """
    return _match(tuple(pattern.split(".")), tuple(event_name.split(".")))


def _match(pattern: tuple[str, ...], name: tuple[str, ...]) -> bool:
    if not pattern:
        return not name
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, name[i:]) for i in range(len(name) + 1))
    if not name:
        return False
    return (head in ("*", name[0])) and _match(rest, name[1:])
