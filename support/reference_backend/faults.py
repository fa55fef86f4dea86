"""Named ways a chat backend breaks, each a filter over the reference server's traffic.

The server's happy path reads as the protocol and knows no fault. A fault is registered here
once, with what the broken backend does, as a transformation of
  - the token at the handshake (``credentials``: where it was read from; ``handshake``: accept what a
    correct backend refuses, or refuse what it accepts),
  - each incoming client frame (``incoming``: drop it, change it, or answer it itself), or
  - each outgoing event (``outgoing``: drop, change, reorder, add, or stall/abort/close).
A handshake filter reads only the signing ``Keys``; a frame filter only its connection's ``FaultContext``.
``--fault NAME`` (repeatable) switches one on for every connection; with ``--faults-from-url`` each
connection also gets those its upgrade URL names (``/chat/ws?fault=NAME,NAME``), so one backend serves
many faults at once. The fault matrix in tests/ proves the suite catches every one. A fault object
lives per connection, so it may keep state (counts, held events).

Per connection, every fault works alike, handshake faults included (``cross_tenant`` reads the shared
chat history as every connection does), with two notes:
  - ``chats_lost_on_restart`` shows only across a restart of the process (``process_wide``);
  - ``answers_lost_under_load`` counts the open connections that carry it, process-wide: a scenario
    whose connections all name it sees it; two such scenarios at once only crowd it more.
"""
from __future__ import annotations

import base64
import difflib
import json
import time
import uuid
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable

import jwt


@dataclass
class Out:
    """One outgoing event, by the vocabulary's kind; the server encodes it in the dialect."""

    kind: str
    fields: dict = field(default_factory=dict)


@dataclass
class Raw:
    """A frame sent exactly as written (not an event of the dialect)."""

    text: str


@dataclass
class Close:
    code: int
    reason: str = ""


class Stall:
    """Send nothing more, keep the connection open."""


class Abort:
    """Drop the connection without a close frame."""


@dataclass(frozen=True)
class Keys:
    """What a handshake fault reads: how the backend signs and checks tokens."""

    secret: str
    algorithm: str


@dataclass(eq=False)   # eq=False: hashable by identity, so a fault may keep a weak set of contexts
class FaultContext:
    """What a fault sees of its connection, and the one thing it may change: whose customer it serves."""

    client_kind: Callable[[dict], str | None]    # the dialect's name of a client frame ("cancel", "ping", …), or None
    chat_owner: Callable[[str], int | None]      # the customer a stored chat belongs to, None when unknown
    replying: Callable[[], bool]                 # a reply runs now
    is_open: Callable[[], bool]                  # the connection is still open
    customer: int | None = None                  # the token's customer, once read; the connection serves this one


class Fault:
    """Pass-through; a fault overrides the hooks it needs."""

    name = ""
    description = ""
    process_wide = ""   # why it cannot be chosen per connection (by ?fault=) on a shared backend; "" when it can

    def credentials(self, token: str | None, header: bool) -> str | None:
        """The token as read: from the Authorization header (header=True) or from ?token=."""
        return token

    def handshake(self, keys: Keys, token: str | None, mode: str) -> str | None:
        return token

    def incoming(self, ctx: FaultContext, data: Any) -> tuple[Any, list]:
        """(the frame the server handles, or None to drop it; actions answered instead)."""
        return data, []

    def outgoing(self, ctx: FaultContext, out: Out) -> list:
        return [out]


FAULTS: dict[str, type[Fault]] = {}


def fault(name: str, description: str):
    def register(cls: type[Fault]) -> type[Fault]:
        cls.name, cls.description = name, description
        FAULTS[name] = cls
        return cls
    return register


def descriptions() -> dict[str, str]:
    return {name: cls.description for name, cls in FAULTS.items()}


def process_wide() -> dict[str, str]:
    """The faults a shared backend cannot switch per connection, and why: start a backend of their own."""
    return {name: cls.process_wide for name, cls in FAULTS.items() if cls.process_wide}


LIST_FAULTS = "python -m support.reference_backend --list-faults"


def names_in(text: str) -> list[str]:
    """Fault names from a comma-separated list (a setting, a URL's ?fault=), blanks dropped, each once."""
    return list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))


