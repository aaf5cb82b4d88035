"""The one codec of every durable store: plain JSON in, the same plain JSON out.

Everything stanchion persists (a task's payload, a durable event, a saga's
state) goes through `encode` on the way in and `decode` on the way out, in
every backend (memory, SQLite, Redis). One set of rules, one set of limits:

- Accepted: dict with str keys, list, str, int, finite float, bool and None,
  nested at most `MAX_DEPTH` levels, encoding to at most `MAX_SIZE`
  characters. Anything else (a tuple, a set, bytes, NaN, an int key, an
  object, a cycle) is refused at the call with `DataNotSerializable` (or the
  store's subclass of it) naming where the offending value is, because it
  would not come back equal.
- Text is stored faithfully: every Python str, lone surrogates included,
  comes back equal. The JSON is UTF-8 text when the data is valid Unicode,
  and ASCII with `\\uXXXX` escapes when it is not (so no backend ever sees a
  string it cannot store).
- `decode` never raises anything but `CorruptData`, whatever it is given:
  invalid UTF-8, invalid JSON, a document nested too deeply or too large
  (written by an older or foreign writer, or damaged on disk). The stores
  quarantine such an item instead of failing the caller.

A store that wraps the user's data in an envelope (a saga's state holds its
data, a durable event's record holds its payload) encodes the envelope with
`max_depth=MAX_DEPTH + 1`: the envelope's level is not counted against the
user. `decode` therefore accepts `MAX_DEPTH + 1` levels.

Example:
    >>> encode({"user_id": "u-1", "tags": ["a", None]})
    '{"user_id":"u-1","tags":["a",null]}'
    >>> decode(encode({"text": "caf\\u00e9 \\ud800"})) == {"text": "caf\\u00e9 \\ud800"}
    True
    >>> encode({"seen": {1, 2}})
    Traceback (most recent call last):
    ...
    actors.DataNotSerializable: data is not JSON: $.seen is a set; nothing was ...
    >>> decode("[[")
    Traceback (most recent call last):
    ...
    actors.CorruptData: stored data is not valid JSON: ...
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from actors.core._errors import StanchionError, short_repr

#: The deepest nesting of containers (dicts and lists) accepted in user data.
MAX_DEPTH = 100
#: The most characters of JSON text one stored item may take (4 MiB; UTF-8
#: needs at most 4 bytes per character, ASCII one).
MAX_SIZE = 4 * 1024 * 1024
#: The nesting `decode` accepts: the user's `MAX_DEPTH` plus one level of envelope.
MAX_STORED_DEPTH = MAX_DEPTH + 1

_PLAIN_SCALARS = frozenset({str, int, bool, type(None)})


class DataNotSerializable(StanchionError, TypeError):
    """Data that cannot be stored as plain JSON within the limits; nothing was stored.

    `path` locates the offending value (`$` is the value itself, `$.fields[2]`
    an element inside it) and `kind` names what was found there. Stores
    raise a subclass naming what was refused (`PayloadNotSerializable` for a
    task, `SagaDataNotSerializable` for a saga).
    """

    #: What the data is, and what happened to it, in the message (subclasses override).
    subject = "data"
    outcome = "nothing was stored"

    def __init__(self, path: str, kind: str, detail: str = "") -> None:
        self.path = path
        self.kind = kind
        self.detail = detail
        suffix = f" ({detail})" if detail else ""
        super().__init__(
            f"{self.subject} is not JSON: {path} is {kind}{suffix}; {self.outcome}. "
            "Send only dict (with str keys), list, str, int, finite float, bool and None, "
            f"nested at most {MAX_DEPTH} levels and at most {MAX_SIZE} characters encoded, "
            "e.g. an ISO-8601 string for a datetime or a list for a set or tuple"
        )


class CorruptData(StanchionError, ValueError):
    """Stored data that cannot be decoded (or has the wrong shape); the item is quarantined.

    `reason` says what is wrong with it, e.g. `is not valid JSON: ...`.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"stored data {reason}")


ErrorFactory = type[DataNotSerializable]


