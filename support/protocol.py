"""What the suite sends, and how it recognises what it sent: the chat request (protocol §3), the bad
requests the steps send (each a valid request with one thing changed at an RFC 6901 pointer), and the
names of how a connection ends (close codes, and the close kinds a transcript records).

Pure functions, no I/O: the session builds requests here, and the recorder (live or re-checking
a saved transcript) asks here whether a frame the suite sent opened a chat request.
"""
from __future__ import annotations

import copy
import json
import uuid
from enum import IntEnum, StrEnum
from typing import Any
from urllib.parse import parse_qsl

from jsonpointer import JsonPointer

CHAT_MODE = "chat"   # the default mode: the chat grammar and schemas apply (§2: other modes are checked for admission)
CHAT_REQUEST = "chat_request"   # the kind of a frame the suite sent that the backend treats as a request

# Event families, by the vocabulary's kinds (§4, §5).
SPEECH_FLAGS = ("tts_completed", "tts_not_requested")
TEXT_FLAGS = ("text_completed", "text_not_requested")
# Events that may trail a request's completion (a duplicated flag, a late upload, the record of a
# speech-only request stored after both flags, §5).
TRAILING_KINDS = frozenset({*SPEECH_FLAGS, *TEXT_FLAGS, "tts_file_uploaded", "tts_generation_completed",
                            "db_operation_executed"})
CONTENT_KINDS = frozenset({
    "thinking_chunk", "text_chunk", "audio_chunk", "tts_started", "tool_start", "tool_result",
    "text_generation_completed", "db_operation_executed", "tts_generation_completed",
})
NOT_OF_A_REQUEST = frozenset({"pong", "ready", "closing", "malformed", "unknown"})


class CloseCode(IntEnum):
    """The WebSocket close codes the protocol speaks of (RFC 6455 §7.4, protocol §2, §9)."""

    NORMAL = 1000             # the end of a conversation (close_session)
    GOING_AWAY = 1001
    UNSUPPORTED_DATA = 1003
    POLICY = 1008             # a refusal
    TOO_BIG = 1009            # a frame over the size limit the backend declares
    INTERNAL_ERROR = 1011
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403


class CloseKind(StrEnum):
    """How a connection ended: the kind of a transcript's closing entry. The values are what saved
    transcripts and reports already say."""

    BY_BACKEND = "closed by backend"
    BY_SUITE = "closed by suite"
    DROPPED = "connection dropped"          # no close frame
    HANDSHAKE_REJECTED = "handshake rejected"
    FLOODED = "flooded"                     # the suite stopped listening past its caps
    READER_FAILED = "reader failed"


# How a backend may turn a connection away (§2): HTTP status at the upgrade, or a close code after it.
REFUSAL_STATUSES = (401, 403)
REFUSAL_CLOSE_CODES = (CloseCode.UNAUTHORIZED, CloseCode.FORBIDDEN, CloseCode.POLICY)


def build_chat_request(settings, prompt: str, *, speech: bool = False, agent: bool = False,
                       chat_id: str | None = None, customer_id: Any = None, request_type: str = "text",
                       message_id: Any = None) -> dict:
    """A chat request (protocol §3) from configuration."""
    tts: dict = {"tts_auto_execute": speech}
    if speech and settings.tts_provider:
        tts["provider"] = settings.tts_provider
    if speech and settings.tts_voice:
        tts["voice"] = settings.tts_voice
    user_settings: dict = {
        "text": {"model": settings.model, "temperature": settings.temperature, "streaming": True},
        "tts": tts,
    }
    if agent:
        user_settings["general"] = {"ai_agent_enabled": True}
        if settings.agent_profile:
            user_settings["general"]["ai_agent_profile"] = settings.agent_profile
    user_input: dict = {"prompt": [{"type": "text", "text": prompt}], "chat_history": [], "session_id": chat_id or ""}
    if message_id is not None:
        user_input["message_id"] = message_id   # speech-only requests read a stored answer aloud (§5)
    return {
        "request_type": request_type,
        "user_input": user_input,
        "user_settings": user_settings,
        "customer_id": settings.customer_id if customer_id is None else customer_id,
    }


# -- bad requests: a valid request with one thing changed, named by its RFC 6901 JSON pointer ----------

PROMPT = "/user_input/prompt"
CUSTOMER = "/customer_id"
GARBLED = "this is {not JSON"                 # a text frame that is not JSON
BINARY = b"\x00\x01\x02 binary \xff"       # a binary frame


def with_value(frame: Any, pointer: str, value: Any) -> Any:
    """A copy of frame with value put at pointer ("" replaces the whole frame)."""
    if not pointer:
        return value
    out = copy.deepcopy(frame)
    holder, key = JsonPointer(pointer).to_last(out)
    holder[key] = value
    return out


def without(frame: Any, pointer: str) -> Any:
    """A copy of frame with the member at pointer left out ("" leaves nothing: None)."""
    if not pointer:
        return None
    out = copy.deepcopy(frame)
    holder, key = JsonPointer(pointer).to_last(out)
    del holder[key]
    return out


def request_without(settings, pointer: str) -> dict:
    """The chat request of chat_prompt with the member at pointer left out."""
    return without(build_chat_request(settings, settings.chat_prompt), pointer)


def request_with(settings, pointer: str, value: Any) -> dict:
    """The chat request of chat_prompt with value at pointer."""
    return with_value(build_chat_request(settings, settings.chat_prompt), pointer, value)


def blank_prompt(text: str = "   ") -> list:
    """A prompt whose only part is blank."""
    return [{"type": "text", "text": text}]


