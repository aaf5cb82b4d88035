"""The codec (actors.core._codec): one codec, its limits and its one error per side."""

from __future__ import annotations

import collections
import enum
import json
import math
import sys
from typing import Any

import pytest
from hypothesis import given, strategies as st

from actors import MAX_DEPTH, MAX_SIZE, CorruptData, DataNotSerializable, StanchionError
from actors.core._codec import (
    MAX_STORED_DEPTH,
    _encode,
    _encode_ascii,
    decode,
    encode,
    is_plain,
    storable_text,
)
from actors.saga import SagaDataNotSerializable
from actors.taskqueue import PayloadNotSerializable, encode_payload


def nested(levels: int) -> Any:
    """`levels` lists, one inside the other."""
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    return value


# -- what goes in comes back equal --------------------------------------------------------


@pytest.mark.parametrize("value", [
    None, True, 0, -1, 2**70, 1.5, -0.0, 1e308, "", "plain", "caf\u00e9 \u2603 \U0001f600",
    "\x00\x1f\x7f control", [], {}, {"a": [1, {"b": None}]},
    "\ud800 lone", "\udfff", {"\ud83d": ["\udc00"]}, {"key\x00": "v"},
])
def test_plain_values_round_trip_exactly(value: Any) -> None:
    text = encode(value)
    assert decode(text) == value
    assert decode(text.encode("utf-8")) == value  # what SQLite hands back, as a BLOB


def test_valid_unicode_is_stored_as_utf8_and_lone_surrogates_as_ascii_escapes() -> None:
    assert encode({"name": "Zo\u00eb"}) == '{"name":"Zo\u00eb"}'
    text = encode({"name": "Zo\u00eb \ud800"})
    assert text.isascii()
    text.encode("utf-8")  # storable by every backend
    assert decode(text) == {"name": "Zo\u00eb \ud800"}


def test_subclasses_of_the_json_types_come_back_equal_as_their_base_type() -> None:
    class Level(enum.IntEnum):
        HIGH = 2

    value = collections.OrderedDict([("level", Level.HIGH), ("tags", ["a"])])
    assert decode(encode(value)) == {"level": 2, "tags": ["a"]}


# -- what cannot come back equal is refused at the call, naming where ----------------------


class Hostile:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


@pytest.mark.parametrize(("value", "where"), [
    ({"seen": {1, 2}}, "$.seen is a set"),
    ({"pair": (1, 2)}, "$.pair is a tuple"),
    (b"bytes", "$ is a bytes"),
    ({"score": math.nan}, "$.score is the float nan"),
    ([1, -math.inf], "$[1] is the float -inf"),
    ({1: "one"}, "$[1] is a int key"),
    ({None: "none"}, "$[None] is a NoneType key"),
    ({"at": Hostile()}, "$.at is a Hostile"),
    ({Hostile(): 1}, "is a Hostile key"),
    ({"deep": nested(MAX_DEPTH)}, "is nested too deeply"),
])
def test_values_that_would_not_round_trip_are_refused_naming_the_path(
        value: Any, where: str) -> None:
    with pytest.raises(DataNotSerializable) as caught:
        encode(value)
    assert where in str(caught.value)
    assert isinstance(caught.value, StanchionError)
    assert isinstance(caught.value, TypeError)  # what callers caught before the codec


_STDLIB = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_STDLIB_ASCII = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, allow_nan=False)
_ANY_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text() | st.integers(), inner),
    max_leaves=25)


def _outcome(encoder: Any, value: Any) -> object:
    try:
        return encoder(value)
    except Exception as exc:
        return type(exc)


@given(_ANY_JSONISH)
def test_the_one_shot_encoders_write_what_the_stdlib_encoder_writes(value: Any) -> None:
    # The codec's encoders are the C encoder made once (not per call): same text,
    # same failures (NaN, a lone surrogate in ASCII mode's twin, int keys...).
    assert _outcome(_encode, value) == _outcome(_STDLIB.encode, value)
    assert _outcome(_encode_ascii, value) == _outcome(_STDLIB_ASCII.encode, value)


def test_the_one_shot_encoder_refuses_foreign_types_and_repeats_a_shared_value() -> None:
    for foreign in (object(), {"x": {1, 2}}, [b"bytes"]):
        with pytest.raises(TypeError):
            _encode(foreign)
    shared = {"same": [1, 2, 3]}
    assert _encode([shared, shared, {"again": shared}]) == (
        '[{"same":[1,2,3]},{"same":[1,2,3]},{"again":{"same":[1,2,3]}}]')


def test_the_depth_limit_is_exact() -> None:
    assert decode(encode(nested(MAX_DEPTH))) == nested(MAX_DEPTH)
    with pytest.raises(DataNotSerializable, match=f"more than {MAX_DEPTH} levels"):
        encode(nested(MAX_DEPTH + 1))
    with pytest.raises(DataNotSerializable, match="nested too deeply"):
        encode(nested(5000))  # far past the recursion limit: refused, never RecursionError


