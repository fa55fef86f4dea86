"""The only socket code of the suite: connect, record, send, wait, close.

Design: every connection lives on ONE background asyncio loop in a daemon thread, not on
behave's loop. behave runs an event loop only while an async step executes; a client on that
loop would stop reading between steps, so frames would sit in the kernel buffer and be stamped
when the next step runs, and websocket pings would go unanswered. On the background loop a
reader task is always awaiting the socket: each frame is stamped with the monotonic clock the
moment it is read, keepalive pings are answered by the websockets library, and steps only
*look* at the transcript. Steps await the public coroutines from any loop (they are bridged
with run_coroutine_threadsafe); hooks use the blocking ``*_now`` variants.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import json
import re
import socket
import ssl
import threading
from typing import Any, Callable
from urllib.parse import urlencode, urlparse, urlunparse, parse_qsl

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, WebSocketException
from websockets.frames import Opcode

from support import protocol, secrets
from support.config import Settings
from support.recorder import Flooded, Recorder
from support.tokens import describe as describe_token
from support.transcript import RECEIVED, Transcript, clip
from support.vocabulary import Dialect

secrets.install_log_masking()   # websockets logs the token at DEBUG: mask it before any connection

# -- failures that read differently ---------------------------------------------------------


class SessionError(AssertionError):
    """Base of every connection failure the suite reports (an AssertionError: the scenario fails)."""


class BackendUnreachable(SessionError):
    pass


class HandshakeRejected(SessionError):
    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class ClosedByBackend(SessionError):
    def __init__(self, message: str, code: int | None, reason: str):
        super().__init__(message)
        self.code, self.reason = code, reason


class WaitTimeout(SessionError):
    pass


CLOSE_LABELS = {1000: "normal", 1001: "going away", 1003: "unsupported data", 1008: "policy violation",
                1009: "message too big", 1011: "internal error", 4401: "Unauthorized", 4403: "Forbidden"}
AUTH_HINT = (". The backend refused the suite's token: JWT_SECRET (or MY_AUTH_TOKEN) must be the backend's "
             "signing secret, and jwt_algorithm its algorithm")


# RFC 6455 §7.4.1: these only report a local state and must never be sent in a close frame.
RESERVED_CLOSE = {1005: "no status", 1006: "abnormal closure", 1015: "TLS handshake failure"}


def describe_close(code: int | None, reason: str) -> str:
    if code is None:
        return "the connection dropped without a close frame (1006)"
    label = CLOSE_LABELS.get(code, "")
    return f"close code {code}" + (f" ({label})" if label else "") + (f" reason {reason!r}" if reason else "")


def closing(exc: ConnectionClosed, ws) -> tuple[str, int | None, str, str]:
    """(how, code, reason, detail) of a connection that ended: who closed it, with what, and anything odd
    about it (a close frame websockets refused to parse, a TCP connection left open after the close)."""
    wire, code_on_wire = getattr(ws, "wire_close", None), getattr(ws, "wire_close_code", None)
    if exc.rcvd is not None and (exc.sent is None or exc.rcvd_then_sent):
        how, code, reason = "closed by backend", exc.rcvd.code, exc.rcvd.reason
        detail = describe_close(code, reason)
    elif wire is not None and exc.rcvd is None and exc.sent is not None:
        # The backend sent a close frame websockets could not parse and answered with its own code (1002,
        # or 1007 for a reason that is not UTF-8): report the backend's frame, not websockets' answer.
        how, code, reason = "closed by backend", code_on_wire, ""
        detail = f"{invalid_close(wire)}; the suite failed the connection with {int(exc.sent.code)}"
    elif exc.sent is not None:
        how, code, reason = "closed by suite", exc.sent.code, exc.sent.reason
        detail = describe_close(code, reason)
        if code == 1009:
            detail = f"the backend sent a message over the suite's limit ({reason}); the suite closed with 1009"
        elif code != 1000:
            detail = f"the suite failed the connection with {detail}"
    else:
        how, code, reason = "connection dropped", None, ""
        detail = describe_close(code, reason)
        if isinstance(exc.__cause__, OSError):   # why it dropped (e.g. an SSLError mid-stream)
            detail += f": {type(exc.__cause__).__name__}: {exc.__cause__}"
    if getattr(ws, "tcp_left_open", False):
        detail += (f"; the backend then left the TCP connection open (the suite dropped it after the "
                   f"{ws.close_timeout:g} s close timeout)")
    return how, code, reason, detail


def invalid_close(payload: bytes) -> str:
    """What is wrong with a close frame's payload websockets refused (RFC 6455 §5.5.1, §7.4)."""
    if len(payload) < 2:
        return f"a close frame with a {len(payload)}-byte payload, too short for a close code (2 bytes)"
    code = int.from_bytes(payload[:2], "big")
    if code in RESERVED_CLOSE:
        return (f"close code {code} ({RESERVED_CLOSE[code]}), a reserved code that must never be sent in a close "
                f"frame (RFC 6455 §7.4.1)")
    if not (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999):
        return f"close code {code}, which no endpoint may send (RFC 6455 §7.4: 1000-1003, 1007-1014 or 3000-4999)"
    return f"close code {code} with a reason that is not valid UTF-8 ({payload[2:][:60]!r})"


