"""Faults chosen where the backend starts and per connection: an unknown name is refused in one line
(at start) or with HTTP 400 (in a URL), and a connection's faults touch no other connection."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from support.backend_process import BackendProcess, BackendStartError
from tests.behave_runner import run_behave

ROOT = Path(__file__).resolve().parent.parent
SECRET = "faults-by-url-test-secret-of-at-least-32-bytes"
LIST = "python -m support.reference_backend --list-faults"


def token() -> str:
    return jwt.encode({"id": 7, "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")


async def first_frame(url: str) -> str:
    """The first frame the backend sends, "silence" when none comes within a second, or "HTTP <status>: <body>"."""
    try:
        async with connect(url, open_timeout=5) as ws:
            try:
                return await asyncio.wait_for(ws.recv(), 1.0)
            except TimeoutError:
                return "silence"
    except InvalidStatus as exc:
        return f"HTTP {exc.response.status_code}: {exc.response.body.decode().strip()}"


def test_an_unknown_fault_at_start_is_one_line_naming_it_and_how_to_list_them():
    with pytest.raises(BackendStartError) as info:
        BackendProcess(secret=SECRET, faults=["no_ready", "chunk_index_gpa"])
    line = str(info.value)
    assert "\n" not in line and "'chunk_index_gpa'" in line and "did you mean 'chunk_index_gap'" in line
    assert "'no_ready'" not in line and LIST in line
    cli = subprocess.run([sys.executable, "-m", "support.reference_backend", "--port", "0", "--fault", "nope"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert cli.returncode == 2 and cli.stdout == "", cli
    assert cli.stderr.strip().splitlines() == [f"unknown fault(s) 'nope'; {LIST} lists them"], cli.stderr


def test_a_behave_run_with_an_unknown_fault_stops_with_one_configuration_error_line():
    run = run_behave("-D", "backend=reference", "-D", "reference_faults=chunk_index_gpa", "--tags=@chat", timeout=120)
    assert run.returncode != 0 and "Traceback" not in run.output, run.output[-3000:]
    [line] = run.output.strip().splitlines()
    assert line.startswith("configuration error: reference_faults") and "'chunk_index_gpa'" in line, line


@pytest.mark.parametrize("auth_at", ["first_frame", "handshake"])
def test_each_connection_gets_the_faults_its_url_names_and_no_others(auth_at):
    with BackendProcess(secret=SECRET, faults_from_url=True, auth_at=auth_at) as backend:
        signed = f"{backend.url}?token={token()}"

        async def scene() -> dict:
            return {
                "clean": await first_frame(signed),
                "no_ready": await first_frame(f"{signed}&fault=no_ready"),
                "clean again": await first_frame(signed),
                "unknown": await first_frame(f"{signed}&fault=no_ready,bogus"),
                "no token": await first_frame(backend.url),
                "no token, accept_no_token": await first_frame(f"{backend.url}?fault=accept_no_token"),
            }

        seen = asyncio.run(scene())
    ready = '"type": "websocket_ready"'
    assert ready in seen["clean"] and ready in seen["clean again"], seen
    assert seen["no_ready"] == "silence", seen
    assert seen["unknown"] == f"HTTP 400: unknown fault(s) 'bogus'; {LIST} lists them", seen
    if auth_at == "handshake":   # a handshake fault chosen by the URL decides at the upgrade
        assert seen["no token"] == "HTTP 401: Unauthorized", seen
        assert ready in seen["no token, accept_no_token"], seen


def test_without_the_option_a_url_names_no_fault():
    with BackendProcess(secret=SECRET) as backend:
        seen = asyncio.run(first_frame(f"{backend.url}?token={token()}&fault=no_ready,bogus"))
    assert '"type": "websocket_ready"' in seen, seen
