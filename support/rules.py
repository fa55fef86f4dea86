"""The protocol's MUST rules as pure functions: transcript in, violations out.

No sockets, no behave, no event names: rules speak of kinds (see support/vocabulary), so the
same rule holds in every dialect. Each rule returns a list of Violation; an empty list means
the transcript keeps the rule. protocol.md section numbers are given with each rule.
"""
from __future__ import annotations

import binascii
from bisect import bisect_left, bisect_right
from operator import attrgetter
from typing import Callable, Iterable

from support.protocol import CHAT_MODE, CONTENT_KINDS, SPEECH_FLAGS, TEXT_FLAGS, CloseKind
from support.secrets import mask
from support.transcript import Entry, Transcript
from support.transcript_view import around, clip, dump
from support.wire import settled_fields

VIOLATION = "violation"
NOTICE = "notice"   # reported in the output, fails only when the run is strict


class Violation:
    """A rule broken at an event. Its context (the lines around the event) is built when first read:
    a conversation that breaks a rule a thousand times prints only what a report shows."""

    __slots__ = ("rule", "seq", "message", "severity", "_context", "_transcript")

    def __init__(self, rule: str, seq: int | None, message: str, context: str | None = None,
                 severity: str = VIOLATION, transcript: Transcript | None = None):
        self.rule, self.seq, self.message, self.severity = rule, seq, message, severity
        self._context, self._transcript = context, transcript

    @property
    def context(self) -> str:
        if self._context is None:
            tr = self._transcript
            self._context = "" if tr is None else (around(tr, self.seq) if self.seq is not None else dump(tr, limit=12))
        return self._context

    @context.setter
    def context(self, value: str) -> None:
        self._context = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Violation) and (self.rule, self.seq, self.message, self.severity, self.context) == (
            other.rule, other.seq, other.message, other.severity, other.context)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Violation(rule={self.rule!r}, seq={self.seq!r}, message={self.message!r}, severity={self.severity!r})"

    def __str__(self) -> str:
        where = f" at event #{self.seq}" if self.seq is not None else ""
        text = f"[{self.rule}]{where}: {self.message}"
        context = self.context
        return f"{text}\n{context}" if context else text


class Check:
    """What a rule sees: the transcript, and whether the conversation is over."""

    def __init__(self, transcript: Transcript, final: bool = True):
        self.transcript = transcript
        self.final = final

    def violation(self, rule: str, entry: Entry | None, message: str, severity: str = VIOLATION) -> Violation:
        return Violation(rule, entry.seq if entry else None, mask(message), None, severity, self.transcript)


_SEQ = attrgetter("seq")
_FIELDS = attrgetter("fields")
_ABSENT = object()
Rule = Callable[[Check], list[Violation]]
RULES: dict[str, Rule] = {}
DESCRIPTIONS: dict[str, str] = {}
OPT_IN: set[str] = set()   # rules a scenario asks for; not part of the whole-transcript check


def rule(description: str, opt_in: bool = False):
    def register(fn: Rule) -> Rule:
        RULES[fn.__name__] = fn
        DESCRIPTIONS[fn.__name__] = description
        if opt_in:
            OPT_IN.add(fn.__name__)
        return fn
    return register


def _each_request(c: Check, judge) -> list[Violation]:
    """judge(c, tr, req, n) yields the violations of request n (req: its sent entry), request after request."""
    tr = c.transcript
    return [v for req in tr.requests() for v in judge(c, tr, req, req.request)]


def request_rule(description: str):
    """A rule judged request by request (see _each_request): the loop over requests lives there once."""
    def register(judge):
        def whole(c: Check) -> list[Violation]:
            return _each_request(c, judge)
        whole.__name__, whole.__doc__ = judge.__name__, judge.__doc__
        return rule(description)(whole)
    return register


def _after(entries: list[Entry], seq: int) -> Entry | None:
    """The first of these entries (in order) after seq."""
    i = bisect_right(entries, seq, key=_SEQ)
    return entries[i] if i < len(entries) else None


