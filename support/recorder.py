"""Turn wire frames into transcript entries: the one place a frame is decoded and labelled.

The live session calls it as frames arrive; the re-check of a saved transcript calls it with the
saved frames; tests call it with frames they write. No sockets here.
"""
from __future__ import annotations

import json
from typing import Any

from support import protocol
from support.schemas import MessageSchemas, SchemaProblem
from support.protocol import CHAT_REQUEST
from support.transcript import CLOSED, RAW, RECEIVED, SENT, Entry, Transcript
from support.vocabulary import Dialect


class Flooded(Exception):
    """The backend sent more than the transcript may hold: the session stops listening (a bounded run)."""


class Recorder:
    def __init__(self, transcript: Transcript, dialect: Dialect, max_frames: int | None = None,
                 max_bytes: int | None = None):
        self.transcript = transcript
        self.dialect = dialect
        self.schemas = MessageSchemas.for_dialect(dialect)
        self.max_frames, self.max_bytes = max_frames, max_bytes
        self.frames = self.bytes = 0

    def received(self, message: str | bytes, t: float | None = None) -> Entry:
        tr = self.transcript
        self.frames += 1
        self.bytes += len(message)
        if (self.max_frames and self.frames > self.max_frames) or (self.max_bytes and self.bytes > self.max_bytes):
            raise Flooded(f"the backend flooded {self.frames} frames ({self.bytes} bytes), past the cap of "
                          f"{self.max_frames} frames or {self.max_bytes} bytes (max_frames, max_transcript_mb)")
        if isinstance(message, bytes):
            return tr.append(RECEIVED, "malformed", t=t, raw=message, parse_error="binary frame from the server",
                             label="(binary)")
        try:
            data = json.loads(message)
        except (ValueError, RecursionError) as exc:
            return tr.append(RECEIVED, "malformed", t=t, raw=message, parse_error=f"not JSON: {exc}",
                             label="(not JSON)")
        kind, fields = self.dialect.decode(data)
        # Other modes speak another protocol (§2): record the frames, judge only admission.
        try:
            problems = self.schemas.problems(kind, data) if tr.mode == protocol.CHAT_MODE else []
        except RecursionError:
            problems = [SchemaProblem.of("the frame is nested too deeply to check against its schema", True)]
        return tr.append(RECEIVED, kind, t=t, raw=message, data=data, fields=fields, label=self.dialect.label(data),
                         schema_problems=problems,
                         parse_error=None if kind != "malformed" else "JSON without a type field")

    def sent(self, payload: str | bytes, data: Any = None, t: float | None = None) -> Entry:
        """A frame the suite sent: a control frame, a chat request, or anything else (raw)."""
        if data is None and isinstance(payload, str):
            try:
                data = json.loads(payload)
            except (ValueError, RecursionError):
                data = None
        control = self.dialect.client_kind(data)
        if control:
            kind, fields = control, {}
        elif protocol.is_chat_request(data):
            kind, fields = CHAT_REQUEST, protocol.request_fields(data)
        else:
            kind, fields = RAW, {}
        return self.transcript.append(SENT, kind, t=t, raw=payload, data=data, fields=fields, label=kind)

    def closed(self, how: str, detail: str, code: int | None = None, reason: str = "", status: int | None = None,
               t: float | None = None) -> Entry | None:
        if self.transcript.closed() is not None:
            return None
        return self.transcript.append(CLOSED, how, t=t, fields={"how": how, "detail": detail, "code": code,
                                                               "reason": reason, "status": status})
