"""Every rule in support.rules: silent on conforming transcripts, loud (and precise) on broken ones."""
from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import AUDIO, CHAT_ID, TranscriptBuilder, cancelled_reply, conforming_text_reply, db_record
from support import rules, verdicts
from support.rules import NOTICE, RULES, VIOLATION
from support.transcript_view import brief, dump, flow


# -- conforming transcripts --------------------------------------------------------------------

def text_reply(b):
    b.ready()
    conforming_text_reply(b)
    b.closed(1000)


def speech_reply(b):
    b.ready()
    conforming_text_reply(b, speech=True)


def agentic_reply(b):
    b.ready()
    conforming_text_reply(b, tools=[("generate_image", "call_1")])


def cancelled(b):
    b.ready()
    cancelled_reply(b)


def two_requests_with_thinking(b):
    b.ready()
    conforming_text_reply(b, thinking=("Let me think",))
    conforming_text_reply(b, thinking=("Again",), chat_id=CHAT_ID)   # chunk_index restarts at 1


CONFORMING = {f.__name__: f for f in (text_reply, speech_reply, agentic_reply, cancelled, two_requests_with_thinking)}


@pytest.mark.parametrize("scenario", sorted(CONFORMING))
@pytest.mark.parametrize("name", sorted(RULES))
def test_rule_is_silent_on_conforming_transcript(b, name, scenario):
    CONFORMING[scenario](b)
    found = rules.check(b.tr, [name], strict=True)
    assert found == [], "\n".join(map(str, found))


# -- transcripts that break one rule each; every builder returns the offending entry ----------

def start(b: TranscriptBuilder, *, speech=False, agent=False):
    b.ready()
    b.sent_request(speech=speech, agent=agent)
    b.recv("working", request_type="text")


def tts_started(b):
    return b.recv("tts_started", provider="openai", model="tts-1", voice="alloy", format="pcm_24000")


def flags(b, speech=False):
    b.recv("text_completed")
    b.recv("tts_completed" if speech else "tts_not_requested")


def break_ready_first(b):
    conforming_text_reply(b)          # no websocket_ready at all
    return b.tr.received()[0]


def break_session_id_constant(b):
    start(b)
    bad = b.recv("text_chunk", text="Hi", chunk_index=1, session_id="ws-someone-else")
    flags(b)
    return bad


def break_frames_are_json(b):
    b.ready()
    bad = b.recv_raw("this is not {json")
    b.recv("pong", timestamp="2024-01-01T00:00:00Z")
    return bad


def break_frames_match_schema(b):
    b.ready()
    b.sent_request()
    b.recv("working", request_type="text")
    return b.recv_frame({"type": "text_chunk", "content": 42, "chunk_index": 1, "session_id": "ws-session-1"})


def break_errors_expected(b):
    start(b)
    return b.recv("error", stage="database", message="Failed to save chat history")


def break_not_flooded(b):
    b.ready()
    return b.recorder.closed("flooded", "the backend flooded 101 frames", t=1.0)


def break_known_events(b):
    b.ready()
    bad = b.recv_frame({"type": "brand_new_event", "content": "?"})
    b.recv("pong", timestamp="2024-01-01T00:00:00Z")
    return bad


def break_removed_events_absent(b):
    start(b)
    b.recv("text_chunk", text="Hi", chunk_index=1)
    bad = b.recv_frame({"type": "complete", "content": ""})
    flags(b)
    return bad


def break_working_before_content(b):
    b.ready()
    b.sent_request()
    bad = b.recv("text_chunk", text="Hi", chunk_index=1)
    b.recv("working", request_type="text")
    flags(b)
    return bad


def break_chunk_index_sequence(b):
    start(b)
    b.recv("text_chunk", text="Hel", chunk_index=1)
    bad = b.recv("text_chunk", text="lo", chunk_index=3)
    flags(b)
    return bad


def break_text_matches_full_response(b):
    start(b)
    b.recv("text_chunk", text="Hel", chunk_index=1)
    b.recv("text_chunk", text="lo", chunk_index=2)
    bad = b.recv("text_generation_completed", full_response="Hello!")
    flags(b)
    return bad