def connect_failure(exc: BaseException, url: str, connect_timeout: float) -> tuple[str, str]:
    """(the cause in a few words, a one-line message) for a connect that raised; InvalidStatus is not one.
    A password in the URL (ws://user:password@host), also where the exception quotes it, is not shown."""
    how, message = _connect_failure(exc, url, connect_timeout)
    return how, secrets.mask(message)


def _connect_failure(exc: BaseException, url: str, connect_timeout: float) -> tuple[str, str]:
    host = urlparse(url).hostname
    secure = url.startswith("wss:")
    if _refused(exc):
        return "connection refused", (f"connection refused: nothing accepts connections at {url} ({exc}). "
                                      "Is the backend running? docker-compose up -d backend")
    if isinstance(exc, socket.gaierror):
        return "DNS failure", f"DNS failure: the host {host!r} of {url} does not resolve ({exc}); check BACKEND_WS_URL"
    # A reset while connecting to a wss:// URL happens in the TLS handshake: TCP was up, the upgrade not begun.
    if isinstance(exc, ssl.SSLError) or (secure and isinstance(exc, (ConnectionResetError, ConnectionAbortedError))):
        hint = ("is the server speaking TLS? A plain server wants ws://" if not isinstance(exc, ssl.SSLCertVerificationError)
                else "the server's certificate is not trusted here")
        return "TLS failure", f"TLS failure: the TLS handshake with {url} failed ({type(exc).__name__}: {exc}); {hint}"
    if isinstance(exc, TimeoutError):   # an OSError too: test it before the generic network errors
        return "handshake timeout", (f"handshake timeout: no answer to the WebSocket upgrade at {url} within "
                                     f"connect_timeout={connect_timeout:g} s; something accepted the connection and "
                                     "never answered, or the connect itself hung. A slow backend may need "
                                     "-D connect_timeout=30")
    if isinstance(exc, (InvalidHandshake, WebSocketException)):
        return "handshake failed", (f"handshake failed: {url} did not complete the WebSocket upgrade "
                                    f"({type(exc).__name__}: {exc}); is it a WebSocket endpoint, and ws:// vs wss:// right?")
    return "network error", f"network error: cannot connect to {url} ({type(exc).__name__}: {exc})"


def _refused(exc: BaseException) -> bool:
    # A host with several addresses (::1 and 127.0.0.1) gives one OSError "Multiple exceptions: [Errno 111] …".
    codes = re.findall(r"\[Errno (\d+)\]", str(exc)) if type(exc) is OSError else []
    return isinstance(exc, ConnectionRefusedError) or (bool(codes) and all(int(c) == errno.ECONNREFUSED for c in codes))


