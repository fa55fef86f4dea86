"""The reply script: what an accepted request is answered with, in production's order (§4–§8).

working, the model in use, tools, text chunks, the full text, speech (buffered: audio after the
text), the chat-history record, the completion flags; a speech-only request reads a stored answer
aloud; a stopped request is answered with cancelled and the flags it had not sent.
"""
from __future__ import annotations

import asyncio
import base64
import random
import traceback
import uuid
from typing import Awaitable, Callable

from websockets.exceptions import ConnectionClosed

from support.reference_backend import media, scripted_model
from support.reference_backend.request_acceptance import Request, is_id
from support.reference_backend.storage import ChatStore
from support.vocabulary import JSON_NULL

MAX_SPOKEN_CHARS = 4000                 # speech reads at most this much text aloud: bounded work per request
MAX_AUDIO_CHUNK_S = 1.0                 # seconds of audio in one audio_chunk
TEXT_FLAGS = ("text_completed", "text_not_requested")


class ReplyScript:
    """One connection's replies. ``emit(kind, **fields)`` sends an event; ``customer()`` is the
    customer the connection serves now; ``chunk_rng`` gives chunks random sizes (None: words)."""

    def __init__(self, emit: Callable[..., Awaitable[None]], store: ChatStore, customer: Callable[[], int | None],
                 chunk_delay: float, chunk_rng: random.Random | None):
        self.emit = emit
        self.store = store
        self.customer = customer
        self.chunk_delay = chunk_delay
        self.chunk_rng = chunk_rng
        self.tool_calls = 0

    async def run(self, r: Request) -> None:
        """A reply that meets a bug says so (error stage internal) instead of leaving the client waiting."""
        try:
            await self.reply(r)
        except (ConnectionClosed, asyncio.CancelledError):
            raise
        except Exception:  # noqa: BLE001 - reported here, and on stderr for the operator
            traceback.print_exc()
            await self.emit("error", stage="internal", message="Internal error while replying")

    async def stopped(self, r: Request) -> None:
        """After a stop (§8): cancelled, then each flag the request had not sent (each flag once, §4)."""
        await self.emit("cancelled")
        if not r.text_flag:   # a speech-only request sent its text flag first
            await self.emit("text_completed")
        if not r.speech_flag:
            await self.emit("tts_completed" if r.speech else "tts_not_requested")

    async def flag(self, r: Request, kind: str) -> None:
        """A completion flag (§4); once both are out the request is over, and a cancel finds nothing running."""
        if kind in TEXT_FLAGS:
            r.text_flag = True
        else:
            r.speech_flag = True
        r.committed = r.committed or (r.text_flag and r.speech_flag)
        await self.emit(kind)

    async def reply(self, r: Request) -> None:
        """A text reply (§4), in production's order: working, the model, tools, text, speech, the record, the flags."""
        if r.request_type == "tts":
            await self.speak_only(r)
            return
        text = scripted_model.reply_for(r.prompt)
        chunks = scripted_model.chunk(text, self.chunk_rng)
        await self.emit("working", request_type=r.request_type)
        await self.emit("model_in_use", model="scripted-1", provider="reference")
        for kind, fields in (self.tool_events(r) if r.agent else []):
            await self.emit(kind, **fields)
        for index, piece in enumerate(chunks, start=1):
            await self.emit("text_chunk", text=piece, chunk_index=index)
            await self.pause()
        await self.emit("text_generation_completed", full_response=text)
        if r.speech:   # buffered speech, as production: the audio follows the text (§5 MAY); a stop still lands
            await self.speak(r, chunks)
        r.committed = True
        await self.store_reply(r, text)
        await self.flag(r, "text_completed")
        if not r.speech:
            await self.flag(r, "tts_not_requested")

    async def speak_only(self, r: Request) -> None:
        """request_type "tts": read a stored answer aloud (user_input.message_id), as production does (§5)."""
        await self.emit("working", request_type=r.request_type)
        stored = self.store.answer(r.message_id) if is_id(r.message_id) else None
        if stored is not None and stored[0] != self.customer():
            await self.flag(r, "text_not_requested")
            await self.flag(r, "tts_not_requested")
            await self.emit("error", stage="authorization", message="this message belongs to another customer")
            return
        await self.flag(r, "text_not_requested")
        r.speech = True
        text = stored[2] if stored else r.prompt
        await self.speak(r, scripted_model.chunk(text[:MAX_SPOKEN_CHARS]))   # a long prompt: only its start is read
        if stored is None:
            why = "TTS request requires message_id" if r.message_id is None else f"message {r.message_id!r} not found"
            await self.emit("error", stage="database", message=why)
            return
        # as production: the record names the stored answer that got its audio (§7), not a new exchange
        await self.emit("db_operation_executed", record={"message_id": r.message_id})

    async def speak(self, r: Request, pieces: list[str]) -> None:
        """The speech of a reply: tts_started, one audio chunk per few words, the summary, the flags, the upload."""
        await self.emit("tts_started", provider="reference", model=JSON_NULL, voice=JSON_NULL, format="pcm")
        sentences = [" ".join(pieces[i:i + 4]) for i in range(0, len(pieces), 4)] or [""]
        for sentence in sentences:
            await self.emit("audio_chunk", audio=_audio_for(sentence))
            await self.pause()
        await self.emit("tts_generation_completed", audio_chunk_count=len(sentences), text_chunk_count=len(pieces))
        await self.flag(r, "tts_completed")
        await self.emit("tts_file_uploaded", audio_url=f"http://127.0.0.1/reference-audio/{uuid.uuid4()}.wav")

    async def store_reply(self, r: Request, text: str) -> None:
        chat_id = r.chat_id
        if chat_id and self.store.owner(chat_id) is None:
            await self.emit("error", stage="database", message=f"Chat session {chat_id} not found; starting a new one")
            chat_id = None
        record = self.store.append_exchange(self.customer(), chat_id, r.prompt, text)
        await self.emit("db_operation_executed", record=record)

    def tool_events(self, r: Request) -> list[tuple[str, dict]]:
        """generate_image (a tool_start and a result with real PNG bytes) or web_search (run inside the
        provider: a tool_start and no result, as production does, §6 MAY); other prompts call no tool."""
        if scripted_model.wants_search(r.prompt):
            self.tool_calls += 1
            return [("tool_start", {"tool_name": "web_search", "call_id": f"ws_{self.tool_calls}",
                                    "tool_input": {"type": "search", "query": r.prompt[:200]},
                                    "display_text": f"web_search: {r.prompt[:80]}", "provider": "reference"})]
        if not scripted_model.wants_image(r.prompt):
            return []
        self.tool_calls += 1
        call_id = f"call_{self.tool_calls}"
        png = media.png_image(r.prompt)
        start = ("tool_start", {"tool_name": "generate_image", "call_id": call_id, "tool_input": {"prompt": r.prompt[:200]},
                                "display_text": "Generating an image", "provider": "reference"})
        result = ("tool_result", {"tool_name": "generate_image", "call_id": call_id, "is_error": False,
                                  "result": {"image_base64": base64.b64encode(png).decode(), "mime_type": "image/png",
                                             "width": 64, "height": 64}})
        return [start, result]

    async def pause(self) -> None:
        await asyncio.sleep(self.chunk_delay)


def _audio_for(piece: str) -> str:
    pcm = media.pcm_tone(min(MAX_AUDIO_CHUNK_S, 0.01 + 0.004 * len(piece)))
    return base64.b64encode(pcm).decode()
