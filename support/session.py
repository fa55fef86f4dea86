"""The suite's connections, as steps use them: connect, send, wait, listen, close.

Every connection lives on one background asyncio loop (support/socket_loop.py), where its link
(support/link.py) is always reading the socket: each frame is stamped with the monotonic clock the
moment it is read, keepalive pings are answered by the websockets library, and steps only *look*
at the transcript. This module and the link are the only socket code of the suite.
"""
from __future__ import annotations

import json
from typing import Any, Callable

import websockets
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException

from support import protocol, secrets
from support.config import Settings
from support.connection_ends import (AUTH_HINT, BackendUnreachable, ClosedByBackend, HandshakeRejected,
                                     SessionError, WaitTimeout, _ClientConnection, connect_failure, describe_close)
from support.link import Caps, Flooded, Link, upgrade_target
from support.socket_loop import on_background, run_blocking
from support.tokens import describe as describe_token
from support.transcript import Recorder, Transcript
from support.vocabulary import Dialect

secrets.install_log_masking()   # websockets logs the token at DEBUG: mask it before any connection


class Session:
    """One connection as steps see it: open it, send, wait, listen, close. Each call runs on the background
    loop (support/socket_loop.py), where the link (support/link.py) reads the socket all the time."""

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
        self.link = Link(self.recorder, Caps(settings.max_frames, settings.transcript_byte_cap), name, dialect.name)
        self.session_id: str | None = None

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
        return await on_background(self.link.send(json.dumps(frame), frame))

    async def send_raw(self, payload: str | bytes):
        return await on_background(self.link.send(payload))

    async def wait_for(self, predicate: Callable[[Transcript], Any], what: str, timeout: float | None = None):
        """Wait until predicate(transcript) is truthy and return its value.

        Raises WaitTimeout naming `what` with the transcript so far, or ClosedByBackend at once
        if the connection ends first.
        """
        return await on_background(self.link.wait_for(predicate, what, timeout or self.settings.timeout))

    async def wait_closed(self, timeout: float | None = None):
        """Wait for the connection to end; return the CLOSED entry."""
        return await on_background(self.link.wait_for(lambda tr: tr.closed(), "the connection to close",
                                                      timeout or self.settings.timeout, allow_closed=True))

    async def quiet(self, window: float | None = None) -> list:
        """Listen for a bounded window; return what arrived in it (the negative checks' tool)."""
        return await on_background(self.link.quiet(window or self.settings.quiet_window))

    async def close(self) -> None:
        await on_background(self.link.close())

    def close_now(self, timeout: float = 5.0) -> None:
        """Blocking close for hooks; never raises."""
        try:
            run_blocking(self.link.close(), timeout)
        except Exception:  # noqa: BLE001 - cleanup must not mask the scenario's own failure
            pass

    @property
    def is_closed(self) -> bool:
        return self.transcript.closed() is not None

    # -- on the background loop ------------------------------------------------------------
    async def _open(self, learn_session_id: bool, strict: bool) -> "Session":
        url, headers = upgrade_target(self.url, self.mode, self.token, self.transport, self.settings)
        where = f"{secrets.mask(self.settings.ws_url)} ({self.name}, {describe_token(self.token)})"
        try:
            ws = await connect(url, additional_headers=headers, open_timeout=self.settings.connect_timeout,
                               max_size=32 * 2**20, close_timeout=2, create_connection=_ClientConnection)
        except InvalidStatus as exc:
            status = exc.response.status_code
            self.link.record_close(protocol.CloseKind.HANDSHAKE_REJECTED, f"HTTP {status}", status=status)
            if strict:
                hint = AUTH_HINT if status in protocol.REFUSAL_STATUSES else ""
                raise HandshakeRejected(f"handshake rejected: the backend answered the upgrade of {where} with "
                                        f"HTTP {status}{hint}", status) from None
            return self
        except (OSError, WebSocketException) as exc:   # TimeoutError, gaierror, SSLError are OSErrors
            how, message = connect_failure(exc, self.settings.ws_url, self.settings.connect_timeout)
            self.link.record_close(how, secrets.mask(f"{type(exc).__name__}: {exc}"))
            if strict:
                raise BackendUnreachable(message) from None
            return self
        self.link.start(ws)
        if self.mode == protocol.CHAT_MODE:   # another mode speaks another protocol (§2): its steps judge admission
            await self._handshake(protocol.ReadyHandshake(learn_session_id), strict)
        return self

    async def _handshake(self, handshake: protocol.ReadyHandshake, strict: bool) -> None:
        try:
            while (step := handshake.next(self.transcript)) != handshake.DONE:
                if step == handshake.PING:
                    await self.link.send(json.dumps(self.dialect.client_frame("ping")))
                    handshake.pinged()
                elif await self.link.wait_for(lambda tr: handshake.next(tr) != handshake.WAIT, handshake.awaited,
                                              self.settings.timeout, allow_closed=not strict) is None:
                    return   # refused or ended (strict=False): the transcript says how
        except SessionError:
            if strict:
                raise
        finally:
            self.session_id = handshake.session_id


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
