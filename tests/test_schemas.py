"""The AsyncAPI documents and support.schemas: complete, strict where protocol.md is, and true to the wire.

(a) the documents cover exactly the dialect profiles' kinds, with valid JSON Schemas;
(b) a realistic frame of every message passes and loses with each required property;
(c) wrong types are reported at their path; (d) what the reference backend sends validates.
"""
from __future__ import annotations

import asyncio
import copy
import json

import pytest
from jsonschema import Draft202012Validator

from conftest import AUDIO, db_record
from support.backend_process import BackendProcess
from support.config import Settings, load
from support.schemas import MessageSchemas
from support.protocol import build_chat_request
from support.session import Session
from support.tokens import mint
from support.vocabulary import Dialect
from support.transcript_view import brief

DIALECTS = ["v2", "legacy"]
CLIENT_KINDS = {"ping", "cancel", "close_session", "chat_request"}
WS = "0b5c6a3e-2f7d-4c1a-9e8b-6d2f1a7c3b90"
RECORD = {"user_message_id": 7, "ai_message_id": 8, "session_id": "chat-42"}

# Realistic field values per server kind (fields a dialect lacks, e.g. legacy display_text, are dropped).
# Several entries per kind where the protocol allows several shapes.
SERVER_FIELDS = {
    "ready": [dict(content="Backend ready", version="2.0"), dict(content="Backend ready", session_id=WS)],
    "working": [dict(request_type="text", session_id=WS)],
    "pong": [dict(timestamp="2025-05-01T12:00:00.123456+00:00", session_id=WS), dict(timestamp="2025-05-01T12:00:00Z")],
    "closing": [dict(reason="client_request", session_id=WS)],
    "thinking_chunk": [dict(text="Let me think", chunk_index=1, session_id=WS)],
    "text_chunk": [dict(text="Hello", chunk_index=1, session_id=WS), dict(text=" there")],
    "text_completed": [dict(session_id=WS)],
    "text_not_requested": [dict(session_id=WS)],
    "model_in_use": [dict(model="gpt-4o-mini", provider="openai", session_id=WS)],
    "text_generation_completed": [dict(full_response="Hello there!", session_id=WS)],
    "custom_event": [dict(event_type="somethingNew", content={"detail": 1}, session_id=WS)],
    "db_operation_executed": [dict(record=json.dumps(RECORD), session_id=WS), dict(record=db_record())],
    "tts_started": [dict(provider="openai", model="tts-1", voice="alloy", format="pcm_24000", session_id=WS)],
    "audio_chunk": [dict(audio=AUDIO, session_id=WS)],
    "tts_generation_completed": [dict(audio_chunk_count=3, text_chunk_count=3, session_id=WS), dict(audio_chunk_count=0)],
    "tts_completed": [dict(session_id=WS)],
    "tts_not_requested": [dict(session_id=WS)],
    "tts_error": [dict(message="voice provider timed out", provider="elevenlabs", session_id=WS)],
    "tts_file_uploaded": [dict(audio_url="https://cdn.example.com/a.mp3", session_id=WS)],
    "tool_start": [dict(tool_name="generate_image", tool_input={"prompt": "a red bicycle"}, call_id="call_1",
                        display_text="Generating an image", provider="openai", session_id=WS),
                   dict(tool_name="web_search")],
    "tool_result": [dict(tool_name="generate_image", call_id="call_1", result={"image_url": "https://x/a.png"},
                         is_error=False, session_id=WS),
                    dict(tool_name="generate_image", call_id="call_2", result="quota exceeded", is_error=True)],
    "cancelled": [dict(session_id=WS)],
    "error": [dict(stage="validation", message="Invalid payload", session_id=WS),
              dict(stage="authorization", message="customer_id does not match the token")],
}


