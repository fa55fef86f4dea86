"""The reference backend: a real WebSocket server speaking protocol.md §1–§9.

It serves each connection the way the production backend does: the reply runs as
``asyncio.create_task(workflow)``, the next client frame is awaited in another task, and
``asyncio.wait(..., return_when=FIRST_COMPLETED)`` picks whichever finishes first. That is
what lets a cancel or a ping arrive while a reply streams.

Where the protocol allows a choice it speaks as the production backend does: the model-in-use
event keeps its subtype in content.type, tts_started carries null model and voice, speech is
buffered (audio after the text, text_completed last), a search tool runs inside the provider
(tool_start, no tool_result), ?mode=proactive needs user_id and session_id, a speech-only
request reads a stored answer by message_id, binary frames are ignored, and a 2 MB prompt is
answered like any other.

It shares nothing with the suite but the vocabulary: event names come from there, every rule
here is written anew from protocol.md.
"""
from __future__ import annotations

import asyncio
import base64
import json
import math
import random
import sys
import traceback
import uuid
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from urllib.parse import parse_qs, urlparse

import jwt
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from support.reference_backend import media, scripted_model
from support.reference_backend.faults import Abort, Close, Fault, Out, Raw, Stall, build, names_in, unknown_faults
from support.reference_backend.storage import ChatStore
from support.vocabulary import JSON_NULL, Dialect

MODES = ("chat", "proactive", "realtime")
PROACTIVE_PARAMS = ("user_id", "session_id")
SUBTYPE_IN_CONTENT = {"model_in_use"}   # production keeps these custom events' subtype in content.type (§4)
REQUEST_TYPES = ("text", "tts", "audio", "realtime")   # §3
MAX_CHAT_ID = 200                       # characters of a chat-history id (user_input.session_id)
MAX_QUEUED = 16                         # requests waiting behind the running one, per connection
MAX_SPOKEN_CHARS = 4000                 # speech reads at most this much text aloud: bounded work per request
MAX_AUDIO_CHUNK_S = 1.0                 # seconds of audio in one audio_chunk
# The settings the reference reads or passes on (§3), and the JSON type each has when present.
SETTING_TYPES = {
    "text": {"model": str, "temperature": "number", "streaming": bool},
    "tts": {"tts_auto_execute": bool, "provider": str, "voice": str, "model": str, "format": str},
    "general": {"ai_agent_enabled": bool, "ai_agent_profile": str},
}


@dataclass
class Options:
    secret: str = "reference-backend-dev-secret-change-me"
    algorithm: str = "HS256"
    auth_at: str = "first_frame"          # or "handshake": refuse the upgrade with 401
    chunk_delay: float = 0.02             # seconds between streamed chunks
    jitter: float = 0.0                   # up to this many extra seconds per frame, at random
    random_chunks: bool = False           # chunks of random sizes instead of words
    first_frame_timeout: float = 10.0
    dialect: str = "v2"
    db_path: str = ""
    max_size: int = 4 * 2**20             # frames larger than this are refused with 1009
    faults: list[str] = field(default_factory=list)   # names in faults.FAULTS, applied in this order
    faults_from_url: bool = False         # also each connection's own faults, named by the upgrade URL's ?fault=
    seed: int | None = None


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


class Unauthorized(Exception):
    pass


def authenticate(options: Options, headers, path: str, faults: list[Fault] = ()) -> int:
    """The customer id of a valid token (header first, then query), or Unauthorized."""
    auth = headers.get("Authorization", "")
    header = auth[7:].strip() if auth.lower().startswith("bearer ") else None
    token = header or (parse_qs(urlparse(path).query).get("token") or [None])[0]
    for fault in faults:   # a broken backend may accept what this one refuses, or refuse what it accepts
        token = fault.handshake(options, fault.credentials(token, header=bool(header)), mode_of(path))
    if not token:
        raise Unauthorized("no token")
    try:
        claims = jwt.decode(token, options.secret, algorithms=[options.algorithm])
    except jwt.PyJWTError as exc:
        raise Unauthorized(str(exc)) from None
    customer = claims.get("id")
    if not isinstance(customer, int) or isinstance(customer, bool):
        raise Unauthorized("the id claim is missing or not an integer")
    if not -2**63 <= customer < 2**63:   # chat history keys it as a SQLite INTEGER (64 bits)
        raise Unauthorized("the id claim is out of range")
    return customer


