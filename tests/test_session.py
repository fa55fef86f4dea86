"""The session helper over real sockets, against the reference backend process."""
from __future__ import annotations

import asyncio
import time

import pytest

from support.backend_process import BackendProcess
from support.config import load
from support.session import BackendUnreachable, ClosedByBackend, HandshakeRejected, Session, WaitTimeout
from support.tokens import mint
from support.vocabulary import Dialect
from support.transcript_view import to_json

SECRET = "session-test-secret-of-at-least-32-bytes"
LONG = "Write a long story about a lighthouse keeper"


# One worker runs this module, so its one backend serves every test that asks for it.
pytestmark = pytest.mark.xdist_group("session")


@pytest.fixture(scope="module")
def backend():
    with BackendProcess(secret=SECRET, chunk_delay=0.01) as process:
        yield process


def settings_for(url, **extra):
    return load({}, {"ws_url": url, "jwt_secret": SECRET, "timeout": "5", **extra}, environ={})


def session_for(url, token_kind="valid", **extra) -> tuple[Session, str]:
    """A session to url carrying a token of the given kind (returned too, to look for it in output)."""
    settings = settings_for(url, **extra)
    token = mint(settings, token_kind)
    return Session(settings, Dialect.load(settings.dialect), token=token), token


def run(coro):
    return asyncio.run(coro)


def test_arrival_times_stay_exact_while_no_step_runs(backend):
    """Frames are stamped when they arrive, even while the caller's thread is busy (between steps)."""
    session, _ = session_for(backend.url)
    run(session.open())
    run(session.send_request(LONG))
    time.sleep(2.5)                      # behave between steps: nothing of ours runs on this thread
    chunks = session.transcript.of_kind("text_chunk")
    session.close_now()
    assert len(chunks) > 100
    times = [e.t for e in chunks]
    assert times == sorted(times)
    assert times[-1] - times[0] > 1.0, "chunks were stamped together, not as they arrived"


def test_a_timeout_names_what_was_awaited_and_shows_the_transcript(backend):
    session, _ = session_for(backend.url, timeout="0.5")
    run(session.open())
    with pytest.raises(WaitTimeout) as info:
        run(session.wait_for(lambda tr: tr.first("tool_start"), "a tool call that never comes"))
    session.close_now()
    message = str(info.value)
    assert "timed out after 0.5 s waiting for a tool call that never comes" in message
    assert "<- websocket_ready" in message and "<- pong" in message


def test_a_close_ends_a_wait_at_once_and_says_how(backend):
    session, _ = session_for(backend.url, timeout="10")
    run(session.open())
    run(session.send_control("close_session"))
    started = time.monotonic()
    with pytest.raises(ClosedByBackend) as info:
        run(session.wait_for(lambda tr: tr.first("text_chunk"), "text"))
    assert time.monotonic() - started < 5
    assert info.value.code == 1000 and "closed by backend while waiting for text" in str(info.value)


def test_an_expired_token_is_recorded_as_an_auth_close_and_never_printed_whole(backend):
    session, token = session_for(backend.url, "expired")
    with pytest.raises(ClosedByBackend) as info:
        run(session.open())
    assert info.value.code == 4401 and "JWT_SECRET" in str(info.value)
    assert token not in str(info.value) and token not in repr(to_json(session.transcript))


def test_a_refused_upgrade_reads_as_a_handshake_rejection():
    with BackendProcess(secret=SECRET, auth_at="handshake") as process:
        session, token = session_for(process.url, "wrong_secret")
        with pytest.raises(HandshakeRejected) as info:
            run(session.open())
    assert info.value.status == 401 and "handshake rejected" in str(info.value)
    assert token not in str(info.value)


def test_nothing_listening_reads_as_connection_refused(unused_port):
    session, _ = session_for(f"ws://127.0.0.1:{unused_port}/chat/ws")
    with pytest.raises(BackendUnreachable, match="connection refused"):
        run(session.open())
