"""The bundled backend's door: a token it cannot key chat history by is refused like any bad token,
and it will not start with an empty signing secret (anyone could sign a token for that)."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from support.backend_process import BackendProcess
from support.reference_backend.server import Options, Unauthorized, authenticate

ROOT = Path(__file__).resolve().parent.parent
SECRET = "reference-auth-test-secret-of-at-least-32-bytes"
REQUEST = {"request_type": "text", "user_input": {"prompt": [{"type": "text", "text": "hi"}], "session_id": ""},
           "user_settings": {}, "customer_id": 0}


def token(customer_id) -> str:
    return jwt.encode({"id": customer_id, "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")


@pytest.mark.parametrize("customer_id", [2**63, 2**64, 2**200, -(2**63) - 1])
def test_an_id_past_64_bits_is_unauthorized(customer_id):
    with pytest.raises(Unauthorized, match="out of range"):
        authenticate(Options(secret=SECRET), {"Authorization": f"Bearer {token(customer_id)}"}, "/chat/ws")


@pytest.mark.parametrize("customer_id", [2**63 - 1, -(2**63), 1])
def test_an_id_within_64_bits_gets_in(customer_id):
    assert authenticate(Options(secret=SECRET), {}, f"/chat/ws?token={token(customer_id)}") == customer_id


async def converse(url: str, customer_id: int) -> list:
    """Ping, ask, and read until the answer ends or the socket closes: the frames' types, then how it closed."""
    seen = []
    async with connect(f"{url}?token={token(customer_id)}") as ws:
        await ws.send(json.dumps({"type": "ping"}))
        await ws.send(json.dumps(REQUEST))
        try:
            while "tts_not_requested" not in seen:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                seen.append(frame["type"] if frame["type"] != "error" else f"error: {frame.get('content')}")
        except ConnectionClosed as exc:
            seen.append(f"closed {exc.rcvd.code if exc.rcvd else None}")
    return seen


def test_over_the_socket_a_huge_id_is_closed_4401_and_the_largest_id_is_answered():
    with BackendProcess(secret=SECRET, chunk_delay=0.001) as backend:
        refused = asyncio.run(converse(backend.url, 2**63))
        assert refused == ["websocket_ready", "closed 4401"], refused   # the first ready comes before the token is read
        answered = asyncio.run(converse(backend.url, 2**63 - 1))
        output = "\n".join(backend.output)
    assert not [s for s in answered if s.startswith("error")] and answered[-1] == "tts_not_requested", answered
    assert "Traceback" not in output and "OverflowError" not in output, output[-3000:]


def start(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "support.reference_backend", "--port", "0", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)


def test_an_empty_secret_is_refused_at_start():
    done = start("--secret", "")
    assert done.returncode == 2 and "serving" not in done.stdout
    assert "--secret is empty" in done.stderr and "Traceback" not in done.stderr


def test_a_chat_history_file_it_cannot_open_is_one_line_not_a_traceback(tmp_path):
    done = start("--secret", SECRET, "--db", str(tmp_path / "no" / "such" / "x.db"))
    assert done.returncode == 2 and "serving" not in done.stdout
    assert done.stderr.strip().splitlines() == [
        f"reference backend cannot open its chat history --db {tmp_path / 'no' / 'such' / 'x.db'}: unable to open database file"]