def _t(e: Entry) -> str:
    return f"t={e.t:.3f} s"


def _each_of(c: Check, rule_name: str, kind: str, say) -> list[Violation]:
    """Every frame of this kind breaks the rule; say(entry) words why."""
    return [c.violation(rule_name, e, say(e)) for e in c.transcript.of_kind(kind)]


def _folded(c: Check, rule_name: str, found: list[tuple[Entry, str]]) -> list[Violation]:
    """One notice per distinct message, however many frames show it (said once per scenario)."""
    groups: dict[str, list[Entry]] = {}
    for entry, message in found:
        groups.setdefault(message, []).append(entry)
    return [c.violation(rule_name, entries[0], message + (f" ({len(entries)} frames, the first shown)"
                                                          if len(entries) > 1 else ""), severity=NOTICE)
            for message, entries in groups.items()]


def _comes_first(c: Check, rule_name: str, tr: Transcript, n: int, earlier: tuple[str, ...], later: tuple[str, ...],
                 say):
    """The first `later` event of request n comes after the first `earlier` one, which must have come;
    say(earlier or None, later) words a violation, found at `later`."""
    then = tr.first(*later, request=n)
    first = tr.first(*earlier, request=n)
    if then and (first is None or first.seq > then.seq):
        yield c.violation(rule_name, then, f"request {n}: {say(first, then)}")


def _nothing_after(c: Check, rule_name: str, tr: Transcript, n: int, mark: str, late: tuple[str, ...], say):
    """No `late` event of request n follows its first `mark`; say(mark, late) words the first that does."""
    done = tr.first(mark, request=n)
    found = done and tr.first(*late, after=done.seq, request=n)
    if found:
        yield c.violation(rule_name, found, f"request {n}: {say(done, found)}")


# -- connection (section 1) ---------------------------------------------------

@rule("websocket_ready comes before anything else (§1)")
def ready_first(c: Check) -> list[Violation]:
    first = c.transcript.first_received()
    if first is not None and first.kind != "ready":
        return [c.violation("ready_first", first, f"the first event is {first.label or first.kind}, "
                            "expected websocket_ready")]
    return []


@rule("the websocket session id never changes within one connection (§1)")
def session_id_constant(c: Check) -> list[Violation]:
    received = c.transcript.settled()
    ids = [fields.get("session_id") for fields in map(settled_fields, received)]
    first = next((i for i, sid in enumerate(ids) if sid), None)
    if first is None:
        return []
    known = ids[first]
    if ids.count(known) + ids.count(None) == len(ids):
        return []   # one id, or none, on every frame: the common case, counted in C
    changed = next((i for i in range(first + 1, len(ids)) if ids[i] and ids[i] != known), None)
    if changed is None:
        return []
    return [c.violation("session_id_constant", received[changed], f"session_id changed from {known!r} "
                        f"(first seen at #{received[first].seq}) to {ids[changed]!r}")]


@rule("the backend does not flood a connection past the transcript cap (max_frames, max_transcript_mb)")
def not_flooded(c: Check) -> list[Violation]:
    closed = c.transcript.closed()
    return [c.violation("not_flooded", closed, closed.fields.get("detail", CloseKind.FLOODED))] \
        if closed is not None and closed.kind == CloseKind.FLOODED else []


@rule("server frames are JSON objects with a type (§4)")
def frames_are_json(c: Check) -> list[Violation]:
    return _each_of(c, "frames_are_json", "malformed",
                    lambda e: f"malformed frame from the server: {e.parse_error or 'no type field'}")


