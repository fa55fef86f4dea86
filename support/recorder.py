"""Turn wire frames into transcript entries: the one place a frame is decoded and labelled.

The live session hands it each frame as it arrives (``arrived``: kept, decoded when a query first
needs it); the re-check of a saved transcript calls it with the saved frames; tests call it with
frames they write. No sockets here.
"""
from __future__ import annotations

import json
from typing import Any

from support import protocol
from support.protocol import CHAT_REQUEST
from support.schemas import MessageSchemas, SchemaProblem
from support.transcript import _UNSET, CLOSED, RAW, RECEIVED, SENT, Entry, Transcript
from support.vocabulary import MALFORMED, REMOVED, UNKNOWN, Dialect

_REPARSE = 1024   # characters: up to this, a frame's parsed JSON is parsed again when asked instead of kept
_NO_SPEC = frozenset({MALFORMED, REMOVED, UNKNOWN})   # kinds Dialect.classify gives no spec


class Flooded(Exception):
    """The backend sent more than the transcript may hold: the session stops listening (a bounded run)."""


class Recorder:
    """Frames in, entries out. The receive path (``arrived``) only counts a frame against the cap and
    keeps it with its stamp; the transcript calls back (``decode``) when a query first needs the entry,
    and a frame's schema problems are found when a rule first reads them."""

    def __init__(self, transcript: Transcript, dialect: Dialect, max_frames: int | None = None,
                 max_bytes: int | None = None):
        self.transcript = transcript
        self.dialect = dialect
        self.schemas = MessageSchemas.for_dialect(dialect)
        self.max_frames, self.max_bytes = max_frames, max_bytes
        self.frames = self.bytes = 0
        self._check = self.schema_problems   # one bound method shared by every entry (memory)
        transcript.set_decoder(self.decode)

    def arrived(self, message: str | bytes, t: float | None = None) -> int:
        """The receive path: count the frame against the cap and keep it, undecoded. Returns its seq."""
        self.frames += 1
        self.bytes += len(message)
        if (self.max_frames and self.frames > self.max_frames) or (self.max_bytes and self.bytes > self.max_bytes):
            raise Flooded(f"the backend flooded {self.frames} frames ({self.bytes} bytes), past the cap of "
                          f"{self.max_frames} frames or {self.max_bytes} bytes (max_frames, max_transcript_mb)")
        return self.transcript.arrived(message, self.transcript.now() if t is None else t)

    def received(self, message: str | bytes, t: float | None = None) -> Entry:
        """A frame from the backend, recorded and decoded at once (re-checks and tests)."""
        return self.transcript.at(self.arrived(message, t))

    def decode(self, seq: int, t: float, message: str | bytes) -> Entry:
        """The entry of a received frame (called by the transcript, in order, once per frame)."""
        if isinstance(message, bytes):
            return Entry(seq, t, RECEIVED, "malformed", raw=message, parse_error="binary frame from the server",
                         label="(binary)")
        try:
            data = json.loads(message)
        except (ValueError, RecursionError) as exc:
            return Entry(seq, t, RECEIVED, "malformed", raw=message, parse_error=f"not JSON: {exc}",
                         label="(not JSON)")
        kind, fields = self.dialect.decode(data)
        spec = self.dialect.events.get(kind) if kind not in _NO_SPEC else None
        # Dialect.label without classifying the frame a second time
        label = spec.wire_name if spec is not None else (data.get("type", "?") if isinstance(data, dict) else "?")
        # Other modes speak another protocol (§2): record the frames, judge only admission.
        # A small frame's parsed form is not kept: Entry.data parses it again if asked (memory). A large
        # one (which may be nested deeply) keeps it.
        return Entry(seq, t, RECEIVED, kind, raw=message, data=_UNSET if len(message) <= _REPARSE else data,
                     fields=fields, label=label,
                     schema_problems=self._check if self.transcript.mode == protocol.CHAT_MODE else [],
                     parse_error=None if kind != "malformed" else "JSON without a type field")

    def schema_problems(self, entry: Entry) -> list[SchemaProblem]:
        """Where a received frame breaks its schema (found when first asked, see Entry.schema_problems)."""
        try:
            return self.schemas.problems(entry.kind, entry.data)
        except RecursionError:
            return [SchemaProblem.of("the frame is nested too deeply to check against its schema", True)]

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
