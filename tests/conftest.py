"""Shared test helpers: make the repo importable and build transcripts without a socket.

A TranscriptBuilder feeds the same Recorder a live session uses (``received`` for
frames from the backend, ``sent`` for frames the suite sends, ``closed`` for the end), but
from frames made with ``Dialect.encode``. Each entry gets a deterministic time (0.1 s apart), so
messages that quote times can be asserted.
"""
from __future__ import annotations

import base64
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The tests start behave, backends and Locust well over a hundred times: each may keep the project's
# compiled modules (__pycache__, ignored by git) instead of compiling every source again.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False

from support.reference_backend import media  # noqa: E402
from support.transcript import Recorder  # noqa: E402
from support.transcript import Entry, Transcript  # noqa: E402
from support.vocabulary import Dialect  # noqa: E402

WS_SESSION = "ws-session-1"
CHAT_ID = "chat-42"
AUDIO = base64.b64encode(media.pcm_tone(0.01)).decode()   # a real 10 ms PCM tone, base64


class TranscriptBuilder:
    """Write a conversation line by line; ``b.tr`` is the resulting Transcript.

    ``recv`` stamps the websocket session id on every event that has a session_id field unless
    the test passes ``session_id=...`` itself (``session_id=None`` leaves it off the frame).
    """

    def __init__(self, dialect: Dialect, session_id: str = WS_SESSION, name: str = "test connection"):
        self.dialect = dialect
        self.session_id = session_id
        self.tr = Transcript(name)
        self.recorder = Recorder(self.tr, dialect)   # the session's own recorder, fed by hand
        self._clock = 0.0

    def _tick(self) -> float:
        self._clock = round(self._clock + 0.1, 3)
        return self._clock

    # -- frames from the backend ------------------------------------------------------------
    def recv(self, kind: str, **fields: Any) -> Entry:
        spec = self.dialect.events[kind]
        if "session_id" in spec.fields:
            fields.setdefault("session_id", self.session_id)
        return self.recv_frame(self.dialect.encode(kind, **fields))

    def recv_frame(self, frame: Any) -> Entry:
        """A parsed wire frame, recorded as a live session records it."""
        return self.recorder.received(json.dumps(frame), self._tick())

    def recv_raw(self, text: str) -> Entry:
        """A text frame as it came off the wire (may be non-JSON)."""
        return self.recorder.received(text, self._tick())

    def ready(self, **fields: Any) -> Entry:
        return self.recv("ready", **fields)

    # -- frames the suite sends -------------------------------------------------------------
    def sent_request(self, prompt: str = "Say hello in 3 words", *, speech: bool = False, agent: bool = False,
                     chat_id: str | None = None) -> Entry:
        frame = {"request_type": "text", "user_input": {"prompt": [{"type": "text", "text": prompt}],
                                                        "session_id": chat_id or ""},
                 "user_settings": {"tts": {"tts_auto_execute": speech},
                                   **({"general": {"ai_agent_enabled": True}} if agent else {})}}
        return self.recorder.sent(json.dumps(frame), frame, t=self._tick())

    def sent(self, kind: str) -> Entry:
        """A control frame (ping/cancel/close_session) of the dialect."""
        frame = self.dialect.client_frame(kind)
        return self.recorder.sent(json.dumps(frame), frame, t=self._tick())

    def sent_raw(self, payload: str) -> Entry:
        return self.recorder.sent(payload, t=self._tick())

    def closed(self, code: int | None = 1000, reason: str = "", how: str = "closed by backend") -> Entry:
        return self.recorder.closed(how, f"code {code} {reason}".strip(), code=code, reason=reason, t=self._tick())


@pytest.fixture
def v2() -> Dialect:
    return Dialect.load("v2")


@pytest.fixture
def legacy() -> Dialect:
    return Dialect.load("legacy")


@pytest.fixture
def b(v2) -> TranscriptBuilder:
    return TranscriptBuilder(v2)


def db_record(chat_id: str = CHAT_ID, user_message_id: int = 1, ai_message_id: int = 2) -> str:
    """The content of db_operation_executed as the production backend sends it: a JSON string."""
    return json.dumps({"user_message_id": user_message_id, "ai_message_id": ai_message_id, "session_id": chat_id})