@rule("every frame has the fields a client relies on (§11); other schema deviations are notices")
def frames_match_schema(c: Check) -> list[Violation]:
    out, informational = [], []
    for e in c.transcript.off_schema():
        required = [p for p in e.schema_problems if getattr(p, "required", True)]
        if required:
            out.append(c.violation("frames_match_schema", e, f"{e.label} breaks its schema: {'; '.join(required)}; "
                                   f"frame: {clip(e.raw if isinstance(e.raw, str) else repr(e.raw), 300)}"))
        informational += [(e, f"{e.label}: an informational field is off its schema ({p}); "
                              "a failure only with strict_events=true")
                          for p in e.schema_problems if not getattr(p, "required", True)]
    return out + _folded(c, "frames_match_schema", informational)


@rule("an event type the suite does not know is reported (§4)")
def known_events(c: Check) -> list[Violation]:
    return _folded(c, "known_events", [(e, f"unknown event type {clip(repr(e.label), 120)}")
                                       for e in c.transcript.of_kind("unknown")])


@rule("every error answers something a step provoked; any other error fails with its text (§9)")
def errors_expected(c: Check) -> list[Violation]:
    return [c.violation("errors_expected", e, f"the backend reported an error no step asked for: "
                        f"stage={e.fields.get('stage')!r} {clip(repr(e.fields.get('message')), 200)}")
            for e in c.transcript.of_kind("error") if not e.expected]


# -- a text reply (section 4) -------------------------------------------------

@rule("the removed events fullProcessComplete, complete, streamingComplete never appear (§4)")
def removed_events_absent(c: Check) -> list[Violation]:
    return _each_of(c, "removed_events_absent", "removed", lambda e: f"removed event {e.label!r} was sent")


@rule("working comes before every content event of its request (§4)")
def working_before_content(c: Check) -> list[Violation]:
    strays = [c.violation("working_before_content", e, f"{e.label} arrived while no request was running")
              for e in c.transcript.unattributed() if e.kind in CONTENT_KINDS]
    return strays + _each_request(c, _working_first)


def _working_first(c: Check, tr: Transcript, req: Entry, n: int):
    yield from _comes_first(c, "working_before_content", tr, n, ("working",), tuple(CONTENT_KINDS), lambda working, content: (
        f"{content.label} before working (" + (f"working came later, at #{working.seq}" if working else "no working at all")
        + ")"))


@request_rule("chunk_index starts at 1 for each request and rises by exactly 1 (§4)")
def chunk_index_sequence(c: Check, tr: Transcript, req: Entry, n: int):
    expected = 1
    for e in tr.of_kind("text_chunk", "thinking_chunk", request=n):
        got = e.fields.get("chunk_index", _ABSENT)
        if got is _ABSENT:
            continue
        if got != expected:
            what = ("does not start at 1" if expected == 1 else
                    "a repeated chunk" if isinstance(got, int) and got < expected else "a gap")
            yield c.violation("chunk_index_sequence", e, f"request {n}: chunk_index {got!r}, expected {expected} ({what})")
            return
        expected += 1


@request_rule("the text chunks joined equal full_response when textGenerationCompleted is sent (§4)")
def text_matches_full_response(c: Check, tr: Transcript, req: Entry, n: int):
    done = tr.first("text_generation_completed", request=n)
    if done is None or "full_response" not in done.fields:
        return
    chunks = tr.of_kind("text_chunk", request=n)
    before = chunks[:bisect_left(chunks, done.seq, key=_SEQ)]
    joined = "".join(map(str, [fields.get("text", "") for fields in map(_FIELDS, before)]))
    if joined != done.fields["full_response"]:
        yield c.violation("text_matches_full_response", done, f"request {n}: chunks joined = {joined[:80]!r} but "
                          f"full_response = {str(done.fields['full_response'])[:80]!r}")


@request_rule("each request gets exactly one text flag and exactly one speech flag (§4 dual completion)")
def one_completion_flag_each(c: Check, tr: Transcript, req: Entry, n: int):
    if tr.first("working", request=n) is None:
        return   # refused before any work: no completion owed
    for family, kinds in (("text", TEXT_FLAGS), ("speech", SPEECH_FLAGS)):
        flags = tr.of_kind(*kinds, request=n)
        if len(flags) > 1:
            yield c.violation("one_completion_flag_each", flags[1], f"request {n}: a second {family} completion flag "
                              f"({flags[1].label}; the first was #{flags[0].seq})")
        elif not flags and c.final:
            events = tr.events_of_request(n)
            yield c.violation("one_completion_flag_each", events[-1] if events else req,
                              f"request {n}: no {family} completion flag ({' or '.join(kinds)}) ever arrived")