def break_one_completion_flag_each(b):
    start(b)
    b.recv("text_chunk", text="Hi", chunk_index=1)
    b.recv("text_completed")
    bad = b.recv("text_completed")
    b.recv("tts_not_requested")
    return bad


def break_no_text_after_text_completed(b):
    start(b)
    b.recv("text_chunk", text="Hel", chunk_index=1)
    b.recv("text_completed")
    bad = b.recv("text_chunk", text="lo", chunk_index=2)
    b.recv("tts_not_requested")
    return bad


def break_tts_started_before_audio(b):
    start(b, speech=True)
    b.recv("text_chunk", text="Hi", chunk_index=1)
    bad = b.recv("audio_chunk", audio=AUDIO)
    tts_started(b)
    b.recv("audio_chunk", audio=AUDIO)
    flags(b, speech=True)
    return bad


def break_audio_is_base64(b):
    start(b, speech=True)
    tts_started(b)
    b.recv("text_chunk", text="Hi", chunk_index=1)
    bad = b.recv("audio_chunk", audio="%%% not base64 %%%")
    flags(b, speech=True)
    return bad


def break_text_before_tts_completed(b):
    start(b, speech=True)
    tts_started(b)
    b.recv("audio_chunk", audio=AUDIO)
    b.recv("tts_completed")
    bad = b.recv("text_chunk", text="Hi", chunk_index=1)
    b.recv("text_completed")
    return bad


def break_speech_not_refused(b):
    start(b, speech=True)
    b.recv("text_chunk", text="Hi", chunk_index=1)
    b.recv("text_completed")
    return b.recv("tts_not_requested")


def break_tts_error_then_completed(b):
    start(b, speech=True)
    tts_started(b)
    b.recv("text_chunk", text="Hi", chunk_index=1)
    bad = b.recv("tts_error", message="quota exceeded", provider="openai")
    b.recv("text_completed")
    return bad


def break_upload_after_tts_completed(b):
    start(b, speech=True)
    tts_started(b)
    b.recv("text_chunk", text="Hi", chunk_index=1)
    b.recv("audio_chunk", audio=AUDIO)
    bad = b.recv("tts_file_uploaded", audio_url="https://example.com/a.pcm")
    flags(b, speech=True)
    return bad


def break_audio_chunk_count_matches(b):
    start(b, speech=True)
    tts_started(b)
    b.recv("text_chunk", text="Hi", chunk_index=1)
    b.recv("audio_chunk", audio=AUDIO)
    b.recv("audio_chunk", audio=AUDIO)
    bad = b.recv("tts_generation_completed", audio_chunk_count=3, text_chunk_count=1)
    flags(b, speech=True)
    return bad


def break_tool_start_has_name(b):
    start(b, agent=True)
    bad = b.recv("tool_start", call_id="call_1", tool_input={})
    b.recv("tool_result", tool_name="generate_image", call_id="call_1", result={}, is_error=False)
    b.recv("text_chunk", text="Done", chunk_index=1)
    flags(b)
    return bad


def break_tool_result_after_call(b):
    start(b, agent=True)
    bad = b.recv("tool_result", tool_name="generate_image", call_id="call_1", result={}, is_error=False)
    b.recv("tool_start", tool_name="generate_image", call_id="call_1", tool_input={})
    b.recv("text_chunk", text="Done", chunk_index=1)
    flags(b)
    return bad


def break_tool_events_within_request(b):
    start(b, agent=True)
    b.recv("text_chunk", text="Done", chunk_index=1)
    b.recv("text_completed")
    bad = b.recv("tool_start", tool_name="generate_image", call_id="call_1", tool_input={})
    b.recv("tts_not_requested")
    return bad


def break_tool_calls_have_results(b):
    start(b, agent=True)
    bad = b.recv("tool_start", tool_name="web_search", call_id="call_7", tool_input={"q": "weather"})
    b.recv("text_chunk", text="Sunny", chunk_index=1)
    flags(b)
    return bad


def break_db_record_well_formed(b):
    start(b)
    b.recv("text_chunk", text="Hi", chunk_index=1)
    bad = b.recv("db_operation_executed", record=json.dumps({"user_message_id": 1, "session_id": CHAT_ID}))
    flags(b)
    return bad


