"""One generated frame: a request (valid, or with one thing changed at one path), a control frame,
an unknown type, text that is not JSON, or binary; and how it is written on the wire. Pure.

Paths are JSON pointers (RFC 6901): ``/user_input/prompt/0/text``; ``""`` is the whole frame.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from jsonpointer import escape, resolve_pointer

from support.protocol import with_value, without

# The families of frames a client can send.
REQUEST, CONTROL, UNKNOWN_TYPE, NOT_JSON, BINARY = "request", "control frame", "unknown type", "not JSON", "binary"

# The one change made to a valid frame (VALID: none).
VALID = "valid"
WRONG_TYPE, NULL, MISSING, EMPTY = "wrong type", "null", "missing", "empty"
NEGATIVE, HUGE, ODD_UNICODE, DEEP, UNKNOWN_FIELD = "negative number", "huge number", "odd unicode", "deep nesting", \
    "unknown field"
CHANGES = (WRONG_TYPE, NULL, MISSING, EMPTY, NEGATIVE, HUGE, ODD_UNICODE, DEEP, UNKNOWN_FIELD)


@dataclass(frozen=True)
class Deep:
    """A value nested `depth` levels deep (``[[[…]]]``): written as text, since json.dumps would recurse."""

    depth: int

    def text(self) -> str:
        return "[" * self.depth + "]" * self.depth


@dataclass
class Case:
    """A generated frame and what was done to make it."""

    family: str
    frame: Any                       # the JSON value sent (families REQUEST, CONTROL, UNKNOWN_TYPE), else the raw text/bytes
    path: str = ""                   # the JSON pointer that was changed ("" for the whole frame)
    change: str = VALID
    value: Any = None                # the value put there (None for MISSING)
    notes: dict = field(default_factory=dict)

    @property
    def wire(self) -> str | bytes:
        """The frame as sent."""
        if self.family in (NOT_JSON, BINARY):
            return self.frame
        return dumps(self.frame)

    def shown_value(self, limit: int = 120) -> Any:
        """The value for a report: JSON-ready and short (deep nesting and long text are described)."""
        value = self.value
        if isinstance(value, Deep):
            return f"(an array nested {value.depth} deep)"
        if isinstance(value, str) and len(value) > limit:
            return value[:limit] + f"… ({len(value)} characters)"
        return value

    def describe(self) -> str:
        """One line: what is wrong with the frame, for a report."""
        if self.family in (NOT_JSON, BINARY):
            return f"{self.family}: {_short(self.frame)}"
        if self.change == VALID:
            return f"a valid {self.family}"
        where = self.path or "(the whole frame)"
        if self.change == MISSING:
            return f"{where} left out"
        return f"{where} = {_short(dumps(self.value))} ({self.change})"


def _short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


def dumps(value: Any) -> str:
    """JSON text of a value that may hold Deep markers; lone surrogates are written as \\u escapes."""
    deep: list[Deep] = []

    def mark(v):
        if isinstance(v, Deep):
            deep.append(v)
            return f"\x00deep{len(deep) - 1}\x00"
        raise TypeError(f"not JSON: {type(v).__name__}")

    text = json.dumps(value, default=mark, ensure_ascii=True, separators=(",", ":"))
    for i, d in enumerate(deep):
        text = text.replace(json.dumps(f"\x00deep{i}\x00"), d.text(), 1)
    return text


def paths(value: Any, prefix: str = "") -> list[str]:
    """Every JSON pointer in a value, parents before children ("" itself not included)."""
    out: list[str] = []
    if isinstance(value, dict):
        for key, child in value.items():
            here = prefix + "/" + escape(key)
            out += [here, *paths(child, here)]
    elif isinstance(value, list):
        for i, child in enumerate(value):
            here = f"{prefix}/{i}"
            out += [here, *paths(child, here)]
    return out


def get(value: Any, path: str) -> Any:
    """The value at a JSON pointer (RFC 6901); raises JsonPointerException when there is none."""
    return resolve_pointer(value, path)


def changed(frame: Any, path: str, change: str, value: Any = None) -> Any:
    """A copy of frame with one change at path: the value replaced, or (MISSING) the member removed,
    or (UNKNOWN_FIELD) value = (key, new value) added to the object at path."""
    if change == UNKNOWN_FIELD:
        key, new = value
        return with_value(frame, path + "/" + escape(key), new)
    return without(frame, path) if change == MISSING else with_value(frame, path, value)


def json_type(value: Any) -> str:
    """The JSON type of a value: null, boolean, integer, number, string, array, object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, (list, Deep)) else "object"


def group_path(path: str) -> str:
    """The path a finding is grouped by: array positions folded (/prompt/3/text reads as /prompt/0/text)."""
    return "/".join("0" if p.isdigit() else p for p in path.split("/"))