@request_rule("no text_chunk after text_completed (§4)")
def no_text_after_text_completed(c: Check, tr: Transcript, req: Entry, n: int):
    yield from _nothing_after(c, "no_text_after_text_completed", tr, n, "text_completed", ("text_chunk",),
                              lambda done, late: f"text_chunk at {_t(late)} after text_completed at {_t(done)}")


# -- speech (section 5) -------------------------------------------------------

@request_rule("tts_started comes before the first audio_chunk (§5)")
def tts_started_before_audio(c: Check, tr: Transcript, req: Entry, n: int):
    yield from _comes_first(c, "tts_started_before_audio", tr, n, ("tts_started",), ("audio_chunk",), lambda started, audio: (
        "audio before tts_started" + (f" (tts_started came at #{started.seq})" if started else " (no tts_started)")))


_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def is_base64_audio(value) -> bool:
    """Does decode_audio accept this? Said without decoding (four times faster, for every audio chunk):
    the alphabet, then at most two '=' at the end, in whole groups of four, and at least one group."""
    if not isinstance(value, str) or not value.isascii() or not value or len(value) % 4:
        return False
    text = value.encode("ascii")
    rest = text.translate(None, _BASE64_ALPHABET)   # what is not in the alphabet: padding, or worse
    return not rest or (rest in (b"=", b"==") and text.endswith(rest))


def decode_audio(value) -> bytes:
    """The bytes of one audio chunk; raises ValueError saying why it is not valid base64 audio."""
    if not isinstance(value, str):
        raise ValueError(f"content is {type(value).__name__}, not a base64 string")
    try:
        data = binascii.a2b_base64(value, strict_mode=True)   # RFC 4648 alphabet and padding, checked in C
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not valid base64 ({exc})") from None
    if not data:
        raise ValueError("decodes to zero bytes")
    return data


@rule("every audio_chunk is valid base64 that decodes to non-empty bytes (§5)")
def audio_is_base64(c: Check) -> list[Violation]:
    out = []
    for e in c.transcript.of_kind("audio_chunk"):
        audio = e.fields.get("audio")
        if is_base64_audio(audio):
            continue
        try:
            decode_audio(audio)   # words why
        except ValueError as exc:
            out.append(c.violation("audio_is_base64", e, f"audio chunk {exc}"))
    return out


@request_rule("the first text_chunk comes before tts_completed (§5)")
def text_before_tts_completed(c: Check, tr: Transcript, req: Entry, n: int):
    done = tr.first("tts_completed", request=n)
    text = done and tr.first("text_chunk", request=n)
    if text and text.seq > done.seq:
        yield c.violation("text_before_tts_completed", text,
                          f"request {n}: first text_chunk at {_t(text)} after tts_completed at {_t(done)}")


@request_rule("no tts_not_requested when speech was asked for (§5)")
def speech_not_refused(c: Check, tr: Transcript, req: Entry, n: int):
    if not req.fields.get("speech") or tr.first("cancelled", request=n):
        return   # a cancelled request may close speech either way
    refused = tr.first("tts_not_requested", request=n)
    if refused:
        yield c.violation("speech_not_refused", refused,
                          f"request {n} asked for speech (tts_auto_execute) but got tts_not_requested")


@request_rule("a tts_error is always followed by tts_completed (§5)")
def tts_error_then_completed(c: Check, tr: Transcript, req: Entry, n: int):
    for err in tr.of_kind("tts_error", request=n):
        if c.final and not tr.first("tts_completed", after=err.seq, request=n):
            yield c.violation("tts_error_then_completed", err, f"request {n}: tts_error with no tts_completed after it")
            return