def break_nothing_after_cancelled(b):
    start(b)
    b.recv("text_chunk", text="Once", chunk_index=1)
    b.sent("cancel")
    b.recv("cancelled")
    bad = b.recv("text_chunk", text=" upon", chunk_index=2)
    flags(b)
    return bad


def break_cancelled_not_stored(b):
    start(b)
    b.recv("text_chunk", text="Once", chunk_index=1)
    b.sent("cancel")
    b.recv("cancelled")
    bad = b.recv("db_operation_executed", record=db_record())
    flags(b)
    return bad


BREAKERS = {name[len("break_"):]: fn for name, fn in globals().items() if name.startswith("break_")}


def test_every_registered_rule_has_a_breaking_transcript():
    missing = sorted(set(RULES) - set(BREAKERS))
    assert not missing, f"rules without a breaking transcript in tests/test_rules.py: {missing}"
    assert not sorted(set(BREAKERS) - set(RULES)), "breakers for rules that no longer exist"


def assert_points_at(v: rules.Violation, name: str, offending, tr):
    assert v.rule == name
    assert v.seq == offending.seq
    text = str(v)
    assert text.startswith(f"[{name}] at event #{offending.seq}: ")
    assert f">> {brief(offending)}" in text
    entries = tr.entries
    idx = entries.index(offending)
    for neighbour in entries[max(0, idx - 1):idx] + entries[idx + 1:idx + 2]:
        assert f"   {brief(neighbour)}" in text, f"context lacks neighbour #{neighbour.seq}:\n{text}"


@pytest.mark.parametrize("name", sorted(BREAKERS))
def test_rule_fails_on_breaking_transcript(b, name):
    offending = BREAKERS[name](b)
    found = rules.check(b.tr, [name], strict=True)
    assert found, f"{name} did not notice:\n{dump(b.tr)}"
    assert all(v.severity == VIOLATION for v in found)
    assert_points_at(found[0], name, offending, b.tr)


@pytest.mark.parametrize("name", sorted(set(BREAKERS) - rules.OPT_IN - {"known_events"}))
def test_whole_transcript_check_reports_the_breaking_rule(b, name):
    BREAKERS[name](b)
    assert name in {v.rule for v in verdicts.violations_only(rules.check(b.tr))}


# -- further ways to break a rule --------------------------------------------------------------

def test_frames_are_json_flags_json_without_type(b):
    b.ready()
    bad = b.recv_frame({"content": "no type"})
    [v] = rules.check(b.tr, ["frames_are_json"])
    assert v.seq == bad.seq and "JSON without a type field" in v.message


def test_working_before_content_flags_content_while_no_request_runs(b):
    b.ready()
    bad = b.recv("text_chunk", text="stray", chunk_index=1)
    [v] = rules.check(b.tr, ["working_before_content"])
    assert v.seq == bad.seq and "no request was running" in v.message


def test_working_before_content_flags_a_request_without_working(b):
    b.ready()
    b.sent_request()
    bad = b.recv("text_chunk", text="Hi", chunk_index=1)
    flags(b)
    [v] = rules.check(b.tr, ["working_before_content"])
    assert v.seq == bad.seq and "no working at all" in v.message


@pytest.mark.parametrize("indexes, bad_at, what", [
    ((0, 1), 0, "chunk_index 0, expected 1"),              # must start at 1
    ((1, 2, 2), 2, "chunk_index 2, expected 3 (a repeated chunk)"),
    ((1, 2, 4), 2, "chunk_index 4, expected 3 (a gap)"),
])
def test_chunk_index_sequence_variants(b, indexes, bad_at, what):
    start(b)
    chunks = [b.recv("text_chunk", text=f"c{i}", chunk_index=i) for i in indexes]
    flags(b)
    [v] = rules.check(b.tr, ["chunk_index_sequence"])
    assert v.seq == chunks[bad_at].seq and what in v.message


