"""What exploration sends: Hypothesis strategies for generated frames, and the systematic sweep. Pure.

A generated request starts valid: it is drawn from the request's own schema (the dialect's AsyncAPI
``chat_request``), tightened so that a conforming backend can answer it (a text request, the token's
customer, a prompt with words in it, every field present). ``from_schema`` turns the small part of
JSON Schema those schemas use into a strategy (hypothesis-jsonschema did the same 25 times slower
per request, and breaks with current Hypothesis). Then at
most one thing is changed at one path, anywhere in it: a wrong type, null, a missing member, an
empty value, a negative or huge number, odd unicode, deep nesting, or an unknown field. Control
frames, unknown frame types, text that is not JSON and binary frames are drawn too.

The sweep is the same idea done by hand by testers: the request the suite always sends, with one
field of the wrong type, null or missing, one field at a time.
"""
from __future__ import annotations

import copy
import json
from functools import lru_cache

from hypothesis import strategies as st

from support.explore.cases import (BINARY, CHANGES, CONTROL, DEEP, EMPTY, HUGE, MISSING, NEGATIVE, NOT_JSON, NULL,
                                   ODD_UNICODE, REQUEST, UNKNOWN_FIELD, UNKNOWN_TYPE, VALID, WRONG_TYPE, Case, Deep,
                                   changed, get, json_type, paths)
from support.protocol import CHAT_REQUEST, build_chat_request
from support.schemas import MessageSchemas
from support.vocabulary import Dialect

# Text a client's bug or a hostile user can put anywhere: half an emoji (a lone surrogate, as JavaScript and
# Java produce when they cut text by code units), NUL, direction overrides, zero-width and non-BMP characters.
ODD_TEXT = ("\ud83d", "\udc00", "a\ud800b", "\x00", "\u202e", "\u200b", "\ufeff", "\U0001f99c", "e\u0301",
            "\uffff", "\u2028", "\x7f", "\U0001d573" * 3)
# Alphabets given as characters, not as Unicode categories or the default of text() and from_regex(): those
# make Hypothesis build (and cache in .hypothesis/) a table of every UTF-8 character, 1.3 s on a fresh clone.
PLAIN = "abcxyz ABCXYZ019_-.,:!?'\"{}[]\\/é日本ß€"
ODD = ("\ud800\udbff\udc00\udfff\x00\x01\x1b\x7f\x85\xa0\xad\u0300\u0301\u036f\u200b\u200c\u200d\u200e\u200f"
       "\u202a\u202b\u202c\u202d\u202e\u2028\u2029\u2060\u2066\u2069\ue000\uf8ff\ufeff\ufff9\ufffd\uffff"
       "\U0001f99c\U0001f600\U0001d573\U000e0001\U0010ffff")
TEXT = st.text(PLAIN, max_size=12)
# A text frame must be valid UTF-8 (RFC 6455 §5.6): half an emoji goes inside JSON, as the \u escape clients send.
SENDABLE = "".join(c for c in PLAIN + ODD if not "\ud800" <= c <= "\udfff")
HUGE_NUMBERS = (2**31, 2**53 + 1, 2**63, 2**64, -(2**63) - 1, 10**30, 10**400, 1e308, -1e308)
DEPTHS = (64, 1000, 100_000)
CONTROL_KINDS = ("ping", "cancel")   # close_session is left out: closing is its answer


def _other_types(original) -> st.SearchStrategy:
    """Values of any JSON type but the original's (integers and numbers count as one type)."""
    family = {"integer": "number"}.get(json_type(original), json_type(original))
    candidates = {
        "string": st.text(PLAIN, max_size=6),
        "number": st.integers(-3, 3) | st.floats(-10, 10, allow_nan=False, allow_infinity=False),
        "boolean": st.booleans(),
        "array": st.lists(st.integers(0, 3), max_size=2),
        "object": st.dictionaries(st.sampled_from("abc"), st.integers(0, 3), max_size=2),
    }
    return st.one_of(*(strategy for name, strategy in candidates.items() if name != family))