class _ClientConnection(ClientConnection):
    """Keeps the last close frame's payload as sent, before websockets parses it: an invalid code or a
    1-byte payload fails the parse, and websockets then reports only its own 1002. Also drops a
    connection whose backend sent its close frame (or was failed by the suite) but never closes TCP:
    websockets enforces its close timeout only when it sends, so a reader alone would wait forever."""

    def __init__(self, ws_protocol, *args, **kwargs):
        super().__init__(ws_protocol, *args, **kwargs)
        self.wire_close: bytes | None = None
        self.tcp_left_open = False
        self._drop_timer: asyncio.TimerHandle | None = None
        recv_frame = ws_protocol.recv_frame

        def recording(frame):
            if frame.opcode is Opcode.CLOSE:
                self.wire_close = bytes(frame.data)
            return recv_frame(frame)
        ws_protocol.recv_frame = recording

    @property
    def wire_close_code(self) -> int | None:
        return int.from_bytes(self.wire_close[:2], "big") if self.wire_close and len(self.wire_close) >= 2 else None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.close_deadline is not None and self._drop_timer is None:
            self._drop_timer = self.loop.call_at(self.close_deadline, self._drop_if_still_open)

    def _drop_if_still_open(self) -> None:
        if not self.connection_lost_waiter.done():
            self.tcp_left_open = True
            self.transport.abort()


# -- the background loop ---------------------------------------------------------------------


class _LoopThread:
    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def loop(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None or cls._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="chat-suite-sockets", daemon=True).start()
                cls._loop = loop
            return cls._loop


async def _on_background(coro):
    """Run a coroutine on the socket loop and await its result from whichever loop calls."""
    future = asyncio.run_coroutine_threadsafe(coro, _LoopThread.loop())
    return await asyncio.wrap_future(future)


def run_blocking(coro, timeout: float, what: str = "the call"):
    """Run a coroutine on the socket loop and wait for it from a thread that is not on it (hooks, Locust's
    users). Raises TimeoutError after `timeout` s; the coroutine is cancelled whenever the wait ends early."""
    future = asyncio.run_coroutine_threadsafe(coro, _LoopThread.loop())
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise TimeoutError(f"{what} took longer than {timeout:g} s") from None
    except BaseException:
        future.cancel()   # the waiter was stopped (e.g. Locust ends its users): stop the work too
        raise


# -- one connection ---------------------------------------------------------------------------