def mode_of(path: str) -> str:
    return (parse_qs(urlparse(path).query).get("mode") or ["chat"])[0]


def fault_names(options: Options, path: str) -> list[str]:
    """The faults of one connection: those the backend started with, then those its URL names (if allowed)."""
    named = parse_qs(urlparse(path).query).get("fault", []) if options.faults_from_url else []
    return list(dict.fromkeys(options.faults + names_in(",".join(named))))


class Connection:
    def __init__(self, ws: ServerConnection, options: Options, store: ChatStore, dialect: Dialect, rng: random.Random,
                 faults: list[Fault]):
        self.ws = ws
        self.o = options
        self.faults = faults   # filters over this connection's traffic (its handshake's too)
        self.store = store
        self.d = dialect
        self.rng = rng
        self.session_id = str(uuid.uuid4())
        self.customer: int | None = None
        self.workflow: asyncio.Task | None = None
        self.current: Request | None = None
        self.queue: list[dict] = []
        self.requests = 0
        self.tool_calls = 0

    # -- sending --------------------------------------------------------------------------
    async def emit(self, kind: str, **fields) -> None:
        await self.send([Out(kind, fields)])

    async def send(self, actions: list) -> None:
        """Send events, after every fault's filter had its say (drop, change, add, stall, close)."""
        for f in self.faults:
            actions = [done for a in actions for done in (f.outgoing(self, a) if isinstance(a, Out) else [a])]
        for action in actions:
            if isinstance(action, Out):
                await self.send_event(action.kind, dict(action.fields))
            elif isinstance(action, Raw):
                await self.ws.send(action.text)
            elif isinstance(action, Close):
                await self.ws.close(action.code, action.reason)
            elif isinstance(action, (Stall, Abort)):
                if isinstance(action, Abort):
                    self.ws.transport.abort()
                await asyncio.Event().wait()

    async def send_event(self, kind: str, fields: dict) -> None:
        if self.o.jitter:
            await asyncio.sleep(self.rng.uniform(0, self.o.jitter))
        known = self.d.events[kind].fields
        if "session_id" in known and "session_id" not in fields:
            fields["session_id"] = self.session_id
        # A dialect may lack a field (legacy tool events carry no display_text): leave it out.
        fields = {name: value for name, value in fields.items() if name in known}
        form = 1 if kind in SUBTYPE_IN_CONTENT and self.d.events[kind].also_match else 0
        await self.ws.send(json.dumps(self.d.encode(kind, form, **fields)))

    async def filtered(self, value):
        """An incoming frame after every fault's filter: None when a fault swallowed it (and answered)."""
        for f in self.faults:
            value, answers = f.incoming(self, value)
            if answers:
                await self.send(answers)
            if value is None:
                return None
        return value

    async def pause(self) -> None:
        await asyncio.sleep(self.o.chunk_delay)

    # -- the connection's life ---------------------------------------------------------------
    async def run(self) -> None:
        await self.emit("ready", version="2.0", session_id=None)
        try:
            first = await asyncio.wait_for(self.ws.recv(), self.o.first_frame_timeout)
        except TimeoutError:
            await self.ws.close(1008, "Initial message required")
            return
        if isinstance(first, str) and not _is_json(first):
            await self.ws.close(1003, "Initial message must be JSON")
            return
        mode = mode_of(self.ws.request.path)
        try:
            self.customer = authenticate(self.o, self.ws.request.headers, self.ws.request.path, self.faults)
        except Unauthorized:
            await self.ws.close(4401, "Unauthorized")
            return
        if mode == "realtime":
            await self.realtime()
            return
        await self.emit("ready")
        await self.handle(first)
        await self.serve()

    async def realtime(self) -> None:
        """?mode=realtime speaks another protocol (§2); the reference only admits and answers errors."""
        await self.ws.send(json.dumps({"type": self.d.events["ready"].wire_type, "session": {"id": self.session_id},
                                       "settings": {"modalities": ["text", "audio"]}}))
        async for _ in self.ws:
            await self.ws.send(json.dumps({"type": "realtime.error",
                                           "error": {"message": "the reference backend has no realtime model"}}))

    async def serve(self) -> None:
        """The production pattern: workflow task and receive task, whichever completes first."""
        receiver = asyncio.create_task(self.ws.recv())
        try:
            while True:
                waiting = {receiver} | ({self.workflow} if self.workflow else set())
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if self.workflow in done:
                    self.workflow = None
                    self.current = None
                    if self.queue:
                        self.start(self.queue.pop(0))
                if receiver in done:
                    try:
                        frame = receiver.result()
                    except ConnectionClosed:
                        return
                    await self.handle(frame)
                    receiver = asyncio.create_task(self.ws.recv())
        finally:
            receiver.cancel()
            if self.workflow:
                self.workflow.cancel()

    # -- client frames -----------------------------------------------------------------------------
    async def handle(self, frame: str | bytes) -> None:
        """One client frame. A bug met while handling it is an error event: the connection lives on (§9)."""
        try:
            await self.handle_frame(frame)
        except ConnectionClosed:
            raise
        except Exception:  # noqa: BLE001 - the last guard; the traceback shows the bug
            traceback.print_exc()
            await self.emit("error", stage="internal", message="Internal error while handling the frame")

    async def handle_frame(self, frame: str | bytes) -> None:
        if await self.filtered(frame) is None:
            return
        if isinstance(frame, bytes):
            return   # ignored, as production does (§9 MAY)
        try:
            data = json.loads(frame)
        except (ValueError, RecursionError):   # RecursionError: nested deeper than the parser goes
            await self.emit("error", stage="validation", message="Invalid payload")
            return
        data = await self.filtered(data)
        if data is None:
            return
        if not isinstance(data, dict):
            await self.emit("error", stage="validation", message="Invalid payload")
            return
        control = self.d.client_kind(data)
        if control == "ping":
            await self.emit("pong", timestamp=datetime.now(timezone.utc).isoformat())
        elif control == "cancel":
            await self.cancel()
        elif control == "close_session":
            await self.emit("closing", reason="client_request")
            await self.ws.close(1000, "Session closed by client")
        elif "user_input" in data or "request_type" in data:
            await self.accept_request(data)
        else:
            await self.emit("error", stage="validation", message=f"Unknown frame type {_shown(data.get('type'))}")

    async def accept_request(self, data: dict) -> None:
        problem = request_problem(data)
        refusal = ("validation", problem) if problem else self.refusal(data)
        if refusal:
            await self.emit("error", stage=refusal[0], message=refusal[1])
            return
        if self.workflow:
            if len(self.queue) >= MAX_QUEUED:   # one client must not line up unbounded work
                await self.emit("error", stage="validation", message=f"Too many requests waiting (at most {MAX_QUEUED})")
                return
            self.queue.append(data)       # one request at a time per connection
        else:
            self.start(data)

    def refusal(self, data: dict) -> tuple[str, str] | None:
        """(stage, message) when a well-typed request (request_problem passed) cannot be served at all."""
        prompt = _prompt_text(data)
        if prompt is None:
            return ("validation", "Prompt required")
        if not prompt.strip():
            return ("validation", "Prompt must not be blank")
        customer = data.get("customer_id")
        if _unnamed_customer(customer):
            customer = self.customer
        if not isinstance(customer, int) or isinstance(customer, bool) or customer < 0:
            return ("validation", f"customer_id must be the token's customer number, got {_shown(customer)}")
        if customer != self.customer:
            return ("authorization", "customer_id does not match the token")
        chat_id = (data.get("user_input") or {}).get("session_id") or None
        if chat_id:
            owner = self.store.owner(chat_id)
            if owner is not None and owner != self.customer:
                return ("authorization", "this chat belongs to another customer")
        return None

    def start(self, data: dict) -> None:
        self.requests += 1
        settings = data.get("user_settings") or {}
        request = Request(
            number=self.requests,
            prompt=_prompt_text(data) or "",
            speech=bool((settings.get("tts") or {}).get("tts_auto_execute")),
            agent=bool((settings.get("general") or {}).get("ai_agent_enabled")),
            chat_id=(data.get("user_input") or {}).get("session_id") or None,
            request_type=data.get("request_type") or "text",
            message_id=(data.get("user_input") or {}).get("message_id"),
        )
        self.current = request
        self.workflow = asyncio.create_task(self.guarded_reply(request))
        self.workflow.add_done_callback(_log_crash)

    async def guarded_reply(self, r: Request) -> None:
        """A reply that meets a bug says so (error stage internal) instead of leaving the client waiting."""
        try:
            await self.reply(r)
        except (ConnectionClosed, asyncio.CancelledError):
            raise
        except Exception:  # noqa: BLE001 - reported here, and on stderr for the operator
            traceback.print_exc()
            await self.emit("error", stage="internal", message="Internal error while replying")

    async def cancel(self) -> None:
        request, workflow = self.current, self.workflow
        if workflow is None or request is None or request.committed:
            return   # nothing running: no answer
        workflow.cancel()
        try:
            await workflow
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - the reply is over either way
            pass
        self.workflow, self.current = None, None
        await self.emit("cancelled")
        if not request.text_flag:   # each flag once (§4): a speech-only request sent its text flag first
            await self.emit("text_completed")
        if not request.speech_flag:
            await self.emit("tts_completed" if request.speech else "tts_not_requested")
        if self.queue:
            self.start(self.queue.pop(0))

    # -- a reply --------------------------------------------------------------------------------------
    async def flag(self, r: Request, kind: str) -> None:
        """A completion flag (§4); once both are out the request is over, and a cancel finds nothing running."""
        if kind in ("text_completed", "text_not_requested"):
            r.text_flag = True
        else:
            r.speech_flag = True
        r.committed = r.committed or (r.text_flag and r.speech_flag)
        await self.emit(kind)

    async def reply(self, r: Request) -> None:
        """A text reply (§4), in production's order: working, the model, tools, text, speech, the record, the flags."""
        if r.request_type == "tts":
            await self.speak_only(r)
            return
        text = scripted_model.reply_for(r.prompt)
        chunks = scripted_model.chunk(text, self.rng if self.o.random_chunks else None)
        await self.emit("working", request_type=r.request_type)
        await self.emit("model_in_use", model="scripted-1", provider="reference")
        for kind, fields in (self.tool_events(r) if r.agent else []):
            await self.emit(kind, **fields)
        for index, piece in enumerate(chunks, start=1):
            await self.emit("text_chunk", text=piece, chunk_index=index)
            await self.pause()
        await self.emit("text_generation_completed", full_response=text)
        if r.speech:   # buffered speech, as production: the audio follows the text (§5 MAY); a stop still lands
            await self.speak(r, chunks)
        r.committed = True
        await self.store_reply(r, text)
        await self.flag(r, "text_completed")
        if not r.speech:
            await self.flag(r, "tts_not_requested")

    async def speak_only(self, r: Request) -> None:
        """request_type "tts": read a stored answer aloud (user_input.message_id), as production does (§5)."""
        await self.emit("working", request_type=r.request_type)
        stored = self.store.answer(r.message_id) if _is_id(r.message_id) else None
        if stored is not None and stored[0] != self.customer:
            await self.flag(r, "text_not_requested")
            await self.flag(r, "tts_not_requested")
            await self.emit("error", stage="authorization", message="this message belongs to another customer")
            return
        await self.flag(r, "text_not_requested")
        r.speech = True
        text = stored[2] if stored else r.prompt
        await self.speak(r, scripted_model.chunk(text[:MAX_SPOKEN_CHARS]))   # a long prompt: only its start is read
        if stored is None:
            why = "TTS request requires message_id" if r.message_id is None else f"message {r.message_id!r} not found"
            await self.emit("error", stage="database", message=why)
            return
        # as production: the record names the stored answer that got its audio (§7), not a new exchange
        await self.emit("db_operation_executed", record={"message_id": r.message_id})

    async def speak(self, r: Request, pieces: list[str]) -> None:
        """The speech of a reply: tts_started, one audio chunk per few words, the summary, the flags, the upload."""
        await self.emit("tts_started", provider="reference", model=JSON_NULL, voice=JSON_NULL, format="pcm")
        sentences = [" ".join(pieces[i:i + 4]) for i in range(0, len(pieces), 4)] or [""]
        for sentence in sentences:
            await self.emit("audio_chunk", audio=self.audio_for(sentence))
            await self.pause()
        await self.emit("tts_generation_completed", audio_chunk_count=len(sentences), text_chunk_count=len(pieces))
        await self.flag(r, "tts_completed")
        await self.emit("tts_file_uploaded", audio_url=f"http://127.0.0.1/reference-audio/{uuid.uuid4()}.wav")

    async def store_reply(self, r: Request, text: str) -> None:
        chat_id = r.chat_id
        if chat_id and self.store.owner(chat_id) is None:
            await self.emit("error", stage="database", message=f"Chat session {chat_id} not found; starting a new one")
            chat_id = None
        record = self.store.append_exchange(self.customer, chat_id, r.prompt, text)
        await self.emit("db_operation_executed", record=record)

    def tool_events(self, r: Request) -> list[tuple[str, dict]]:
        """generate_image (a tool_start and a result with real PNG bytes) or web_search (run inside the
        provider: a tool_start and no result, as production does, §6 MAY); other prompts call no tool."""
        if scripted_model.wants_search(r.prompt):
            self.tool_calls += 1
            return [("tool_start", {"tool_name": "web_search", "call_id": f"ws_{self.tool_calls}",
                                    "tool_input": {"type": "search", "query": r.prompt[:200]},
                                    "display_text": f"web_search: {r.prompt[:80]}", "provider": "reference"})]
        if not scripted_model.wants_image(r.prompt):
            return []
        self.tool_calls += 1
        call_id = f"call_{self.tool_calls}"
        png = media.png_image(r.prompt)
        start = ("tool_start", {"tool_name": "generate_image", "call_id": call_id, "tool_input": {"prompt": r.prompt[:200]},
                                "display_text": "Generating an image", "provider": "reference"})
        result = ("tool_result", {"tool_name": "generate_image", "call_id": call_id, "is_error": False,
                                  "result": {"image_base64": base64.b64encode(png).decode(), "mime_type": "image/png",
                                             "width": 64, "height": 64}})
        return [start, result]

    def audio_for(self, piece: str) -> str:
        pcm = media.pcm_tone(min(MAX_AUDIO_CHUNK_S, 0.01 + 0.004 * len(piece)))
        return base64.b64encode(pcm).decode()