def _empty(original):
    return {"string": "", "array": [], "object": {}, "boolean": False}.get(json_type(original), 0)


def replacement(change: str, original) -> st.SearchStrategy:
    """The value a change puts in place of `original`."""
    if change == WRONG_TYPE:
        return _other_types(original)
    if change in (NULL, MISSING):
        return st.none()
    if change == EMPTY:
        return st.just(_empty(original))
    if change == NEGATIVE:
        return st.integers(max_value=-1) | st.floats(max_value=-1e-6, allow_nan=False, allow_infinity=False)
    if change == HUGE:
        return st.sampled_from(HUGE_NUMBERS)
    if change == ODD_UNICODE:
        return st.sampled_from(ODD_TEXT) | st.text(ODD, min_size=1, max_size=6)
    if change == DEEP:
        return st.sampled_from([Deep(d) for d in DEPTHS])
    if change == UNKNOWN_FIELD:
        key = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8).map("x_".__add__)
        return st.tuples(key, st.none() | st.integers() | st.text(PLAIN, max_size=5))
    raise ValueError(f"unknown change {change!r}")


def _where(frame, change: str) -> list[str]:
    """The paths a change can be made at: the whole frame first, then every member, parents first."""
    everywhere = ["", *paths(frame)]
    if change == MISSING:
        return everywhere[1:]
    if change == UNKNOWN_FIELD:
        return [p for p in everywhere if isinstance(get(frame, p), dict)]
    return everywhere


def one_change(draw, family: str, frame) -> Case:
    """The frame as it is, or with one change at one path (draw: a composite strategy's draw)."""
    change = draw(st.sampled_from((VALID, *CHANGES)))
    if change == VALID:
        return Case(family, frame)
    path = draw(st.sampled_from(_where(frame, change)))
    value = draw(replacement(change, get(frame, path)))
    return Case(family, changed(frame, path, change, value), path, change, None if change == MISSING else value)


def generation_schema(dialect: Dialect, customer_id: int) -> dict:
    """The request's schema, tightened so that every request drawn from it is one a conforming backend answers."""
    schema = copy.deepcopy(_request_payload(dialect))
    _close_objects(schema)
    props = schema["properties"]
    props["request_type"] = {"const": "text"}
    props["customer_id"] = {"const": customer_id}
    user_input = props["user_input"]["properties"]
    user_input["prompt"] = {"type": "array", "minItems": 1, "maxItems": 3, "items": {
        "type": "object", "additionalProperties": False, "required": ["type", "text"],
        "properties": {"type": {"const": "text"}, "text": {"type": "string", "pattern": r"\A[A-Za-z ]{0,20}[A-Za-z]\Z"}}}}
    user_input["chat_history"] = {"type": "array", "maxItems": 0}   # what a history item holds, §3 does not say
    user_input["session_id"] = {"const": ""}   # a chat of another customer's is isolation's business (§2)
    # the protocol shows streamed requests only (§3); what a backend does without streaming, it does not say
    props["user_settings"]["properties"]["text"]["properties"]["streaming"] = {"const": True}
    return schema


def _request_payload(dialect: Dialect) -> dict:
    document = MessageSchemas.for_dialect(dialect).document
    return next(m["payload"] for m in document["components"]["messages"].values() if m.get("x-kind") == CHAT_REQUEST)


def _close_objects(schema: dict) -> None:
    """Every object schema: all its properties present, none other; strings short (speed)."""
    if schema.get("type") == "object" and "properties" in schema:
        schema["additionalProperties"] = False
        schema["required"] = list(schema["properties"])
        for child in schema["properties"].values():
            _close_objects(child)
    if schema.get("type") == "string":
        schema.setdefault("maxLength", 12)


# -- JSON Schema to strategy: the keywords the request schemas use ---------------------------------------

_SCALARS = {
    "null": st.none(),
    "boolean": st.booleans(),
    "integer": st.integers(),
    "number": st.integers() | st.floats(allow_nan=False, allow_infinity=False),
}
_KNOWN = {"type", "const", "enum", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
          "minLength", "maxLength", "pattern", "default", "description", "title"}