def test_cycles_and_shared_structures_are_refused_quickly() -> None:
    circular: list[Any] = []
    circular.append(circular)
    with pytest.raises(DataNotSerializable, match="nested too deeply"):
        encode(circular)
    shared: Any = [1]
    for _ in range(64):  # 2**64 leaves if expanded
        shared = [shared, shared]
    with pytest.raises(DataNotSerializable, match="too large"):
        encode(shared)


def test_the_size_limit_counts_encoded_characters() -> None:
    at_limit = "x" * (MAX_SIZE - 2)  # the quotes make it MAX_SIZE
    assert len(encode(at_limit)) == MAX_SIZE
    with pytest.raises(DataNotSerializable, match=f"more than the {MAX_SIZE} allowed"):
        encode(at_limit + "x")
    with pytest.raises(DataNotSerializable, match="too large"):
        encode([0] * (MAX_SIZE + 1))  # refused before anything is encoded


def test_an_int_too_long_for_python_to_print_is_refused_typed() -> None:
    limit = sys.get_int_max_str_digits()
    if limit == 0:
        pytest.skip("no int digit limit in this interpreter")
    with pytest.raises(DataNotSerializable, match="not encodable"):
        encode({"n": 10 ** (limit + 10)})


def test_every_store_refuses_with_its_own_subclass_of_the_one_error() -> None:
    with pytest.raises(PayloadNotSerializable, match=r"task payload is not JSON: \$\.s is a set"):
        encode_payload({"s": set()})
    assert issubclass(PayloadNotSerializable, DataNotSerializable)
    assert issubclass(SagaDataNotSerializable, DataNotSerializable)
    assert encode_payload({"a": [1]}) == encode({"a": [1]})


# -- decode: only CorruptData, whatever is stored -----------------------------------------


@pytest.mark.parametrize(("raw", "reason"), [
    ("{not json", "is not valid JSON"),
    (b"\xff\xfe garbage", "is not valid JSON: not UTF-8"),
    ("", "is not valid JSON"),
    ('{"score": NaN}', "NaN is not JSON"),  # Python's json reads it; no store writes it
    ('{"score": 1e999}', "'1e999' is beyond a float's range"),  # would read as inf
    ("[-2E+400]", "beyond a float's range"),
    ('{"a": 1} {"b": 2}', "Extra data"),
    (b'{"a": 1}x', "Extra data"),
    ("  ", "Expecting value"),
    ("[" * 990 + "]" * 990, "nested deeper than"),
    ("[" * 100_000, "nested deeper than"),
    ("[" * (MAX_STORED_DEPTH + 1) + "]" * (MAX_STORED_DEPTH + 1), "nested deeper than"),
    ("1" * 5000, "is not valid JSON"),  # past the int digit limit
    (None, "is not JSON text but a NoneType"),
    (42, "is not JSON text but a int"),
    ('"' + "x" * MAX_SIZE + '"', "is larger than"),
])
def test_decode_raises_only_corrupt_data(raw: object, reason: str) -> None:
    with pytest.raises(CorruptData) as caught:
        decode(raw)
    assert reason in caught.value.reason
    assert isinstance(caught.value, ValueError)  # what the stores caught before the codec


@pytest.mark.parametrize("raw", ['{"a": 1.5, "b": [-2e-3, 0.0, 1e308]}', ' {"a": 1} ',
                                 b'\n[1, 2]\t', bytearray(b'"x"'), memoryview(b"7")])
def test_decode_reads_what_the_json_module_reads_whitespace_and_all(
        raw: str | bytes | bytearray | memoryview) -> None:
    text = raw if isinstance(raw, str) else bytes(raw).decode()
    assert decode(raw) == json.loads(text)


def test_decode_of_deep_data_holds_even_deep_in_a_thread_stack() -> None:
    raw = "[" * 990 + "]" * 990

    def deep(frames: int) -> object:
        return deep(frames - 1) if frames else decode(raw)

    with pytest.raises(CorruptData, match="nested deeper"):
        deep(40)


def test_decode_accepts_the_user_limit_plus_one_envelope_level() -> None:
    envelope = {"payload": nested(MAX_DEPTH)}
    assert decode(encode(envelope, max_depth=MAX_STORED_DEPTH)) == envelope


def test_the_fast_check_and_storable_text() -> None:
    assert is_plain({"a": [1, 2.5, None, True, "x"]})
    assert not is_plain({"a": (1,)})
    assert not is_plain(nested(MAX_DEPTH + 1))
    assert storable_text("ok \u00e9") == "ok \u00e9"
    assert storable_text("bad \ud800") == "bad \\ud800"
