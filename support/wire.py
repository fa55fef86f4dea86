"""Frames in, entries out: the one place a wire frame is decoded, labelled and checked against its schema.

Sans-I/O, in the manner of the ``websockets`` library's protocol module: no sockets, no transcript,
no callbacks up. The session hands each frame it reads to ``Wire.received``; the re-check of a
saved transcript and the tests hand it saved or written frames. What comes out is an ``Entry``,
which the transcript stores and numbers.
"""
from __future__ import annotations

import json
from operator import attrgetter
from typing import Any

import orjson

from support import protocol
from support.protocol import CHAT_REQUEST
from support.schemas import MessageSchemas, SchemaProblem
from support.vocabulary import MALFORMED, Dialect

# Directions
RECEIVED = "received"   # a frame from the backend
SENT = "sent"           # a frame the suite sent
CLOSED = "closed"       # the connection ended (close code/reason, or the handshake failure)

# Kinds of SENT entries that are not dialect events (CHAT_REQUEST, from support.protocol, is the other).
RAW = "raw"             # a frame sent as-is (bad input scenarios)

_UNSET = object()       # Entry.data: parsed again from the raw frame when asked (the parsed form is not kept)
_FITS: tuple = ()       # the schema problems of a frame that fits (shared: most frames)

# What keeping a frame costs, for the session's caps: its characters, plus for a large frame what its
# parts cost once parsed (a 30 MiB frame of tiny objects is gigabytes of dicts, not 30 MiB).
_PART_BYTES = 64        # about what one parsed object, array or member costs (CPython, 64-bit)
_SMALL = 4096           # below this many characters a frame's parts are too few to count


def _with_float(values) -> bool:
    """Is there a float anywhere in these values? (orjson reads an integer of 2^64 or more as a float.)"""
    stack = [values]   # collections still to look through
    while stack:
        for value in stack.pop():
            kind = type(value)
            if kind is float:
                return True
            if kind is dict:
                stack.append(value.values())
            elif kind is list:
                stack.append(value)
    return False


def held_size(message: str | bytes) -> int:
    """What recording this frame may hold in memory, in bytes (counted before it is parsed)."""
    size = len(message)
    if size < _SMALL or isinstance(message, bytes):
        return size
    parts = message.count("{") + message.count("[") + message.count(",")
    return size + _PART_BYTES * parts


class Entry:
    """One recorded frame: what it is (kind, fields, label), when it came, and what it was on the wire.

    A received frame is classified as it arrives (its kind is what a waiting step asks); its fields are
    read and its schema checked once, when first asked for (rules ask for all of them), from the parsed
    frame it keeps until then."""

    __slots__ = ("seq", "t", "direction", "kind", "raw", "_data", "parse_error", "_fields", "label", "request",
                 "_problems", "expected", "_pending")

    def __init__(self, seq: int, t: float, direction: str, kind: str, raw: str | bytes | None = None,
                 data: Any = None, parse_error: str | None = None, fields: dict | None = None, label: str = "",
                 request: int | None = None, schema_problems: Any = None, expected: bool = False,
                 pending: dict | None = None):
        self.seq = seq                # numbered by the transcript that stores it
        self.t = t                    # seconds since the connection attempt started
        self.direction = direction
        self.kind = kind
        self.raw = raw
        self._data = data             # parsed JSON, or None; _UNSET or a _Settler: parsed again from raw when asked
        self.parse_error = parse_error
        self._fields = {} if fields is None and pending is None else fields
        self.label = label            # wire name as the dialect spells it
        self.request = request        # which chat request (1-based) this event belongs to
        # SchemaProblem list; or, for a frame the fast check found off its schema, a callable wording why
        self._problems = _FITS if schema_problems is None else schema_problems
        self.expected = expected      # an error a step asked for (the others fail the scenario)
        # A received frame not yet settled: its parsed form (data is then its _Settler). Read and cleared
        # whole, so a reader on another thread sees either it or the settled fields.
        self._pending = pending

    def settle(self) -> Any:
        """Read the fields and check the schema of a received frame, once; its schema problems as kept (a
        list, or a callable that words them). Two threads may both settle an entry: each computes the same;
        the fields and problems are in place before _pending is cleared."""
        data = self._pending
        if data is None:
            return self._problems
        settler = self._data
        fields = settler.read(data)
        if not settler.exact and _with_float(fields.values()):   # orjson's float for an integer of 2^64 or more
            data = json.loads(self.raw)
            fields = settler.read(data)
        fits = settler.fits
        self._problems = problems = _FITS if fits is None or fits(data) else settler.word
        self._fields = fields
        self._pending = None
        return problems

    @property
    def fields(self) -> dict:
        if self._pending is not None:
            self.settle()
        return self._fields

    @property
    def data(self) -> Any:
        data = self._data
        if data is _UNSET or type(data) is _Settler:
            return json.loads(self.raw)   # it parsed once already, so it parses (json: exactly)
        return data

    @property
    def schema_problems(self) -> list:
        problems = self.settle()
        if callable(problems):
            problems = self._problems = problems(self)
        return problems

    @property
    def off_schema(self) -> bool:
        """Did the fast check find this frame off its schema? (Without wording why.)"""
        problems = self.settle()
        return problems is not _FITS and (callable(problems) or bool(problems))

    def _key(self) -> tuple:
        return (self.seq, self.t, self.direction, self.kind, self.raw, self.data, self.parse_error, self.fields,
                self.label, self.request, list(self.schema_problems), self.expected)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Entry) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"Entry(seq={self.seq}, t={self.t!r}, direction={self.direction!r}, kind={self.kind!r}, "
                f"label={self.label!r}, request={self.request!r}, fields={self.fields!r})")


