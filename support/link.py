"""The socket side of one connection, on the background loop: read, count, record, send, wait, close.

A frame flows one way: read → stamped → counted against the caps → decoded by the wire layer →
stored by the transcript → waiters woken. Nothing here is called from a step directly: the session
(support/session.py) bridges its coroutines onto the loop.
"""
from __future__ import annotations

import asyncio
import math
from time import monotonic
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

from websockets.exceptions import ConnectionClosed

from support import protocol
from support.protocol import CloseKind
from support.connection_ends import AUTH_HINT, ClosedByBackend, SessionError, WaitTimeout, closing
from support.transcript import RECEIVED, Recorder, Transcript
from support.transcript_view import dump, unknown_names_hint
from support.wire import held_size


class Flooded(Exception):
    """The backend sent more than one connection may hold: the session stops listening (a bounded run)."""


class Caps:
    """How much one connection may hold: max_frames frames, and max_transcript_mb of what the transcript
    keeps (a frame's characters, and for a large one what its parts cost once parsed: wire.held_size)."""

    def __init__(self, max_frames: int | None, max_bytes: int | None):
        self.max_frames, self.max_bytes = max_frames, max_bytes
        self._frame_limit = max_frames or math.inf   # None or 0: no cap
        self._byte_limit = max_bytes or math.inf
        self.frames = self.bytes = 0

    def count(self, message: str | bytes) -> None:
        """Count a frame as it is read; Flooded past either cap (the receive path: kept short)."""
        self.frames += 1
        self.bytes += held_size(message)
        if self.frames > self._frame_limit or self.bytes > self._byte_limit:
            raise Flooded(f"the backend flooded {self.frames} frames ({self.bytes} bytes to hold), past the cap of "
                          f"{self.max_frames} frames or {self.max_bytes} bytes (max_frames, max_transcript_mb)")


def upgrade_target(url: str, mode: str, token: str | None, transport: str, settings) -> tuple[str, dict]:
    """The URL and headers of the upgrade: the mode's query (§2) and the token, in the query or a header."""
    parts = urlparse(url)
    query = dict(parse_qsl(parts.query))
    headers = {}
    query.update(protocol.mode_query(mode, settings))
    if token is not None:
        if transport == "header":
            headers["Authorization"] = f"Bearer {token}"
        else:
            query["token"] = token
    return urlunparse(parts._replace(query=urlencode(query))), headers


class Link:
    """One connection's socket once it is open: its reader task, its caps, and the event waiters sleep on."""

    def __init__(self, recorder: Recorder, caps: Caps, name: str, dialect_name: str):
        self.recorder, self.caps, self.name, self.dialect_name = recorder, caps, name, dialect_name
        self.transcript: Transcript = recorder.transcript
        self.ws = None
        self._reader: asyncio.Task | None = None
        # Each waiting step's (predicate, future). The reader asks the predicates as each frame lands and
        # wakes a step only once its answer is there: a task woken per frame would cost more than the frame.
        self._waiters: list[tuple[Any, asyncio.Future]] = []
        self._wake_due = False   # a wake-up is scheduled: frames read in one burst are asked about once

    def start(self, ws) -> None:
        self.ws = ws
        self._reader = asyncio.create_task(self._read(), name=f"reader:{self.name}")

    def record_close(self, how: str, detail: str, code: int | None = None, reason: str = "",
                     status: int | None = None) -> None:
        self.recorder.closed(how, detail, code=code, reason=reason, status=status)
        self._wake()

    def _wake(self) -> None:
        """Resolve the waits whose predicate now holds, or that the end of the connection settles."""
        self._wake_due = False
        if not self._waiters:
            return
        transcript, ended = self.transcript, self.transcript.closed() is not None
        still = []
        for predicate, future in self._waiters:
            if future.done():
                continue
            try:
                if ended or predicate(transcript):
                    future.set_result(None)
                    continue
            except Exception as exc:  # noqa: BLE001 - the step's own predicate failed: it gets the error
                future.set_exception(exc)
                continue
            still.append((predicate, future))
        self._waiters = still

    async def _read(self) -> None:
        ws, transcript, caps, wire = self.ws, self.transcript, self.caps, self.recorder.wire
        add, decode, t0 = transcript.add, wire.received, transcript.t0
        try:
            while True:
                message = await ws.recv()
                t = monotonic() - t0   # stamped as soon as the frame is read (Transcript.now)
                caps.count(message)
                add(decode(message, t))
                if self._waiters and not self._wake_due:
                    self._wake_due = True
                    asyncio.get_running_loop().call_soon(self._wake)
        except ConnectionClosed as exc:
            how, code, reason, detail = closing(exc, ws)
            self.record_close(how, detail, code=code, reason=reason)
        except Flooded as exc:
            ws.transport.abort()   # stop listening: the run stays bounded in time and memory
            self.record_close(CloseKind.FLOODED, str(exc))
        except Exception as exc:  # noqa: BLE001 - a reader crash must end up in the transcript
            self.record_close(CloseKind.READER_FAILED, f"{type(exc).__name__}: {exc}")

    async def send(self, payload: str | bytes, data: Any = None):
        if self.ws is None:
            raise SessionError(f"{self.name}: cannot send: the connection was never opened")
        entry = self.recorder.sent(payload, data)
        try:
            await self.ws.send(payload)
        except ConnectionClosed:
            entry.fields["undelivered"] = True   # the backend had already closed; the close entry says how
        return entry

    async def wait_for(self, predicate, what: str, timeout: float, allow_closed: bool = False):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate(self.transcript)
            if result:
                return result
            closed = self.transcript.closed()
            if closed is not None:
                if allow_closed:
                    return None
                hint = AUTH_HINT if closed.fields.get("code") in protocol.REFUSAL_CLOSE_CODES else ""
                raise ClosedByBackend(
                    f"{closed.fields['how']} while waiting for {what} on {self.name}: {closed.fields['detail']} "
                    f"(at t={closed.t:.3f} s){hint}\nReceived so far:\n{dump(self.transcript)}",
                    closed.fields.get("code"), closed.fields.get("reason") or "")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what} on {self.name} "
                                  f"({len(self.transcript.received())} frames received so far)"
                                  f"{unknown_names_hint(self.transcript, self.dialect_name)}:\n"
                                  f"{dump(self.transcript)}")   # dump lines are masked
            future = loop.create_future()
            self._waiters.append((predicate, future))
            try:
                async with asyncio.timeout(remaining):   # no task per wait, unlike asyncio.wait_for
                    await future
            except TimeoutError:
                pass
            finally:
                future.cancel()   # a done future is left as it is; the reader drops cancelled ones

    async def quiet(self, window: float) -> list:
        start = len(self.transcript)
        await asyncio.sleep(window)
        return [e for e in self.transcript.span(start, len(self.transcript)) if e.direction == RECEIVED]

    async def close(self) -> None:
        if self.ws is not None:
            try:
                await asyncio.wait_for(self.ws.close(), 3)
            except Exception:  # noqa: BLE001 - already gone is fine
                pass
        if self._reader is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._reader), 3)
            except Exception:  # noqa: BLE001
                self._reader.cancel()
        self.record_close(CloseKind.BY_SUITE, "the scenario ended")