def examples(dialect: Dialect) -> list[tuple[str, dict]]:
    """(kind, frame) for every server and client message of a dialect."""
    out = []
    for kind, variants in SERVER_FIELDS.items():
        spec = dialect.events[kind]
        for fields in variants:
            out.append((kind, dialect.encode(kind, **{k: v for k, v in fields.items() if k in spec.fields})))
    db = dialect.encode("db_operation_executed", record=RECORD)
    db["content"] = RECORD                      # §7: content MAY be an object instead of a JSON string
    out.append(("db_operation_executed", db))
    out += [(kind, dialect.client_frame(kind)) for kind in dialect.client_frames]
    settings = Settings()
    out.append(("chat_request", build_chat_request(settings, "Say hello", speech=False, agent=False, chat_id=None,
                                                   customer_id=1)))
    request = build_chat_request(settings, "Draw a cat", speech=True, agent=True, chat_id="chat-42", customer_id=1)
    request["user_input"]["chat_history"] = [{"role": "user", "content": "hi"}]
    out.append(("chat_request", request))
    return out


def document(name: str) -> dict:
    return json.loads(Dialect.load(name).asyncapi_path.read_text())


def resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        node = doc
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def required_paths(doc: dict, schema: dict, instance, path=()):
    """Paths of every required property the instance has, following $ref, nested objects, object anyOf branches
    and the if/then/else branch it takes."""
    schema = resolve(doc, schema)
    if not isinstance(instance, dict):
        return
    for key in schema.get("required", []):
        yield path + (key,)
    for key, sub in schema.get("properties", {}).items():
        if isinstance(instance.get(key), dict):
            yield from required_paths(doc, sub, instance[key], path + (key,))
    for branch in schema.get("anyOf", []):
        if resolve(doc, branch).get("type") == "object":
            yield from required_paths(doc, branch, instance, path)
    if "if" in schema:   # the branch the instance takes (an if of required keys)
        taken = "then" if all(k in instance for k in schema["if"].get("required", [])) else "else"
        yield from required_paths(doc, schema[taken], instance, path)


def without(frame: dict, path: tuple) -> dict:
    frame = copy.deepcopy(frame)
    node = frame
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return frame


# -- (a) the documents ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", DIALECTS)
def test_document_covers_exactly_the_profile(name):
    dialect, doc = Dialect.load(name), document(name)
    assert doc["asyncapi"] == "3.0.0"
    assert doc["channels"]["chat"]["address"] == "/chat/ws"
    assert {op["action"] for op in doc["operations"].values()} == {"send", "receive"}
    messages = doc["components"]["messages"]
    for key, message in messages.items():
        assert {"x-kind", "x-direction", "name", "summary", "payload"} <= set(message), key
        assert message["x-direction"] in ("server", "client"), key
    by_direction = lambda d: {m["x-kind"] for m in messages.values() if m["x-direction"] == d}
    assert by_direction("server") == set(dialect.events)          # a kind without a schema is noticed
    assert by_direction("client") == set(dialect.client_frames) | {"chat_request"} == CLIENT_KINDS
    assert MessageSchemas.for_dialect(dialect).kinds() == set(dialect.events) | CLIENT_KINDS


@pytest.mark.parametrize("name", DIALECTS)
def test_every_schema_is_valid_and_every_ref_resolves(name):
    doc = document(name)
    for schema in [*doc["components"]["schemas"].values(), *(m["payload"] for m in doc["components"]["messages"].values())]:
        Draft202012Validator.check_schema(schema)

    def refs(node):
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)
    found = list(refs(doc))
    assert found
    for ref in found:
        assert resolve(doc, {"$ref": ref}), ref    # raises KeyError on a dangling ref


@pytest.mark.parametrize("name", DIALECTS)
def test_legacy_and_v2_discriminators_mirror_the_profile(name):
    """Each server payload pins exactly the profile's match keys (type, and event_type/eventType) with const."""
    dialect, doc = Dialect.load(name), document(name)
    for message in doc["components"]["messages"].values():
        if message["x-direction"] == "server":
            spec = dialect.events[message["x-kind"]]
            consts = {k: p["const"] for k, p in message["payload"]["properties"].items() if "const" in p}
            assert consts == spec.match, message["x-kind"]
            assert set(spec.match) <= set(message["payload"]["required"])