# An entry's fields once it is settled (Transcript.settled), read without the property's question.
settled_fields = attrgetter("_fields")


class _Settler:
    """How one wire settles the entries of one kind: read the fields, check the schema, word a misfit.
    (One per kind and parser, shared by every entry of that kind: an entry holds one reference.)"""

    __slots__ = ("read", "fits", "word", "exact")

    def __init__(self, read, fits, word, exact: bool):
        self.read, self.fits, self.word = read, fits, word
        self.exact = exact   # parsed by json (exact); orjson may have read a huge integer as a float


class Wire:
    """Decodes the frames of one connection in one dialect. In a mode other than chat (§2) frames are
    decoded for the record but not held to the chat schemas."""

    def __init__(self, dialect: Dialect, mode: str = protocol.CHAT_MODE):
        self.dialect = dialect
        self.schemas = MessageSchemas.for_dialect(dialect) if mode == protocol.CHAT_MODE else None
        self._fits = self.schemas.fast_checks() if self.schemas else {}
        # kind -> how its entries settle, for frames orjson parsed and for those json parsed (exactly)
        self._settlers, self._exact_settlers = (
            {kind: _Settler(spec.read, self._fits.get(kind), self.word_problems, exact)
             for kind, spec in dialect.events.items()} for exact in (False, True))

    def received(self, message: str | bytes, t: float) -> Entry:
        """A frame from the backend, parsed and classified; its fields and schema wait for the first question."""
        if isinstance(message, bytes):
            return Entry(0, t, RECEIVED, MALFORMED, raw=message, parse_error="binary frame from the server",
                         label="(binary)")
        # orjson parses five times faster than json. Where the two could differ it refuses (NaN, a lone
        # surrogate, depth past 1024) or gives a float (an integer of 2^64 or more): json decides those.
        try:
            data, exact = orjson.loads(message), False
        except orjson.JSONDecodeError:
            try:
                data, exact = json.loads(message), True
            except (ValueError, RecursionError) as exc:
                return Entry(0, t, RECEIVED, MALFORMED, raw=message, parse_error=f"not JSON: {exc}", label="(not JSON)")
        kind, spec = self.dialect.classify(data)
        if spec is None:
            label = data.get("type", "?") if isinstance(data, dict) else "?"
            return Entry(0, t, RECEIVED, kind, raw=message, data=_UNSET, label=label,
                         parse_error="JSON without a type field" if kind == MALFORMED else None)
        settler = (self._exact_settlers if exact else self._settlers)[kind]
        return Entry(0, t, RECEIVED, kind, message, settler, None, None, spec.wire_name, None, None, False, data)

    def word_problems(self, entry: Entry) -> list[SchemaProblem]:
        """Why a frame the fast check refused breaks its schema (worded only when a rule reads it)."""
        try:
            return self.schemas.problems(entry.kind, entry.data)
        except RecursionError:
            return [SchemaProblem.of("the frame is nested too deeply to check against its schema", True)]

    def sent(self, payload: str | bytes, t: float, data: Any = None) -> Entry:
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
        return Entry(0, t, SENT, kind, raw=payload, data=data, fields=fields, label=kind)

    @staticmethod
    def closed(t: float, how: str, detail: str, code: int | None = None, reason: str = "",
               status: int | None = None) -> Entry:
        """How the connection ended (the close frame, a drop, a refused upgrade, or the suite's own close)."""
        return Entry(0, t, CLOSED, how, fields={"how": how, "detail": detail, "code": code, "reason": reason,
                                                "status": status})


__all__ = ["Entry", "Wire", "held_size", "settled_fields", "RECEIVED", "SENT", "CLOSED", "RAW"]