@request_rule("tts_file_uploaded comes after tts_completed (§5)")
def upload_after_tts_completed(c: Check, tr: Transcript, req: Entry, n: int):
    yield from _comes_first(c, "upload_after_tts_completed", tr, n, ("tts_completed",), ("tts_file_uploaded",),
                            lambda done, upload: "tts_file_uploaded before tts_completed")


@request_rule("audio_chunk_count, when present, equals the number of audio_chunk events (§5)")
def audio_chunk_count_matches(c: Check, tr: Transcript, req: Entry, n: int):
    summary = tr.first("tts_generation_completed", request=n)
    if summary is None or "audio_chunk_count" not in summary.fields:
        return
    counted = len(tr.of_kind("audio_chunk", request=n))
    if summary.fields["audio_chunk_count"] != counted:
        yield c.violation("audio_chunk_count_matches", summary, f"request {n}: audio_chunk_count says "
                          f"{summary.fields['audio_chunk_count']}, {counted} audio_chunk events arrived")


# -- tools (section 6) ----------------------------------------------------------

def _call_key(e: Entry) -> tuple[str, object]:
    call_id = e.fields.get("call_id")
    return ("id", call_id) if call_id not in (None, "") else ("name", e.fields.get("tool_name"))


@rule("every tool_start names its tool (§6)")
def tool_start_has_name(c: Check) -> list[Violation]:
    return [c.violation("tool_start_has_name", e, "tool_start without a tool_name")
            for e in c.transcript.of_kind("tool_start") if not e.fields.get("tool_name")]


@rule("a tool_result follows the tool_start with its call_id, and each call gets at most one result (§6)")
def tool_result_after_call(c: Check) -> list[Violation]:
    out = []
    starts: dict = {}   # call key -> its tool_starts, in order
    for e in c.transcript.of_kind("tool_start"):
        starts.setdefault(_call_key(e), []).append(e)
    answered: dict = {}
    for e in c.transcript.of_kind("tool_result"):
        key = _call_key(e)
        first = starts.get(key, [None])[0]
        if first is None or first.seq > e.seq:
            why = f"its tool_start came later, at #{first.seq}" if first else "no tool_start with that id at all"
            out.append(c.violation("tool_result_after_call", e, f"tool_result for {key[0]} {key[1]!r} before its call ({why})"))
        elif key in answered:
            out.append(c.violation("tool_result_after_call", e,
                                   f"a second tool_result for {key[0]} {key[1]!r} (the first was #{answered[key].seq})"))
        else:
            answered[key] = e
    return out


@request_rule("tool events come after working and before text_completed of their request (§6)")
def tool_events_within_request(c: Check, tr: Transcript, req: Entry, n: int):
    yield from _nothing_after(c, "tool_events_within_request", tr, n, "text_completed", ("tool_start", "tool_result"),
                              lambda done, late: f"{late.label} after text_completed (#{done.seq})")


@rule("every tool call gets its result (§6; asked for by the tool scenarios)", opt_in=True)
def tool_calls_have_results(c: Check) -> list[Violation]:
    results = {_call_key(e) for e in c.transcript.of_kind("tool_result")}
    return [c.violation("tool_calls_have_results", e,
                        f"tool call {e.fields.get('tool_name')!r} (call_id {e.fields.get('call_id')!r}) never got a tool_result")
            for e in c.transcript.of_kind("tool_start") if _call_key(e) not in results]


# -- chat history (section 7) ---------------------------------------------------

CHAT_RECORD = ("user_message_id", "ai_message_id", "session_id")   # what a stored exchange names (§7)
SPEECH_RECORD = ("message_id",)   # what a speech-only request's record names: the answer that got its audio (§5, §7)


@request_rule("db_operation_executed names what was stored: after a chat request user_message_id, ai_message_id and "
              "session_id, before text_completed; after a speech-only request the message_id it read aloud (§7)")