def unknown_faults(names: list[str]) -> str | None:
    """One line naming the unknown faults among names (and how to list the known ones), or None."""
    unknown = [n for n in names if n not in FAULTS]
    if not unknown:
        return None
    close = {n: difflib.get_close_matches(n, FAULTS, 1) for n in unknown}
    named = ", ".join(f"{n!r}" + (f" (did you mean {close[n][0]!r}?)" if close[n] else "") for n in unknown)
    return f"unknown fault(s) {named}; {LIST_FAULTS} lists them"


def build(names: list[str]) -> list[Fault]:
    """Fresh fault objects for one connection (a fault may keep state: counts, held events)."""
    return [FAULTS[name]() for name in names]


class OnKind(Fault):
    """Replace every outgoing event of one kind with what ``change`` returns."""

    kind = ""

    def outgoing(self, ctx, out: Out) -> list:
        return self.change(out) if out.kind == self.kind else [out]

    def change(self, out: Out) -> list:
        return []


def _registered(name: str, description: str, base: type[Fault], **attributes) -> type[Fault]:
    """A fault class made from a base and its settings (no_ready -> NoReady), registered under its name."""
    cls = type("".join(part.title() for part in name.split("_")), (base,), {**attributes, "__doc__": description})
    return fault(name, description)(cls)


def edited(out: Out, **fields) -> Out:
    """The same event with some fields changed."""
    return Out(out.kind, {**out.fields, **fields})


def on_kind(name: str, description: str, kind: str, change=lambda out: []) -> type[Fault]:
    """Register a fault that sends, for each outgoing event of `kind`, what change(event) returns
    (by default nothing: the event is dropped)."""
    return _registered(name, description, OnKind, kind=kind, change=staticmethod(change))


class HoldUntil(Fault):
    """Hold back events of some kinds until an event of ``release_after`` has gone out; an event of
    ``rearm_on`` (by default the first held kind) starts holding again, so every reply is reordered."""

    held_kinds: tuple = ()
    release_after = ""
    rearm_on = ""

    def __init__(self):
        self.held: list = []
        self.released = False

    def outgoing(self, ctx, out: Out) -> list:
        if out.kind == (self.rearm_on or self.held_kinds[0]):
            self.released = False
        if out.kind in self.held_kinds and not self.released:
            self.held.append(out)
            return []
        if out.kind == self.release_after and self.held:
            held, self.held = self.held, []
            self.released = True
            return [out, *held]
        return [out]


def hold_until(name: str, description: str, held_kinds: tuple, release_after: str, rearm_on: str = "") -> type[Fault]:
    """Register a fault that holds back events of held_kinds until one of release_after has gone out."""
    return _registered(name, description, HoldUntil, held_kinds=held_kinds, release_after=release_after,
                       rearm_on=rearm_on)


def _resign(keys: Keys, claims: dict) -> str:
    return jwt.encode(claims, keys.secret, algorithm=keys.algorithm)


def _claims(token: str) -> dict | None:
    try:
        return jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None


# -- connecting and session (§1) ---------------------------------------------------------------

on_kind("no_ready", "never sends websocket_ready", "ready")


@fault("session_id_changes", "stamps a different session_id on events after the first text chunk")
class SessionIdChanges(Fault):
    def __init__(self):
        self.chunks = 0

    def outgoing(self, ctx, out):
        if out.kind == "text_chunk":
            self.chunks += 1
            if self.chunks > 1:
                out.fields["session_id"] = str(uuid.uuid4())
        return [out]


@fault("stall_after_accept", "accepts the upgrade, then says nothing at all")
class StallAfterAccept(Fault):
    def outgoing(self, ctx, out):
        return [Stall()]


# -- a text reply (§4) ---------------------------------------------------------------------------

hold_until("late_working", "sends working after the first text chunk", ("working",), "text_chunk")


@fault("chunk_index_gap", "skips a chunk_index (1, 2, 4, …)")
class ChunkIndexGap(Fault):
    def outgoing(self, ctx, out):
        index = out.fields.get("chunk_index")
        if out.kind == "text_chunk" and isinstance(index, int) and index >= 3:
            out.fields["chunk_index"] = index + 1
        return [out]