def oversized_request(settings, megabytes: int) -> str:
    """The JSON text of a chat request whose prompt is that many megabytes (sent as it is)."""
    return json.dumps(build_chat_request(settings, "x" * (megabytes * 2**20)))


def is_chat_request(frame: Any) -> bool:
    """A frame the backend treats as a chat request: an object with user_input or request_type."""
    return isinstance(frame, dict) and ("user_input" in frame or "request_type" in frame) and "type" not in frame


def _get(node: Any, *keys: str) -> Any:
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def request_fields(frame: dict) -> dict:
    """What a report says of a request: its prompt, whether it asked for speech or the agent, its chat."""
    prompt = _get(frame, "user_input", "prompt")
    if isinstance(prompt, list):
        prompt = " ".join(str(p.get("text", "")) for p in prompt if isinstance(p, dict))
    return {"prompt": prompt, "speech": bool(_get(frame, "user_settings", "tts", "tts_auto_execute")),
            "agent": bool(_get(frame, "user_settings", "general", "ai_agent_enabled")),
            "chat_id": _get(frame, "user_input", "session_id") or None,
            "request_type": frame.get("request_type", "text")}


def mode_query(mode: str | None, settings) -> dict:
    """The query parameters a mode needs besides the token: ?mode=… and, for proactive, its own (§2)."""
    if not mode or mode == CHAT_MODE:
        return {}
    query = {"mode": mode}
    if mode == "proactive" and settings.proactive_query:
        filled = settings.proactive_query.replace("{customer_id}", str(settings.customer_id))
        filled = filled.replace("{uuid}", str(uuid.uuid4()))
        query.update(parse_qsl(filled, keep_blank_values=True))
    return query


_CHANGES_STATE = TRAILING_KINDS | {"working", "error"}   # the kinds that move a request along


class RequestTracker:
    """Which chat request each event belongs to: the oldest one sent and not yet finished (§3, §4).

    The backend streams one request at a time, so a later request's events wait until the earlier
    one has both completion flags (or was refused before working). Fed every entry in order.
    """

    def __init__(self):
        self.count = 0
        self._open: list[int] = []                 # sent and not finished, oldest first
        self._state: dict[int, dict] = {}
        self._finished: list[int] = []

    def finished(self, number: int) -> bool:
        return number in self._state and number not in self._open

    def attribute(self, sent_request: bool, received: bool, kind: str, event) -> int | None:
        """The request this entry belongs to (None: none); `event` is asked for its fields only if it is an error."""
        if sent_request and kind == CHAT_REQUEST:
            self.count += 1
            self._open.append(self.count)
            self._state[self.count] = {"working": False, "text": False, "speech": False}
            return self.count
        if not received or kind in NOT_OF_A_REQUEST:
            return None
        if kind not in _CHANGES_STATE:   # content: the running request's (the common case, kept short)
            return self._open[0] if self._open else None
        waiting = not self._open or not self._state[self._open[0]]["working"]
        if kind in TRAILING_KINDS and waiting and self._finished:
            # A flag or upload while no request is working belongs to the one that just finished
            # (a duplicate flag, or tts_file_uploaded after both flags), not to the next one.
            return self._finished[-1]
        if not self._open:
            return None
        current = self._open[0]
        state = self._state[current]
        if kind == "working":
            state["working"] = True
        elif kind in TEXT_FLAGS:
            state["text"] = True
        elif kind in SPEECH_FLAGS:
            state["speech"] = True
        elif kind == "error" and not state["working"] and event.fields.get("stage") != "database":
            # Refused before any work: the request is over. (A database error is the one the
            # protocol says the reply survives, so it does not end the request.)
            state["text"] = state["speech"] = True
        if state["text"] and state["speech"]:
            self._finished.append(self._open.pop(0))
        return current


# -- the ready handshake (§1) ------------------------------------------------------------------

class ReadyHandshake:
    """The one- or two-frame websocket_ready handshake (§1), sans-I/O: it reads the transcript and says
    what the connection must do next; the session does it (sends, or waits for ``awaited``).

    One frame: websocket_ready carries the session_id. Two frames: the first websocket_ready has none;
    the backend authenticates on the first client frame (a ping), then sends a second websocket_ready
    with the session_id, then the pong.
    """

    WAIT, PING, DONE = "wait", "send a ping", "done"

    def __init__(self, learn_session_id: bool = True):
        self.learn_session_id = learn_session_id
        self.session_id: str | None = None
        self.awaited = "websocket_ready"
        self._ready = self._second = None
        self._pinged = self._done = False

    def next(self, transcript) -> str:
        """WAIT (for ``awaited``), PING (send one, then ask again) or DONE."""
        if self._done:
            return self.DONE
        if self._ready is None:
            self._ready = transcript.first("ready")
            if self._ready is None:
                return self.WAIT
            self.session_id = self._ready.fields.get("session_id")
            if self.session_id is not None or not self.learn_session_id:   # one frame: no ping owed
                self._done = True
                return self.DONE
        if not self._pinged:
            return self.PING
        if self._second is None:
            self._second = next((e for e in transcript.of_kind("ready") if e.fields.get("session_id")), None)
            if self._second is None:
                return self.WAIT
            self.session_id = self._second.fields["session_id"]
            self.awaited = "pong after the first ping"
        self._done = transcript.first("pong", after=self._second.seq) is not None
        return self.DONE if self._done else self.WAIT

    def pinged(self) -> None:
        """The session sent the ping PING asked for."""
        self._pinged = True
        self.awaited = "the second websocket_ready (with session_id) after the first ping"