def db_record_well_formed(c: Check, tr: Transcript, req: Entry, n: int):
    done = tr.first("text_completed", request=n)
    speech_only = req.fields.get("request_type") == "tts"
    wanted = SPEECH_RECORD if speech_only else CHAT_RECORD
    for e in tr.of_kind("db_operation_executed", request=n):
        record = e.fields.get("record")
        missing = [k for k in wanted if not isinstance(record, dict) or k not in record]
        if speech_only and missing and isinstance(record, dict) and all(k in record for k in CHAT_RECORD):
            missing = []   # a chat record naming the answer (ai_message_id) says which message as well
        if missing:
            what = "a speech-only request's" if speech_only else "a chat request's"
            yield c.violation("db_record_well_formed", e, f"{what} db_operation_executed content lacks "
                              f"{', '.join(missing)}: {str(record)[:80]!r}")
        if done and done.seq < e.seq:
            yield c.violation("db_record_well_formed", e,
                              f"request {n}: db_operation_executed after text_completed (#{done.seq})")


# -- cancellation (section 8) ---------------------------------------------------

@rule("after cancelled, no text or audio of that request (§8)")
def nothing_after_cancelled(c: Check) -> list[Violation]:
    tr = c.transcript
    strays = [e for e in tr.unattributed() if e.kind in ("text_chunk", "audio_chunk")]   # count after any cancel
    return _each_request(c, lambda c, tr, req, n: _late_after_cancel(c, tr, n, strays))


def _late_after_cancel(c: Check, tr: Transcript, n: int, strays: list[Entry]):
    cancelled = tr.first("cancelled", request=n)
    if cancelled is None:
        return
    own = tr.first("text_chunk", "audio_chunk", after=cancelled.seq, request=n)
    late = min((e for e in (own, _after(strays, cancelled.seq)) if e is not None), key=_SEQ, default=None)
    if late:
        cancels = tr.sent("cancel")
        i = bisect_left(cancels, cancelled.seq, key=_SEQ)
        when = f"cancel sent at {_t(cancels[i - 1])}; " if i else ""
        yield c.violation("nothing_after_cancelled", late,
                          f"{when}{late.label} #{late.seq} arrived at {_t(late)}, after cancelled at {_t(cancelled)}")


@request_rule("nothing is stored for a cancelled request (§8)")
def cancelled_not_stored(c: Check, tr: Transcript, req: Entry, n: int):
    stored = tr.first("cancelled", request=n) and tr.first("db_operation_executed", request=n)
    if stored:
        yield c.violation("cancelled_not_stored", stored, f"request {n} was cancelled but db_operation_executed was sent")


# -- running them ---------------------------------------------------------------

WHOLE_TRANSCRIPT = [name for name in RULES if name not in OPT_IN]
# Other modes speak another protocol after the upgrade (§2): only admission is judged there.
OTHER_MODES = ["frames_are_json"]


def table() -> str:
    """Every rule, what it checks and when, as Markdown (docs/protocol.md's appendix; support.generate writes it)."""
    rows = ["| rule | what it checks | when |", "|---|---|---|"]
    for name, description in DESCRIPTIONS.items():
        when = "asked for by a scenario" if name in OPT_IN else "every chat connection"
        if name in OTHER_MODES:
            when += " and every other mode"
        rows.append(f"| `{name}` | {description.replace('|', '/')} | {when} |")
    return "\n".join(rows)


def check(transcript: Transcript, names: Iterable[str] | None = None, final: bool = True,
          strict: bool = False) -> list[Violation]:
    """Apply rules (default: every whole-transcript rule); notices count only when strict."""
    c = Check(transcript, final=final)
    out: list[Violation] = []
    if names is None:
        names = WHOLE_TRANSCRIPT if transcript.mode == CHAT_MODE else OTHER_MODES
    for name in names:
        for v in RULES[name](c):
            if v.severity == NOTICE and strict:
                v.severity = VIOLATION
            out.append(v)
    return out