on_kind("duplicate_chunk", "sends the second text chunk twice", "text_chunk",
        lambda out: [out, Out(out.kind, dict(out.fields))] if out.fields.get("chunk_index") == 2 else [out])

on_kind("full_response_mismatch", "full_response differs from the streamed text", "text_generation_completed",
        lambda out: [edited(out, full_response=str(out.fields.get("full_response")) + " (edited)")])

on_kind("no_text_completed", "never sends text_completed", "text_completed")

on_kind("double_text_completed", "sends text_completed twice", "text_completed",
        lambda out: [out, Out(out.kind, dict(out.fields))])

on_kind("text_after_completed", "sends a text chunk after text_completed", "text_completed",
        lambda out: [out, Out("text_chunk", {"text": " and one more thing"})])

on_kind("removed_event", "still sends the removed event 'complete'", "text_completed",
        lambda out: [out, Raw(json.dumps({"type": "complete", "content": ""}))])

on_kind("malformed_frame", "sends a frame that is not JSON in the middle of a reply", "text_chunk",
        lambda out: [out, Raw("{oops this is not json")] if out.fields.get("chunk_index") == 3 else [out])

on_kind("unknown_event", "sends an event type the protocol does not define (caught when strict_events is on)",
        "model_in_use",
        lambda out: [out, Raw(json.dumps({"type": "debug_trace", "content": {"step": "model selected"}}))])

on_kind("chunk_index_as_text", "sends chunk_index as a string (\"1\") instead of a number", "text_chunk",
        lambda out: [edited(out, chunk_index=str(out.fields.get("chunk_index")))])

on_kind("stall_mid_reply", "stops sending in the middle of a reply, connection left open", "text_chunk",
        lambda out: [out, Stall()] if out.fields.get("chunk_index") == 3 else [out])

on_kind("drop_mid_reply", "drops the connection in the middle of a reply", "text_chunk",
        lambda out: [out, Abort()] if out.fields.get("chunk_index") == 3 else [out])


@fault("answers_lost_under_load", "with more than 3 customers connected at once, answers come without their text")
class AnswersLostUnderLoad(Fault):
    connected: weakref.WeakSet = weakref.WeakSet()   # the process's connections with this fault that sent something
    crowd = 3

    def outgoing(self, ctx, out):
        self.connected.add(ctx)
        if out.kind == "text_chunk" and sum(c.is_open() for c in list(self.connected)) > self.crowd:
            return []
        return [out]


# -- speech (§5) ----------------------------------------------------------------------------------

on_kind("no_tts_completed", "never sends tts_completed when speech was asked for", "tts_completed")

on_kind("tts_not_requested_with_speech", "answers tts_not_requested although speech was asked for", "tts_completed",
        lambda out: [Out("tts_not_requested", {k: v for k, v in out.fields.items() if k == "session_id"})])

on_kind("audio_not_base64", "sends audio chunks that are not base64", "audio_chunk",
        lambda out: [edited(out, audio="%%not-base64-audio%%")])


hold_until("audio_before_tts_started", "sends the first audio chunk before tts_started", ("tts_started",), "audio_chunk")


on_kind("tts_error_without_completed", "sends tts_error and never tts_completed", "tts_completed",
        lambda out: [Out("tts_error", {"message": "voice provider timed out", "provider": "reference"})])


@fault("audio_count_mismatch", "reports an audio_chunk_count that differs from the chunks sent")
class AudioCountMismatch(OnKind):
    kind = "tts_generation_completed"

    def change(self, out):
        out.fields["audio_chunk_count"] = int(out.fields.get("audio_chunk_count", 0)) + 1
        return [out]


on_kind("read_aloud_writes_text", "writes a new answer when asked to read an earlier one aloud", "text_not_requested",
        lambda out: [Out("text_chunk", {"text": "A new answer nobody asked for.", "chunk_index": 1}), Out("text_completed")])