def test_thinking_and_text_chunks_share_the_counter(b):
    start(b)
    b.recv("thinking_chunk", text="hmm", chunk_index=1)
    bad = b.recv("text_chunk", text="Hi", chunk_index=1)   # should be 2
    flags(b)
    [v] = rules.check(b.tr, ["chunk_index_sequence"])
    assert v.seq == bad.seq and "expected 2" in v.message


def test_chunk_index_must_restart_for_the_second_request(b):
    b.ready()
    conforming_text_reply(b, text_chunks=("a", "b"))
    b.sent_request()
    b.recv("working", request_type="text")
    bad = b.recv("text_chunk", text="c", chunk_index=3)
    flags(b)
    [v] = rules.check(b.tr, ["chunk_index_sequence"])
    assert v.seq == bad.seq and "request 2" in v.message


def test_missing_completion_flag_fails_only_when_final(b):
    start(b)
    b.recv("text_chunk", text="Hi", chunk_index=1)
    last = b.recv("text_completed")
    assert rules.check(b.tr, ["one_completion_flag_each"], final=False) == []
    [v] = rules.check(b.tr, ["one_completion_flag_each"], final=True)
    assert v.seq == last.seq and "no speech completion flag" in v.message


def test_a_second_speech_flag_is_a_violation(b):
    start(b, speech=True)
    b.recv("text_chunk", text="Hi", chunk_index=1)
    b.recv("tts_completed")
    bad = b.recv("tts_not_requested")
    b.recv("text_completed")
    found = rules.check(b.tr, ["one_completion_flag_each"])
    assert [v.seq for v in found] == [bad.seq]


def test_a_duplicate_text_completed_after_both_flags_is_a_violation(b):
    """§4: exactly one text_completed per request, also when the copy comes after the speech flag."""
    start(b)
    b.recv("text_chunk", text="Hi", chunk_index=1)
    b.recv("text_completed")
    b.recv("tts_not_requested")
    bad = b.recv("text_completed")
    found = verdicts.violations_only(rules.check(b.tr))
    assert bad.seq in {v.seq for v in found}, f"duplicate text_completed #{bad.seq} went unnoticed:\n{dump(b.tr)}"


def test_a_text_chunk_after_the_request_finished_is_a_violation(b):
    start(b)
    b.recv("text_chunk", text="Hi", chunk_index=1)
    flags(b)
    bad = b.recv("text_chunk", text=" again", chunk_index=2)
    assert bad.seq in {v.seq for v in verdicts.violations_only(rules.check(b.tr))}


def test_refused_request_owes_no_completion_flags(b):
    b.ready()
    b.sent_request(prompt="")
    b.recv("error", stage="validation", message="Prompt required")
    assert rules.check(b.tr, ["one_completion_flag_each"]) == []


@pytest.mark.parametrize("audio, why", [("", "zero bytes"), (123, "not a base64 string")])
def test_audio_is_base64_variants(b, audio, why):
    start(b, speech=True)
    tts_started(b)
    bad = b.recv("audio_chunk", audio=audio)
    b.recv("text_chunk", text="Hi", chunk_index=1)
    flags(b, speech=True)
    [v] = rules.check(b.tr, ["audio_is_base64"])
    assert v.seq == bad.seq and why in v.message


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


@settings(max_examples=3000, deadline=None, derandomize=True)
@given(st.one_of(
    st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()),   # valid, then broken a little
    st.builds(lambda b, i, c: (lambda t: t[:i % (len(t) + 1)] + c + t[i % (len(t) + 1):])(base64.b64encode(b).decode()),
              st.binary(max_size=12), st.integers(0, 20),
              st.sampled_from(["=", "==", "A", " ", "\n", "-", "é", "AA"])),
    st.text(alphabet=_B64 + "= \n-_.é", max_size=12),
    st.none(), st.integers()))
def test_the_fast_base64_check_agrees_with_decoding(value):
    """audio_is_base64 skips decoding what is_base64_audio accepts, so that must decode; what it refuses is
    decoded (and so judged) as before. Every canonical encoding is accepted (real audio takes the fast way)."""
    try:
        audio = rules.decode_audio(value)
    except ValueError:
        audio = None
    if rules.is_base64_audio(value):
        assert audio is not None
    if audio is not None and value == base64.b64encode(audio).decode():
        assert rules.is_base64_audio(value)


