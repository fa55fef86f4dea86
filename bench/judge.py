"""How fast the suite records and judges a conversation, against a bare client that only parses it.

    python bench/judge.py                      # every measurement, 5 repetitions, medians
    python bench/judge.py --skip concurrency   # without the 1,000 conversations

Printed, each with its target (issue 17) and whether it is met:

- judge: a realistic chat stream (per request: working, 40 text chunks, the full response, the
  stored record, the text flag, speech with 8 audio chunks, the speech flag, the upload; v2) of
  200, 5,000 and 50,000 frames, recorded the way the session records (caps, wire, transcript)
  and checked with every whole-conversation rule, against a bare ``json.loads`` loop over the same
  frames: CPU µs per frame (this process's CPU time, so other processes on a shared machine do not
  count) and the ratio. Target: ≤ 5 µs per frame and ≤ 4× json.loads.
- wait for a kind: a local server streams N text chunks and a text_completed; the session's step
  ``wait_for(first("text_completed"))`` against a bare client's recv + json.loads loop: frames/s
  and the ratio. Target: ≥ 0.8×.
- 1,000 conversations at once against the bundled reference backend, each recorded and judged with
  every rule, against bare clients: wall time and ratio. Target: ≤ 1.2×.
- memory: bytes held per recorded frame against the bytes its parsed JSON takes (tracemalloc), and a
  30 MiB frame of tiny objects ``[{},{},…]``: what recording it holds and its peak.

Figures only: nothing here asserts, and no test times anything.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import os
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from websockets.asyncio.client import connect  # noqa: E402

from recorder import SECRET, WORDS, Server, bare_chats, helper_session  # noqa: E402
from support import protocol, rules, verdicts  # noqa: E402
from support.config import Settings  # noqa: E402
from support.link import Caps  # noqa: E402
from support.socket_loop import on_background  # noqa: E402
from support.transcript import Recorder, Transcript  # noqa: E402
from support.vocabulary import Dialect  # noqa: E402

V2 = Dialect.load("v2")
SETTINGS = Settings()


def realistic_stream(frames: int) -> list[tuple[str, str]]:
    """(direction, frame) pairs of a chat with speech, request after request, until at least `frames`
    frames are received (whole requests only, so the conversation keeps every rule)."""
    rng = random.Random(17)
    out: list[tuple[str, str]] = [("received", json.dumps(V2.encode("ready", session_id="ws-1")))]
    received = 1
    n = 0
    while received < frames:
        n += 1
        out.append(("sent", json.dumps(protocol.build_chat_request(SETTINGS, f"question {n}", speech=True))))
        words = [" " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6))) for _ in range(40)]
        events = [V2.encode("working", request_type="text")]
        events += [V2.encode("text_chunk", text=w, chunk_index=i + 1, session_id="ws-1") for i, w in enumerate(words)]
        events.append(V2.encode("text_generation_completed", full_response="".join(words), session_id="ws-1"))
        events.append(V2.encode("db_operation_executed", record={
            "user_message_id": 2 * n - 1, "ai_message_id": 2 * n, "session_id": "chat-1"}, session_id="ws-1"))
        events.append(V2.encode("text_completed", session_id="ws-1"))
        events.append(V2.encode("tts_started", provider="openai", model="tts-1", voice="alloy", format="mp3",
                                session_id="ws-1"))
        events += [V2.encode("audio_chunk", audio=base64.b64encode(rng.randbytes(1500)).decode(), session_id="ws-1")
                   for _ in range(8)]
        events.append(V2.encode("tts_generation_completed", audio_chunk_count=8, text_chunk_count=40,
                                session_id="ws-1"))
        events.append(V2.encode("tts_completed", session_id="ws-1"))
        events.append(V2.encode("tts_file_uploaded", audio_url=f"https://cdn.example/{n}.mp3", session_id="ws-1"))
        out += [("received", json.dumps(event)) for event in events]   # whole requests: a clean conversation
        received += len(events)
    return out


# CPU time of this process, not wall time: on a shared machine another process's turn is not our cost.
clock = time.process_time


def bare(stream) -> float:
    start = clock()
    for _, frame in stream:
        json.loads(frame)
    return clock() - start


def judged(stream) -> tuple[float, int]:
    """Record the stream as the session does (caps, wire, transcript), then check every rule."""
    start = clock()
    transcript = Transcript("bench")
    recorder = Recorder(transcript, V2)
    caps = Caps(SETTINGS.max_frames, SETTINGS.transcript_byte_cap)
    wire, add = recorder.wire, transcript.add
    t = 0.0
    for direction, frame in stream:
        t += 0.001
        if direction == "received":
            caps.count(frame)
            add(wire.received(frame, t))
        else:
            recorder.sent(frame, t=t)
    found = rules.check(transcript)
    return clock() - start, len(found)


class CollectorTime:
    """CPU time CPython's cyclic garbage collector spends while it is on (gc.callbacks): the share of the
    judge's time that is the cost of holding every recorded frame as a Python object, not the judge's code."""

    def __init__(self):
        self.seconds, self._began = 0.0, 0.0

    def _note(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._began = clock()
        else:
            self.seconds += clock() - self._began

    def __enter__(self) -> "CollectorTime":
        gc.callbacks.append(self._note)
        return self

    def __exit__(self, *exc) -> None:
        gc.callbacks.remove(self._note)


def judge_rows(sizes, reps, show) -> None:
    for size in sizes:
        stream = realistic_stream(size)
        received = sum(1 for d, _ in stream if d == "received")
        rounds = max(1, 50_000 // received)   # a small conversation is judged many times over, for the clock
        bare_s, judge_s, collector_s, broken = [], [], [], set()
        for _ in range(reps):
            gc.collect()
            bare_s.append(sum(bare(stream) for _ in range(rounds)))
            gc.collect()
            with CollectorTime() as collector:
                runs = [judged(stream) for _ in range(rounds)]
            judge_s.append(sum(seconds for seconds, _ in runs))
            collector_s.append(collector.seconds)
            broken.update(violations for _, violations in runs)
        received *= rounds
        per = statistics.median(judge_s) / received * 1e6
        ratio = statistics.median(j / b for j, b in zip(judge_s, bare_s))
        show(f"judge, {received // rounds:,} frames (µs per frame; × json.loads)",
             f"{per:.2f} µs, {ratio:.2f}×  [≤ 4× json.loads: {'met' if ratio <= 4 else 'NOT met'}; "
             f"≤ 5 µs: {'met' if per <= 5 else 'NOT met'}]"
             f"  (json.loads alone {statistics.median(bare_s) / received * 1e6:.2f} µs; of the judge's time, "
             f"the cyclic collector {statistics.median(collector_s) / received * 1e6:.2f} µs; "
             f"violations {sorted(broken)})")


# -- waiting for a kind over a real socket -------------------------------------------------------

def helper_wait(url: str, n: int) -> float:
    session = helper_session(url)
    asyncio.run(session.open())
    go = time.monotonic()
    asyncio.run(session.send_raw(f"stream {n} done"))
    asyncio.run(session.wait_for(lambda tr: tr.first("text_completed"), "text_completed", 300))
    elapsed = time.monotonic() - go
    session.close_now()
    return n / elapsed


def bare_wait(url: str, n: int) -> float:
    async def run() -> float:
        async with connect(url, max_size=None, ping_interval=None) as ws:
            await ws.recv()
            go = time.monotonic()
            await ws.send(f"stream {n} done")
            while json.loads(await ws.recv()).get("type") != "text_completed":
                pass
            return n / (time.monotonic() - go)
    return asyncio.run(run())


# -- 1,000 judged conversations ------------------------------------------------------------------

def judged_chats(url: str, sessions: int) -> tuple[float, int]:
    from support.config import load
    from support.session import Session
    from support.tokens import mint
    settings = load({}, {"ws_url": url, "jwt_secret": SECRET, "timeout": "120", "connect_timeout": "60"}, environ={})

    async def chat(i: int) -> int:
        session = Session(settings, V2, name=f"s{i}", token=mint(settings, "valid"))
        await session.open()
        await session.send_request("Say hello in 3 words")
        await session.wait_for(lambda tr: tr.request_finished(1), "the reply")
        await session.close()
        return len(verdicts.violations_only(rules.check(session.transcript)))

    async def main() -> tuple[float, int]:
        start = time.monotonic()
        broken = await asyncio.gather(*(chat(i) for i in range(sessions)))
        return time.monotonic() - start, sum(broken)
    return asyncio.run(on_background(main()))   # on the socket loop, as a load run (load.run_scenario) runs them


# -- memory ------------------------------------------------------------------------------------

def held_bytes(build) -> tuple[int, int, object]:
    """(bytes still held, peak bytes) while build() runs; and what it returned."""
    gc.collect()
    tracemalloc.start()
    kept = build()
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return held, peak, kept


def memory_rows(frames: int, show) -> None:
    stream = [f for d, f in realistic_stream(frames) if d == "received"]
    raw = sum(len(f) for f in stream)
    held, _, _ = held_bytes(lambda: _record(stream))
    parsed, _, _ = held_bytes(lambda: [json.loads(f) for f in stream])
    show(f"memory, {len(stream):,} realistic frames (bytes per frame)",
         f"{held / len(stream):,.0f} held while recorded; {parsed / len(stream):,.0f} for the parsed JSON alone; "
         f"{raw / len(stream):,.0f} on the wire")
    tiny = "[" + ",".join(["{}"] * (30 * 2**20 // 3)) + "]"

    def flood():
        transcript = Transcript("flood")
        recorder = Recorder(transcript, V2)
        caps = Caps(SETTINGS.max_frames, SETTINGS.transcript_byte_cap)
        try:
            caps.count(tiny)
        except Exception as exc:   # noqa: BLE001 - the verdict is what is measured
            return f"flooded ({str(exc)[:90]}…)", transcript
        transcript.add(recorder.wire.received(tiny, 0.0))
        return "recorded", transcript
    held, peak, (verdict, _) = held_bytes(flood)
    show("memory, one 30 MiB frame [{},{},…] (held / peak)",
         f"{held / 2**20:,.1f} MiB / {peak / 2**20:,.1f} MiB beyond the frame itself; {verdict}")


def _record(stream):
    transcript = Transcript("memory")
    recorder = Recorder(transcript, V2)
    for i, frame in enumerate(stream):
        transcript.add(recorder.wire.received(frame, i / 1000))
    return transcript


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="*", default=[200, 5_000, 50_000])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--frames", type=int, default=50_000, help="frames streamed for the wait-for-a-kind figure")
    p.add_argument("--sessions", type=int, default=1000)
    p.add_argument("--skip", nargs="*", default=[], choices=["judge", "wait", "concurrency", "memory"])
    args = p.parse_args()

    def show(name: str, value: str) -> None:
        print(f"  {name:<58} {value}", flush=True)

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {args.reps} repetitions (medians)", flush=True)
    if "judge" not in args.skip:
        judge_rows(args.sizes, args.reps, show)
    if "wait" not in args.skip:
        with Server() as server:
            helper, bare_rates = [], []
            for _ in range(args.reps):
                bare_rates.append(bare_wait(server.url, args.frames))
                helper.append(helper_wait(server.url, args.frames))
        ratio = statistics.median(h / b for h, b in zip(helper, bare_rates))
        show(f"wait for a kind, {args.frames:,} frames (frames/s; × bare)",
             f"{statistics.median(helper):,.0f} vs {statistics.median(bare_rates):,.0f}, {ratio:.2f}×  "
             f"[target ≥ 0.8×: {'met' if ratio >= 0.8 else 'NOT met'}]")
    if "concurrency" not in args.skip:
        from support.backend_process import BackendProcess
        with BackendProcess(secret=SECRET, chunk_delay=0.001) as backend:
            reps = min(args.reps, 3)
            bare_s = [bare_chats(backend.url, args.sessions) for _ in range(reps)]
            judged_s = [judged_chats(backend.url, args.sessions) for _ in range(reps)]
        ratio = statistics.median(j for j, _ in judged_s) / statistics.median(bare_s)
        show(f"{args.sessions:,} conversations at once, judged vs bare (s; ×)",
             f"{statistics.median(j for j, _ in judged_s):.2f} vs {statistics.median(bare_s):.2f}, {ratio:.2f}×  "
             f"[target ≤ 1.2×: {'met' if ratio <= 1.2 else 'NOT met'}]  (violations: {[b for _, b in judged_s]})")
    if "memory" not in args.skip:
        memory_rows(args.frames, show)


if __name__ == "__main__":
    main()
