"""support.vocabulary: both dialects round-trip every kind; classification of odd frames."""
from __future__ import annotations

import json

import pytest

from support.config import Settings
from support.vocabulary import MALFORMED, REMOVED, UNKNOWN, Dialect, UnknownDialect, available_dialects

DIALECTS = {name: Dialect.load(name) for name in ("v2", "legacy")}
SID = "ws-1"

# Representative fields for every kind (a dialect may spell fewer fields; those are left out).
SAMPLES = {
    "ready": {"session_id": SID, "version": "2.0", "content": "Backend ready"},
    "working": {"request_type": "text", "session_id": SID},
    "pong": {"timestamp": "2024-01-01T00:00:00Z", "session_id": SID},
    "closing": {"reason": "client_request", "session_id": SID},
    "thinking_chunk": {"text": "hmm", "chunk_index": 1, "session_id": SID},
    "text_chunk": {"text": "Hello", "chunk_index": 2, "session_id": SID},
    "text_completed": {"session_id": SID},
    "text_not_requested": {"session_id": SID},
    "model_in_use": {"model": "gpt-4o-mini", "provider": "openai", "session_id": SID},
    "text_generation_completed": {"full_response": "Hello", "session_id": SID},
    "custom_event": {"event_type": "somethingElse", "content": {"x": 1}, "session_id": SID},
    "db_operation_executed": {"record": {"user_message_id": 1, "ai_message_id": 2, "session_id": "chat-1"},
                              "session_id": SID},
    "tts_started": {"provider": "openai", "model": "tts-1", "voice": "alloy", "format": "pcm_24000", "session_id": SID},
    "audio_chunk": {"audio": "AAEC", "session_id": SID},
    "tts_generation_completed": {"audio_chunk_count": 3, "text_chunk_count": 2, "session_id": SID},
    "tts_completed": {"session_id": SID},
    "tts_not_requested": {"session_id": SID},
    "tts_error": {"message": "quota", "provider": "openai", "session_id": SID},
    "tts_file_uploaded": {"audio_url": "https://example.com/a.mp3", "session_id": SID},
    "tool_start": {"tool_name": "generate_image", "tool_input": {"prompt": "x"}, "call_id": "call_1",
                   "display_text": "Drawing", "provider": "openai", "session_id": SID},
    "tool_result": {"tool_name": "generate_image", "call_id": "call_1", "result": {"image_url": "https://x/y.png"},
                    "is_error": True, "session_id": SID},
    "cancelled": {"session_id": SID},
    "error": {"stage": "validation", "message": "Invalid payload", "session_id": SID},
}


def test_both_dialects_are_available():
    assert {"v2", "legacy"} <= set(available_dialects())


def test_the_default_dialect_is_available():
    assert Settings.dialect in available_dialects()


@pytest.mark.parametrize("name", ["klingon", "v2.asyncapi", "../dialects/v2", ""])
def test_a_name_with_no_profile_is_refused_naming_the_available_dialects(name):
    # The settings do not check the name (they know no dialects); loading it does, in the words of a setting.
    with pytest.raises(UnknownDialect) as info:
        Dialect.load(name)
    assert str(info.value) == f"dialect={name!r}: available dialects are {', '.join(available_dialects())}"
    assert isinstance(info.value, ValueError)


def test_samples_cover_every_kind_of_every_dialect():
    for dialect in DIALECTS.values():
        assert set(dialect.events) <= set(SAMPLES), f"{dialect.name}: no sample for {set(dialect.events) - set(SAMPLES)}"


@pytest.mark.parametrize("dialect_name, kind", [(d, k) for d in DIALECTS for k in DIALECTS[d].events])
def test_encode_decode_round_trip(dialect_name, kind):
    dialect = DIALECTS[dialect_name]
    fields = {k: v for k, v in SAMPLES[kind].items() if k in dialect.events[kind].fields}
    frame = dialect.encode(kind, **fields)
    wire = json.loads(json.dumps(frame))        # survives the wire
    assert dialect.decode(wire) == (kind, fields)


def test_encode_refuses_a_field_the_kind_lacks():
    with pytest.raises(KeyError, match="display_text"):
        DIALECTS["legacy"].encode("tool_start", display_text="nope")