class Session:
    def __init__(self, settings: Settings, dialect: Dialect, name: str = "connection", *,
                 token: str | None = None, transport: str | None = None, mode: str | None = None):
        self.settings = settings
        self.dialect = dialect
        self.name = name
        self.token = token
        self.transport = transport or settings.token_transport
        self.mode = mode or protocol.CHAT_MODE
        self.url = settings.ws_url
        self.transcript = Transcript(name, mode=self.mode)
        self.recorder = Recorder(self.transcript, dialect, max_frames=settings.max_frames,
                                 max_bytes=settings.transcript_byte_cap)
        self.session_id: str | None = None
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task | None = None
        self._changed: asyncio.Event | None = None

    # -- public API (await from steps) --------------------------------------------------
    async def open(self, learn_session_id: bool = True, strict: bool = True) -> "Session":
        """Connect and handle the one- or two-frame websocket_ready handshake (protocol.md §1).

        strict=False records a refusal in the transcript instead of raising (auth scenarios).
        """
        return await _on_background(self._open(learn_session_id, strict))

    async def send_request(self, prompt: str, **kw):
        """A chat request built from the settings (protocol.build_chat_request's keywords)."""
        return await self.send_json(protocol.build_chat_request(self.settings, prompt, **kw))

    async def send_control(self, kind: str):
        return await self.send_json(self.dialect.client_frame(kind))

    async def ping(self, timeout: float | None = None, allow_close: bool = False):
        """Send a ping and wait for the pong that answers it (None if allow_close and the connection ended)."""
        sent = await self.send_control("ping")
        found = await self.wait_for(lambda tr: tr.first("pong", after=sent.seq) or (allow_close and tr.closed()),
                                    f"pong answering the ping sent at t={sent.t:.3f} s", timeout)
        return found if found.kind == "pong" else None

    async def send_json(self, frame: Any):
        return await _on_background(self._send(json.dumps(frame), frame))

    async def send_raw(self, payload: str | bytes):
        return await _on_background(self._send(payload))

    async def wait_for(self, predicate: Callable[[Transcript], Any], what: str, timeout: float | None = None):
        """Wait until predicate(transcript) is truthy and return its value.

        Raises WaitTimeout naming `what` with the transcript so far, or ClosedByBackend at once
        if the connection ends first.
        """
        return await _on_background(self._wait_for(predicate, what, timeout or self.settings.timeout))

    async def wait_closed(self, timeout: float | None = None):
        """Wait for the connection to end; return the CLOSED entry."""
        return await _on_background(self._wait_for(lambda tr: tr.closed(), "the connection to close",
                                                   timeout or self.settings.timeout, allow_closed=True))

    async def quiet(self, window: float | None = None) -> list:
        """Listen for a bounded window; return what arrived in it (the negative checks' tool)."""
        return await _on_background(self._quiet(window or self.settings.quiet_window))

    async def close(self) -> None:
        await _on_background(self._close())

    def close_now(self, timeout: float = 5.0) -> None:
        """Blocking close for hooks; never raises."""
        try:
            run_blocking(self._close(), timeout)
        except Exception:  # noqa: BLE001 - cleanup must not mask the scenario's own failure
            pass

    @property
    def is_closed(self) -> bool:
        return self.transcript.closed() is not None

    # -- background-loop side --------------------------------------------------------------
    def _target(self) -> tuple[str, dict]:
        parts = urlparse(self.url)
        query = dict(parse_qsl(parts.query))
        headers = {}
        query.update(protocol.mode_query(self.mode, self.settings))
        if self.token is not None:
            if self.transport == "header":
                headers["Authorization"] = f"Bearer {self.token}"
            else:
                query["token"] = self.token
        return urlunparse(parts._replace(query=urlencode(query))), headers

    def _record_close(self, how: str, detail: str, code: int | None = None, reason: str = "", status: int | None = None):
        self.recorder.closed(how, detail, code=code, reason=reason, status=status)
        if self._changed:
            self._changed.set()

    async def _open(self, learn_session_id: bool, strict: bool) -> "Session":
        self._changed = asyncio.Event()
        url, headers = self._target()
        where = f"{secrets.mask(self.settings.ws_url)} ({self.name}, {describe_token(self.token)})"
        try:
            self._ws = await connect(url, additional_headers=headers, open_timeout=self.settings.connect_timeout,
                                     max_size=32 * 2**20, close_timeout=2, create_connection=_ClientConnection)
        except InvalidStatus as exc:
            status = exc.response.status_code
            self._record_close("handshake rejected", f"HTTP {status}", status=status)
            if strict:
                hint = AUTH_HINT if status in protocol.REFUSAL_STATUSES else ""
                raise HandshakeRejected(f"handshake rejected: the backend answered the upgrade of {where} with "
                                        f"HTTP {status}{hint}", status) from None
            return self
        except (OSError, WebSocketException) as exc:   # TimeoutError, gaierror, SSLError are OSErrors
            how, message = connect_failure(exc, self.settings.ws_url, self.settings.connect_timeout)
            self._record_close(how, secrets.mask(f"{type(exc).__name__}: {exc}"))
            if strict:
                raise BackendUnreachable(message) from None
            return self
        self._reader = asyncio.create_task(self._read(), name=f"reader:{self.name}")
        if self.mode != protocol.CHAT_MODE:
            return self   # another protocol after the upgrade (§2): its steps judge admission themselves
        try:
            ready = await self._wait_for(lambda tr: tr.first("ready"), "websocket_ready", self.settings.timeout,
                                         allow_closed=not strict)
            if ready is None:
                return self
            self.session_id = ready.fields.get("session_id")
            if self.session_id is None and learn_session_id:
                # Two-frame handshake: the backend authenticates on the first client frame.
                await self._send(json.dumps(self.dialect.client_frame("ping")))
                second = await self._wait_for(
                    lambda tr: next((e for e in tr.of_kind("ready") if e.fields.get("session_id")), None),
                    "the second websocket_ready (with session_id) after the first ping",
                    self.settings.timeout, allow_closed=not strict)
                if second is not None:
                    self.session_id = second.fields["session_id"]
                    await self._wait_for(lambda tr: tr.first("pong", after=second.seq), "pong after the first ping",
                                         self.settings.timeout, allow_closed=not strict)
        except SessionError:
            if strict:
                raise
        return self

    async def _read(self) -> None:
        ws = self._ws
        assert ws is not None
        try:
            while True:
                message = await ws.recv()
                t = self.transcript.now()  # stamped as soon as the frame is read
                self._record_received(message, t)
        except ConnectionClosed as exc:
            how, code, reason, detail = closing(exc, ws)
            self._record_close(how, detail, code=code, reason=reason)
        except Flooded as exc:
            ws.transport.abort()   # stop listening: the run stays bounded in time and memory
            self._record_close("flooded", str(exc))
        except Exception as exc:  # noqa: BLE001 - a reader crash must end up in the transcript
            self._record_close("reader failed", f"{type(exc).__name__}: {exc}")

    def _record_received(self, message: str | bytes, t: float) -> None:
        # The receive path: keep the frame and wake the waiters; it is decoded when a query needs it.
        self.recorder.arrived(message, t)
        if self._changed:
            self._changed.set()

    async def _send(self, payload: str | bytes, data: Any = None):
        if self._ws is None:
            raise SessionError(f"{self.name}: cannot send: the connection was never opened")
        entry = self.recorder.sent(payload, data)
        try:
            await self._ws.send(payload)
        except ConnectionClosed:
            entry.fields["undelivered"] = True   # the backend had already closed; the close entry says how
        return entry

    async def _wait_for(self, predicate, what: str, timeout: float, allow_closed: bool = False):
        assert self._changed is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate(self.transcript)
            if result:
                return result
            closed = self.transcript.closed()
            if closed is not None:
                if allow_closed:
                    return None
                hint = AUTH_HINT if closed.fields.get("code") in protocol.REFUSAL_CLOSE_CODES else ""
                raise ClosedByBackend(
                    f"{closed.fields['how']} while waiting for {what} on {self.name}: {closed.fields['detail']} "
                    f"(at t={closed.t:.3f} s){hint}\nReceived so far:\n{self.transcript.dump()}",
                    closed.fields.get("code"), closed.fields.get("reason") or "")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what} on {self.name} "
                                  f"({len(self.transcript.received())} frames received so far){self._names_hint()}:\n"
                                  f"{self.transcript.dump()}")   # dump lines are masked (Entry.brief)
            self._changed.clear()
            try:
                async with asyncio.timeout(remaining):   # no task per wake-up, unlike wait_for
                    await self._changed.wait()
            except TimeoutError:
                pass

    def _names_hint(self) -> str:
        """Suggest another dialect only when unknown names are most of a short stream (not a flood)."""
        received = self.transcript.received()
        unknown = [e.label for e in received if e.kind == "unknown"]
        if not unknown or len(received) > 1000 or len(unknown) * 2 < len(received):
            return ""
        names = sorted({clip(label, 60) for label in unknown})
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        return (f". Event types this dialect ({self.dialect.name}) does not know arrived: {shown}; "
                f"if the backend speaks another dialect, run with -D dialect=NAME (see README, Dialects)")

    async def _quiet(self, window: float) -> list:
        start = len(self.transcript)
        await asyncio.sleep(window)
        return [e for e in self.transcript.entries[start:] if e.direction == RECEIVED]

    async def _close(self) -> None:
        if self._ws is not None:
            try:
                await asyncio.wait_for(self._ws.close(), 3)
            except Exception:  # noqa: BLE001 - already gone is fine
                pass
        if self._reader is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._reader), 3)
            except Exception:  # noqa: BLE001
                self._reader.cancel()
        self._record_close("closed by suite", "the scenario ended")


def probe(settings: Settings, timeout: float = 3.0) -> str | None:
    """Is anything accepting WebSocket upgrades at the configured URL? None if yes, else why not."""
    async def attempt():
        try:
            async with connect(settings.ws_url, open_timeout=timeout, close_timeout=1):
                return None
        except InvalidStatus:
            return None   # something answered HTTP: the backend is up, it just wants a token
        except (OSError, WebSocketException) as exc:
            return connect_failure(exc, settings.ws_url, timeout)[1]
    return run_blocking(attempt(), timeout + 2, "the probe")


__all__ = ["Session", "SessionError", "BackendUnreachable", "HandshakeRejected", "ClosedByBackend", "WaitTimeout",
           "probe", "run_blocking", "describe_close", "websockets"]