def test_tts_started_missing_entirely(b):
    start(b, speech=True)
    bad = b.recv("audio_chunk", audio=AUDIO)
    b.recv("text_chunk", text="Hi", chunk_index=1)
    flags(b, speech=True)
    [v] = rules.check(b.tr, ["tts_started_before_audio"])
    assert v.seq == bad.seq and "no tts_started" in v.message


def test_tts_error_followed_by_tts_completed_is_fine(b):
    start(b, speech=True)
    tts_started(b)
    b.recv("text_chunk", text="Hi", chunk_index=1)
    b.recv("tts_error", message="quota exceeded", provider="openai")
    flags(b, speech=True)
    assert rules.check(b.tr) == []


def test_upload_without_any_tts_completed(b):
    start(b, speech=True)
    b.recv("text_chunk", text="Hi", chunk_index=1)
    bad = b.recv("tts_file_uploaded", audio_url="https://example.com/a.mp3")
    b.recv("text_completed")
    [v] = rules.check(b.tr, ["upload_after_tts_completed"])
    assert v.seq == bad.seq


def test_a_second_result_for_one_call(b):
    start(b, agent=True)
    b.recv("tool_start", tool_name="generate_image", call_id="call_1", tool_input={})
    first = b.recv("tool_result", tool_name="generate_image", call_id="call_1", result={}, is_error=False)
    bad = b.recv("tool_result", tool_name="generate_image", call_id="call_1", result={}, is_error=False)
    b.recv("text_chunk", text="Done", chunk_index=1)
    flags(b)
    [v] = rules.check(b.tr, ["tool_result_after_call"])
    assert v.seq == bad.seq and f"the first was #{first.seq}" in v.message


def test_a_result_for_a_call_nobody_made(b):
    start(b, agent=True)
    b.recv("tool_start", tool_name="generate_image", call_id="call_1", tool_input={})
    bad = b.recv("tool_result", tool_name="generate_image", call_id="call_unknown", result={}, is_error=False)
    b.recv("tool_result", tool_name="generate_image", call_id="call_1", result={}, is_error=False)
    b.recv("text_chunk", text="Done", chunk_index=1)
    flags(b)
    [v] = rules.check(b.tr, ["tool_result_after_call"])
    assert v.seq == bad.seq and "no tool_start with that id" in v.message


def test_tool_calls_match_by_name_when_no_call_id(b):
    start(b, agent=True)
    b.recv("tool_start", tool_name="generate_image", tool_input={})
    b.recv("tool_result", tool_name="generate_image", result={}, is_error=False)
    b.recv("text_chunk", text="Done", chunk_index=1)
    flags(b)
    assert rules.check(b.tr, ["tool_result_after_call", "tool_calls_have_results"]) == []


def test_db_record_after_text_completed(b):
    start(b)
    b.recv("text_chunk", text="Hi", chunk_index=1)
    b.recv("text_completed")
    bad = b.recv("db_operation_executed", record=db_record())
    b.recv("tts_not_requested")
    [v] = rules.check(b.tr, ["db_record_well_formed"])
    assert v.seq == bad.seq and "after text_completed" in v.message


def test_db_record_that_is_not_json(b):
    start(b)
    b.recv("text_chunk", text="Hi", chunk_index=1)
    bad = b.recv("db_operation_executed", record="saved!")
    flags(b)
    [v] = rules.check(b.tr, ["db_record_well_formed"])
    assert v.seq == bad.seq and "user_message_id, ai_message_id, session_id" in v.message


def _speech_only_reply(b, record):
    """A speech-only request (§5) as production answers it, ending with the record it stores (§7)."""
    frame = {"request_type": "tts", "user_input": {"prompt": [{"type": "text", "text": "Read it"}], "message_id": 2},
             "user_settings": {"tts": {"tts_auto_execute": True}}}
    b.recorder.sent(json.dumps(frame), frame)
    b.recv("working", request_type="tts")
    b.recv("text_not_requested")
    b.recv("tts_started", provider="stub", format="mp3")
    b.recv("audio_chunk", audio=AUDIO)
    b.recv("tts_completed")
    return b.recv("db_operation_executed", record=json.dumps(record))


