"""The report's pure parts (support/timeline.py): categories, masking, clipping, latencies, caps."""
from __future__ import annotations

import json

import pytest

from conftest import AUDIO, conforming_text_reply
from support import rules, timeline
from support.protocol import CloseKind
from support.transcript import CLOSED, RECEIVED, SENT

JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6MSwiZW1haWwiOiJhQGIuYyIsImV4cCI6MTl9"
       ".c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU")


@pytest.mark.parametrize("direction, kind, expected", [
    (SENT, "chat_request", "sent"), (SENT, "cancel", "sent"), (CLOSED, CloseKind.BY_BACKEND, "closes"),
    (RECEIVED, "ready", "control"), (RECEIVED, "pong", "control"), (RECEIVED, "cancelled", "control"),
    (RECEIVED, "text_chunk", "text"), (RECEIVED, "text_generation_completed", "text"),
    (RECEIVED, "db_operation_executed", "text"), (RECEIVED, "text_completed", "text"),
    (RECEIVED, "audio_chunk", "speech"), (RECEIVED, "tts_started", "speech"), (RECEIVED, "tts_completed", "speech"),
    (RECEIVED, "tool_start", "tools"), (RECEIVED, "tool_result", "tools"),
    (RECEIVED, "error", "errors"), (RECEIVED, "malformed", "errors"), (RECEIVED, "unknown", "errors"),
])
def test_every_kind_has_its_category(direction, kind, expected):
    assert timeline.category(direction, kind) == expected


@pytest.mark.parametrize("text", [
    f"ws://localhost:8000/chat/ws?token={JWT}&mode=realtime",
    "ws://host/chat/ws?mode=x&token=not-a-jwt-but-secret-value-123",
    f'{{"Authorization": "Bearer {JWT}"}}',
    "Authorization: Bearer secret-value-123456",
    '{"type": "text", "token": "secret-value-123456"}',
    f"some text {JWT} more",
    f"clipped {JWT[:60]}",
])
def test_tokens_are_never_shown_whole(text):
    masked = timeline.mask(text)
    assert JWT not in masked and "secret-value-123456" not in masked and "not-a-jwt-but-secret-value-123" not in masked
    assert "…(" in masked   # the redaction says how long the secret was


def test_masking_leaves_ordinary_text_alone():
    text = '{"type": "text_chunk", "content": "Hello there", "chunk_index": 1}'
    assert timeline.mask(text) == text


def test_long_strings_are_clipped_with_their_length_and_the_rest_of_the_frame_kept():
    frame = json.dumps({"type": "audio_chunk", "content": "A" * 10_000, "session_id": "ws-1"})
    shown = timeline.wire_text(frame)
    assert "(10000 chars)" in shown and '"session_id": "ws-1"' in shown
    assert len(shown) < 400
    assert timeline.wire_text("x" * 500).endswith("…(500 chars)")   # not JSON: clipped as a whole
    assert timeline.wire_text(None) == ""


def test_latency_figures_of_a_spoken_reply(b):
    b.ready()                                      # t=0.1
    conforming_text_reply(b, speech=True)          # request sent at t=0.2
    got = timeline.latency(timeline.entries_of(b.tr))
    assert got.connect == pytest.approx(0.1)
    assert got.first_text == pytest.approx(0.4)    # working 0.3, model 0.4, tts_started 0.5, text 0.6
    assert got.first_audio == pytest.approx(0.5)
    assert got.whole_reply == pytest.approx(1.3)   # tts_completed, the later of the two flags, at 1.5


def test_latency_without_a_request_or_its_flags(b):
    b.ready()
    assert timeline.latency(timeline.entries_of(b.tr)) == timeline.Latency(connect=pytest.approx(0.1))
    b.sent_request()
    b.recv("working", request_type="text")
    b.recv("text_chunk", text="Hi", chunk_index=1)
    b.recv("text_completed")                       # no speech flag: the reply is not whole
    got = timeline.latency(timeline.entries_of(b.tr))
    assert got.first_text == pytest.approx(0.2) and got.first_audio is None and got.whole_reply is None


def test_marks_carry_category_and_masked_clipped_tooltip(b):
    b.ready()
    b.recv("audio_chunk", audio=AUDIO * 20)
    b.closed(4401, "Unauthorized")
    (lane,) = timeline.lanes([b.tr])
    assert [m.category for m in lane.marks] == ["control", "speech", "closes"]
    assert "chars)" in lane.marks[1].text
    assert lane.marks[2].text == "code 4401 Unauthorized"


def test_a_flooding_lane_is_capped_but_keeps_the_offending_mark():
    rows = [{"seq": n, "t": n / 1000, "direction": RECEIVED, "kind": "text_chunk", "raw": "{}"}
            for n in range(1, 5001)]
    lane = timeline.lane("flood", rows, keep={2500}, limit=100)
    assert len(lane.marks) == 101 and lane.omitted == 4899
    assert 2500 in [m.seq for m in lane.marks]


def test_violations_are_read_from_pairs_objects_and_dicts(b):
    v = rules.Violation("chunk_index_sequence", 12, "request 1: chunk_index 4, expected 3 (a gap)", "  >> #12 ...")
    read = timeline.broken_from([("my connection", v), v, {"rule": "r", "seq": 3, "message": "m"}, "junk"])
    assert [(x.connection, x.rule, x.seq) for x in read] == [
        ("my connection", "chunk_index_sequence", 12), (None, "chunk_index_sequence", 12), (None, "r", 3)]
