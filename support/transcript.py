"""The recorded conversation of one connection, and the queries rules and steps ask of it.

The transcript stores the entries the wire layer made (support/wire.py), numbers them, says which
chat request each belongs to (protocol.RequestTracker) and keeps indexes by kind, by request and
by direction. It decodes nothing and prints nothing (printable lines: support/transcript_view.py).
Entries are appended only, by one writer (the session's reader, or a re-check); readers on other
threads take snapshots.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from bisect import bisect_right
from operator import attrgetter
from typing import Any

from support.protocol import CHAT_MODE, CHAT_REQUEST, RequestTracker
from support.vocabulary import Dialect
from support.wire import CLOSED, RAW, RECEIVED, SENT, Entry, Wire

_SEQ = attrgetter("seq")

__all__ = ["Transcript", "Recorder", "Entry", "RECEIVED", "SENT", "CLOSED", "RAW"]


class Transcript:
    """Append-only, thread-safe record of one connection, indexed as it grows."""

    def __init__(self, name: str = "connection", mode: str = CHAT_MODE):
        self.name = name
        self.mode = mode              # "chat", or another mode whose frames are judged for admission only (§2)
        self.t0 = time.monotonic()
        self._items: list[Entry] = []
        self._requests = RequestTracker()
        self._closed: Entry | None = None
        self._received: list[Entry] = []
        self._sent: list[Entry] = []
        self._by_kind: defaultdict[str, list[Entry]] = defaultdict(list)   # received only
        self._by_request: defaultdict[int, list[Entry]] = defaultdict(list)   # received only
        self._by_kind_request: defaultdict[tuple[str, int], list[Entry]] = defaultdict(list)
        self._sent_by_kind: defaultdict[str, list[Entry]] = defaultdict(list)
        self._unattributed: list[Entry] = []                       # received frames of no request
        # received[:_settled] are settled, and of those _off_schema are off their schema; one judge settles at a time
        self._settled, self._off_schema, self._settling = 0, [], threading.Lock()

    def now(self) -> float:
        return time.monotonic() - self.t0

    # -- writing (one writer) --------------------------------------------------
    def add(self, entry: Entry) -> Entry:
        """Store an entry the wire layer made: number it, attribute it to its request, index it.

        One writer at a time (the session's loop thread, or a re-check); readers on other threads see
        whole entries, because each index gets an entry only once it is complete."""
        items = self._items
        entry.seq = len(items) + 1
        direction, kind = entry.direction, entry.kind
        if direction == RECEIVED:   # the common case first: this runs for every frame read
            request = entry.request = self._requests.attribute(False, True, kind, entry)
            self._received.append(entry)
            self._by_kind[kind].append(entry)
            if request is not None:
                self._by_request[request].append(entry)
                self._by_kind_request[kind, request].append(entry)
            else:
                self._unattributed.append(entry)
        elif direction == SENT:
            entry.request = self._requests.attribute(True, False, kind, entry)
            self._sent.append(entry)
            self._sent_by_kind[kind].append(entry)
        else:
            if self._closed is not None:
                return self._closed   # the first end is the one that happened
            self._closed = entry
        items.append(entry)
        return entry

    def expect(self, entry: Entry) -> Entry:
        """A step asked for this event (an error it provoked): the whole-conversation check accepts it."""
        entry.expected = True
        return entry

    # -- reading --------------------------------------------------------------
    @property
    def entries(self) -> list[Entry]:
        return self._items[:]

    def __len__(self) -> int:
        return len(self._items)

    def span(self, start: int, stop: int) -> list[Entry]:
        """The entries at positions start..stop-1 (0-based, like a slice)."""
        return self._items[max(start, 0):stop]

    def at(self, seq: int) -> Entry:
        """The entry with this seq (1-based)."""
        return self._items[seq - 1]

    def received(self) -> list[Entry]:
        return self._received[:]

    def first_received(self) -> Entry | None:
        return self._received[0] if self._received else None

    def unattributed(self) -> list[Entry]:
        """Received frames that belong to no request (the handshake, pongs, strays), in order."""
        return self._unattributed[:]

    def settled(self) -> list[Entry]:
        """The received entries, each settled once (fields, schema): wire.settled_fields then reads their fields."""
        received = self._received[:]
        if self._settled < len(received):
            with self._settling:
                start = self._settled   # another judge may have settled further meanwhile
                if start < len(received):
                    self._off_schema += [e for e in received[start:] if e.off_schema]   # settles each
                    self._settled = len(received)
        return received

    def off_schema(self) -> list[Entry]:
        """Received frames off their schema, in order (the fast check of each, once)."""
        self.settled()
        return self._off_schema[:]

    def _found(self, kind: str, request: int | None) -> list[Entry] | None:
        return self._by_kind.get(kind) if request is None else self._by_kind_request.get((kind, request))

    def of_kind(self, *kinds: str, after: int = 0, request: int | None = None) -> list[Entry]:
        out: list[Entry] = []
        for kind in kinds:
            found = self._found(kind, request)
            if found:
                out += found[bisect_right(found, after, key=_SEQ):] if after else found
        if len(kinds) > 1:
            out.sort(key=_SEQ)
        return out

    def first(self, *kinds: str, after: int = 0, request: int | None = None) -> Entry | None:
        """The earliest entry of these kinds (after seq `after`, of request `request`); rules ask it most."""
        best = None
        for kind in kinds:
            found = self._found(kind, request)
            if not found:
                continue
            if after:
                i = bisect_right(found, after, key=_SEQ)
                if i == len(found):
                    continue
                entry = found[i]
            else:
                entry = found[0]
            if best is None or entry.seq < best.seq:
                best = entry
        return best

    def sent(self, kind: str | None = None) -> list[Entry]:
        return list(self._sent if kind is None else self._sent_by_kind.get(kind, ()))

    def closed(self) -> Entry | None:
        return self._closed

    def requests(self) -> list[Entry]:
        return self.sent(CHAT_REQUEST)

    def events_of_request(self, number: int) -> list[Entry]:
        return list(self._by_request.get(number, ()))

    def request_finished(self, number: int) -> bool:
        return self._requests.finished(number)

    def last_request(self) -> int:
        return self._requests.count

    def reply_text(self, request: int) -> str:
        return "".join(str(e.fields.get("text", "")) for e in self.of_kind("text_chunk", request=request))


class Recorder:
    """Frames in, entries stored: the wire decodes, the transcript keeps. The session records through
    one; so do the re-check of a saved transcript and the tests, with frames they read or write."""

    def __init__(self, transcript: Transcript, dialect: Dialect):
        self.transcript = transcript
        self.wire = Wire(dialect, transcript.mode)

    def _t(self, t: float | None) -> float:
        return self.transcript.now() if t is None else t

    def received(self, message: str | bytes, t: float | None = None) -> Entry:
        return self.transcript.add(self.wire.received(message, self._t(t)))

    def sent(self, payload: str | bytes, data: Any = None, t: float | None = None) -> Entry:
        return self.transcript.add(self.wire.sent(payload, self._t(t), data))

    def closed(self, how: str, detail: str, code: int | None = None, reason: str = "", status: int | None = None,
               t: float | None = None) -> Entry | None:
        """The end of the connection; None if it had already ended (the first end is the one that happened)."""
        if self.transcript.closed() is not None:
            return None
        return self.transcript.add(self.wire.closed(self._t(t), how, detail, code, reason, status))