def test_db_record_is_sent_as_a_json_string_and_read_back_from_either_form():
    v2 = DIALECTS["v2"]
    record = {"user_message_id": 1, "ai_message_id": 2, "session_id": "chat-1"}
    frame = v2.encode("db_operation_executed", record=record)
    assert isinstance(frame["content"], str) and json.loads(frame["content"]) == record
    assert v2.decode({"type": "db_operation_executed", "content": record})[1]["record"] == record
    assert v2.decode({"type": "db_operation_executed", "content": "not json"})[1]["record"] == "not json"


@pytest.mark.parametrize("is_error, status", [(False, "success"), (True, "error")])
def test_legacy_tool_result_wire_shape(is_error, status):
    legacy = DIALECTS["legacy"]
    frame = legacy.encode("tool_result", tool_name="generate_image", call_id="call_1", result={"ok": 1},
                          is_error=is_error)
    assert frame == {"type": "customEvent", "eventType": "toolResult",
                     "content": {"name": "generate_image", "id": "call_1", "status": status, "result": {"ok": 1}}}
    assert legacy.decode(frame)[1]["is_error"] is is_error
    assert legacy.label(frame) == "customEvent(toolResult)"


def test_legacy_tool_start_wire_shape():
    legacy = DIALECTS["legacy"]
    frame = legacy.encode("tool_start", tool_name="generate_image", tool_input={"prompt": "x"}, call_id="call_1")
    assert frame == {"type": "customEvent", "eventType": "toolUse",
                     "content": {"name": "generate_image", "input": {"prompt": "x"}, "id": "call_1"}}
    assert legacy.label(frame) == "customEvent(toolUse)"


def test_specific_custom_events_win_over_plain_custom_event():
    v2 = DIALECTS["v2"]
    assert v2.classify({"type": "custom_event", "event_type": "textGenerationCompleted"})[0] == "text_generation_completed"
    assert v2.classify({"type": "custom_event", "event_type": "other"})[0] == "custom_event"
    assert DIALECTS["legacy"].classify({"type": "customEvent", "eventType": "other"})[0] == "custom_event"


@pytest.mark.parametrize("dialect_name", sorted(DIALECTS))
@pytest.mark.parametrize("removed", ["fullProcessComplete", "complete", "streamingComplete"])
def test_removed_types(dialect_name, removed):
    frame = {"type": removed}
    assert DIALECTS[dialect_name].decode(frame) == (REMOVED, {})
    assert DIALECTS[dialect_name].label(frame) == removed


@pytest.mark.parametrize("dialect_name", sorted(DIALECTS))
def test_unknown_type(dialect_name):
    assert DIALECTS[dialect_name].decode({"type": "mystery", "content": 1}) == (UNKNOWN, {})
    assert DIALECTS[dialect_name].label({"type": "mystery"}) == "mystery"


def test_other_dialects_names_are_unknown():
    assert DIALECTS["v2"].classify({"type": "textCompleted"})[0] == UNKNOWN
    assert DIALECTS["legacy"].classify({"type": "text_completed"})[0] == UNKNOWN


@pytest.mark.parametrize("frame", [[1, 2], "text", 42, None, {"content": "no type"}, {"type": 5}])
def test_malformed(frame):
    assert DIALECTS["v2"].decode(frame) == (MALFORMED, {})


@pytest.mark.parametrize("dialect_name, kind, label", [
    ("v2", "text_chunk", "text_chunk"),
    ("v2", "text_generation_completed", "custom_event(textGenerationCompleted)"),
    ("legacy", "text_chunk", "text"),
    ("legacy", "ready", "websocketReady"),
    ("legacy", "tool_start", "customEvent(toolUse)"),
    ("legacy", "model_in_use", "customEvent(aiTextModelInUse)"),
])
def test_labels(dialect_name, kind, label):
    dialect = DIALECTS[dialect_name]
    assert dialect.label(dialect.encode(kind)) == label


def test_label_of_a_non_object():
    assert DIALECTS["v2"].label("nope") == "?"


@pytest.mark.parametrize("kind", ["ping", "cancel", "close_session"])
def test_client_frames(kind):
    v2 = DIALECTS["v2"]
    frame = v2.client_frame(kind)
    assert frame == {"type": kind} and v2.client_kind(frame) == kind


def test_client_kind_of_a_chat_request_is_none():
    assert DIALECTS["v2"].client_kind({"request_type": "text"}) is None

