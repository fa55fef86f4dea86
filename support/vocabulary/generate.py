"""What the vocabulary derives from its data, so it cannot drift from it:

- ``dialects/legacy.asyncapi.json`` from ``v2.asyncapi.json`` and the two profiles;
- the tables of ``docs/protocol.md`` that list the profiles (``TABLES``).

It needs nothing but the vocabulary. ``python -m support.generate`` writes these, with every other
generated table of the repository (``--check``: exit 1 if any is stale).

How a v2 message becomes a legacy one: the profiles' ``match`` give the discriminators (their
``const``s are replaced), and the profiles' ``fields`` give each field's wire position in both
dialects (a property is moved from its v2 pointer to its legacy pointer, a field the legacy
profile lacks is dropped, a ``map`` turns the schema into an enum of the wire values).
Everything else (summaries, shared schemas, client messages, ``x-kind``) is copied.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

from support.vocabulary import Dialect, EventSpec

# Derived documents: target dialect -> the dialect whose hand-written document it is made from.
DERIVED = {"legacy": "v2"}

# What the profiles cannot say: prose that names the target's own wire form. Everything not
# listed here is derived; a new entry needs a reason in this comment. (The tool messages'
# descriptions talk of v2 field names, and the title/description name the dialect.)
OVERRIDES = {
    "legacy": {
        "info.description": "The chat socket of protocol.md with the older (camelCase) event names, protocol.md §10. "
                            "Written from the backend's side: it sends the server events and receives the client "
                            "messages. Payloads are JSON Schema; every object allows extra properties (backends MAY "
                            "add fields). x-kind is the suite's name of a message (the dialect profile's kind).",
        "payload.description": {
            "tool_start": "§10: tool_start as customEvent toolUse.",
            "tool_result": "§10: tool_result as customEvent toolResult.",
        },
    },
}


# -- AsyncAPI --------------------------------------------------------------------------------

def _parts(pointer: str) -> list[str]:
    return [p for p in pointer.strip("/").split("/") if p]


def _take(payload: dict, pointer: str) -> tuple[dict, bool] | None:
    """Remove the property at `pointer` from an object schema; return (its schema, was it required)."""
    *parents, last = _parts(pointer)
    node = payload
    for part in parents:
        node = node.get("properties", {}).get(part)
        if node is None:
            return None
    if last not in node.get("properties", {}):
        return None
    schema = node["properties"].pop(last)
    required = last in node.get("required", [])
    if required:
        node["required"].remove(last)
    return schema, required


def _put(payload: dict, pointer: str, schema: dict, required: bool) -> None:
    """Add a property at `pointer`, creating open object schemas on the way (required if it is)."""
    *parents, last = _parts(pointer)
    node = payload
    for part in parents:
        props = node.setdefault("properties", {})
        if part not in props:
            props[part] = {"type": "object", "properties": {}, "additionalProperties": True}
        if required and part not in node.setdefault("required", []):
            node["required"].append(part)
        node = props[part]
    node.setdefault("properties", {})[last] = schema
    if required and last not in node.setdefault("required", []):
        node["required"].append(last)


def _rename(payload: dict, pointer: str, there) -> None:
    *parents, last = _parts(pointer)
    node = payload
    for part in parents:
        node = node.get("properties", {}).get(part)
        if node is None:
            return
    props = node.get("properties", {})
    if last not in props:
        return
    new = _parts(there.at)[-1]
    node["properties"] = {new if k == last else k: _wire_schema(v, there.value_map) if k == last else v
                          for k, v in props.items()}
    if last in node.get("required", []):
        node["required"] = [new if r == last else r for r in node["required"]]


def _prune(payload: dict, pointer: str) -> None:
    """Drop the object at `pointer` if the moves left it without properties (v2's `data` of the tools)."""
    *parents, last = _parts(pointer)
    node = payload
    for part in parents:
        node = node.get("properties", {}).get(part, {})
    if node.get("properties", {}).get(last, {}).get("properties") == {}:
        _take(payload, pointer)


def _wire_schema(schema: dict, value_map: dict | None) -> dict:
    if not value_map:
        return schema
    # The wire carries the map's keys (legacy "success"/"error" for is_error false/true);
    # listed in the order of the suite's values, so messages read "one of ['success', 'error']".
    wire = [k for k, _ in sorted(value_map.items(), key=lambda kv: repr(kv[1]))]
    return {"type": "string", "enum": wire}


def _message_name(spec: EventSpec) -> str:
    # v2's document names subtyped messages "custom_event.aiTextModelInUse": the match values joined.
    return ".".join(str(v) for v in spec.match.values())


def _payload(base: EventSpec, target: EventSpec, payload: dict) -> dict:
    payload = copy.deepcopy(payload)
    for key in (*base.match, *target.match):
        if len(_parts(key)) != 1:
            raise ValueError(f"{target.kind}: a nested discriminator {key!r} is not supported; add an override")
    for key in base.match:                       # the base's discriminators go ...
        _take(payload, key)
    moves = []
    for name, field in base.fields.items():
        there = target.fields.get(name)
        if there is not None and there.at == field.at and there.value_map == field.value_map:
            continue
        if there is not None and _parts(there.at)[:-1] == _parts(field.at)[:-1]:
            _rename(payload, field.at, there)     # same object: keep its place (event_type -> eventType)
            continue
        taken = _take(payload, field.at)
        if taken is not None and there is not None:
            moves.append((there, *taken))
    for there, schema, required in moves:
        _put(payload, there.at, _wire_schema(schema, there.value_map), required)
    unknown = target.fields.keys() - base.fields.keys()
    if unknown:
        raise ValueError(f"{target.kind}: no base-dialect schema for {sorted(unknown)}; add an override")
    for parent in sorted({f.at.rsplit("/", 1)[0] for f in base.fields.values() if f.at.count("/") > 1},
                        key=lambda p: -p.count("/")):        # innermost first
        _prune(payload, parent)
    # ... and the target's come first, as the hand-written documents have them.
    consts = {_parts(key)[0]: {"const": value} for key, value in target.match.items()}
    payload["properties"] = {**consts, **payload["properties"]}
    payload["required"] = [*consts, *(r for r in payload.get("required", []) if r not in consts)]
    return payload


def derived_asyncapi(target_name: str) -> dict:
    """The AsyncAPI document of `target_name`, made from its base dialect's document."""
    base, target = Dialect.load(DERIVED[target_name]), Dialect.load(target_name)
    overrides = OVERRIDES.get(target_name, {})
    if base.client_frames != target.client_frames:
        raise ValueError("client frames differ between the dialects; the generator copies them as they are")
    doc = copy.deepcopy(json.loads(base.asyncapi_path.read_text()))
    doc["info"]["title"] = doc["info"]["title"].replace(f"dialect {base.name}", f"dialect {target.name}")
    doc["info"]["description"] = overrides.get("info.description", doc["info"]["description"])
    messages = doc["components"]["messages"]
    if {m["x-kind"] for m in messages.values() if m["x-direction"] == "server"} != set(target.events):
        raise ValueError(f"{base.name}'s document and {target.name}'s profile have different kinds")
    for message in messages.values():
        if message["x-direction"] != "server":
            continue
        kind = message["x-kind"]
        message["name"] = _message_name(target.events[kind])
        message["payload"] = _payload(base.events[kind], target.events[kind], message["payload"])
        described = overrides.get("payload.description", {})
        if kind in described:
            message["payload"]["description"] = described[kind]
    return doc


def render_json(doc: dict) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def asyncapi_outputs() -> dict[Path, str]:
    return {Dialect.load(name).asyncapi_path: render_json(derived_asyncapi(name)) for name in DERIVED}


# -- docs/protocol.md --------------------------------------------------------------------------

def _code(text: str) -> str:
    return f"`{text}`"


def _wire(spec: EventSpec | None, match: dict | None = None) -> str:
    if spec is None:
        return "—"
    match = spec.match if match is None else match
    out = _code(match["type"])
    extra = [_code(f"{'.'.join(_parts(k))}: {json.dumps(v)}") for k, v in match.items() if k != "type"]
    return out + (f" with {', '.join(extra)}" if extra else "")


def _dialects() -> list[Dialect]:
    names = [*dict.fromkeys(DERIVED.values()), *sorted(DERIVED)]   # the hand-written ones first
    return [Dialect.load(n) for n in names]


def section_dialects() -> str:
    """§10: every kind with its wire name in each dialect, then the fields whose position differs."""
    dialects = _dialects()
    kinds = list(dialects[0].events)
    rows = [f"| kind | {' | '.join(d.name for d in dialects)} |", "|---" * (len(dialects) + 1) + "|"]
    for kind in kinds:
        cells = []
        for d in dialects:
            spec = d.events.get(kind)
            cell = _wire(spec)
            if spec is not None and spec.also_match:
                cell += " (also: " + "; ".join(_wire(spec, m) for m in spec.also_match) + ")"
            cells.append(cell)
        rows.append(f"| {kind} | {' | '.join(cells)} |")
    out = ["Every event kind the suite knows, by dialect (from `support/vocabulary/dialects/*.json`):", "",
           *rows, ""]
    fields = ["| kind | field | " + " | ".join(d.name for d in dialects) + " |", "|---" * (len(dialects) + 2) + "|"]
    for kind in kinds:
        names = list(dict.fromkeys(n for d in dialects if kind in d.events for n in d.events[kind].fields))
        for name in names:
            specs = [d.events[kind].fields.get(name) if kind in d.events else None for d in dialects]
            if len({(s.at, json.dumps(s.value_map, sort_keys=True)) if s else None for s in specs}) == 1:
                continue
            cells = []
            for s in specs:
                if s is None:
                    cells.append("—")
                else:
                    mapped = "" if not s.value_map else " (" + ", ".join(
                        f"{_code(k)} = {json.dumps(v)}" for k, v in s.value_map.items()) + ")"
                    cells.append(_code(s.at) + mapped)
            fields.append(f"| {kind} | {name} | {' | '.join(cells)} |")
    out += ["Fields that sit elsewhere in another dialect (JSON pointers; — : the dialect does not send it):", "",
            *fields]
    return "\n".join(out)


def section_required() -> str:
    """§11: the wire paths each profile marks as relied on, besides `type`."""
    dialects = _dialects()
    rows = [f"| kind | {' | '.join(d.name for d in dialects)} |", "|---" * (len(dialects) + 1) + "|"]
    for kind in dialects[0].events:
        cells = [", ".join(_code(p) for p in d.events[kind].required) if kind in d.events else "—" for d in dialects]
        if any(d.events.get(kind) and d.events[kind].required for d in dialects):
            rows.append(f"| {kind} | {' | '.join(cells)} |")
    return "\n".join(["Wire paths a client relies on, from each profile's `required` (besides `type`, which every "
                      "frame needs); a schema problem at or inside one of these fails the scenario:", "", *rows])


# What the vocabulary writes into docs/protocol.md: marker name -> the table (support.generate fills it in).
TABLES = {"dialects": section_dialects, "required": section_required}