def test_schemas_are_cached_per_dialect():
    assert MessageSchemas.for_dialect(Dialect.load("v2")) is MessageSchemas.for_dialect(Dialect.load("v2"))
    assert MessageSchemas.for_dialect(Dialect.load("v2")) is not MessageSchemas.for_dialect(Dialect.load("legacy"))


# -- (b) valid frames pass; each required property is needed -----------------------------------

@pytest.mark.parametrize("name", DIALECTS)
def test_every_message_has_a_passing_example(name):
    dialect = Dialect.load(name)
    covered = {kind for kind, _ in examples(dialect)}
    assert covered == MessageSchemas.for_dialect(dialect).kinds()


@pytest.mark.parametrize("name", DIALECTS)
def test_valid_frames_pass_and_lose_with_each_required_property(name):
    dialect, doc = Dialect.load(name), document(name)
    schemas = MessageSchemas.for_dialect(dialect)
    payloads = {m["x-kind"]: m["payload"] for m in doc["components"]["messages"].values()}
    checked = 0
    for kind, frame in examples(dialect):
        if kind not in CLIENT_KINDS:
            assert dialect.classify(frame)[0] == kind, frame    # the example is what it claims to be
        assert schemas.problems(kind, frame) == [], (kind, frame)
        paths = list(required_paths(doc, payloads[kind], frame))
        assert paths, kind
        for path in paths:
            problems = schemas.problems(kind, without(frame, path))
            where = "at $" + "".join(f".{part}" for part in path[:-1]) + ":"
            assert any(p.startswith(where) and repr(path[-1]) in p for p in problems), (kind, path, problems)
            checked += 1
    assert checked > 60


# What protocol.md shows in every instance of a message (discriminators aside, which the profile pins).
# The walk above only proves the schemas enforce their own `required`; this table pins what that is,
# so loosening or tightening a schema is a deliberate, reviewed change. session_id, chunk_index,
# version and the tts counts are never required: the protocol calls them "most", "when present".
REQUIRED_V2 = {
    "ready": {"content"}, "working": {"content", "content.request_type"}, "pong": {"timestamp"}, "closing": {"reason"},
    "thinking_chunk": {"data", "data.content"}, "text_chunk": {"content"},
    "text_completed": {"content"}, "text_not_requested": {"content"},
    "tts_completed": {"content"}, "tts_not_requested": {"content"}, "cancelled": {"content"},
    "model_in_use": {"content", "content.aiTextModel", "content.provider"},
    "text_generation_completed": {"content", "content.full_response"}, "custom_event": {"event_type"},
    "db_operation_executed": {"content", "content.user_message_id", "content.ai_message_id", "content.session_id"},
    "tts_started": {"content", "content.provider", "content.model", "content.voice", "content.format"},
    "audio_chunk": {"content"}, "tts_generation_completed": {"content"},
    "tts_error": {"content", "content.message", "content.provider"}, "tts_file_uploaded": {"content", "content.audio_url"},
    "tool_start": {"data", "data.tool_name"}, "tool_result": {"data", "data.tool_name"},
    "error": {"stage", "content"},
    "ping": set(), "cancel": set(), "close_session": set(), "chat_request": {"user_input", "user_input.prompt"},
}
REQUIRED = {"v2": REQUIRED_V2, "legacy": {**REQUIRED_V2, "custom_event": {"eventType"},
                                           "tool_start": {"content", "content.name"},
                                           "tool_result": {"content", "content.name"}}}


@pytest.mark.parametrize("name", DIALECTS)
def test_required_fields_are_what_the_protocol_always_shows(name):
    dialect, doc = Dialect.load(name), document(name)
    payloads = {m["x-kind"]: m["payload"] for m in doc["components"]["messages"].values()}
    found: dict[str, set] = {}
    for kind, frame in examples(dialect):
        match = set(dialect.events[kind].match) if kind in dialect.events else {"type"}
        paths = {".".join(p) for p in required_paths(doc, payloads[kind], frame)}
        found.setdefault(kind, set()).update(paths - match)
    assert found == REQUIRED[name]