def from_schema(schema: dict) -> st.SearchStrategy:
    """Values valid under a JSON Schema made of the keywords in _KNOWN (objects list every property they
    allow: additionalProperties false). Any other keyword is an error, so a schema change cannot
    quietly generate invalid "valid" requests."""
    unknown = set(schema) - _KNOWN
    if unknown:
        raise ValueError(f"from_schema does not know the keyword(s) {sorted(unknown)}")
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        if schema.get("additionalProperties", True) is not False:
            raise ValueError("from_schema needs objects closed (additionalProperties: false)")
        required = set(schema.get("required", ()))
        members = {k: from_schema(v) for k, v in schema.get("properties", {}).items()}
        optional = {k: v for k, v in members.items() if k not in required}
        return st.fixed_dictionaries({k: v for k, v in members.items() if k in required}, optional=optional)
    if kind == "array":
        items = from_schema(schema.get("items", {"type": "null"}))
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=schema.get("maxItems", 4))
    if kind == "string":
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], alphabet=st.characters(codec="ascii"))   # ASCII patterns: see the alphabets
        return st.text(PLAIN, min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 12))
    if kind in _SCALARS:
        return _SCALARS[kind]
    raise ValueError(f"from_schema does not know the type {kind!r}")


@lru_cache(maxsize=None)
def _valid_requests(dialect_name: str, customer_id: int) -> st.SearchStrategy:
    return from_schema(generation_schema(Dialect.load(dialect_name), customer_id))


def cases(settings, dialect: Dialect) -> st.SearchStrategy[Case]:
    """Any frame a client could send: mostly requests (valid or with one change), and the other families."""
    valid = _valid_requests(dialect.name, settings.customer_id)

    @st.composite
    def requests(draw):
        return one_change(draw, REQUEST, draw(valid))

    @st.composite
    def controls(draw):
        return one_change(draw, CONTROL, dialect.client_frame(draw(st.sampled_from(CONTROL_KINDS))))

    requests, controls = requests(), controls()
    known = {frame.get("type") for frame in dialect.client_frames.values()}
    unknown = TEXT.filter(lambda t: t not in known).map(
        lambda t: Case(UNKNOWN_TYPE, {"type": t}, "/type", VALID, t))
    not_json = st.text(SENDABLE, min_size=1, max_size=40).filter(_not_json).map(lambda t: Case(NOT_JSON, t))
    binary = st.binary(min_size=1, max_size=64).map(lambda b: Case(BINARY, b))
    return st.one_of(requests, requests, requests, requests, controls, unknown, not_json, binary)


def _not_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


# -- the sweep -----------------------------------------------------------------------------------

def _wrong_type(original):
    """The one wrong-typed value the sweep uses: what a client most often sends by mistake."""
    return {"string": 0, "integer": "1", "number": "0.5", "boolean": "true", "array": {}, "object": []}[json_type(original)]


def sweep(settings, dialect: Dialect) -> list[Case]:
    """The request the suite always sends, as it is and with one field of the wrong type, null or missing,
    one at a time; then a few frames of the other families."""
    base = build_chat_request(settings, settings.chat_prompt)
    out: list[Case] = [Case(REQUEST, base)]   # first as it is: what every other frame is one change from
    for path in paths(base):
        original = get(base, path)
        for change, value in ((WRONG_TYPE, _wrong_type(original)), (NULL, None), (MISSING, None)):
            out.append(Case(REQUEST, changed(base, path, change, value), path, change, value))
    ping = dialect.client_frame("ping")
    out += [
        Case(CONTROL, {**ping, "x_extra": 1}, "/x_extra", UNKNOWN_FIELD, 1),
        Case(UNKNOWN_TYPE, {"type": "no_such_type"}, "/type", VALID, "no_such_type"),
        Case(REQUEST, [], "", WRONG_TYPE, []),
        Case(NOT_JSON, "this is {not JSON"),
        Case(BINARY, b"\x00\x01\x02 binary \xff"),
    ]
    return out
