"""The vocabulary: the only place event names and field positions are spelled.

A dialect is a JSON profile in ``dialects/`` (data, not code). Each server event has a
*kind* (the suite's own word for it, e.g. ``text_chunk``), a ``match`` (the keys that identify
it on the wire: top-level names, or JSON pointers such as ``/content/type``), optional
``also_match`` (other wire forms of the same event, all conforming), ``defaults``, ``fields``
(kind field -> JSON pointer) and ``required`` (the wire paths a client relies on, protocol.md
§11; a schema problem elsewhere is informational). Decoding turns a wire frame into
``(kind, fields)``; encoding turns it back (in the ``match`` form, or an ``also_match`` one).
The suite decodes with it, the reference backend encodes with it, and neither spells a name.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from jsonpointer import JsonPointer

DIALECTS_DIR = Path(__file__).parent / "dialects"

# Kinds the suite knows besides the dialect's server events.
UNKNOWN = "unknown"          # valid JSON object whose type no profile entry matches
REMOVED = "removed"          # a type the protocol removed (e.g. "complete")
MALFORMED = "malformed"      # not JSON, or JSON that is not an object with a type

_MISSING = object()
JSON_NULL = object()   # encode a field as an explicit null (None means "leave the field out")


class UnknownDialect(ValueError):
    """A dialect name with no profile; the message names the available ones."""


def available_dialects() -> list[str]:
    return sorted(p.stem for p in DIALECTS_DIR.glob("*.json") if not p.stem.endswith(".asyncapi"))


@lru_cache(maxsize=1024)   # the profiles spell a few dozen pointers, read for every frame
def pointer_parts(pointer: str) -> tuple[str, ...]:
    """A JSON pointer's reference tokens (RFC 6901: ``~1`` is ``/``, ``~0`` is ``~``); a bare name is one token."""
    return tuple(JsonPointer(pointer).parts) if pointer.startswith("/") else (pointer,)


def _walk(node: Any, parts: tuple[str, ...]) -> Any:
    for part in parts:
        if isinstance(node, dict):
            node = node.get(part, _MISSING)
            if node is _MISSING:
                return _MISSING
        elif isinstance(node, list) and part.isdigit() and (part == "0" or part[0] != "0") and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _get(frame: Any, pointer: str) -> Any:
    return _walk(frame, pointer_parts(pointer))


def _set(frame: dict, pointer: str, value: Any) -> None:
    parts = pointer_parts(pointer)
    node = frame
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


@dataclass(frozen=True)
class FieldSpec:
    """Where a kind's field lives on the wire, and how it is transformed."""

    at: str
    json_string: bool = False      # the value may be a JSON document inside a string
    value_map: dict | None = None  # wire value -> suite value (e.g. "error" -> True)

    def __post_init__(self):
        object.__setattr__(self, "parts", pointer_parts(self.at))   # parsed once: read() runs for every frame

    @classmethod
    def parse(cls, spec: str | dict) -> "FieldSpec":
        if isinstance(spec, str):
            return cls(at=spec)
        return cls(at=spec["at"], json_string=bool(spec.get("json_string")), value_map=spec.get("map"))

    def read(self, frame: dict) -> Any:
        value = _walk(frame, self.parts)
        if value is _MISSING:
            return _MISSING
        if self.json_string and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                pass  # left as the raw string; the rules report it
        if self.value_map is not None and isinstance(value, str) and value in self.value_map:
            value = self.value_map[value]
        return value

    def write(self, frame: dict, value: Any) -> None:
        if self.value_map is not None:
            inverse = {v: k for k, v in self.value_map.items()}
            value = inverse.get(value, value)
        if self.json_string and not isinstance(value, str):
            value = json.dumps(value)
        _set(frame, self.at, value)


def _matches(frame: dict, match: dict) -> bool:
    return all((_get(frame, key) if key.startswith("/") else frame.get(key, _MISSING)) == value
               for key, value in match.items())


def _field_reader(fields: dict[str, FieldSpec]) -> Callable[[dict], dict]:
    """One function that reads a kind's fields from a frame, written out field by field (as dataclasses
    writes an __init__): it runs for every frame received, and a loop over the fields costs twice as much.
    A plain top-level member is read directly; a deeper pointer is walked; a transformed field reads itself."""
    lines, names = ["def read(frame):", "    fields = {}"], {"_MISSING": _MISSING, "_walk": _walk}
    for i, (name, field) in enumerate(fields.items()):
        if field.json_string or field.value_map is not None:
            names[f"_field{i}"] = field.read
            lines.append(f"    value = _field{i}(frame)")
        elif len(field.parts) == 1:
            lines.append(f"    value = frame.get({field.parts[0]!r}, _MISSING)")
        else:
            names[f"_parts{i}"] = field.parts
            lines.append(f"    value = _walk(frame, _parts{i})")
        lines += ["    if value is not _MISSING:", f"        fields[{name!r}] = value"]
    lines.append("    return fields")
    exec(_compiled("\n".join(lines)), names)   # only repr()'d names and pointers from the profile are written in
    return names["read"]


@lru_cache(maxsize=256)   # a dialect is loaded many times (each connection's tests): compile each reader once
def _compiled(source: str):
    return compile(source, "<field reader>", "exec")


