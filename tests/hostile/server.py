"""Hostile backends for the hardening tests: python -m tests.hostile.server MODE PORT

Each speaks the chat handshake (ready, then ready with a session id and a pong after the first
frame) and then misbehaves: `flood` sends unknown events as fast as it can, forever; `deep` answers
a request with a frame nested 100,000 deep, then a normal pong; `hostile_text` answers every question
by the protocol, in text made to break reports: half an emoji (a lone UTF-16 surrogate), `</script>`,
and beside it an unknown event nested 500 deep (a notice, not a failure); `hostile_error` does the same
and adds an error nobody asked for, in the same text, so the failure message carries it.
"""
from __future__ import annotations

import asyncio
import json
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from support.vocabulary import Dialect

HOSTILE_CHUNKS = ("Hi ", "\ud83d", " </script><script>document.title='pwned'</script>", " bye")
SESSION = "s-1"


def hostile_reply(dialect: Dialect, chat_id: str, error: bool = False) -> list[dict]:
    """A reply that keeps every rule of the protocol, in text hostile to reports (with `error`: but one)."""
    def event(kind: str, **fields) -> dict:
        if "session_id" in dialect.events[kind].fields:
            fields.setdefault("session_id", SESSION)
        return dialect.encode(kind, **fields)

    deep: object = "bottom"
    for _ in range(500):
        deep = {"d": deep}
    record = json.dumps({"user_message_id": 1, "ai_message_id": 2, "session_id": chat_id})
    return ([event("working", request_type="text")]
            + [event("text_chunk", text=text, chunk_index=i) for i, text in enumerate(HOSTILE_CHUNKS, start=1)]
            + [{"type": "debug_trace", "payload": deep}]
            + ([event("error", stage="database", message="".join(HOSTILE_CHUNKS))] if error else [])
            + [event("text_generation_completed", full_response="".join(HOSTILE_CHUNKS)),
               event("db_operation_executed", record=record), event("text_completed"), event("tts_not_requested")])


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
        elif mode in ("hostile_text", "hostile_error"):
            dialect = Dialect.load("v2")
            async for message in ws:
                frame = json.loads(message)
                if frame.get("type") == "ping":
                    await ws.send(json.dumps({"type": "pong", "timestamp": "2026-01-01T00:00:00Z"}))
                elif "user_input" in frame:
                    chat_id = frame["user_input"].get("session_id") or "chat-1"
                    for reply in hostile_reply(dialect, chat_id, error=mode == "hostile_error"):
                        await ws.send(json.dumps(reply))
    except ConnectionClosed:
        pass


async def main(mode: str, port: int) -> None:
    async with serve(lambda ws: handler(ws, mode), "127.0.0.1", port, max_size=None):
        print(f"serving ws://127.0.0.1:{port}/chat/ws", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
