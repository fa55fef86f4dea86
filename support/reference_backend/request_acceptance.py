"""Request acceptance: which client frames are chat requests, whether one is readable (§3: the
types of its fields), and whether it may be served (a prompt, the token's customer, a chat of theirs).

Every answer is (stage, message) for an error event, or None: the connection sends the error.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

REQUEST_TYPES = ("text", "tts", "audio", "realtime")   # §3
MAX_CHAT_ID = 200                       # characters of a chat-history id (user_input.session_id)
# The settings the reference reads or passes on (§3), and the JSON type each has when present.
SETTING_TYPES = {
    "text": {"model": str, "temperature": "number", "streaming": bool},
    "tts": {"tts_auto_execute": bool, "provider": str, "voice": str, "model": str, "format": str},
    "general": {"ai_agent_enabled": bool, "ai_agent_profile": str},
}


@dataclass
class Request:
    number: int
    prompt: str
    speech: bool
    agent: bool
    chat_id: str | None
    request_type: str
    message_id: object = None             # speech-only requests: the stored answer to read aloud
    committed: bool = False               # being stored, or both flags sent: too late to cancel (§8)
    text_flag: bool = False               # text_completed / text_not_requested sent
    speech_flag: bool = False             # tts_completed / tts_not_requested sent


def is_request(data: dict) -> bool:
    """A client frame that is no control frame (ping, cancel, close_session) asks for a reply when it has these."""
    return "user_input" in data or "request_type" in data


def refusal(data: dict, customer: int | None, chat_owner: Callable[[str], int | None]) -> tuple[str, str] | None:
    """(stage, message) when a request cannot be served: unreadable (request_problem), without a prompt,
    for another customer than the token's, or continuing another customer's chat."""
    problem = request_problem(data)
    if problem:
        return ("validation", problem)
    prompt = prompt_text(data)
    if prompt is None:
        return ("validation", "Prompt required")
    if not prompt.strip():
        return ("validation", "Prompt must not be blank")
    claimed = data.get("customer_id")
    if _unnamed_customer(claimed):
        claimed = customer
    if not isinstance(claimed, int) or isinstance(claimed, bool) or claimed < 0:
        return ("validation", f"customer_id must be the token's customer number, got {shown(claimed)}")
    if claimed != customer:
        return ("authorization", "customer_id does not match the token")
    chat_id = (data.get("user_input") or {}).get("session_id") or None
    if chat_id:
        owner = chat_owner(chat_id)
        if owner is not None and owner != customer:
            return ("authorization", "this chat belongs to another customer")
    return None


def read_request(data: dict, number: int) -> Request:
    """The request an accepted frame (refusal() said None) asks for."""
    settings = data.get("user_settings") or {}
    user_input = data.get("user_input") or {}
    return Request(
        number=number,
        prompt=prompt_text(data) or "",
        speech=bool((settings.get("tts") or {}).get("tts_auto_execute")),
        agent=bool((settings.get("general") or {}).get("ai_agent_enabled")),
        chat_id=user_input.get("session_id") or None,
        request_type=data.get("request_type") or "text",
        message_id=user_input.get("message_id"),
    )


def is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def prompt_text(data: dict) -> str | None:
    """The prompt of a request that passed request_problem, or None when it has none."""
    prompt = (data.get("user_input") or {}).get("prompt")
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and prompt:
        return " ".join(part["text"] for part in prompt)
    return None


def request_problem(data: dict) -> str | None:
    """What makes a chat request unreadable (§3: a field of the wrong type), or None.

    Absent and null mean "not given". Whether a prompt is there, and whose customer_id it is,
    is checked after this (faults change those answers); here only the types are checked.
    """
    kind = data.get("request_type")
    if kind is not None and not (isinstance(kind, str) and kind in REQUEST_TYPES):
        return f"request_type must be one of {', '.join(REQUEST_TYPES)}, got {shown(kind)}"
    user_input = data.get("user_input")
    if user_input is None:
        user_input = {}
    elif not isinstance(user_input, dict):
        return f"user_input must be an object, got {shown(user_input)}"
    prompt = user_input.get("prompt")
    if isinstance(prompt, list):
        for i, part in enumerate(prompt):
            if not (isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)):
                return f'user_input.prompt[{i}] must be {{"type": "text", "text": <string>}}, got {shown(part)}'
            if not _is_unicode(part["text"]):
                return f"user_input.prompt[{i}].text is not valid Unicode (a lone surrogate)"
    elif isinstance(prompt, str):
        if not _is_unicode(prompt):
            return "user_input.prompt is not valid Unicode (a lone surrogate)"
    elif prompt is not None:
        return f"user_input.prompt must be a string or a list of text parts, got {shown(prompt)}"
    history = user_input.get("chat_history")
    if history is not None and not (isinstance(history, list) and all(isinstance(m, dict) for m in history)):
        return f"user_input.chat_history must be a list of objects, got {shown(history)}"
    chat_id = user_input.get("session_id")
    if chat_id is not None:
        if not isinstance(chat_id, str):
            return f"user_input.session_id must be a string, got {shown(chat_id)}"
        if len(chat_id) > MAX_CHAT_ID or not _is_unicode(chat_id):
            return f"user_input.session_id must be valid text of at most {MAX_CHAT_ID} characters"
    message_id = user_input.get("message_id")
    if message_id is not None and not is_id(message_id):
        return f"user_input.message_id must be a positive integer below 2**63, got {shown(message_id)}"
    settings = data.get("user_settings")
    if settings is None:
        return None
    if not isinstance(settings, dict):
        return f"user_settings must be an object, got {shown(settings)}"
    for group, keys in SETTING_TYPES.items():
        values = settings.get(group)
        if values is None:
            continue
        if not isinstance(values, dict):
            return f"user_settings.{group} must be an object, got {shown(values)}"
        for key, wanted in keys.items():
            value = values.get(key)
            if value is not None and not _has_type(value, wanted):
                name = "a number" if wanted == "number" else {str: "a string", bool: "a boolean"}[wanted]
                return f"user_settings.{group}.{key} must be {name}, got {shown(value)}"
    return None


def _has_type(value, wanted) -> bool:
    if wanted == "number":
        return isinstance(value, int) and not isinstance(value, bool) or isinstance(value, float) and math.isfinite(value)
    if wanted is str:
        return isinstance(value, str) and _is_unicode(value)
    return isinstance(value, wanted)


def _is_unicode(text: str) -> bool:
    """False for lone surrogates (JSON allows "\\ud800"; UTF-8, SQLite and hashing do not)."""
    try:
        text.encode()
        return True
    except UnicodeEncodeError:
        return False


def _unnamed_customer(value) -> bool:
    """0, "" or null: "the token's customer" (§9 MAY). Not False or 0.0, which merely equal 0."""
    return value is None or (isinstance(value, str) and value == "") or (type(value) is int and value == 0)


def shown(value) -> str:
    """A value for an error message: short strings quoted, anything else by its JSON type (never echoed at length)."""
    if isinstance(value, str):
        return repr(value[:40] + "…") if len(value) > 40 else repr(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return str(value) if abs(value) < 10**20 else "a number too large"
    if isinstance(value, float):
        return "a number"
    return "an array" if isinstance(value, list) else "an object"
