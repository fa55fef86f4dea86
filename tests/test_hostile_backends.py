"""Hostile backends cannot hang, crash or blow up a run (issue: hardening, items 1 and 9)."""
from __future__ import annotations

import asyncio

import pytest

from support import rules
from support.config import load
from support.link import Caps, Flooded
from support.transcript import Recorder
from support.session import Session
from support.tokens import mint
from support.transcript import Transcript
from support.vocabulary import Dialect
from tests.behave_runner import run_behave
from tests.hostile import hostile


def test_a_flooding_backend_ends_the_run_with_the_flood_named(unused_port):
    """It used to time out correctly and then never finish (the check was quadratic, the watchdog disarmed)."""
    with hostile("flood", unused_port) as url:
        run = run_behave("--tags=@chat", "-D", "timeout=3", "-D", "max_frames=20000",
                         env={"RUN_MANUAL_TESTS": "1", "BACKEND_WS_URL": url}, timeout=120)
    assert run.returncode != 0 and run.failing, run.output[-3000:]
    assert "the backend flooded 20001 frames" in run.output, run.output[-3000:]
    assert "-D dialect=NAME" not in run.output   # unknown names in a flood are not a dialect question


def test_the_whole_transcript_check_is_linear_in_the_frames(monkeypatch):
    """Counting whole-transcript copies, not seconds: explaining each of N violations must not copy N entries."""
    dialect = Dialect.load("v2")
    tr = Transcript("flood")
    recorder = Recorder(tr, dialect)
    recorder.received('{"type":"websocket_ready","content":"Backend ready","session_id":"s"}')
    for n in range(3000):
        recorder.received('{"type":"debug_trace"}' if n % 2 else "not json")
    copies = {"n": 0}
    original = Transcript.entries.fget

    def counted(self):
        copies["n"] += 1
        return original(self)
    monkeypatch.setattr(Transcript, "entries", property(counted))
    found = rules.check(tr)
    assert len([v for v in found if v.rule == "frames_are_json"]) == 1500
    assert copies["n"] < 100, f"{copies['n']} copies of the transcript for one check"


def test_a_frame_nested_too_deep_is_a_malformed_frame_and_the_reading_goes_on(unused_port):
    with hostile("deep", unused_port) as url:
        settings = load({}, {"ws_url": url, "timeout": "5"}, environ={})
        session = Session(settings, Dialect.load("v2"), token=mint(settings))

        async def talk():
            await session.open()
            sent = await session.send_control("ping")
            return await session.wait_for(lambda tr: tr.first("pong", after=sent.seq), "the pong after the deep frame")
        pong = asyncio.run(talk())
        session.close_now()
    deep = [e for e in session.transcript.received() if e.kind == "malformed"]
    assert len(deep) == 1 and pong.seq > deep[0].seq
    found = rules.check(session.transcript, ["frames_are_json"])
    assert [v.rule for v in found] == ["frames_are_json"] and "not JSON" in found[0].message
    assert len(found[0].context) < 2000, "the 200,000-character frame is clipped where it is shown"


def test_the_flood_cap_closes_the_connection_with_a_reason():
    caps = Caps(max_frames=3, max_bytes=None)
    for _ in range(3):
        caps.count('{"type":"pong"}')
    with pytest.raises(Flooded, match="flooded 4 frames"):
        caps.count('{"type":"pong"}')