def conforming_text_reply(b: TranscriptBuilder, text_chunks=("Hello", " there", "!"), speech: bool = False, *,
                          audio_chunks: int = 2, audio: str = "interleaved", text_completed_last: bool = False,
                          chunk_index: bool = True, thinking=(), tools=(), chat_id: str = CHAT_ID,
                          prompt: str = "Say hello in 3 words") -> Entry:
    """A complete, valid request and reply (protocol.md §4, §5, §6, §7); returns the request entry.

    audio: "interleaved" (one audio chunk after each text chunk, up to audio_chunks) or "after"
    (all audio once the text is done). text_completed_last: the production order (text flag after
    tts_completed) instead of the handbook order. tools: (tool_name, call_id) pairs, each a
    tool_start followed by its tool_result.
    """
    req = b.sent_request(prompt, speech=speech, agent=bool(tools))
    b.recv("working", request_type="text")
    b.recv("model_in_use", model="gpt-4o-mini", provider="openai")
    index = 0

    def next_index():
        nonlocal index
        index += 1
        return index if chunk_index else None

    for text in thinking:
        b.recv("thinking_chunk", text=text, chunk_index=next_index())
    for name, call_id in tools:
        extra = {"display_text": "Working…"} if "display_text" in b.dialect.events["tool_start"].fields else {}
        b.recv("tool_start", tool_name=name, call_id=call_id, tool_input={"prompt": prompt}, **extra)
        b.recv("tool_result", tool_name=name, call_id=call_id, result={"image_url": "https://example.com/a.png"},
               is_error=False)
    if speech:
        b.recv("tts_started", provider="openai", model="tts-1", voice="alloy", format="pcm_24000")
    sent_audio = 0
    for text in text_chunks:
        b.recv("text_chunk", text=text, chunk_index=next_index())
        if speech and audio == "interleaved" and sent_audio < audio_chunks:
            b.recv("audio_chunk", audio=AUDIO)
            sent_audio += 1
    b.recv("text_generation_completed", full_response="".join(text_chunks))
    b.recv("db_operation_executed", record=db_record(chat_id))
    if not speech:
        b.recv("text_completed")
        b.recv("tts_not_requested")
        return req
    if not text_completed_last:
        b.recv("text_completed")
    while sent_audio < audio_chunks:
        b.recv("audio_chunk", audio=AUDIO)
        sent_audio += 1
    b.recv("tts_generation_completed", audio_chunk_count=sent_audio, text_chunk_count=len(text_chunks))
    b.recv("tts_completed")
    if text_completed_last:
        b.recv("text_completed")
    return req


def cancelled_reply(b: TranscriptBuilder, text_chunks=("Once", " upon")) -> Entry:
    """A reply cancelled while streaming (protocol.md §8); returns the request entry."""
    req = b.sent_request("Write a long story about a lighthouse keeper")
    b.recv("working", request_type="text")
    for i, text in enumerate(text_chunks, start=1):
        b.recv("text_chunk", text=text, chunk_index=i)
    b.sent("cancel")
    b.recv("cancelled")
    b.recv("text_completed")
    b.recv("tts_not_requested")
    return req


# Tests that take many seconds, started first (with -n 4 a run would otherwise end waiting on one of
# them, begun late); by module::function, every parametrization included, longest first.
START_FIRST = (
    "test_hostile_reports.py::test_the_formatters_survive_every_hostile_frame",
    "test_html_report.py::test_a_flooding_backend_cannot_make_a_giant_page",
    "test_acceptance_run.py::test_live_mode_passes_against_the_backend_started_by_its_cli",
    "test_fault_matrix.py::test_the_clean_backend_passes_the_whole_suite",
    "test_load.py::test_the_load_run_stops_within_the_scenario_budget_and_counts_the_rest_unfinished",
    "test_production_like.py::test_a_production_like_backend_fails_only_its_real_defects",
    "test_explore_run.py::test_a_seed_repeats_a_run",
    "test_reference_fuzz.py::test_no_frame_crashes_a_connection",
    "test_locust.py::test_a_hung_backend_fails_the_run_with_unfinished_conversations",
    "test_allure_report.py::test_the_broken_scenario_is_failed_in_allure_with_its_attachments",
    "test_explore_run.py::test_each_defect_is_found_once_at_its_path",
    "test_hostile_backends.py::test_a_flooding_backend_ends_the_run_with_the_flood_named",
)


def pytest_collection_modifyitems(items):
    rank = {name: n for n, name in enumerate(START_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.rsplit("/", 1)[-1].split("[")[0], len(rank)))   # stable


@pytest.fixture
def unused_port() -> int:
    """A port that was free a moment ago: nothing listens there."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
