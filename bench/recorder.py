"""How fast the session helper records, measured against a bare websockets client on the same stream.

    python bench/recorder.py                  # every measurement, 5 repetitions, medians
    python bench/recorder.py --frames 20000 --reps 3 --skip concurrency

A local websockets server (its own process) writes realistic chat frames (v2 text_chunk JSON,
60-120 bytes) straight to the socket, as fast as the kernel takes them, so the server is never
the bottleneck. Printed (medians over the repetitions):

- ingest: frames/s the helper (support.session.Session) records vs a bare client that only
  recv()s, stamps and json.loads each frame; and their ratio;
- memory: bytes per recorded frame (tracemalloc, over --frames frames; each is decoded as it arrives);
- wait latency: from a frame's arrival stamp to the moment a step's ``await session.wait_for(…)``
  returns, with an empty transcript and with --frames frames already recorded; a bare asyncio.Event
  in a bare client for reference;
- arrival-stamp skew: the helper and a bare client (another process) receive the same paced
  stream at once; per frame, helper stamp minus bare stamp (CLOCK_MONOTONIC is system-wide);
- concurrency: --sessions sessions each doing a whole chat against the reference backend, helper
  vs bare client, wall time.

Figures only: nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import websockets  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402
from websockets.asyncio.server import serve  # noqa: E402

WORDS = ("the lighthouse keeper climbed the stairs again and watched the grey sea roll in under a "
         "low sky while gulls argued over the harbour and the lamp turned slowly above him").split()


def chunk_frame(i: int) -> str:
    """A v2 text_chunk as a streaming backend sends it (60-120 bytes)."""
    n = 2 + (i * 7) % 9
    text = " " + " ".join(WORDS[(i + k) % len(WORDS)] for k in range(n))
    return json.dumps({"type": "text_chunk", "content": text, "chunk_index": i + 1})


def wire(payload: str) -> bytes:
    """One unmasked server-to-client text frame."""
    data = payload.encode()
    n = len(data)
    if n < 126:
        head = bytes([0x81, n])
    elif n < 65536:
        head = bytes([0x81, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x81, 127]) + n.to_bytes(8, "big")
    return head + data


# -- the server (a process of its own) ---------------------------------------------------------

def serve_forever() -> None:
    blobs: dict[int, list[bytes]] = {}
    groups: dict[str, list] = {}

    def batches(n: int, per: int) -> list[bytes]:
        key = n * 1000003 + per
        if key not in blobs:
            frames = [wire(chunk_frame(i)) for i in range(n)]
            blobs[key] = [b"".join(frames[i:i + per]) for i in range(0, n, per)]
        return blobs[key]

    async def handler(ws):
        await ws.send(json.dumps({"type": "websocket_ready", "content": "Backend ready", "session_id": "bench-1"}))
        async for message in ws:
            cmd = str(message).split()
            if cmd[0] == "stream":                    # stream N [done]: every frame at once (then text_completed)
                for blob in batches(int(cmd[1]), 1000):
                    ws.transport.write(blob)
                    await asyncio.sleep(0)
                if cmd[2:3] == ["done"]:
                    await ws.send('{"type": "text_completed", "content": ""}')
            elif cmd[0] == "pong":
                await ws.send('{"type": "pong"}')
            elif cmd[0] == "join":                    # join GROUP SIZE N RATE: a paced stream to SIZE clients at once
                group, size, n, rate = cmd[1], int(cmd[2]), int(cmd[3]), float(cmd[4])
                members = groups.setdefault(group, [])
                members.append(ws)
                if len(members) == size:
                    del groups[group]
                    asyncio.get_running_loop().create_task(paced(members, n, rate))

    async def paced(members, n: int, rate: float) -> None:
        per = max(1, int(rate / 1000))                 # a batch every millisecond
        loop = asyncio.get_running_loop()
        start = loop.time()
        for k, blob in enumerate(batches(n, per)):
            for ws in members:
                ws.transport.write(blob)
            delay = start + (k + 1) * per / rate - loop.time()
            await asyncio.sleep(max(delay, 0))

    async def main():
        async with serve(handler, "127.0.0.1", 0, max_size=None, ping_interval=None) as server:
            port = server.sockets[0].getsockname()[1]
            print(f"serving ws://127.0.0.1:{port}", flush=True)
            await asyncio.Future()

    asyncio.run(main())


class Server:
    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().split()[-1]
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(5)


# -- the helper and a bare client ------------------------------------------------------------

def helper_session(url: str):
    import functools
    from support import session as session_module
    from support.config import load
    from support.session import Session
    from support.vocabulary import Dialect
    # No keepalive pings: the original helper falls so far behind that its ping's answer, queued behind
    # the stream, comes late and websockets drops the connection; the bench measures recording.
    if not isinstance(session_module.connect, functools.partial):
        session_module.connect = functools.partial(session_module.connect, ping_interval=None)
    settings = load({}, {"ws_url": url, "timeout": "120", "max_frames": "10000000"}, environ={})
    return Session(settings, Dialect.load(settings.dialect), name="bench")


def last_stamp(session) -> float:
    tr = session.transcript
    return tr.t0 + tr.entries[-1].t


def wait_len(session, n: int, limit: float = 300) -> None:
    # Only len() while frames come: the original transcript's closed() scans every entry, and asking
    # it every few ms would slow the very recording being measured.
    deadline = time.monotonic() + limit
    seen, stalled = 0, time.monotonic()
    while len(session.transcript) < n:
        now = time.monotonic()
        if len(session.transcript) > seen:
            seen, stalled = len(session.transcript), now
        elif now - stalled > 2 and session.is_closed or now > deadline:
            raise RuntimeError(f"the helper recorded {len(session.transcript)} of {n} entries")
        time.sleep(0.005)


def helper_ingest(url: str, n: int) -> float:
    session = helper_session(url)
    asyncio.run(session.open())
    go = time.monotonic()
    asyncio.run(session.send_raw(f"stream {n}"))
    wait_len(session, n + 2)
    rate = n / (last_stamp(session) - go)
    session.close_now()
    return rate


async def bare_stream(url: str, command: str, n: int) -> tuple[float, list[float]]:
    stamps = []
    async with connect(url, max_size=None) as ws:
        await ws.recv()
        go = time.monotonic()
        await ws.send(command)
        for _ in range(n):
            message = await ws.recv()
            stamps.append(time.monotonic())
            json.loads(message)
    return go, stamps


def bare_ingest(url: str, n: int) -> float:
    go, stamps = asyncio.run(bare_stream(url, f"stream {n}", n))
    return n / (stamps[-1] - go)


def memory(url: str, n: int) -> float:
    session = helper_session(url)
    asyncio.run(session.open())
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    asyncio.run(session.send_raw(f"stream {n}"))
    wait_len(session, n + 2)
    gc.collect()
    recorded = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    session.close_now()
    return (recorded - before) / n


def wait_latency(url: str, recorded: int, waits: int) -> list[float]:
    session = helper_session(url)
    out: list[float] = []

    async def main():
        await session.open()
        if recorded:
            await session.send_raw(f"stream {recorded}")
            await asyncio.to_thread(wait_len, session, recorded + 2)
        tr = session.transcript
        for i in range(waits + 3):
            after = len(tr)
            waiter = asyncio.ensure_future(session.wait_for(lambda t: t.first("pong", after=after), "pong"))
            await asyncio.sleep(0.003)        # the waiter is waiting
            await session.send_raw("pong")
            entry = await waiter
            woke = time.monotonic()
            if i >= 3:                        # the first waits decode what was recorded: warm-up
                out.append(woke - (tr.t0 + entry.t))
    asyncio.run(main())
    session.close_now()
    return out


def bare_wait_latency(url: str, waits: int) -> list[float]:
    async def main():
        out = []
        async with connect(url) as ws:
            await ws.recv()
            arrived: list[float] = []
            event = asyncio.Event()

            async def reader():
                async for message in ws:
                    arrived.append(time.monotonic())
                    json.loads(message)
                    event.set()
            task = asyncio.ensure_future(reader())
            for _ in range(waits):
                event.clear()
                waiter = asyncio.ensure_future(event.wait())
                await asyncio.sleep(0.003)
                await ws.send("pong")
                await waiter
                out.append(time.monotonic() - arrived[-1])
            task.cancel()
        return out
    return asyncio.run(main())


def bare_skew_client(url: str, n: int, rate: float, group: str, out_path: str) -> None:
    async def main():
        async with connect(url, max_size=None) as ws:
            await ws.recv()
            await ws.send(f"join {group} 2 {n} {rate}")
            stamps = []
            for _ in range(n):
                message = await ws.recv()
                stamps.append(time.monotonic())
                json.loads(message)
        Path(out_path).write_text(json.dumps(stamps))
    asyncio.run(main())


def skew(url: str, n: int, rate: float, rep: int) -> list[float]:
    import tempfile
    out_path = os.path.join(tempfile.mkdtemp(prefix="bench-skew-"), "bare.json")
    group = f"g{rep}-{rate:g}"
    session = helper_session(url)
    asyncio.run(session.open())
    bare = subprocess.Popen([sys.executable, __file__, "--bare-skew", url, str(n), str(rate), group, out_path])
    asyncio.run(session.send_raw(f"join {group} 2 {n} {rate}"))
    wait_len(session, n + 2)
    bare.wait(120)
    bare_stamps = json.loads(Path(out_path).read_text())
    tr = session.transcript
    helper_stamps = [tr.t0 + e.t for e in tr.entries if e.direction == "received"][1:]   # the ready frame first
    session.close_now()
    return [h - b for h, b in zip(helper_stamps, bare_stamps)]


# -- concurrency: whole chats against the reference backend ----------------------------------

SECRET = "bench-secret-of-at-least-32-bytes-long"


def helper_chats(url: str, sessions: int) -> float:
    from support.config import load
    from support.session import Session
    from support.tokens import mint
    from support.vocabulary import Dialect
    settings = load({}, {"ws_url": url, "jwt_secret": SECRET, "timeout": "120", "connect_timeout": "60"}, environ={})
    dialect = Dialect.load(settings.dialect)

    async def chat(i: int):
        session = Session(settings, dialect, name=f"s{i}", token=mint(settings, "valid"))
        await session.open()
        await session.send_request(settings.chat_prompt)
        await session.wait_for(lambda tr: tr.request_finished(1), "the reply")
        await session.close()
        assert "".join(str(e.fields.get("text", "")) for e in session.transcript.of_kind("text_chunk")), "no reply"

    async def main():
        start = time.monotonic()
        await asyncio.gather(*(chat(i) for i in range(sessions)))
        return time.monotonic() - start
    return asyncio.run(main())


def bare_chats(url: str, sessions: int) -> float:
    from support import protocol
    from support.config import load
    from support.tokens import mint
    settings = load({}, {"ws_url": url, "jwt_secret": SECRET}, environ={})
    done = {"text_completed", "tts_not_requested", "tts_completed", "text_not_requested"}

    async def chat(i: int):
        async with connect(f"{url}?token={mint(settings, 'valid')}", open_timeout=60) as ws:
            first = json.loads(await ws.recv())
            if not first.get("session_id"):
                await ws.send(json.dumps({"type": "ping"}))
                while json.loads(await ws.recv()).get("type") != "pong":
                    pass
            await ws.send(json.dumps(protocol.build_chat_request(settings, settings.chat_prompt)))
            flags = set()
            while len(flags) < 2:
                kind = json.loads(await ws.recv()).get("type")
                if kind in done:
                    flags.add(kind)

    async def main():
        start = time.monotonic()
        await asyncio.gather(*(chat(i) for i in range(sessions)))
        return time.monotonic() - start
    return asyncio.run(main())


# -- the table -------------------------------------------------------------------------------

def med(values) -> float:
    return statistics.median(values)


def pct(values, q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=100_000)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--waits", type=int, default=200)
    p.add_argument("--skew-frames", type=int, default=20_000)
    p.add_argument("--skew-rate", type=float, default=20_000)
    p.add_argument("--sessions", type=int, default=1000)
    p.add_argument("--skip", nargs="*", default=[], choices=["ingest", "memory", "wait", "skew", "concurrency"])
    args = p.parse_args()
    n, reps = args.frames, args.reps
    rows: list[tuple[str, str]] = []

    def show(name: str, value: str) -> None:
        rows.append((name, value))
        print(f"  {name:<58} {value}", flush=True)

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, websockets {websockets.__version__}, "
          f"{n} frames, {reps} repetitions (medians)", flush=True)
    with Server() as server:
        url = server.url
        if "ingest" not in args.skip:
            helper, bare = [], []
            for _ in range(reps):
                bare.append(bare_ingest(url, n))
                helper.append(helper_ingest(url, n))
            show("ingest, bare client (frames/s)", f"{med(bare):,.0f}  (runs: {', '.join(f'{x:,.0f}' for x in bare)})")
            show("ingest, helper (frames/s)", f"{med(helper):,.0f}  (runs: {', '.join(f'{x:,.0f}' for x in helper)})")
            show("ingest ratio helper/bare (median of per-run ratios)",
                 f"{med([h / b for h, b in zip(helper, bare)]):.2f}x")
        if "memory" not in args.skip:
            got = [memory(url, n) for _ in range(min(reps, 3))]
            show("bytes per recorded frame", f"{med(got):,.0f}")
        if "wait" not in args.skip:
            for recorded in (0, n):
                lat = [x * 1000 for _ in range(min(reps, 3)) for x in wait_latency(url, recorded, args.waits)]
                show(f"wait latency, {recorded:,} frames recorded (ms p50 / p99)", f"{pct(lat, .5):.3f} / {pct(lat, .99):.3f}")
            lat = [x * 1000 for _ in range(min(reps, 3)) for x in bare_wait_latency(url, args.waits)]
            show("wait latency, bare asyncio.Event (ms p50 / p99)", f"{pct(lat, .5):.3f} / {pct(lat, .99):.3f}")
        if "skew" not in args.skip:
            for rate in (args.skew_rate, 1e9):
                deltas = [d * 1000 for rep in range(reps) for d in skew(url, args.skew_frames, rate, rep)]
                what = f"{rate:,.0f} frames/s" if rate < 1e9 else "full speed"
                show(f"stamp skew helper-bare, {what} (ms p50 / p99 / max)",
                     f"{pct(deltas, .5):.3f} / {pct(deltas, .99):.3f} / {max(deltas):.3f}")
    if "concurrency" not in args.skip:
        from support.backend_process import BackendProcess
        with BackendProcess(secret=SECRET, chunk_delay=0.001) as backend:
            bare = [bare_chats(backend.url, args.sessions) for _ in range(min(reps, 3))]
            helper = [helper_chats(backend.url, args.sessions) for _ in range(min(reps, 3))]
        show(f"{args.sessions} whole chats at once, bare client (s)", f"{med(bare):.2f}")
        show(f"{args.sessions} whole chats at once, helper (s)", f"{med(helper):.2f}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve_forever()
    elif sys.argv[1:2] == ["--bare-skew"]:
        bare_skew_client(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6])
    else:
        main()
