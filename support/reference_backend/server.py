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

This module is the connection loop: accept (or refuse) the upgrade, the handshake, reading client
frames and dispatching them. Which frames are requests and whether one is served is
request_acceptance.py; what a request is answered with is reply_script.py; frames pass through
the connection's faults in traffic.py.

It shares nothing with the suite but the vocabulary (and the defaults of its settings): event names
come from there, every rule here is written anew from protocol.md.
"""
from __future__ import annotations

import asyncio
import json
import random
import sys
import traceback
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from urllib.parse import parse_qs, urlparse

import jwt
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from support.config import Settings
from support.reference_backend.faults import Fault, FaultContext, Keys, build, names_in, unknown_faults
from support.reference_backend.reply_script import ReplyScript
from support.reference_backend.request_acceptance import is_request, read_request, refusal, shown
from support.reference_backend.storage import ChatStore
from support.reference_backend.traffic import Traffic
from support.vocabulary import Dialect

MODES = ("chat", "proactive", "realtime")
PROACTIVE_PARAMS = ("user_id", "session_id")
MAX_QUEUED = 16                         # requests waiting behind the running one, per connection


@dataclass
class Options:
    secret: str = Settings.jwt_secret
    algorithm: str = Settings.jwt_algorithm
    auth_at: str = "first_frame"          # or "handshake": refuse the upgrade with 401
    chunk_delay: float = 0.02             # seconds between streamed chunks
    jitter: float = 0.0                   # up to this many extra seconds per frame, at random
    random_chunks: bool = False           # chunks of random sizes instead of words
    first_frame_timeout: float = 10.0
    dialect: str = Settings.dialect
    db_path: str = ""
    max_size: int = 4 * 2**20             # frames larger than this are refused with 1009
    faults: list[str] = field(default_factory=list)   # names in faults.FAULTS, applied in this order
    faults_from_url: bool = False         # also each connection's own faults, named by the upgrade URL's ?fault=
    seed: int | None = None


class Unauthorized(Exception):
    pass


def authenticate(options: Options, headers, path: str, faults: list[Fault] = ()) -> int:
    """The customer id of a valid token (header first, then query), or Unauthorized."""
    auth = headers.get("Authorization", "")
    header = auth[7:].strip() if auth.lower().startswith("bearer ") else None
    token = header or (parse_qs(urlparse(path).query).get("token") or [None])[0]
    keys = Keys(options.secret, options.algorithm)
    for fault in faults:   # a broken backend may accept what this one refuses, or refuse what it accepts
        token = fault.handshake(keys, fault.credentials(token, header=bool(header)), mode_of(path))
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
        self.d = dialect
        self.faults = faults   # this connection's own fault objects: its handshake's and its traffic's filters
        self.context = FaultContext(client_kind=dialect.client_kind, chat_owner=store.owner,
                                    replying=lambda: self.workflow is not None, is_open=lambda: ws.close_code is None)
        self.traffic = Traffic(ws, dialect, faults, self.context, options.jitter, rng)
        self.emit = self.traffic.emit
        self.script = ReplyScript(self.emit, store, lambda: self.context.customer, options.chunk_delay,
                                  rng if options.random_chunks else None)
        self.workflow: asyncio.Task | None = None
        self.current = None   # the Request the workflow answers
        self.queue: list[dict] = []
        self.requests = 0

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
            self.context.customer = authenticate(self.o, self.ws.request.headers, self.ws.request.path, self.faults)
        except Unauthorized:
            await self.ws.close(4401, "Unauthorized")
            return
        if mode == "realtime":
            await serve_realtime(self.ws, self.d, self.traffic.session_id)
            return
        await self.emit("ready")
        await self.handle(first)
        await self.serve()

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
                    self.start_next()
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
        if await self.traffic.filtered(frame) is None:
            return
        if isinstance(frame, bytes):
            return   # ignored, as production does (§9 MAY)
        try:
            data = json.loads(frame)
        except (ValueError, RecursionError):   # RecursionError: nested deeper than the parser goes
            await self.emit("error", stage="validation", message="Invalid payload")
            return
        data = await self.traffic.filtered(data)
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
        elif is_request(data):
            await self.accept_request(data)
        else:
            await self.emit("error", stage="validation", message=f"Unknown frame type {shown(data.get('type'))}")

    async def accept_request(self, data: dict) -> None:
        refused = refusal(data, self.context.customer, self.context.chat_owner)
        if refused:
            await self.emit("error", stage=refused[0], message=refused[1])
            return
        if self.workflow:
            if len(self.queue) >= MAX_QUEUED:   # one client must not line up unbounded work
                await self.emit("error", stage="validation", message=f"Too many requests waiting (at most {MAX_QUEUED})")
                return
            self.queue.append(data)       # one request at a time per connection
        else:
            self.start(data)

    def start(self, data: dict) -> None:
        self.requests += 1
        self.current = read_request(data, self.requests)
        self.workflow = asyncio.create_task(self.script.run(self.current))
        self.workflow.add_done_callback(_log_crash)

    def start_next(self) -> None:
        if self.queue:
            self.start(self.queue.pop(0))

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
        await self.script.stopped(request)
        self.start_next()


async def serve_realtime(ws: ServerConnection, dialect: Dialect, session_id: str) -> None:
    """?mode=realtime speaks another protocol (§2); the reference only admits and answers errors."""
    await ws.send(json.dumps({"type": dialect.events["ready"].wire_type, "session": {"id": session_id},
                              "settings": {"modalities": ["text", "audio"]}}))
    async for _ in ws:
        await ws.send(json.dumps({"type": "realtime.error",
                                  "error": {"message": "the reference backend has no realtime model"}}))


def _log_crash(task: asyncio.Task) -> None:
    """A reply that dies of a bug must say so on stderr; a client that left mid-reply is no bug."""
    if not task.cancelled() and task.exception() is not None and not isinstance(task.exception(), ConnectionClosed):
        traceback.print_exception(task.exception(), file=sys.stderr)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except (ValueError, RecursionError):
        return False


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