def test_a_speech_only_record_names_the_message_it_read_aloud(b):
    _speech_only_reply(b, {"message_id": 2})
    assert verdicts.violations_only(rules.check(b.tr, ["db_record_well_formed", "frames_match_schema"])) == []


def test_a_speech_only_record_may_be_a_chat_record(b):
    _speech_only_reply(b, {"user_message_id": 1, "ai_message_id": 2, "session_id": CHAT_ID})
    assert rules.check(b.tr, ["db_record_well_formed"]) == []


def test_a_speech_only_record_that_names_no_message_breaks_the_rule(b):
    bad = _speech_only_reply(b, {"stored": True})
    [v] = rules.check(b.tr, ["db_record_well_formed"])
    assert v.seq == bad.seq and "speech-only request's" in v.message and "message_id" in v.message


def test_a_chat_record_still_needs_its_three_ids(b):
    start(b)
    b.recv("text_chunk", text="Hi", chunk_index=1)
    bad = b.recv("db_operation_executed", record=json.dumps({"message_id": 2}))
    flags(b)
    [v] = rules.check(b.tr, ["db_record_well_formed"])
    assert v.seq == bad.seq and "chat request's" in v.message and "user_message_id, ai_message_id, session_id" in v.message


# -- severities and messages -------------------------------------------------------------------

def test_unknown_event_is_a_notice_unless_strict(b):
    bad = break_known_events(b)
    [notice] = rules.check(b.tr, ["known_events"])
    assert notice.severity == NOTICE and notice.seq == bad.seq and "brand_new_event" in notice.message
    assert verdicts.violations_only(rules.check(b.tr)) == []
    [strict] = rules.check(b.tr, ["known_events"], strict=True)
    assert strict.severity == VIOLATION
    assert verdicts.violations_only(rules.check(b.tr, strict=True)) != []


def test_cancel_message_gives_the_timing(b):
    bad = break_nothing_after_cancelled(b)
    cancel = b.tr.sent("cancel")[0]
    cancelled_entry = b.tr.first("cancelled")
    [v] = rules.check(b.tr, ["nothing_after_cancelled"])
    assert f"cancel sent at t={cancel.t:.3f} s" in v.message
    assert f"after cancelled at t={cancelled_entry.t:.3f} s" in v.message
    assert f"arrived at t={bad.t:.3f} s" in v.message


def test_explain_names_every_broken_rule(b):
    break_tts_error_then_completed(b)
    found = verdicts.violations_only(rules.check(b.tr))
    text = verdicts.explain(found, b.tr)
    assert text.startswith(f"{len({v.rule for v in found})} protocol rule(s) broken on {b.tr.name}")
    assert all(f"[{v.rule}]" in text for v in found)


def test_explain_folds_many_violations_of_one_rule(b):
    b.ready()
    b.sent_request()
    b.recv("working", request_type="text")
    for i in range(5):
        b.recv_frame({"type": "text_chunk", "content": 42 + i, "session_id": "ws-session-1"})
    found = rules.check(b.tr, ["frames_match_schema"])
    text = verdicts.explain(found, b.tr)
    assert len(found) == 5 and text.count("breaks its schema") == 2
    assert "… and 3 more like it, at events #6, #7, #8" in text


# -- MAY variations that must not fail (protocol.md §1, §5, §6, §7, §4) --------------------------

def test_two_ready_frames_first_without_session_id(b):
    b.ready(session_id=None, version="2.0")
    b.sent("ping")
    b.ready()
    b.recv("pong", timestamp="2024-01-01T00:00:00Z", session_id=None)
    conforming_text_reply(b)
    assert rules.check(b.tr, strict=True) == []


@pytest.mark.parametrize("audio", ["interleaved", "after"])
@pytest.mark.parametrize("text_completed_last", [False, True], ids=["handbook-order", "production-order"])
def test_speech_orders_are_conforming(b, audio, text_completed_last):
    b.ready()
    conforming_text_reply(b, speech=True, audio=audio, text_completed_last=text_completed_last)
    kinds = [e.kind for e in b.tr.received()]
    assert (kinds.index("text_completed") > kinds.index("tts_completed")) == text_completed_last
    assert rules.check(b.tr, strict=True) == []