@pytest.mark.parametrize("name", DIALECTS)
def test_db_record_inside_the_json_string_is_checked_too(name):
    dialect = Dialect.load(name)
    schemas = MessageSchemas.for_dialect(dialect)
    partial = dialect.encode("db_operation_executed", record=json.dumps({"user_message_id": 1, "session_id": "c"}))
    assert schemas.problems("db_operation_executed", partial) == ["at $.content: 'ai_message_id' is a required property"]
    garbage = dialect.encode("db_operation_executed", record="stored!")
    assert schemas.problems("db_operation_executed", garbage)[0].startswith("at $.content: 'stored!' is not a JSON document")


# -- (c) wrong types, at their path ---------------------------------------------------------------

def _set(frame: dict, path: str, value) -> dict:
    frame = copy.deepcopy(frame)
    *parents, last = path.split(".")
    node = frame
    for part in parents:
        node = node[part]
    node[last] = value
    return frame


WRONG = [
    # (dialects, kind, fields, path to corrupt, bad value, expected problem start, expected words)
    (DIALECTS, "text_chunk", dict(text="Hi", chunk_index=3), "chunk_index", "3", "at $.chunk_index:", "not of type 'integer'"),
    (DIALECTS, "text_chunk", dict(text="Hi", chunk_index=1), "chunk_index", 0, "at $.chunk_index:", "minimum"),
    (DIALECTS, "text_chunk", dict(text="Hi"), "content", ["Hi"], "at $.content:", "not of type 'string'"),
    (DIALECTS, "thinking_chunk", dict(text="Hm", chunk_index=1), "data.chunk_index", 1.5, "at $.data.chunk_index:", "integer"),
    (DIALECTS, "audio_chunk", dict(audio=AUDIO), "content", "", "at $.content:", "non-empty"),
    (DIALECTS, "error", dict(stage="text", message="boom"), "stage", "kitchen", "at $.stage:", "is not one of"),
    (DIALECTS, "ready", dict(content="Backend ready"), "session_id", 42, "at $.session_id:", "not of type 'string'"),
    (DIALECTS, "pong", dict(timestamp="2025-05-01T12:00:00Z"), "timestamp", "yesterday", "at $.timestamp:", "does not match"),
    (DIALECTS, "db_operation_executed", dict(record=RECORD), "content", 5, "at $.content:", "not valid under any"),
    (DIALECTS, "text_completed", dict(), "type", "text_done", "at $.type:", "was expected"),
    (["v2"], "tool_start", dict(tool_name="generate_image", call_id="call_1"), "data.call_id", 7, "at $.data.call_id:", "string"),
    (["v2"], "tool_result", dict(tool_name="t", is_error=False), "data.is_error", "no", "at $.data.is_error:", "boolean"),
    (["v2"], "custom_event", dict(event_type="x"), "event_type", "other", "", ""),   # any event_type is fine here
    (["legacy"], "tool_start", dict(tool_name="generate_image", call_id="call_1"), "content.id", 7, "at $.content.id:", "string"),
    (["legacy"], "tool_result", dict(tool_name="t", is_error=False), "content.status", "failed", "at $.content.status:",
     "is not one of ['success', 'error']"),
    (["legacy"], "tool_start", dict(tool_name="t"), "eventType", "toolResult", "at $.eventType:", "'toolUse' was expected"),
]


@pytest.mark.parametrize("dialects,kind,fields,path,bad,where,words", WRONG,
                         ids=[f"{w[1]}-{w[3]}={w[4]!r}" for w in WRONG])
def test_wrong_values_are_reported_at_their_path(dialects, kind, fields, path, bad, where, words):
    for name in dialects:
        dialect = Dialect.load(name)
        schemas = MessageSchemas.for_dialect(dialect)
        frame = dialect.encode(kind, **fields)
        assert schemas.problems(kind, frame) == []
        problems = schemas.problems(kind, _set(frame, path, bad))
        if not where:
            assert problems == []
            continue
        assert any(p.startswith(where) and words in p for p in problems), (name, problems)