@fault("read_aloud_silent", "sends no audio when asked to read an earlier answer aloud")
class ReadAloudSilent(Fault):
    reading = False   # is the reply under way a speech-only one (set on its working)

    def outgoing(self, ctx, out):
        if out.kind == "working":
            self.reading = out.fields.get("request_type") == "tts"
        return [] if self.reading and out.kind == "audio_chunk" else [out]


# -- tools (§6) -------------------------------------------------------------------------------------

hold_until("tool_result_before_call", "sends the tool result before its tool_start", ("tool_start",), "tool_result")


@fault("tool_result_unknown_call", "answers with a tool result whose call_id no call had")
class ToolResultUnknownCall(OnKind):
    kind = "tool_result"

    def change(self, out):
        out.fields["call_id"] = "call_unknown"
        return [out]


on_kind("double_tool_result", "sends two results for one call", "tool_result",
        lambda out: [out, Out(out.kind, dict(out.fields))])


hold_until("tool_after_text_completed", "sends the tool events after text_completed", ("tool_start", "tool_result"), "text_completed", rearm_on="working")


on_kind("tool_without_result", "calls the tool and never sends its result", "tool_result")


@fault("tool_answer_dropped", "after calling a tool, sends no text: the answer is empty")
class ToolAnswerDropped(Fault):
    def __init__(self):
        self.tool_called = False

    def outgoing(self, ctx, out):
        if out.kind in ("working", "tool_start"):
            self.tool_called = out.kind == "tool_start"
        return [] if self.tool_called and out.kind == "text_chunk" else [out]


