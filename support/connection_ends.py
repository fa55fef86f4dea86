"""How a connection fails to start or ends, in words a backend team can act on.

The failures a session raises (each an AssertionError: the scenario fails), the wording of close
codes and connect errors, and the client connection class that keeps what websockets would lose
(a close frame it could not parse, a TCP connection left open after the close).
"""
from __future__ import annotations

import asyncio
import errno
import re
import socket
import ssl
from urllib.parse import urlparse

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, WebSocketException
from websockets.frames import Opcode

from support import secrets
from support.protocol import CloseCode, CloseKind



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


CLOSE_LABELS = {CloseCode.NORMAL: "normal", CloseCode.GOING_AWAY: "going away",
                CloseCode.UNSUPPORTED_DATA: "unsupported data", CloseCode.POLICY: "policy violation",
                CloseCode.TOO_BIG: "message too big", CloseCode.INTERNAL_ERROR: "internal error",
                CloseCode.UNAUTHORIZED: "Unauthorized", CloseCode.FORBIDDEN: "Forbidden"}
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
        how, code, reason = CloseKind.BY_BACKEND, exc.rcvd.code, exc.rcvd.reason
        detail = describe_close(code, reason)
    elif wire is not None and exc.rcvd is None and exc.sent is not None:
        # The backend sent a close frame websockets could not parse and answered with its own code (1002,
        # or 1007 for a reason that is not UTF-8): report the backend's frame, not websockets' answer.
        how, code, reason = CloseKind.BY_BACKEND, code_on_wire, ""
        detail = f"{invalid_close(wire)}; the suite failed the connection with {int(exc.sent.code)}"
    elif exc.sent is not None:
        how, code, reason = CloseKind.BY_SUITE, exc.sent.code, exc.sent.reason
        detail = describe_close(code, reason)
        if code == CloseCode.TOO_BIG:
            detail = f"the backend sent a message over the suite's limit ({reason}); the suite closed with 1009"
        elif code != CloseCode.NORMAL:
            detail = f"the suite failed the connection with {detail}"
    else:
        how, code, reason = CloseKind.DROPPED, None, ""
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
        def recording(frame, recv_frame=ws_protocol.recv_frame, close=Opcode.CLOSE):   # every frame: kept short
            if frame.opcode is close:
                self.wire_close = bytes(frame.data)
            recv_frame(frame)
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