def encode(value: Any, *, error: ErrorFactory = DataNotSerializable,
           max_depth: int = MAX_DEPTH, max_size: int = MAX_SIZE,
           parts_checked: bool = False) -> str:
    """`value` as compact JSON text, or `error(path, kind, detail)` if it would not round-trip.

    The common case (exact JSON types, within the limits) is checked without
    recursion and encoded by the C encoder; only a refused value is walked
    again, to name where the problem is.

    `parts_checked=True` is for a value a store assembles only from parts that
    were each checked on their way in (a saga's state: its own fields, its
    data checked at `start_saga`, each reply checked before it is merged): the
    type walk is skipped, the size limit and the faithful-text rule still
    hold, and anything the encoder refuses is walked and named as usual.
    """
    if not parts_checked:
        _refuse_unless_plain(value, error, max_depth, max_size)
    try:
        text: str = _encode(value)
    except Exception as exc:
        if parts_checked:
            _refuse_unless_plain(value, error, max_depth, max_size)
        raise error("$", "not encodable", _exception_text(exc)) from exc
    if not text.isascii() and text_is_unstorable(text):
        text = _encode_ascii(value)  # lone surrogates: escaped, so they round-trip
    if len(text) > max_size:
        raise error("$", f"{len(text)} characters of JSON", f"more than the {max_size} allowed")
    return text


def _refuse_unless_plain(value: Any, error: ErrorFactory, max_depth: int,
                        max_size: int) -> None:
    verdict = _is_plain(value, max_depth, max_size)
    if verdict is _TOO_MANY:
        raise error("$", "too large", f"more than {max_size} values cannot fit in "
                    f"{max_size} characters")
    if verdict is not _PLAIN:
        _explain(value, "$", 0, budget=[max_size], error=error, max_depth=max_depth)


def check(value: Any, *, error: ErrorFactory = DataNotSerializable,
          max_depth: int = MAX_DEPTH, max_size: int = MAX_SIZE) -> None:
    """Raise `error` unless `encode(value)` would succeed (the same rules, same limits)."""
    encode(value, error=error, max_depth=max_depth, max_size=max_size)


def is_plain(value: Any, *, max_depth: int = MAX_DEPTH) -> bool:
    """The fast check alone: exact JSON types, within the depth limit (no size check)."""
    return _is_plain(value, max_depth, MAX_SIZE) is _PLAIN


def decode(raw: object, *, max_depth: int = MAX_STORED_DEPTH, max_size: int = MAX_SIZE) -> Any:
    """The value stored as `raw` (JSON text, or its UTF-8 bytes); `CorruptData` if it is not one.

    Nothing else escapes, whatever `raw` holds: invalid UTF-8, invalid JSON,
    too deep (even deep enough to exhaust the recursion limit), too large, or
    not text at all.
    """
    if isinstance(raw, _BINARY):
        if type(raw) is not bytes:
            raw = bytes(raw)
        if len(raw) > 4 * max_size:
            raise CorruptData(f"is larger than {max_size} characters ({len(raw)} bytes)")
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorruptData(f"is not valid JSON: not UTF-8 ({exc.reason} at byte {exc.start})"
                              ) from None
    if not isinstance(raw, str):
        raise CorruptData(f"is not JSON text but a {type(raw).__name__}")
    if len(raw) > max_size:
        raise CorruptData(f"is larger than {max_size} characters ({len(raw)})")
    try:
        try:  # the text as stored here: one JSON value, nothing around it
            value, end = _DECODER.raw_decode(raw)
        except ValueError:
            end = -1
        if end != len(raw):  # whitespace around it, extra data or an error: the full parser's say
            value = _DECODER.decode(raw)
    except RecursionError:
        raise CorruptData(f"is nested deeper than {max_depth} levels") from None
    except Exception as exc:  # noqa: BLE001 - JSONDecodeError, a huge int, MemoryError...
        raise CorruptData(f"is not valid JSON: {_exception_text(exc)}") from None
    # At most one container per bracket: few brackets (the common case) prove it shallow.
    if raw.count("[") + raw.count("{") > max_depth and _depth(value, max_depth) > max_depth:
        raise CorruptData(f"is nested deeper than {max_depth} levels")
    return value


