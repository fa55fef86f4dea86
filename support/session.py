"""The only socket code of the suite: connect, record, send, wait, close.

Every connection lives on one background asyncio loop (support/socket_loop.py), so a reader task is
always awaiting the socket: each frame is stamped with the monotonic clock the moment it is read,
keepalive pings are answered by the websockets library, and steps only *look* at the transcript.
A frame flows one way: read → stamped → counted against the caps → decoded by the wire layer →
stored by the transcript → waiters woken.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, Callable
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

import websockets
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from support import protocol, secrets
from support.config import Settings
from support.connection_ends import (AUTH_HINT, BackendUnreachable, ClosedByBackend, HandshakeRejected,
                                     SessionError, WaitTimeout, _ClientConnection, closing, connect_failure,
                                     describe_close)
from support.socket_loop import on_background, run_blocking
from support.tokens import describe as describe_token
from support.transcript import RECEIVED, Recorder, Transcript
from support.transcript_view import dump, unknown_names_hint
from support.vocabulary import Dialect
from support.wire import held_size

secrets.install_log_masking()   # websockets logs the token at DEBUG: mask it before any connection


class Flooded(Exception):
    """The backend sent more than one connection may hold: the session stops listening (a bounded run)."""


class Caps:
    """How much one connection may hold: max_frames frames, and max_transcript_mb of what the transcript
    keeps (a frame's characters, and for a large one what its parts cost once parsed: wire.held_size)."""

    def __init__(self, max_frames: int | None, max_bytes: int | None):
        self.max_frames, self.max_bytes = max_frames, max_bytes
        self.frames = self.bytes = 0

    def count(self, message: str | bytes) -> None:
        self.frames += 1
        self.bytes += held_size(message)
        if (self.max_frames and self.frames > self.max_frames) or (self.max_bytes and self.bytes > self.max_bytes):
            raise Flooded(f"the backend flooded {self.frames} frames ({self.bytes} bytes held), past the cap of "
                          f"{self.max_frames} frames or {self.max_bytes} bytes (max_frames, max_transcript_mb)")


def upgrade_target(url: str, mode: str, token: str | None, transport: str, settings) -> tuple[str, dict]:
    """The URL and headers of the upgrade: the mode's query (§2) and the token, in the query or a header."""
    parts = urlparse(url)
    query = dict(parse_qsl(parts.query))
    headers = {}
    query.update(protocol.mode_query(mode, settings))
    if token is not None:
        if transport == "header":
            headers["Authorization"] = f"Bearer {token}"
        else:
            query["token"] = token
    return urlunparse(parts._replace(query=urlencode(query))), headers


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
        self.recorder = Recorder(self.transcript, dialect)
        self.caps = Caps(settings.max_frames, settings.transcript_byte_cap)
        self.session_id: str | None = None
        self._ws: _ClientConnection | None = None
        self._reader: asyncio.Task | None = None
        self._changed: asyncio.Event | None = None

    # -- public API (await from steps) --------------------------------------------------
    async def open(self, learn_session_id: bool = True, strict: bool = True) -> "Session":
        """Connect and go through the websocket_ready handshake (protocol.md §1).

        strict=False records a refusal in the transcript instead of raising (auth scenarios).
        """
        return await on_background(self._open(learn_session_id, strict))

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
        return await on_background(self._send(json.dumps(frame), frame))

    async def send_raw(self, payload: str | bytes):
        return await on_background(self._send(payload))

    async def wait_for(self, predicate: Callable[[Transcript], Any], what: str, timeout: float | None = None):
        """Wait until predicate(transcript) is truthy and return its value.

        Raises WaitTimeout naming `what` with the transcript so far, or ClosedByBackend at once
        if the connection ends first.
        """
        return await on_background(self._wait_for(predicate, what, timeout or self.settings.timeout))

    async def wait_closed(self, timeout: float | None = None):
        """Wait for the connection to end; return the CLOSED entry."""
        return await on_background(self._wait_for(lambda tr: tr.closed(), "the connection to close",
                                                  timeout or self.settings.timeout, allow_closed=True))

    async def quiet(self, window: float | None = None) -> list:
        """Listen for a bounded window; return what arrived in it (the negative checks' tool)."""
        return await on_background(self._quiet(window or self.settings.quiet_window))

    async def close(self) -> None:
        await on_background(self._close())

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
    def _record_close(self, how: str, detail: str, code: int | None = None, reason: str = "", status: int | None = None):
        self.recorder.closed(how, detail, code=code, reason=reason, status=status)
        if self._changed:
            self._changed.set()

    async def _open(self, learn_session_id: bool, strict: bool) -> "Session":
        self._changed = asyncio.Event()
        url, headers = upgrade_target(self.url, self.mode, self.token, self.transport, self.settings)
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
        if self.mode == protocol.CHAT_MODE:   # another mode speaks another protocol (§2): its steps judge admission
            await self._handshake(protocol.ReadyHandshake(learn_session_id), strict)
        return self

    async def _handshake(self, handshake: protocol.ReadyHandshake, strict: bool) -> None:
        try:
            while (step := handshake.next(self.transcript)) != handshake.DONE:
                if step == handshake.PING:
                    await self._send(json.dumps(self.dialect.client_frame("ping")))
                    handshake.pinged()
                elif await self._wait_for(lambda tr: handshake.next(tr) != handshake.WAIT, handshake.awaited,
                                          self.settings.timeout, allow_closed=not strict) is None:
                    return   # refused or ended (strict=False): the transcript says how
        except SessionError:
            if strict:
                raise
        finally:
            self.session_id = handshake.session_id

    async def _read(self) -> None:
        ws = self._ws
        assert ws is not None
        transcript, caps, wire = self.transcript, self.caps, self.recorder.wire
        try:
            while True:
                message = await ws.recv()
                t = transcript.now()   # stamped as soon as the frame is read
                caps.count(message)
                transcript.add(wire.received(message, t))
                self._changed.set()
        except ConnectionClosed as exc:
            how, code, reason, detail = closing(exc, ws)
            self._record_close(how, detail, code=code, reason=reason)
        except Flooded as exc:
            ws.transport.abort()   # stop listening: the run stays bounded in time and memory
            self._record_close("flooded", str(exc))
        except Exception as exc:  # noqa: BLE001 - a reader crash must end up in the transcript
            self._record_close("reader failed", f"{type(exc).__name__}: {exc}")

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
                    f"(at t={closed.t:.3f} s){hint}\nReceived so far:\n{dump(self.transcript)}",
                    closed.fields.get("code"), closed.fields.get("reason") or "")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what} on {self.name} "
                                  f"({len(self.transcript.received())} frames received so far)"
                                  f"{unknown_names_hint(self.transcript, self.dialect.name)}:\n"
                                  f"{dump(self.transcript)}")   # dump lines are masked
            self._changed.clear()
            try:
                async with asyncio.timeout(remaining):   # no task per wake-up, unlike wait_for
                    await self._changed.wait()
            except TimeoutError:
                pass

    async def _quiet(self, window: float) -> list:
        start = len(self.transcript)
        await asyncio.sleep(window)
        return [e for e in self.transcript.span(start, len(self.transcript)) if e.direction == RECEIVED]

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
           "Flooded", "probe", "run_blocking", "describe_close", "websockets"]