@dataclass(frozen=True)
class EventSpec:
    kind: str
    match: dict
    defaults: dict
    fields: dict[str, FieldSpec]
    also_match: tuple = ()
    required: tuple = ()           # wire pointers a client relies on (§11), besides /type

    @property
    def wire_type(self) -> str:
        return self.match.get("type", "")

    def __post_init__(self):
        # read(frame) -> the fields of a frame of this kind, by the suite's names; absent fields are left out.
        # (A function written for this kind, not a method: it runs for every frame received.)
        object.__setattr__(self, "read", _field_reader(self.fields))
        # How a reader of the dialect names it: text_chunk, customEvent(toolUse) (named once: every frame has one)
        extra = [str(v) for k, v in self.match.items() if k != "type"]
        object.__setattr__(self, "wire_name", f"{self.wire_type}({', '.join(extra)})" if extra else self.wire_type)

    def matches(self, frame: dict) -> bool:
        return any(_matches(frame, m) for m in (self.match, *self.also_match))

    def is_required(self, path: str) -> bool:
        """Is this wire path (a JSON pointer) one the protocol requires, or inside one?"""
        return any(path == p or path.startswith(p + "/") for p in ("/type", *self.required))


class Dialect:
    """One dialect profile: decode wire frames into kinds, encode kinds into wire frames."""

    def __init__(self, profile: dict):
        self.name: str = profile["name"]
        self.profile = profile
        self.removed_types: frozenset[str] = frozenset(profile.get("removed_types", ()))
        self.events: dict[str, EventSpec] = {
            kind: EventSpec(
                kind=kind,
                match=spec["match"],
                defaults=spec.get("defaults", {}),
                fields={name: FieldSpec.parse(f) for name, f in spec.get("fields", {}).items()},
                also_match=tuple(spec.get("also_match", ())),
                required=tuple(spec.get("required", ())),
            )
            for kind, spec in profile["server_events"].items()
        }
        # Most specific match first, so customEvent+toolUse wins over plain customEvent.
        self._by_specificity = sorted(self.events.values(), key=lambda e: -min(len(m) for m in (e.match, *e.also_match)))
        self._by_type: dict[str, list[EventSpec]] = {}   # classify looks only at the specs a frame's type can match
        for spec in self._by_specificity:
            for form in (spec.match, *spec.also_match):
                if not isinstance(form.get("type"), str):
                    raise ValueError(f"dialect {self.name!r}: every match of {spec.kind!r} names its wire type")
                candidates = self._by_type.setdefault(form.get("type"), [])
                if spec not in candidates:
                    candidates.append(spec)
        # a wire type (not a removed one) that only one spec matches, by its type alone, needs no further look
        self._only = {t: c[0] for t, c in self._by_type.items() if len(c) == 1 and t not in self.removed_types
                      and {"type": t} in (c[0].match, *c[0].also_match)}
        self.client_frames: dict[str, dict] = profile.get("client_frames", {})

    @classmethod
    def load(cls, name: str) -> "Dialect":
        """The profile called `name` (the suite's default is Settings.dialect); UnknownDialect if there is none."""
        if name not in available_dialects():   # not just any file: "v2.asyncapi" or "../x" is no profile
            raise UnknownDialect(f"dialect={name!r}: available dialects are {', '.join(available_dialects())}")
        return cls(json.loads((DIALECTS_DIR / f"{name}.json").read_text()))

    @property
    def asyncapi_path(self) -> Path | None:
        name = self.profile.get("asyncapi")
        return DIALECTS_DIR / name if name else None

    # -- decoding (the suite) -------------------------------------------------
    def classify(self, frame: Any) -> tuple[str, EventSpec | None]:
        if not isinstance(frame, dict):
            return MALFORMED, None
        wire_type = frame.get("type")
        if not isinstance(wire_type, str):
            return MALFORMED, None
        spec = self._only.get(wire_type)   # most frames: their type alone says the kind
        if spec is not None:
            return spec.kind, spec
        if wire_type in self.removed_types:
            return REMOVED, None
        for spec in self._by_type.get(wire_type, ()):   # the few specs of this wire type, most specific first
            if spec.matches(frame):
                return spec.kind, spec
        return UNKNOWN, None

    def decode(self, frame: Any) -> tuple[str, dict]:
        """Return (kind, fields) for a parsed wire frame; absent fields are left out."""
        kind, spec = self.classify(frame)
        return kind, ({} if spec is None else spec.read(frame))

    def label(self, frame: Any) -> str:
        """The wire name of a frame as a reader of this dialect knows it, e.g. customEvent(toolUse)."""
        kind, spec = self.classify(frame)
        if spec is None:
            return frame.get("type", "?") if isinstance(frame, dict) else "?"
        return spec.wire_name

    # -- encoding (the reference backend, and test fixtures) -------------------
    def encode(self, kind: str, form: int = 0, **fields: Any) -> dict:
        """A wire frame of `kind`; form=1 uses the first also_match form (e.g. a subtype kept in content.type)."""
        spec = self.events[kind]
        frame: dict = {}
        for key, value in (spec.match if form == 0 else spec.also_match[form - 1]).items():
            _set(frame, key, value) if key.startswith("/") else frame.__setitem__(key, value)
        for key, value in spec.defaults.items():
            frame.setdefault(key, copy.deepcopy(value))
        for name, value in fields.items():
            if name not in spec.fields:
                raise KeyError(f"{self.name}: event {kind!r} has no field {name!r}")
            if value is JSON_NULL:
                spec.fields[name].write(frame, None)
            elif value is not None:
                spec.fields[name].write(frame, value)
        return frame

    def client_frame(self, kind: str) -> dict:
        return copy.deepcopy(self.client_frames[kind])

    def client_kind(self, frame: Any) -> str | None:
        """Which control frame this is (ping/cancel/close_session), or None."""
        if isinstance(frame, dict):
            for kind, template in self.client_frames.items():
                if all(frame.get(k) == v for k, v in template.items()):
                    return kind
        return None