def test_wrong_client_frames_and_unknown_kinds():
    schemas = MessageSchemas.for_dialect(Dialect.load("v2"))
    request = build_chat_request(Settings(), "Hi", speech=True, agent=False, chat_id=None, customer_id=1)
    assert schemas.problems("chat_request", {**request, "customer_id": "1"}) == \
        ["at $.customer_id: '1' is not of type 'integer'"]
    assert schemas.problems("chat_request", {**request, "request_type": "video"})[0].startswith("at $.request_type:")
    request["user_settings"]["tts"]["tts_auto_execute"] = "yes"
    assert schemas.problems("chat_request", request) == \
        ["at $.user_settings.tts.tts_auto_execute: 'yes' is not of type 'boolean'"]
    assert schemas.problems("ping", {"type": "pong"}) == ["at $.type: 'ping' was expected"]
    assert schemas.problems("ping", "ping") != []
    assert schemas.problems("unknown", {"type": "whatever"}) == []
    assert schemas.problems("no_such_kind", 42) == []


# -- (d) the reference backend's real frames ---------------------------------------------------------

IMAGE_PROMPT = "Generate an image of a red bicycle"      # "image": the reference backend calls generate_image
PLAIN_PROMPT = "Say hello in 3 words"
TOOL_KINDS = {"tool_start", "tool_result"}
SPEECH_REPLY_KINDS = {"ready", "pong", "working", "model_in_use", "tts_started", "audio_chunk", "text_chunk",
                      "text_generation_completed", "db_operation_executed", "tts_generation_completed",
                      "tts_completed", "tts_file_uploaded", "text_completed", "closing"}


async def _converse(settings: Settings, dialect: Dialect, prompt: str) -> Session:
    session = Session(settings, dialect, "schema check", token=mint(settings))
    await session.open()
    try:
        await session.send_request(prompt, speech=True, agent=True)
        await session.wait_for(lambda tr: tr.request_finished(1), "the request to finish")
        await session.send_control("close_session")
        await session.wait_closed()
    finally:
        await session.close()
    return session


@pytest.mark.parametrize("name,prompt,expected", [
    ("v2", IMAGE_PROMPT, SPEECH_REPLY_KINDS | TOOL_KINDS),
    ("legacy", IMAGE_PROMPT, SPEECH_REPLY_KINDS | TOOL_KINDS),
    ("legacy", PLAIN_PROMPT, SPEECH_REPLY_KINDS),
], ids=["v2-image", "legacy-image", "legacy-plain"])
def test_reference_backend_frames_validate(name, prompt, expected):
    secret = "schema-test-secret-of-at-least-32-bytes"
    dialect = Dialect.load(name)
    schemas = MessageSchemas.for_dialect(dialect)
    with BackendProcess(secret=secret, dialect=name) as backend:
        settings = load({}, {"ws_url": backend.url, "jwt_secret": secret, "dialect": name, "timeout": "8"}, environ={})
        session = asyncio.run(_converse(settings, dialect, prompt))
    received = session.transcript.received()
    kinds = {e.kind for e in received}
    # The conversation must really exercise the interesting schemas, or this test proves little.
    assert expected <= kinds, expected - kinds
    assert kinds <= schemas.kinds(), kinds - schemas.kinds()       # nothing unknown or malformed
    # The reference speaks as production does where the protocol allows it (§11): only these
    # informational deviations, never a problem at a required path.
    subtype = "event_type" if name == "v2" else "eventType"
    production_habits = {f"at $: '{subtype}' is a required property", "at $.content.model: None is not of type 'string'",
                         "at $.content.voice: None is not of type 'string'"}
    for entry in received:
        problems = schemas.problems(entry.kind, entry.data)
        assert [p for p in problems if p.required] == [], (brief(entry), entry.data)
        assert set(problems) <= production_habits, (brief(entry), problems)
    assert any(f"'{subtype}'" in p for e in received for p in e.schema_problems), "the subtype is kept in content.type"
    sent = [e for e in session.transcript.sent() if e.data is not None]
    assert {e.kind for e in sent} >= {"chat_request", "close_session"}
    for entry in sent:
        assert schemas.problems(entry.kind, entry.data) == [], (entry.kind, entry.data)