@fault("image_not_decodable", "cuts the image tool's picture short: its bytes do not decode")
class ImageNotDecodable(OnKind):
    kind = "tool_result"

    def change(self, out):
        result = out.fields.get("result")
        if isinstance(result, dict) and isinstance(result.get("image_base64"), str):
            png = base64.b64decode(result["image_base64"])
            out.fields["result"] = {**result, "image_base64": base64.b64encode(png[:len(png) // 2]).decode()}
        return [out]


# -- chat history (§7) ---------------------------------------------------------------------------------

@fault("history_id_not_reused", "starts a new chat for every request, ignoring the id sent back")
class HistoryIdNotReused(Fault):
    def incoming(self, ctx, data):
        if isinstance(data, dict) and isinstance(data.get("user_input"), dict):
            data["user_input"].pop("session_id", None)
        return data, []


on_kind("unknown_chat_silent", "accepts an unknown chat-history id without a database error", "error",
        lambda out: [] if out.fields.get("stage") == "database" else [out])


class ForgetsChats(Fault):
    """Continues only the chats it remembers storing; any other chat id starts a new chat."""

    remembered: set

    def outgoing(self, ctx, out):
        record = out.fields.get("record") if out.kind == "db_operation_executed" else None
        if isinstance(record, dict):
            self.remembered.add(record.get("session_id"))
        return [out]

    def incoming(self, ctx, data):
        user_input = data.get("user_input") if isinstance(data, dict) else None
        if isinstance(user_input, dict) and user_input.get("session_id") not in self.remembered:
            user_input.pop("session_id", None)
        return data, []


@fault("chats_bound_to_connection", "continues a chat only on the connection that opened it")
class ChatsBoundToConnection(ForgetsChats):
    def __init__(self):
        self.remembered = set()


@fault("chats_lost_on_restart", "forgets every chat when it restarts (keeps chats in memory)")
class ChatsLostOnRestart(ForgetsChats):
    remembered = set()   # the process's memory: it goes with the process
    process_wide = ("shows only when the backend process restarts (@requires_restart): restarting a shared "
                    "backend ends every other connection on it")


# -- cancellation (§8) -------------------------------------------------------------------------------------

def _is_cancel(ctx, data) -> bool:
    return isinstance(data, dict) and ctx.client_kind(data) == "cancel"


@fault("cancel_ignored", "ignores cancel: no cancelled, the reply streams to its end")
class CancelIgnored(Fault):
    def incoming(self, ctx, data):
        return (None, []) if _is_cancel(ctx, data) else (data, [])


@fault("stream_after_cancelled", "sends cancelled but keeps streaming the answer (its text, or its audio)")
class StreamAfterCancelled(Fault):
    def incoming(self, ctx, data):
        if _is_cancel(ctx, data) and ctx.replying():
            return None, [Out("cancelled", {})]
        return data, []


@fault("close_after_cancel", "closes the socket after a cancel")
class CloseAfterCancel(Fault):
    def __init__(self):
        self.cancelled = False

    def outgoing(self, ctx, out):
        if out.kind == "cancelled":
            self.cancelled = True
        elif self.cancelled and out.kind in ("tts_completed", "tts_not_requested"):
            return [out, Close(1011, "Internal error")]
        return [out]


@fault("store_cancelled", "reports storing the cancelled request (db_operation_executed)")
class StoreCancelled(OnKind):
    kind = "cancelled"

    def change(self, out):
        record = {"user_message_id": 0, "ai_message_id": 0, "session_id": str(uuid.uuid4())}
        return [out, Out("db_operation_executed", {"record": record})]


@fault("cancel_ignored_while_speaking", "ignores a stop while it reads an answer aloud")
class CancelIgnoredWhileSpeaking(Fault):
    def __init__(self):
        self.speaking = False

    def outgoing(self, ctx, out):
        if out.kind in ("tts_started", "tts_completed", "tts_error"):
            self.speaking = out.kind == "tts_started"
        return [out]

    def incoming(self, ctx, data):
        return (None, []) if self.speaking and _is_cancel(ctx, data) else (data, [])


@fault("cancel_once", "obeys the first stop on a connection and ignores every later one")
class CancelOnce(Fault):
    def __init__(self):
        self.stops = 0

    def incoming(self, ctx, data):
        if _is_cancel(ctx, data) and ctx.replying():
            self.stops += 1
            if self.stops > 1:
                return None, []
        return data, []


@fault("cancel_idle_answered", "answers a stop with nothing running as if it had stopped something (cancelled)")
class CancelIdleAnswered(Fault):
    def incoming(self, ctx, data):
        if _is_cancel(ctx, data) and not ctx.replying():
            return None, [Out("cancelled", {})]
        return data, []


# -- authentication and tenants (§2) -----------------------------------------------------------------------

@fault("accept_expired", "accepts expired tokens")
class AcceptExpired(Fault):
    def handshake(self, keys, token, mode):
        claims = _claims(token) if token else None
        if claims and isinstance(claims.get("exp"), int) and claims["exp"] < time.time():
            try:   # still signed with the right secret: only the date is forgiven
                jwt.decode(token, keys.secret, algorithms=[keys.algorithm], options={"verify_exp": False})
            except jwt.PyJWTError:
                return token
            return _resign(keys, {**claims, "exp": int(time.time()) + 60})
        return token


@fault("accept_alg_none", "accepts unsigned tokens (alg: none)")
class AcceptAlgNone(Fault):
    def handshake(self, keys, token, mode):
        if token and token.count(".") == 2 and jwt.get_unverified_header(token).get("alg") == "none":
            return _resign(keys, _claims(token) or {})
        return token


@fault("accept_missing_id", "accepts tokens without the id claim (as customer 0)")
class AcceptMissingId(Fault):
    def handshake(self, keys, token, mode):
        claims = _claims(token) if token else None
        if claims is not None and "id" not in claims:
            try:
                jwt.decode(token, keys.secret, algorithms=[keys.algorithm])
            except jwt.PyJWTError:
                return token
            return _resign(keys, {**claims, "id": 0})
        return token


@fault("modes_without_token", "lets ?mode=proactive and ?mode=realtime connect without a valid token")
class ModesWithoutToken(Fault):
    def handshake(self, keys, token, mode):
        return _resign(keys, {"id": 0, "exp": int(time.time()) + 3600}) if mode != "chat" else token


def _anyone(keys: Keys) -> str:
    return _resign(keys, {"id": 0, "exp": int(time.time()) + 3600})


@fault("accept_no_token", "lets a connection without a token in (as customer 0)")
class AcceptNoToken(Fault):
    def handshake(self, keys, token, mode):
        return token or _anyone(keys)


@fault("accept_garbled_token", "lets a token that is no JWT at all in (as customer 0)")
class AcceptGarbledToken(Fault):
    def handshake(self, keys, token, mode):
        return _anyone(keys) if token and _claims(token) is None else token


@fault("accept_wrong_secret", "does not check the signature: a token signed with another secret gets in")
class AcceptWrongSecret(Fault):
    def handshake(self, keys, token, mode):
        claims = _claims(token) if token else None
        if claims is None or jwt.get_unverified_header(token).get("alg") == "none":
            return token
        return _resign(keys, claims)   # still refused when expired or without an id: only the signature is skipped


@fault("header_token_ignored", "reads the token only from ?token=, ignoring the Authorization header")
class HeaderTokenIgnored(Fault):
    def credentials(self, token, header):
        return None if header else token


@fault("query_token_ignored", "reads the token only from the Authorization header, ignoring ?token=")
class QueryTokenIgnored(Fault):
    def credentials(self, token, header):
        return token if header else None


@fault("modes_refuse_valid", "turns ?mode=proactive and ?mode=realtime away even with a valid token")
class ModesRefuseValid(Fault):
    def handshake(self, keys, token, mode):
        return None if mode != "chat" else token


@fault("cross_tenant", "trusts customer_id and chat ids from the payload instead of the token")
class CrossTenant(Fault):
    def incoming(self, ctx, data):
        if isinstance(data, dict) and isinstance(data.get("user_input"), dict):
            chat_id = data["user_input"].get("session_id")
            owner = ctx.chat_owner(chat_id) if isinstance(chat_id, str) and chat_id else None
            claimed = data.get("customer_id")
            named = isinstance(claimed, int) and not isinstance(claimed, bool) and claimed > 0   # another real customer
            ctx.customer = owner if owner is not None else claimed if named else ctx.customer
            data.pop("customer_id", None)
        return data, []


# -- errors and closing (§9) ---------------------------------------------------------------------------------

@fault("invalid_json_kills", "closes the connection (1011) on a frame that is not JSON")
class InvalidJsonKills(Fault):
    def incoming(self, ctx, data):
        if isinstance(data, str):
            try:
                json.loads(data)
            except (ValueError, RecursionError):
                return None, [Close(1011, "Internal error")]
        return data, []


def _prompt_missing(data) -> bool:
    return isinstance(data, dict) and isinstance(data.get("user_input"), dict) and "prompt" not in data["user_input"]


def _prompt_blank(data) -> bool:
    prompt = data.get("user_input", {}).get("prompt") if isinstance(data, dict) and isinstance(
        data.get("user_input"), dict) else None
    parts = prompt if isinstance(prompt, list) else [{"text": prompt}] if isinstance(prompt, str) else None
    return bool(parts) and all(isinstance(p, dict) and isinstance(p.get("text"), str) and not p["text"].strip()
                               for p in parts)


@fault("no_prompt_silent", "says nothing to a request without a prompt")
class NoPromptSilent(Fault):
    def incoming(self, ctx, data):
        return (None, []) if _prompt_missing(data) else (data, [])


@fault("blank_prompt_served", "answers a blank prompt with an empty reply and no error (as production does)")
class BlankPromptServed(Fault):
    def incoming(self, ctx, data):
        if _prompt_blank(data):
            return None, [Out("working", {"request_type": "text"}), Out("text_completed"), Out("tts_not_requested")]
        return data, []


@fault("customer_id_unchecked", "serves any customer_id in the payload (\"abc\", -1) as the token's customer, no error")
class CustomerIdUnchecked(Fault):
    def incoming(self, ctx, data):
        if isinstance(data, dict):
            data.pop("customer_id", None)
        return data, []


@fault("unnamed_customer_refused", "refuses a question whose customer_id is 0, \"\" or absent instead of serving the token's customer")
class UnnamedCustomerRefused(Fault):
    def incoming(self, ctx, data):
        customer = data.get("customer_id") if isinstance(data, dict) else None
        unnamed = customer is None or customer == "" or (type(customer) is int and customer == 0)
        if isinstance(data, dict) and isinstance(data.get("user_input"), dict) and unnamed:
            return None, [Out("error", {"stage": "validation", "message": "customer_id required"})]
        return data, []


@fault("binary_closes", "closes the connection (1003) on a frame that is not text")
class BinaryCloses(Fault):
    def incoming(self, ctx, data):
        return (None, [Close(1003, "Binary frames are not supported")]) if isinstance(data, bytes) else (data, [])


@fault("large_question_closes", "closes the connection (1009) on a frame over 1 MB, though it declares no size limit")
class LargeQuestionCloses(Fault):
    def incoming(self, ctx, data):
        too_big = isinstance(data, (str, bytes)) and len(data) > 2**20
        return (None, [Close(1009, "Message too big")]) if too_big else (data, [])


@fault("pong_blocked_while_streaming", "answers ping only after the running reply has finished")
class PongBlockedWhileStreaming(Fault):
    def __init__(self):
        self.flags: set | None = None   # completion flags of the running reply; None when none runs
        self.held: list = []

    def outgoing(self, ctx, out):
        if out.kind == "working":
            self.flags = set()
        elif out.kind == "pong" and self.flags is not None:
            self.held.append(out)
            return []
        elif self.flags is not None and out.kind in ("text_completed", "text_not_requested", "tts_completed",
                                                     "tts_not_requested"):
            self.flags.add("text" if out.kind.startswith("text") else "speech")
            if self.flags == {"text", "speech"}:
                self.flags, held, self.held = None, self.held, []
                return [out, *held]
        return [out]


@fault("close_session_ignored", "ignores close_session")
class CloseSessionIgnored(Fault):
    def incoming(self, ctx, data):
        return (None, []) if isinstance(data, dict) and ctx.client_kind(data) == "close_session" else (data, [])


# -- exploration: defects no written scenario sends the request for (one per outcome class) ---------------------

def _value_at(data, *keys):
    """(present?, value) of a member nested in a request."""
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return False, None
        data = data[key]
    return True, data


def _wrong_type(data, keys: tuple, wanted: tuple) -> bool:
    present, value = _value_at(data, *keys)
    return present and value is not None and (not isinstance(value, wanted) or isinstance(value, bool) and bool not in wanted)


def _request(ctx, data) -> bool:
    return isinstance(data, dict) and ctx.client_kind(data) is None and ("user_input" in data or "request_type" in data)


@fault("empty_answer_on_bad_temperature", "answers with an empty reply and no error when user_settings.text.temperature "
                                          "is not a number (a nested field of the wrong type)")
class EmptyAnswerOnBadTemperature(Fault):
    def incoming(self, ctx, data):
        if _request(ctx, data) and _wrong_type(data, ("user_settings", "text", "temperature"), (int, float)):
            return None, [Out("working", {"request_type": "text"}), Out("text_completed"), Out("tts_not_requested")]
        return data, []


@fault("close_on_bad_request_type", "closes the connection (1000) when request_type is not a string (a top-level field "
                                    "of the wrong type)")
class CloseOnBadRequestType(Fault):
    def incoming(self, ctx, data):
        if _request(ctx, data) and _wrong_type(data, ("request_type",), (str,)):
            return None, [Close(1000, "")]
        return data, []


@fault("silent_on_bad_chat_id", "never answers a request whose user_input.session_id (the chat id) is not a string")
class SilentOnBadChatId(Fault):
    def incoming(self, ctx, data):
        if _request(ctx, data) and _wrong_type(data, ("user_input", "session_id"), (str,)):
            return None, []
        return data, []


@fault("answer_then_error_on_bad_history", "answers in full, then reports 'Failed to save chat history' (an error after "
                                           "the answer) when user_input.chat_history is not a list")
class AnswerThenErrorOnBadHistory(Fault):
    def __init__(self):
        self.armed = False

    def incoming(self, ctx, data):
        if _request(ctx, data) and _wrong_type(data, ("user_input", "chat_history"), (list,)):
            self.armed = True
            data = {**data, "user_input": {**data["user_input"], "chat_history": []}}
        return data, []

    def outgoing(self, ctx, out):
        if self.armed and out.kind == "db_operation_executed":
            self.armed = False   # as production did: the error in place of the record, then the flags
            return [Out("error", {"stage": "database", "message": "Failed to save chat history"})]
        return [out]
