"""What the suite sends, and how it recognises what it sent: the chat request (protocol §3).

Pure functions, no I/O: the session builds requests here, and the recorder (live or re-checking
a saved transcript) asks here whether a frame the suite sent opened a chat request.
"""
from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl

CHAT_MODE = "chat"   # the default mode: the chat grammar and schemas apply (§2: other modes are checked for admission)


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