def text_is_unstorable(text: str) -> bool:
    """Whether `text` holds a lone surrogate, which UTF-8 (SQLite, Redis) cannot store."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def storable_text(text: str) -> str:
    """`text` with any lone surrogate written as `\\udXXX`: free text (an error) any store takes."""
    if text.isascii() or not text_is_unstorable(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def describe_raw(raw: object) -> str:
    """A printable form of stored data, even undecodable data (for operators)."""
    if isinstance(raw, bytes | bytearray | memoryview):
        return bytes(raw).decode("utf-8", errors="replace")
    return storable_text(raw) if isinstance(raw, str) else repr(raw)


# -- internals ---------------------------------------------------------------------------------

def _compact_encoder(*, ensure_ascii: bool) -> Callable[[Any], str]:
    """Compact JSON text of a value, by a C encoder made once instead of once per call.

    `json.JSONEncoder.encode` makes a new C encoder on every call, a third of
    the cost of encoding a small payload. This one is made without a table of
    the containers being encoded (which every thread would share): what reaches
    it was walked first (no cycle, bounded depth), and with `parts_checked` a
    cycle ends in `RecursionError`, which `encode` refuses and names like any
    other failure. Without the C encoder (another Python), the stdlib's method.
    """
    stdlib = json.JSONEncoder(separators=(",", ":"), ensure_ascii=ensure_ascii,
                              allow_nan=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return stdlib.encode
    strings = (json.encoder.encode_basestring_ascii if ensure_ascii
               else json.encoder.encode_basestring)
    # markers (none), default, strings, indent, key and item separators, then
    # sort_keys, skipkeys, allow_nan: what JSONEncoder.iterencode passes, minus markers.
    chunks = make(None, stdlib.default, strings, None, ":", ",", False, False, False)

    def encode(value: Any) -> str:
        return "".join(chunks(value, 0))

    return encode


_encode = _compact_encoder(ensure_ascii=False)
_encode_ascii = _compact_encoder(ensure_ascii=True)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (nothing we store holds it)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 reads as inf: a value no encode lets through
        raise ValueError(f"{short_repr(text)} is beyond a float's range (nothing we store "
                         "holds it)")
    return value


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)
_BINARY = (bytes, bytearray, memoryview)
_PLAIN, _NOT_PLAIN, _TOO_MANY = "plain", "not plain", "too many values"


def _is_plain(value: Any, max_depth: int, max_size: int) -> str:
    """Exact JSON types only, at most `max_depth` levels, at most `max_size` values.

    Walks level by level (no recursion, no path bookkeeping), so the depth
    comes for free. Every value takes at least one character of JSON, so more
    than `max_size` of them can never fit: counting them bounds the work on
    any input, a cycle or a structure sharing its parts included.
    """
    level = [value]
    depth = 0
    budget = max_size
    while level:
        below: list[Any] = []
        for item in level:
            kind = type(item)
            if kind in _PLAIN_SCALARS:
                continue
            if kind is dict:
                if depth >= max_depth:
                    return _NOT_PLAIN
                for key in item:
                    if type(key) is not str:
                        return _NOT_PLAIN
                below.extend(item.values())
            elif kind is list:
                if depth >= max_depth:
                    return _NOT_PLAIN
                below.extend(item)
            elif kind is not float or not math.isfinite(item):
                return _NOT_PLAIN
        budget -= len(below)
        if budget < 0:
            return _TOO_MANY
        level = below
        depth += 1
    return _PLAIN


def _explain(value: Any, path: str, depth: int, *, budget: list[int], error: ErrorFactory,
             max_depth: int) -> None:
    """Raise `error` naming the first value that cannot be stored (the slow, thorough walk).

    Recursion is bounded by `max_depth`; `budget` bounds the values visited.
    Subclasses of the JSON types are accepted here (an `IntEnum`, an
    `OrderedDict`): they come back equal, as their base type.
    """
    budget[0] -= 1
    if budget[0] < 0:
        raise error("$", "too large", f"more than {MAX_SIZE} values cannot fit the size limit")
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise error(path, f"the float {value!r}", "JSON has no NaN or inf")
        return
    if isinstance(value, list | dict) and depth >= max_depth:
        raise error(path, "nested too deeply", f"more than {max_depth} levels")
    if isinstance(value, list):
        for index, item in enumerate(value):
            _explain(item, f"{path}[{index}]", depth + 1, budget=budget, error=error,
                     max_depth=max_depth)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise error(f"{path}[{_key_text(key)}]", f"a {type(key).__name__} key",
                            "JSON object keys are strings; it would come back as a str")
            _explain(item, f"{path}.{storable_text(key)}", depth + 1, budget=budget,
                     error=error, max_depth=max_depth)
        return
    raise error(path, f"a {type(value).__name__}")


def _depth(value: Any, limit: int) -> int:
    """How deeply decoded `value` nests containers, counting no further than `limit + 1`."""
    level = [value]
    depth = 0
    while depth <= limit:
        below: list[Any] = []
        nested = False
        for item in level:
            if type(item) is dict:
                below.extend(item.values())
                nested = True
            elif type(item) is list:
                below.extend(item)
                nested = True
        if not nested:
            break
        depth += 1
        level = below
    return depth


def _key_text(key: object) -> str:
    try:
        return storable_text(repr(key))[:80]
    except Exception:  # noqa: BLE001 - a hostile __repr__ must not hide the real error
        return f"<{type(key).__name__}>"


def _exception_text(exc: BaseException) -> str:
    try:
        return storable_text(str(exc))[:200]
    except Exception:  # noqa: BLE001 - a hostile __str__ must not hide the real error
        return type(exc).__name__
