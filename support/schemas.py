"""Machine-readable message schemas: a dialect's AsyncAPI document, used to check wire frames.

Each dialect profile names an AsyncAPI 3.0.0 document (``Dialect.asyncapi_path``) whose
``components.messages`` carry ``x-kind`` (the profile's kind, or a client message name) and a
JSON Schema ``payload``. Payloads ``$ref`` shared pieces in ``#/components/schemas``, so each
payload is validated through a registry that holds the whole document: refs then resolve
exactly as they read in the file, with no copying or rewriting.

One extension: JSON Schema leaves ``contentSchema`` as an annotation, but a JSON document
sent inside a string (db_operation_executed's content, protocol.md §7) is checked here like
the same value sent as an object, so both forms of the MAY get the same scrutiny.

Speed: most frames fit. jsonschema-rs answers "fits or not" about a hundred times faster than
jsonschema, so it is asked first (with the same contentSchema extension, as a custom keyword);
jsonschema runs only for a frame that does not fit, to word why.
"""
from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from support.vocabulary import Dialect


def _json_content(validator, subschema, instance, schema):
    if schema.get("contentMediaType") != "application/json" or not isinstance(instance, str):
        return
    try:
        document = json.loads(instance)
    except ValueError as exc:
        yield ValidationError(f"{instance[:60]!r} is not a JSON document ({exc})")
        return
    yield from validator.descend(document, subschema)


Validator = validators.extend(Draft202012Validator, {"contentSchema": _json_content})


def _content_schema(document: dict):
    """The same extension for jsonschema-rs's fast check: a custom keyword that parses the string."""
    class ContentSchema:
        def __init__(self, parent_schema: dict, value: dict, schema_path):
            self.json = parent_schema.get("contentMediaType") == "application/json"
            self.fits = jsonschema_rs.validator_for({**document, **value}).is_valid

        def validate(self, instance) -> None:
            if not self.json or not isinstance(instance, str):
                return
            try:
                inner = json.loads(instance)
            except ValueError:
                raise ValueError("not a JSON document") from None
            if not self.fits(inner):
                raise ValueError("the JSON document does not fit its contentSchema")
    return ContentSchema


class SchemaProblem(str):
    """Why a frame breaks its schema ("at $.x: …"), and whether the protocol requires that path.

    A required problem fails the scenario; an informational one (a missing or null optional
    field, a subtype kept elsewhere, an unlisted value) is a notice (protocol.md §11).
    """

    required: bool = True

    @classmethod
    def of(cls, text: str, required: bool) -> "SchemaProblem":
        problem = cls(text)
        problem.required = required
        return problem


def _pointer(parts) -> str:
    return "".join(f"/{part}" for part in parts)


def _leaf_paths(leaf: ValidationError) -> list[str]:
    """The wire paths an error is about: a missing property names its own path, not its parent's."""
    base = list(leaf.absolute_path)
    if leaf.validator == "required" and isinstance(leaf.instance, dict):
        return [_pointer(base + [name]) for name in leaf.validator_value if name not in leaf.instance]
    return [_pointer(base)]


def _json_path(parts) -> str:
    """$.data.call_id / $.content[0] / $['odd key'] for an error's location in the frame."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _leaf(error: ValidationError) -> ValidationError:
    # anyOf/oneOf errors say only "not valid under any of the given schemas"; best_match
    # descends into the branch that fits the value best, so the message names the real field.
    return best_match([error])


def _describe(leaf: ValidationError) -> str:
    return f"at {_json_path(leaf.absolute_path)}: {leaf.message}"


class MessageSchemas:
    _cache: dict[str, "MessageSchemas"] = {}

    def __init__(self, document: dict, uri: str, dialect: Dialect | None = None):
        self.document = document
        self.dialect = dialect
        registry = Registry().with_resource(uri, Resource.from_contents(document, default_specification=DRAFT202012))
        self._validators: dict[str, Validator] = {}
        self._fits: dict[str, object] = {}   # kind -> jsonschema-rs is_valid, where it judges the whole schema
        for key, message in document["components"]["messages"].items():
            schema = {"$ref": f"{uri}#/components/messages/{key}/payload"}
            self._validators[message["x-kind"]] = Validator(schema, registry=registry)
            # the document is the root, so "#/components/..." refs resolve as they read in the file
            fast = jsonschema_rs.validator_for({**document, "$ref": f"#/components/messages/{key}/payload"},
                                               keywords={"contentSchema": _content_schema(document)})
            self._fits[message["x-kind"]] = fast.is_valid

    @classmethod
    def for_dialect(cls, dialect: Dialect) -> "MessageSchemas":
        """The schemas of a dialect, loaded once per dialect name."""
        if dialect.name not in cls._cache:
            path = dialect.asyncapi_path
            if path is None or not path.is_file():
                raise ValueError(f"dialect {dialect.name!r} has no AsyncAPI document (profile key 'asyncapi': {path})")
            cls._cache[dialect.name] = cls(json.loads(path.read_text()), uri=f"urn:chat-suite:asyncapi:{dialect.name}",
                                           dialect=dialect)
        return cls._cache[dialect.name]

    def kinds(self) -> set[str]:
        return set(self._validators)

    def fast_checks(self) -> dict:
        """kind -> a function saying whether a parsed frame fits that kind's schema (jsonschema-rs); a kind
        with no schema has none (it fits)."""
        return dict(self._fits)

    def problems(self, kind: str, frame: Any) -> list[SchemaProblem]:
        """Why `frame` does not fit the schema of `kind` ([] when it does, or when the kind has no schema).

        Each problem says whether it is at a path the protocol requires (the dialect's
        ``required`` paths of that event; every path of a client frame or of a non-object).
        """
        validator = self._validators.get(kind)
        if validator is None:
            return []   # unknown/removed/malformed frames are the rules' business, not the schemas'
        fits = self._fits.get(kind)
        if fits is not None and fits(frame):
            return []
        spec = self.dialect.events.get(kind) if self.dialect else None
        errors = sorted(validator.iter_errors(frame), key=lambda e: list(map(str, e.absolute_path)))
        out = []
        for error in errors:
            leaf = _leaf(error)
            required = (spec is None or not isinstance(frame, dict)
                        or (leaf.validator != "enum" and any(spec.is_required(p) for p in _leaf_paths(leaf))))
            out.append(SchemaProblem.of(_describe(leaf), required))
        return out


__all__ = ["MessageSchemas", "SchemaProblem"]