def test_tool_start_without_result_only_fails_the_opt_in_rule(b):
    start(b, agent=True)
    call = b.recv("tool_start", tool_name="web_search", call_id="ws_1", tool_input={"q": "news"})
    b.recv("text_chunk", text="Here is the news", chunk_index=1)
    flags(b)
    assert rules.check(b.tr, strict=True) == []
    assert "tool_calls_have_results" not in rules.WHOLE_TRANSCRIPT
    [v] = rules.check(b.tr, ["tool_calls_have_results"])
    assert v.seq == call.seq and "'web_search'" in v.message and "'ws_1'" in v.message


def test_db_content_as_object(b, v2):
    start(b)
    b.recv("text_chunk", text="Hi", chunk_index=1)
    b.recv_frame({"type": "db_operation_executed", "session_id": b.session_id,
                  "content": {"user_message_id": 1, "ai_message_id": 2, "session_id": CHAT_ID}})
    flags(b)
    assert b.tr.first("db_operation_executed").fields["record"]["session_id"] == CHAT_ID
    assert rules.check(b.tr, strict=True) == []


def test_chunk_index_absent(b):
    b.ready()
    conforming_text_reply(b, chunk_index=False, thinking=("hmm",))
    assert all("chunk_index" not in e.fields for e in b.tr.of_kind("text_chunk", "thinking_chunk"))
    assert rules.check(b.tr, strict=True) == []


def test_pong_while_streaming_is_not_part_of_the_reply(b):
    start(b)
    b.recv("text_chunk", text="Hel", chunk_index=1)
    b.sent("ping")
    pong = b.recv("pong", timestamp="2024-01-01T00:00:00Z", session_id=None)
    b.recv("text_chunk", text="lo", chunk_index=2)
    flags(b)
    assert pong.request is None
    assert rules.check(b.tr, strict=True) == []


def test_legacy_dialect_agentic_reply_is_conforming(legacy):
    lb = TranscriptBuilder(legacy)
    lb.ready()
    conforming_text_reply(lb, tools=[("generate_image", "call_1")])
    assert rules.check(lb.tr, sorted(RULES), strict=True) == []
    assert "customEvent(toolUse: generate_image) → customEvent(toolResult: success)" in flow(lb.tr)


def test_late_upload_after_the_request_finished_is_not_blamed_on_the_next_request(b):
    """§5: tts_file_uploaded comes after tts_completed; with text_completed first (handbook order) it can
    arrive once both flags are in, i.e. after the suite already sent its next request."""
    b.ready()
    conforming_text_reply(b, speech=True)                     # text_completed, then tts_completed
    b.sent_request(speech=True)                               # next turn, sent as soon as request 1 finished
    b.recv("tts_file_uploaded", audio_url="https://example.com/turn1.pcm")   # request 1's upload, late
    b.recv("working", request_type="text")
    tts_started(b)
    b.recv("text_chunk", text="Hi", chunk_index=1)
    b.recv("audio_chunk", audio=AUDIO)
    b.recv("text_completed")
    b.recv("tts_completed")
    found = rules.check(b.tr, strict=True)
    assert found == [], "\n".join(map(str, found))


def test_a_stray_chunk_after_the_cancelled_request_finished_is_still_caught(b):
    b.ready()
    cancelled_reply(b)
    bad = b.recv("text_chunk", text=" a time", chunk_index=3)   # after both flags: belongs to no request
    [v] = rules.check(b.tr, ["nothing_after_cancelled"])
    assert v.seq == bad.seq and bad.request is None


# -- single-scenario verdicts (§2) ---------------------------------------------------------------

@pytest.mark.parametrize("code, refused", [(4401, True), (4403, True), (1008, True), (1000, False), (1011, False)])
def test_refusal_by_close_code(b, code, refused):
    b.ready(session_id=None, version="2.0")
    b.sent_request()
    b.closed(code, "Unauthorized")
    ok, what = verdicts.refusal(b.tr)
    assert ok is refused and f"code {code}" in what
    assert verdicts.work_done(b.tr) == []


