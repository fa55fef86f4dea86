"""Hostile backends for the hardening tests: python -m tests.hostile.server MODE PORT

Each speaks the chat handshake (ready, then ready with a session id and a pong after the first
frame) and then misbehaves: `flood` sends unknown events as fast as it can, forever; `deep` answers
a request with a frame nested 100,000 deep, then a normal pong.
"""
from __future__ import annotations

import asyncio
import json
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


async def handler(ws, mode: str) -> None:
    try:
        await ws.send(json.dumps({"type": "websocket_ready", "content": "Backend ready"}))
        await ws.recv()
        await ws.send(json.dumps({"type": "websocket_ready", "content": "Backend ready", "session_id": "s-1"}))
        await ws.send(json.dumps({"type": "pong", "timestamp": "2026-01-01T00:00:00Z"}))
        if mode == "flood":
            await ws.recv()   # the first request
            n = 0
            while True:
                n += 1
                await ws.send(json.dumps({"type": "debug_trace", "n": n}))
        elif mode == "deep":
            async for _ in ws:
                await ws.send("[" * 100_000 + "]" * 100_000)
                await ws.send(json.dumps({"type": "pong", "timestamp": "2026-01-01T00:00:00Z"}))
    except ConnectionClosed:
        pass


async def main(mode: str, port: int) -> None:
    async with serve(lambda ws: handler(ws, mode), "127.0.0.1", port, max_size=None):
        print(f"serving ws://127.0.0.1:{port}/chat/ws", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