def _log_crash(task: asyncio.Task) -> None:
    """A reply that dies of a bug must say so on stderr; a client that left mid-reply is no bug."""
    if not task.cancelled() and task.exception() is not None and not isinstance(task.exception(), ConnectionClosed):
        traceback.print_exception(task.exception(), file=sys.stderr)


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except (ValueError, RecursionError):
        return False


def _prompt_text(data: dict) -> str | None:
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
    is refusal()'s business (faults change those answers); here only the types are checked.
    """
    kind = data.get("request_type")
    if kind is not None and not (isinstance(kind, str) and kind in REQUEST_TYPES):
        return f"request_type must be one of {', '.join(REQUEST_TYPES)}, got {_shown(kind)}"
    user_input = data.get("user_input")
    if user_input is None:
        user_input = {}
    elif not isinstance(user_input, dict):
        return f"user_input must be an object, got {_shown(user_input)}"
    prompt = user_input.get("prompt")
    if isinstance(prompt, list):
        for i, part in enumerate(prompt):
            if not (isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)):
                return f'user_input.prompt[{i}] must be {{"type": "text", "text": <string>}}, got {_shown(part)}'
            if not _is_unicode(part["text"]):
                return f"user_input.prompt[{i}].text is not valid Unicode (a lone surrogate)"
    elif isinstance(prompt, str):
        if not _is_unicode(prompt):
            return "user_input.prompt is not valid Unicode (a lone surrogate)"
    elif prompt is not None:
        return f"user_input.prompt must be a string or a list of text parts, got {_shown(prompt)}"
    history = user_input.get("chat_history")
    if history is not None and not (isinstance(history, list) and all(isinstance(m, dict) for m in history)):
        return f"user_input.chat_history must be a list of objects, got {_shown(history)}"
    chat_id = user_input.get("session_id")
    if chat_id is not None:
        if not isinstance(chat_id, str):
            return f"user_input.session_id must be a string, got {_shown(chat_id)}"
        if len(chat_id) > MAX_CHAT_ID or not _is_unicode(chat_id):
            return f"user_input.session_id must be valid text of at most {MAX_CHAT_ID} characters"
    message_id = user_input.get("message_id")
    if message_id is not None and not _is_id(message_id):
        return f"user_input.message_id must be a positive integer below 2**63, got {_shown(message_id)}"
    settings = data.get("user_settings")
    if settings is None:
        return None
    if not isinstance(settings, dict):
        return f"user_settings must be an object, got {_shown(settings)}"
    for group, keys in SETTING_TYPES.items():
        values = settings.get(group)
        if values is None:
            continue
        if not isinstance(values, dict):
            return f"user_settings.{group} must be an object, got {_shown(values)}"
        for key, wanted in keys.items():
            value = values.get(key)
            if value is not None and not _has_type(value, wanted):
                name = "a number" if wanted == "number" else {str: "a string", bool: "a boolean"}[wanted]
                return f"user_settings.{group}.{key} must be {name}, got {_shown(value)}"
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


def _shown(value) -> str:
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


async def run_server(host: str, port: int, options: Options, store: ChatStore, started=None) -> None:
    """Serve until cancelled; `started(url)` is called once the socket listens."""
    dialect = Dialect.load(options.dialect)
    rng = random.Random(options.seed)
    faults_of: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # each connection's own fault objects

    def refuse_at_handshake(connection, request):
        if urlparse(request.path).path != "/chat/ws":
            return connection.respond(HTTPStatus.NOT_FOUND, "Not found: the chat socket is /chat/ws\n")
        names = fault_names(options, request.path)
        problem = unknown_faults(names)
        if problem:
            return connection.respond(HTTPStatus.BAD_REQUEST, problem + "\n")
        faults_of[connection] = build(names)
        if mode_of(request.path) not in MODES:
            return connection.respond(HTTPStatus.BAD_REQUEST, "Unknown mode\n")
        query = parse_qs(urlparse(request.path).query)
        if mode_of(request.path) == "proactive" and not all(query.get(p) for p in PROACTIVE_PARAMS):
            # production closes 1008 before accepting: the client sees HTTP 403 (§2)
            return connection.respond(HTTPStatus.FORBIDDEN, "proactive mode needs user_id and session_id\n")
        if options.auth_at == "handshake":
            try:
                authenticate(options, request.headers, request.path, faults_of[connection])
            except Unauthorized:
                return connection.respond(HTTPStatus.UNAUTHORIZED, "Unauthorized\n")
        return None

    async def handler(ws: ServerConnection) -> None:
        try:
            await Connection(ws, options, store, dialect, rng, faults_of.pop(ws)).run()
        except ConnectionClosed:
            pass

    async with serve(handler, host, port, process_request=refuse_at_handshake, max_size=options.max_size,
                     ping_interval=20) as server:
        bound = server.sockets[0].getsockname()
        if started:
            started(f"ws://{bound[0]}:{bound[1]}/chat/ws")
        await asyncio.Future()
