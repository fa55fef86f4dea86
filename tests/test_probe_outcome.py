"""verdicts.probe_outcome: what became of one generated frame, judged on a transcript without a socket."""
from __future__ import annotations

import pytest

from support import verdicts
from support.protocol import CloseKind


def _request(b, chat_id=None):
    b.ready()
    return b.sent_request(chat_id=chat_id)


def _answer(b, text=("Hello", " there")):
    b.recv("working", request_type="text")
    for i, piece in enumerate(text, start=1):
        b.recv("text_chunk", text=piece, chunk_index=i)
    b.recv("text_completed")
    b.recv("tts_not_requested")


def test_a_complete_answer_keeps_the_promise(b):
    sent = _request(b)
    _answer(b)
    outcome = verdicts.probe_outcome(b.tr, sent)
    assert outcome.ok and outcome.name == verdicts.ANSWERED


def test_a_refusal_with_a_reason_keeps_the_promise(b):
    sent = _request(b)
    b.recv("error", stage="validation", message="Prompt required")
    outcome = verdicts.probe_outcome(b.tr, sent)
    assert outcome.ok and outcome.name == verdicts.REFUSED and "Prompt required" in outcome.detail


@pytest.mark.parametrize("message", ["", "   ", None])
def test_an_error_that_says_nothing(b, message):
    sent = _request(b)
    error = b.recv("error", stage="validation", message=message)
    outcome = verdicts.probe_outcome(b.tr, sent)
    assert outcome.name == "error that says nothing" and outcome.seq == error.seq


def test_an_empty_answer_with_no_error(b):
    sent = _request(b)
    _answer(b, text=())
    assert verdicts.probe_outcome(b.tr, sent).name == "empty answer with no error"


def test_an_answer_then_an_error(b):
    sent = _request(b)
    b.recv("working", request_type="text")
    b.recv("text_chunk", text="Hello", chunk_index=1)
    error = b.recv("error", stage="database", message="Failed to save chat history")
    b.recv("text_completed")
    b.recv("tts_not_requested")
    outcome = verdicts.probe_outcome(b.tr, sent)
    assert outcome.name == "answer then error" and outcome.seq == error.seq


def test_an_error_that_trails_the_flags_counts_too(b):
    sent = _request(b)
    _answer(b)
    b.recv("error", stage="text", message="late")
    assert verdicts.probe_outcome(b.tr, sent).name == "answer then error"


def test_an_unknown_chat_is_reported_beside_a_complete_answer(b):
    """§7: a database error about the chat the request named, and the answer still completes."""
    sent = _request(b, chat_id="no-such-chat")
    b.recv("working", request_type="text")
    b.recv("text_chunk", text="Hello", chunk_index=1)
    b.recv("error", stage="database", message="Chat session not found")
    b.recv("text_completed")
    b.recv("tts_not_requested")
    assert verdicts.probe_outcome(b.tr, sent).name == verdicts.ANSWERED


def test_silence(b):
    sent = _request(b)
    assert verdicts.probe_outcome(b.tr, sent).name == "no answer in time"


def test_an_answer_that_never_finished(b):
    sent = _request(b)
    b.recv("working", request_type="text")
    b.recv("text_chunk", text="Hel", chunk_index=1)
    assert verdicts.probe_outcome(b.tr, sent).name == "answer never finished"


@pytest.mark.parametrize("code, name", [(1000, "closed with code 1000"), (1011, "closed with code 1011"),
                                        (None, "dropped without a close frame")])
def test_any_close_in_answer_is_a_failure(b, code, name):
    sent = _request(b)
    b.closed(code=code, how=CloseKind.BY_BACKEND if code else CloseKind.DROPPED)
    assert verdicts.probe_outcome(b.tr, sent).name == name


def test_a_flood_is_named(b):
    sent = _request(b)
    b.closed(code=None, how=CloseKind.FLOODED)
    outcome = verdicts.probe_outcome(b.tr, sent)
    assert outcome.name == CloseKind.FLOODED and not outcome.ok


def test_the_suites_own_close_is_not_the_backends(b):
    sent = _request(b)
    _answer(b)
    b.closed(code=1000, how=CloseKind.BY_SUITE)
    assert verdicts.probe_outcome(b.tr, sent).ok


def test_a_frame_that_is_not_a_request_may_be_ignored_or_refused(b):
    b.ready()
    sent = b.sent_raw("this is {not JSON")
    assert verdicts.probe_outcome(b.tr, sent).name == verdicts.TAKEN
    b.recv("error", stage="validation", message="Invalid payload")
    assert verdicts.probe_outcome(b.tr, sent).name == verdicts.TAKEN


def test_events_after_the_window_are_not_the_frames(b):
    b.ready()
    sent = b.sent_raw("[]")
    pong = b.recv("pong", timestamp="2026-01-01T00:00:00Z")
    b.recv("error", stage="validation", message="")   # answers something sent later
    assert verdicts.probe_outcome(b.tr, sent, until=pong.seq).ok
    assert verdicts.probe_outcome(b.tr, sent).name == "error that says nothing"