def test_refusal_needs_the_connection_to_end(b):
    b.ready()
    assert verdicts.refusal(b.tr) == (False, "the connection is still open")


def test_work_done_and_request_refused(b):
    b.ready()
    conforming_text_reply(b)
    b.sent_request(prompt="someone else's chat")
    b.recv("error", stage="validation", message="Forbidden customer")
    assert [e.kind for e in verdicts.work_done(b.tr)][:2] == ["working", "text_chunk"]
    assert verdicts.request_refused(b.tr, 1)[0] is False
    ok, what = verdicts.request_refused(b.tr, 2)
    assert ok and "Forbidden customer" in what
    assert verdicts.chat_id_of(b.tr, 1) == CHAT_ID and verdicts.chat_id_of(b.tr, 2) is None


# -- strict where clients rely, lenient elsewhere (§11) ----------------------------------------

PRODUCTION_MODEL_IN_USE = {"type": "custom_event", "content": {"type": "aiTextModelInUse", "message": "aiTextModelReceived",
                                                               "aiTextModel": "gpt-4o-mini", "provider": "openai"},
                           "session_id": "ws-session-1"}
PRODUCTION_TTS_STARTED = {"type": "tts_started", "content": {"provider": "openai", "model": None, "voice": None,
                                                             "format": "pcm", "text_chunk_count": 1},
                          "session_id": "ws-session-1"}


def test_informational_deviations_are_one_notice_each_and_fail_only_when_strict(b):
    start(b, speech=True)
    for _ in range(3):
        b.recv_frame(PRODUCTION_MODEL_IN_USE)
    b.recv_frame(PRODUCTION_TTS_STARTED)
    found = rules.check(b.tr, ["frames_match_schema"])
    assert [v.severity for v in found] == [NOTICE] * 3, "\n".join(map(str, found))
    texts = [v.message for v in found]
    assert any("'event_type' is a required property); a failure only with strict_events=true (3 frames, the first shown)" in t
               for t in texts), texts
    assert any("$.content.model: None is not of type 'string'" in t for t in texts), texts
    assert [v.severity for v in rules.check(b.tr, ["frames_match_schema"], strict=True)] == [VIOLATION] * 3


def test_the_subtype_in_content_type_is_the_same_event(b, v2):
    assert v2.decode(PRODUCTION_MODEL_IN_USE) == ("model_in_use", {"model": "gpt-4o-mini", "provider": "openai",
                                                                   "session_id": "ws-session-1"})
    assert v2.label(PRODUCTION_MODEL_IN_USE) == "custom_event(aiTextModelInUse)"


@pytest.mark.parametrize("frame, why", [
    ({"type": "text_chunk", "chunk_index": 1}, "'content' is a required property"),
    ({"type": "text_chunk", "content": "a", "chunk_index": "1"}, "'1' is not of type 'integer'"),
    ({"type": "error", "content": "boom"}, "'stage' is a required property"),
    ({"type": "audio_chunk", "content": None}, "None is not of type 'string'"),
    ({"type": "db_operation_executed", "content": json.dumps({"user_message_id": 1, "ai_message_id": 2})},
     "'session_id' is a required property"),
])
def test_a_missing_or_wrong_required_field_is_a_violation(b, frame, why):
    start(b)
    bad = b.recv_frame({**frame, "session_id": "ws-session-1"})
    found = rules.check(b.tr, ["frames_match_schema"])
    assert [v.severity for v in found] == [VIOLATION] and found[0].seq == bad.seq and why in found[0].message, found


def test_an_unknown_error_stage_is_a_notice(b):
    start(b)
    b.tr.expect(b.recv("error", stage="quota", message="too many requests"))
    found = rules.check(b.tr, ["frames_match_schema", "errors_expected"])
    assert [v.severity for v in found] == [NOTICE], found


def test_an_error_a_step_asked_for_is_accepted(b):
    start(b)
    error = b.recv("error", stage="validation", message="Prompt required")
    assert [v.rule for v in rules.check(b.tr, ["errors_expected"])] == ["errors_expected"]
    b.tr.expect(error)
    assert rules.check(b.tr, ["errors_expected"]) == []
