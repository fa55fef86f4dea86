"""The recorded conversation of one connection, and the queries rules and steps ask of it.

An entry is stamped when the frame arrives (monotonic clock) by the session's reader, never
when a step next looks. Entries are appended only; readers take snapshots.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from support.protocol import CHAT_MODE, CHAT_REQUEST, RequestTracker
from support.secrets import mask

# Directions
RECEIVED = "received"   # a frame from the backend
SENT = "sent"           # a frame the suite sent
CLOSED = "closed"       # the connection ended (close code/reason, or the handshake failure)

# Kinds of SENT entries that are not dialect events (CHAT_REQUEST, from support.protocol, is the other).
RAW = "raw"             # a frame sent as-is (bad input scenarios)

@dataclass
class Entry:
    seq: int
    t: float                   # seconds since the connection attempt started
    direction: str
    kind: str
    raw: str | bytes | None = None
    data: Any = None           # parsed JSON, or None
    parse_error: str | None = None
    fields: dict = field(default_factory=dict)
    label: str = ""            # wire name as the dialect spells it
    request: int | None = None  # which chat request (1-based) this event belongs to
    schema_problems: list = field(default_factory=list)  # SchemaProblem: where the frame breaks its AsyncAPI schema
    expected: bool = False     # an error a step asked for (the others fail the scenario)

    def brief(self) -> str:
        arrow = {RECEIVED: "<-", SENT: "->", CLOSED: "xx"}[self.direction]
        detail = self._detail()
        return mask(f"#{self.seq:<3} t={self.t:7.3f}s {arrow} {clip(self.label or self.kind, 80)}{detail}")

    def _detail(self) -> str:
        f = self.fields
        if self.kind in ("text_chunk", "thinking_chunk"):
            idx = f" [{f['chunk_index']}]" if "chunk_index" in f else ""
            return f"{idx} {clip(repr(f.get('text')), 40)}"
        if self.kind in ("tool_start", "tool_result"):
            return f" {clip(str(f.get('tool_name')), 60)} call_id={clip(str(f.get('call_id')), 60)}"
        if self.kind == "audio_chunk":
            audio = f.get("audio")
            return f" ({len(audio) if isinstance(audio, str) else type(audio).__name__} base64 chars)"
        if self.kind == "error":
            return f" stage={f.get('stage')} {clip(repr(f.get('message')), 60)}"
        if self.kind == CHAT_REQUEST:
            return f" {clip(repr(f.get('prompt')), 50)}" + (" +speech" if f.get("speech") else "") + (
                " +agent" if f.get("agent") else "") + (f" chat={f['chat_id']}" if f.get("chat_id") else "")
        if self.direction == CLOSED:
            return f": {clip(str(f.get('detail')), 200)}"
        if self.kind in ("malformed", "unknown", "removed", RAW):
            return f" {clip(repr(self.raw), 60)}"
        return ""


def clip(text: str, width: int) -> str:
    """At most `width` characters; a clipped text says how long it was."""
    if len(text) <= width:
        return text
    note = f"…({len(text)} chars)"
    return text[: max(width - len(note), 1)] + note


class Transcript:
    """Append-only, thread-safe record of one connection."""

    def __init__(self, name: str = "connection", mode: str = CHAT_MODE):
        self.name = name
        self.mode = mode              # "chat", or another mode whose frames are judged for admission only (§2)
        self.t0 = time.monotonic()
        self._entries: list[Entry] = []
        self._lock = threading.Lock()
        self._requests = RequestTracker()

    # -- writing (the session only) ------------------------------------------
    def now(self) -> float:
        return time.monotonic() - self.t0

    def append(self, direction: str, kind: str, *, t: float | None = None, **kw) -> Entry:
        with self._lock:
            entry = Entry(seq=len(self._entries) + 1, t=self.now() if t is None else t,
                          direction=direction, kind=kind, **kw)
            entry.request = self._requests.attribute(entry.direction == SENT, entry.direction == RECEIVED,
                                                     entry.kind, entry.fields)
            self._entries.append(entry)
            return entry

    def expect(self, entry: Entry) -> Entry:
        """A step asked for this event (an error it provoked): the whole-conversation check accepts it."""
        entry.expected = True
        return entry

    # -- reading --------------------------------------------------------------
    @property
    def entries(self) -> list[Entry]:
        with self._lock:
            return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def received(self) -> list[Entry]:
        return [e for e in self.entries if e.direction == RECEIVED]

    def of_kind(self, *kinds: str, after: int = 0, request: int | None = None) -> list[Entry]:
        return [e for e in self.entries if e.direction == RECEIVED and e.kind in kinds and e.seq > after
                and (request is None or e.request == request)]

    def first(self, *kinds: str, after: int = 0, request: int | None = None) -> Entry | None:
        found = self.of_kind(*kinds, after=after, request=request)
        return found[0] if found else None

    def sent(self, kind: str | None = None) -> list[Entry]:
        return [e for e in self.entries if e.direction == SENT and (kind is None or e.kind == kind)]

    def closed(self) -> Entry | None:
        closes = [e for e in self.entries if e.direction == CLOSED]
        return closes[0] if closes else None

    def requests(self) -> list[Entry]:
        return self.sent(CHAT_REQUEST)

    def events_of_request(self, number: int) -> list[Entry]:
        return [e for e in self.entries if e.request == number and e.direction == RECEIVED]

    def request_finished(self, number: int) -> bool:
        return self._requests.finished(number)

    def last_request(self) -> int:
        return self._requests.count

    def reply_text(self, request: int) -> str:
        return "".join(str(e.fields.get("text", "")) for e in self.of_kind("text_chunk", request=request))

    # -- showing --------------------------------------------------------------
    def around(self, seq: int, before: int = 3, after: int = 3) -> str:
        # seq n is the n-th entry: a slice, not a scan, so explaining many violations stays linear
        with self._lock:
            idx = min(max(seq - 1, 0), len(self._entries) - 1)
            shown = self._entries[max(0, idx - before):idx + after + 1]
        lines = []
        for e in shown:
            marker = ">>" if e.seq == seq else "  "
            lines.append(f"  {marker} {e.brief()}")
        return "\n".join(lines)

    def dump(self, limit: int = 60) -> str:
        entries = self.entries
        if not entries:
            return "  (nothing received)"
        shown = entries if len(entries) <= limit else entries[: limit // 2] + entries[-limit // 2:]
        lines = [f"     {e.brief()}" for e in shown]
        if len(entries) > limit:
            lines.insert(limit // 2, f"     … {len(entries) - limit} entries not shown …")
        return "\n".join(lines)

    def flow(self) -> str:
        """One line in the old suite's style: websocketReady → working → text → … (received only).

        Runs of one event, or of an alternating pair (text → audio), are folded: "(a → b) ×5".
        """
        labels = []
        for e in self.received():
            label = clip(e.label or e.kind, 80)
            if e.kind == "tool_start":
                label = _with_detail(label, str(e.fields.get("tool_name")))
            elif e.kind == "tool_result":
                label = _with_detail(label, "error" if e.fields.get("is_error") else "success")
            labels.append(label)
        return " → ".join(_fold(labels))

    def to_json(self, raw_limit: int | None = None) -> list[dict]:
        """Every entry as JSON; with raw_limit, a longer frame is clipped and its length kept (raw_length)."""
        out = []
        for e in self.entries:
            raw = e.raw if isinstance(e.raw, (str, type(None))) else repr(e.raw)
            raw = mask(raw) if raw else raw   # a backend that echoes the token must not get it written to disk
            item = {"seq": e.seq, "t": round(e.t, 4), "direction": e.direction, "kind": e.kind,
                    "label": clip(e.label, 200), "request": e.request, "raw": raw,
                    "parse_error": clip(e.parse_error, 300) if e.parse_error else None}
            if raw_limit is not None and raw is not None and len(raw) > raw_limit:
                item["raw"], item["raw_length"] = raw[:raw_limit], len(raw)
            if e.direction == CLOSED:
                item["close"] = {k: e.fields.get(k) for k in ("how", "detail", "code", "reason", "status")}
            if e.expected:
                item["expected"] = True
            out.append(item)
        return out


def _fold(labels: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(labels):
        for width in (1, 2):
            unit = labels[i:i + width]
            repeats = 1
            while labels[i + repeats * width:i + (repeats + 1) * width] == unit:
                repeats += 1
            if len(unit) == width and repeats > 1:
                out.append(f"{unit[0]} ×{repeats}" if width == 1 else f"({' → '.join(unit)}) ×{repeats}")
                i += repeats * width
                break
        else:
            out.append(labels[i])
            i += 1
    return out


def _with_detail(label: str, detail: str) -> str:
    if label.endswith(")"):
        return f"{label[:-1]}: {detail})"
    return f"{label}({detail})"

