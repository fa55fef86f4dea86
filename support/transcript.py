"""The recorded conversation of one connection, and the queries rules and steps ask of it.

An entry is stamped when the frame arrives (monotonic clock) by the session's reader, never
when a step next looks. Entries are appended only; readers take snapshots.
"""
from __future__ import annotations

import json
import threading
import time
from bisect import bisect_right
from operator import attrgetter
from typing import Any, Callable

from support.protocol import CHAT_MODE, CHAT_REQUEST, RequestTracker
from support.secrets import mask

# Directions
RECEIVED = "received"   # a frame from the backend
SENT = "sent"           # a frame the suite sent
CLOSED = "closed"       # the connection ended (close code/reason, or the handshake failure)

# Kinds of SENT entries that are not dialect events (CHAT_REQUEST, from support.protocol, is the other).
RAW = "raw"             # a frame sent as-is (bad input scenarios)

_SEQ = attrgetter("seq")

_UNSET = object()


class Entry:
    """One recorded frame. A received frame is decoded once, when a query first needs it; its
    schema problems are found once, when a rule first reads them (``schema_problems``)."""

    __slots__ = ("seq", "t", "direction", "kind", "raw", "_data", "parse_error", "fields", "label", "request",
                 "_problems", "expected")

    def __init__(self, seq: int, t: float, direction: str, kind: str, raw: str | bytes | None = None,
                 data: Any = None, parse_error: str | None = None, fields: dict | None = None, label: str = "",
                 request: int | None = None, schema_problems: Any = None, expected: bool = False):
        self.seq = seq
        self.t = t                    # seconds since the connection attempt started
        self.direction = direction
        self.kind = kind
        self.raw = raw
        self._data = data             # parsed JSON, or None; _UNSET: parsed again from raw when asked (saves memory)
        self.parse_error = parse_error
        self.fields = {} if fields is None else fields
        self.label = label            # wire name as the dialect spells it
        self.request = request        # which chat request (1-based) this event belongs to
        # SchemaProblem list: where the frame breaks its AsyncAPI schema; or a callable finding them when first read
        self._problems = [] if schema_problems is None else schema_problems
        self.expected = expected      # an error a step asked for (the others fail the scenario)

    @property
    def data(self) -> Any:
        if self._data is _UNSET:
            return json.loads(self.raw)   # the decoder parsed it once already: it parses
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        self._data = value

    @property
    def schema_problems(self) -> list:
        problems = self._problems
        if callable(problems):
            problems = self._problems = problems(self)
        return problems

    @schema_problems.setter
    def schema_problems(self, value: list) -> None:
        self._problems = value

    def _key(self) -> tuple:
        return (self.seq, self.t, self.direction, self.kind, self.raw, self.data, self.parse_error, self.fields,
                self.label, self.request, list(self.schema_problems), self.expected)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Entry) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"Entry(seq={self.seq}, t={self.t!r}, direction={self.direction!r}, kind={self.kind!r}, "
                f"label={self.label!r}, request={self.request!r}, fields={self.fields!r})")

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
    """Append-only, thread-safe record of one connection.

    The receive path only stamps and keeps each frame (``arrived``); it is decoded (JSON, the
    dialect's kind, fields and label, the request it belongs to) when a query first needs it, in
    order, so request attribution stays sequential. Every query first decodes the pending tail,
    then answers from indexes kept by kind, by request and by direction.
    """

    def __init__(self, name: str = "connection", mode: str = CHAT_MODE):
        self.name = name
        self.mode = mode              # "chat", or another mode whose frames are judged for admission only (§2)
        self.t0 = time.monotonic()
        # Every entry in order: an Entry, or a received frame not decoded yet (its raw str/bytes;
        # its stamp is in _times at the same index).
        self._items: list = []
        self._times: list[float] = []
        self._lock = threading.Lock()          # appending (the reader): held for a list append only
        self._decode_lock = threading.RLock()  # decoding and the indexes
        self._decoded = 0                      # _items[:_decoded] are Entries, attributed and indexed
        self._decoder: Callable[[int, float, str | bytes], Entry] | None = None
        self._requests = RequestTracker()
        self._sent_requests = 0
        self._closed: Entry | None = None
        self._received: list[Entry] = []
        self._sent: list[Entry] = []
        self._by_kind: dict[str, list[Entry]] = {}                 # received only
        self._by_request: dict[int, list[Entry]] = {}              # received only
        self._by_kind_request: dict[tuple[str, int], list[Entry]] = {}
        self._sent_by_kind: dict[str, list[Entry]] = {}

    # -- writing (the session only) ------------------------------------------
    def now(self) -> float:
        return time.monotonic() - self.t0

    def set_decoder(self, decoder: Callable[[int, float, str | bytes], Entry]) -> None:
        """How a received frame becomes an Entry: decoder(seq, t, raw) (the Recorder)."""
        self._decoder = decoder

    def arrived(self, raw: str | bytes, t: float) -> int:
        """The receive path: keep a received frame and its stamp; decoded later. Returns its seq."""
        with self._lock:
            self._items.append(raw)
            self._times.append(t)
            return len(self._items)

    def append(self, direction: str, kind: str, *, t: float | None = None, **kw) -> Entry:
        """An entry built now (a frame sent, the close, or a received frame decoded by its caller)."""
        with self._lock:
            entry = Entry(seq=len(self._items) + 1, t=self.now() if t is None else t,
                          direction=direction, kind=kind, **kw)
            if direction == SENT and kind == CHAT_REQUEST:
                # known now: requests are numbered by the suite's own sends (the tracker agrees when it gets there)
                self._sent_requests += 1
                entry.request = self._sent_requests
            if direction == CLOSED and self._closed is None:
                self._closed = entry
            self._items.append(entry)
            self._times.append(entry.t)
            return entry

    def decode(self) -> int:
        """Decode every pending frame, in order; return how many entries there are."""
        with self._decode_lock:
            with self._lock:
                n = len(self._items)
            i = self._decoded
            if i == n:
                return n
            items, times, attribute = self._items, self._times, self._requests.attribute
            for i in range(i, n):
                entry = items[i]
                if not isinstance(entry, Entry):
                    entry = self._decoder(i + 1, times[i], entry) if self._decoder else Entry(
                        seq=i + 1, t=times[i], direction=RECEIVED, kind="malformed", raw=entry,
                        parse_error="no decoder")
                    items[i] = entry
                direction = entry.direction
                request = attribute(direction == SENT, direction == RECEIVED, entry.kind, entry.fields)
                entry.request = request
                if direction == RECEIVED:
                    self._received.append(entry)
                    self._by_kind.setdefault(entry.kind, []).append(entry)
                    if request is not None:
                        self._by_request.setdefault(request, []).append(entry)
                        self._by_kind_request.setdefault((entry.kind, request), []).append(entry)
                elif direction == SENT:
                    self._sent.append(entry)
                    self._sent_by_kind.setdefault(entry.kind, []).append(entry)
            self._decoded = n
            return n

    def at(self, seq: int) -> Entry:
        """The entry with this seq (1-based), decoded."""
        self.decode()
        return self._items[seq - 1]

    def expect(self, entry: Entry) -> Entry:
        """A step asked for this event (an error it provoked): the whole-conversation check accepts it."""
        entry.expected = True
        return entry

    # -- reading --------------------------------------------------------------
    @property
    def entries(self) -> list[Entry]:
        n = self.decode()
        return self._items[:n]

    def __len__(self) -> int:
        return len(self._items)

    def received(self) -> list[Entry]:
        self.decode()
        return list(self._received)

    def _lists(self, kinds: tuple[str, ...], request: int | None) -> list[list[Entry]]:
        self.decode()
        if request is None:
            found = (self._by_kind.get(k) for k in kinds)
        else:
            found = (self._by_kind_request.get((k, request)) for k in kinds)
        return [f for f in found if f]

    def of_kind(self, *kinds: str, after: int = 0, request: int | None = None) -> list[Entry]:
        out: list[Entry] = []
        for found in self._lists(kinds, request):
            out += found[bisect_right(found, after, key=_SEQ):] if after else found
        if len(kinds) > 1:
            out.sort(key=_SEQ)
        return out

    def first(self, *kinds: str, after: int = 0, request: int | None = None) -> Entry | None:
        best = None
        for found in self._lists(kinds, request):
            i = bisect_right(found, after, key=_SEQ) if after else 0
            if i < len(found) and (best is None or found[i].seq < best.seq):
                best = found[i]
        return best

    def sent(self, kind: str | None = None) -> list[Entry]:
        self.decode()
        return list(self._sent if kind is None else self._sent_by_kind.get(kind, ()))

    def closed(self) -> Entry | None:
        return self._closed

    def requests(self) -> list[Entry]:
        return self.sent(CHAT_REQUEST)

    def events_of_request(self, number: int) -> list[Entry]:
        self.decode()
        return list(self._by_request.get(number, ()))

    def request_finished(self, number: int) -> bool:
        self.decode()
        return self._requests.finished(number)

    def last_request(self) -> int:
        self.decode()
        return self._requests.count

    def reply_text(self, request: int) -> str:
        return "".join(str(e.fields.get("text", "")) for e in self.of_kind("text_chunk", request=request))

    # -- showing --------------------------------------------------------------
    def around(self, seq: int, before: int = 3, after: int = 3) -> str:
        # seq n is the n-th entry: a slice, not a scan, so explaining many violations stays linear
        n = self.decode()
        idx = min(max(seq - 1, 0), n - 1)
        shown = self._items[max(0, idx - before):min(idx + after + 1, n)]
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

