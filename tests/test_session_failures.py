"""Each way a connection fails names its own cause, over real local sockets: refused, DNS, TLS,
handshake timeout, HTTP status, and a close code websockets refuses to parse."""
from __future__ import annotations

import asyncio
import json
import socket
import threading

import pytest
from websockets.asyncio.server import serve

from support.config import ConfigError, load
from support.session import BackendUnreachable, ClosedByBackend, HandshakeRejected, Session, connect_failure, probe
from support.tokens import mint
from support.vocabulary import Dialect

SECRET = "session-failures-secret-of-at-least-32-bytes"
V2 = Dialect.load("v2")


def settings_for(url, **extra):
    # connect_timeout leaves room for a busy machine; the silent-server test sets its own
    return load({}, {"ws_url": url, "jwt_secret": SECRET, "timeout": "3", "connect_timeout": "5", **extra},
                environ={})


def open_session(url, strict=True, **extra) -> Session:
    settings = settings_for(url, **extra)
    session = Session(settings, V2, name="my connection", token=mint(settings))
    asyncio.run(session.open(strict=strict))
    return session


def failure_of(url, **extra) -> str:
    with pytest.raises(BackendUnreachable) as info:
        open_session(url, **extra)
    return str(info.value)


class Background:
    """An asyncio server on its own loop thread, for the length of a test."""

    def __init__(self, make_server):
        async def start():   # servers must be made on the loop that runs them
            return await make_server()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(start(), self.loop).result(5)
        self.port = self.server.sockets[0].getsockname()[1]

    def stop(self):
        async def close():   # and let the handlers end, so none is destroyed pending with the loop
            self.server.close()
            try:
                await asyncio.wait_for(self.server.wait_closed(), 5)
            except TimeoutError:
                pass
        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def silent_port():
    """A TCP listener that accepts every connection and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                pass
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    listener.close()


@pytest.fixture
def plain_ws():
    """A plain (no TLS) WebSocket server that says websocket_ready and then waits."""
    async def handler(ws):
        await ws.send(json.dumps(V2.encode("ready", session_id="s1")))
        await ws.wait_closed()
    server = Background(lambda: serve(handler, "127.0.0.1", 0))
    yield server.port
    server.stop()


@pytest.fixture
def plain_http():
    """A plain HTTP server answering 400 to anything (as uvicorn answers a TLS hello)."""
    async def answer(reader, writer):
        await reader.read(1024)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()
    server = Background(lambda: asyncio.start_server(answer, "127.0.0.1", 0))
    yield server.port
    server.stop()


@pytest.fixture
def closes_with_1015():
    """A WebSocket server that says websocket_ready, then puts close code 1015 on the wire after the first
    client frame. 1015 is reserved (RFC 6455 §7.4.1: never sent in a close frame), so it is written raw."""
    async def handler(ws):
        await ws.send(json.dumps(V2.encode("ready", session_id="s1")))
        await ws.recv()
        ws.transport.write(b"\x88\x02" + (1015).to_bytes(2, "big"))   # FIN+close, 2 bytes, unmasked
        await ws.wait_closed()
    server = Background(lambda: serve(handler, "127.0.0.1", 0))
    yield server.port
    server.stop()


def test_nothing_listening_reads_as_connection_refused(unused_port):
    message = failure_of(f"ws://127.0.0.1:{unused_port}/chat/ws")
    assert message.startswith("connection refused: nothing accepts connections")
    assert "docker-compose up -d backend" in message


def test_an_unresolvable_host_reads_as_a_dns_failure():
    message = failure_of("ws://nonexistent.invalid:8000/chat/ws")
    assert message.startswith("DNS failure:") and "'nonexistent.invalid'" in message
    assert "connection refused" not in message


def test_a_silent_server_reads_as_a_handshake_timeout_naming_connect_timeout(silent_port):
    message = failure_of(f"ws://127.0.0.1:{silent_port}/chat/ws", connect_timeout="0.5")
    assert message.startswith("handshake timeout:") and "connect_timeout=0.5 s" in message
    assert "connection refused" not in message


def test_wss_against_a_plain_websocket_server_reads_as_a_tls_failure(plain_ws):
    message = failure_of(f"wss://127.0.0.1:{plain_ws}/chat/ws")
    assert message.startswith("TLS failure:") and "ws://" in message
    assert "connection refused" not in message


def test_wss_against_a_plain_http_server_reads_as_a_tls_failure(plain_http):
    message = failure_of(f"wss://127.0.0.1:{plain_http}/chat/ws")
    assert message.startswith("TLS failure:") and "SSLError" in message
    assert "connection refused" not in message


def test_an_http_answer_reads_as_a_handshake_rejection_with_its_status(plain_http):
    with pytest.raises(HandshakeRejected) as info:
        open_session(f"ws://127.0.0.1:{plain_http}/chat/ws")
    assert info.value.status == 400 and "HTTP 400" in str(info.value)


def test_a_refusal_recorded_without_raising_names_its_cause(silent_port):
    session = open_session(f"ws://127.0.0.1:{silent_port}/chat/ws", strict=False, connect_timeout="0.5")
    assert session.transcript.closed().kind == "handshake timeout"   # (a silent server: any timeout ends it)


@pytest.mark.parametrize("make_url, words", [
    (lambda ports: f"ws://127.0.0.1:{ports['unused']}/chat/ws", "connection refused"),
    (lambda ports: "ws://nonexistent.invalid:8000/chat/ws", "DNS failure"),
    (lambda ports: f"ws://127.0.0.1:{ports['silent']}/chat/ws", "handshake timeout"),
    (lambda ports: f"wss://127.0.0.1:{ports['plain']}/chat/ws", "TLS failure"),
], ids=["refused", "dns", "timeout", "tls"])
def test_the_start_of_run_probe_names_the_same_causes(make_url, words, unused_port, silent_port, plain_ws):
    url = make_url({"unused": unused_port, "silent": silent_port, "plain": plain_ws})
    problem = probe(settings_for(url), 0.5 if words == "handshake timeout" else 5)   # room for a busy machine
    assert problem is not None and problem.startswith(words), problem


def test_port_0_is_refused_by_the_configuration_not_dialled_as_port_80():
    with pytest.raises(ConfigError, match="port 0"):
        settings_for("ws://127.0.0.1:0/chat/ws")


def test_close_code_1015_on_the_wire_is_reported_as_1015_by_the_backend(closes_with_1015):
    session = open_session(f"ws://127.0.0.1:{closes_with_1015}/chat/ws")
    asyncio.run(session.send_control("ping"))
    with pytest.raises(ClosedByBackend) as info:
        asyncio.run(session.wait_for(lambda tr: tr.first("text_chunk"), "text"))
    session.close_now()
    message = str(info.value)
    assert info.value.code == 1015, message
    assert message.startswith("closed by backend while waiting for text") and "close code 1015" in message
    assert "reserved" in message   # the backend broke RFC 6455 by sending it; the suite says so


def test_refused_on_every_address_of_a_host_still_reads_as_connection_refused():
    # asyncio folds the refusals of ::1 and 127.0.0.1 into one plain OSError
    exc = OSError("Multiple exceptions: [Errno 111] Connect call failed ('::1', 8000, 0, 0), "
                  "[Errno 111] Connect call failed ('127.0.0.1', 8000)")
    assert connect_failure(exc, "ws://localhost:8000/chat/ws", 5)[0] == "connection refused"
    unreachable = OSError("Multiple exceptions: [Errno 111] Connect call failed ('::1', 8000, 0, 0), "
                          "[Errno 113] Connect call failed ('10.0.0.1', 8000)")
    assert connect_failure(unreachable, "ws://localhost:8000/chat/ws", 5)[0] == "network error"


def close_frame(payload: bytes) -> bytes:
    return b"\x88" + bytes([len(payload)]) + payload   # FIN+close, unmasked, short payload


async def close_then_keep_tcp(ws):
    ws.transport.write(close_frame((1000).to_bytes(2, "big")))
    ws.transport.pause_reading()   # does not read the suite's answer, does not close
    await asyncio.sleep(3)         # (past the suite's 2 s close timeout, then it notices the suite gave up)
    ws.transport.resume_reading()


async def too_big_then_silent(ws):
    ws.transport.pause_reading()
    ws.transport.write(b"\x81\x7f" + (33 * 2**20).to_bytes(8, "big") + b"x" * 1000)   # a 33 MiB text frame begins
    await asyncio.sleep(3)
    ws.transport.resume_reading()


def raw_close(payload: bytes):
    async def act(ws):
        ws.transport.write(close_frame(payload))
    return act


@pytest.fixture
def misbehaving():
    """misbehaving(act): a server that says websocket_ready, reads the first client frame, then does act(ws)."""
    servers = []

    def start(act) -> str:
        async def handler(ws):
            await ws.send(json.dumps(V2.encode("ready", session_id="s1")))
            await ws.recv()
            await act(ws)
            await ws.wait_closed()
        servers.append(Background(lambda: serve(handler, "127.0.0.1", 0)))
        return f"ws://127.0.0.1:{servers[-1].port}/chat/ws"
    yield start
    for server in servers:
        server.stop()


def closed_while_waiting(url) -> ClosedByBackend:
    session = open_session(url, timeout="5")
    asyncio.run(session.send_control("ping"))
    try:
        with pytest.raises(ClosedByBackend) as info:   # not a WaitTimeout: the connection did end
            asyncio.run(session.wait_for(lambda tr: tr.first("text_chunk"), "text"))
    finally:
        session.close_now()
    return info.value


def test_a_close_frame_without_the_tcp_close_reads_as_the_backends_close(misbehaving):
    closed = closed_while_waiting(misbehaving(close_then_keep_tcp))
    message = str(closed)
    assert closed.code == 1000 and message.startswith("closed by backend while waiting for text"), message
    assert "left the TCP connection open" in message and "timed out" not in message


def test_a_message_over_the_suites_limit_reads_as_the_suites_1009_not_a_timeout(misbehaving):
    closed = closed_while_waiting(misbehaving(too_big_then_silent))
    message = str(closed)
    assert closed.code == 1009 and message.startswith("closed by suite while waiting for text"), message
    assert "the backend sent a message over the suite's limit" in message and "33554432" in message


@pytest.mark.parametrize("payload, code, words", [
    ((999).to_bytes(2, "big"), 999, "close code 999, which no endpoint may send"),
    ((1004).to_bytes(2, "big"), 1004, "close code 1004, which no endpoint may send"),
    ((2999).to_bytes(2, "big"), 2999, "close code 2999, which no endpoint may send"),
    ((5000).to_bytes(2, "big"), 5000, "close code 5000, which no endpoint may send"),
    (b"\x03", None, "a 1-byte payload, too short for a close code"),
    ((1000).to_bytes(2, "big") + b"\xff\xfe", 1000, "close code 1000 with a reason that is not valid UTF-8"),
], ids=["999", "1004", "2999", "5000", "one-byte", "reason-not-utf8"])
def test_an_invalid_close_frame_reads_as_the_backends_not_the_suites_1002(misbehaving, payload, code, words):
    closed = closed_while_waiting(misbehaving(raw_close(payload)))
    message = str(closed)
    assert closed.code == code and message.startswith("closed by backend while waiting for text"), message
    assert words in message and "the suite failed the connection with 10" in message
