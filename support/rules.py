"""The protocol's MUST rules as pure functions: transcript in, violations out.

No sockets, no behave, no event names: rules speak of kinds (see support/vocabulary), so the
same rule holds in every dialect. Each rule returns a list of Violation; an empty list means
the transcript keeps the rule. protocol.md section numbers are given with each rule.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Callable, Iterable

from support.protocol import CHAT_MODE, CONTENT_KINDS, REFUSAL_CLOSE_CODES, REFUSAL_STATUSES, SPEECH_FLAGS, TEXT_FLAGS
from support.secrets import mask
from support.transcript import Entry, Transcript, clip

WORK_KINDS = frozenset({"pong", "working"}) | CONTENT_KINDS   # what "no work done" forbids

VIOLATION = "violation"
NOTICE = "notice"   # reported in the output, fails only when the run is strict


@dataclass
class Violation:
    rule: str
    seq: int | None
    message: str
    context: str = ""
    severity: str = VIOLATION

    def __str__(self) -> str:
        where = f" at event #{self.seq}" if self.seq is not None else ""
        text = f"[{self.rule}]{where}: {self.message}"
        return f"{text}\n{self.context}" if self.context else text


@dataclass
class Check:
    """What a rule sees: the transcript, and whether the conversation is over."""

    transcript: Transcript
    final: bool = True

    def violation(self, rule: str, entry: Entry | None, message: str, severity: str = VIOLATION) -> Violation:
        seq = entry.seq if entry else None
        context = self.transcript.around(seq) if seq is not None else self.transcript.dump(limit=12)
        return Violation(rule, seq, mask(message), context, severity)

    def requests(self) -> list[tuple[Entry, list[Entry]]]:
        tr = self.transcript
        return [(req, tr.events_of_request(req.request)) for req in tr.requests()]


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


def _t(e: Entry) -> str:
    return f"t={e.t:.3f} s"


def _first(events: Iterable[Entry], *kinds: str) -> Entry | None:
    return next((e for e in events if e.kind in kinds), None)


def _folded(c: Check, rule_name: str, found: list[tuple[Entry, str]]) -> list[Violation]:
    """One notice per distinct message, however many frames show it (said once per scenario)."""
    groups: dict[str, list[Entry]] = {}
    for entry, message in found:
        groups.setdefault(message, []).append(entry)
    return [c.violation(rule_name, entries[0], message + (f" ({len(entries)} frames, the first shown)"
                                                          if len(entries) > 1 else ""), severity=NOTICE)
            for message, entries in groups.items()]


# -- connection (section 1) ---------------------------------------------------

@rule("websocket_ready comes before anything else (§1)")
def ready_first(c: Check) -> list[Violation]:
    received = c.transcript.received()
    if received and received[0].kind != "ready":
        return [c.violation("ready_first", received[0], f"the first event is {received[0].label or received[0].kind}, "
                            "expected websocket_ready")]
    return []


@rule("the websocket session id never changes within one connection (§1)")
def session_id_constant(c: Check) -> list[Violation]:
    known: tuple[str, Entry] | None = None
    for e in c.transcript.received():
        sid = e.fields.get("session_id")
        if not sid:
            continue
        if known is None:
            known = (sid, e)
        elif sid != known[0]:
            return [c.violation("session_id_constant", e, f"session_id changed from {known[0]!r} "
                                f"(first seen at #{known[1].seq}) to {sid!r}")]
    return []


@rule("the backend does not flood a connection past the transcript cap (max_frames, max_transcript_mb)")
def not_flooded(c: Check) -> list[Violation]:
    closed = c.transcript.closed()
    return [c.violation("not_flooded", closed, closed.fields.get("detail", "flooded"))] \
        if closed is not None and closed.kind == "flooded" else []


@rule("server frames are JSON objects with a type (§4)")
def frames_are_json(c: Check) -> list[Violation]:
    return [c.violation("frames_are_json", e, f"malformed frame from the server: {e.parse_error or 'no type field'}")
            for e in c.transcript.received() if e.kind == "malformed"]


@rule("every frame has the fields a client relies on (§11); other schema deviations are notices")
def frames_match_schema(c: Check) -> list[Violation]:
    out, informational = [], []
    for e in c.transcript.received():
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
                                       for e in c.transcript.received() if e.kind == "unknown"])


@rule("every error answers something a step provoked; any other error fails with its text (§9)")
def errors_expected(c: Check) -> list[Violation]:
    return [c.violation("errors_expected", e, f"the backend reported an error no step asked for: "
                        f"stage={e.fields.get('stage')!r} {clip(repr(e.fields.get('message')), 200)}")
            for e in c.transcript.of_kind("error") if not e.expected]


# -- a text reply (section 4) -------------------------------------------------

@rule("the removed events fullProcessComplete, complete, streamingComplete never appear (§4)")
def removed_events_absent(c: Check) -> list[Violation]:
    return [c.violation("removed_events_absent", e, f"removed event {e.label!r} was sent")
            for e in c.transcript.received() if e.kind == "removed"]


@rule("working comes before every content event of its request (§4)")
def working_before_content(c: Check) -> list[Violation]:
    out = []
    for e in c.transcript.received():
        if e.kind in CONTENT_KINDS and e.request is None:
            out.append(c.violation("working_before_content", e, f"{e.label} arrived while no request was running"))
    for req, events in c.requests():
        working = _first(events, "working")
        first_content = _first(events, *CONTENT_KINDS)
        if first_content and (working is None or working.seq > first_content.seq):
            where = f"working came later, at #{working.seq}" if working else "no working at all"
            out.append(c.violation("working_before_content", first_content,
                                   f"request {req.request}: {first_content.label} before working ({where})"))
    return out


@rule("chunk_index starts at 1 for each request and rises by exactly 1 (§4)")
def chunk_index_sequence(c: Check) -> list[Violation]:
    out = []
    for req, events in c.requests():
        expected = 1
        for e in events:
            if e.kind not in ("text_chunk", "thinking_chunk") or "chunk_index" not in e.fields:
                continue
            got = e.fields["chunk_index"]
            if got != expected:
                what = ("does not start at 1" if expected == 1 else
                        "a repeated chunk" if isinstance(got, int) and got < expected else "a gap")
                out.append(c.violation("chunk_index_sequence", e,
                                       f"request {req.request}: chunk_index {got!r}, expected {expected} ({what})"))
                break
            expected += 1
    return out


@rule("the text chunks joined equal full_response when textGenerationCompleted is sent (§4)")
def text_matches_full_response(c: Check) -> list[Violation]:
    out = []
    for req, events in c.requests():
        done = _first(events, "text_generation_completed")
        if done is None or "full_response" not in done.fields:
            continue
        joined = "".join(str(e.fields.get("text", "")) for e in events if e.kind == "text_chunk" and e.seq < done.seq)
        if joined != done.fields["full_response"]:
            out.append(c.violation("text_matches_full_response", done,
                                   f"request {req.request}: chunks joined = {joined[:80]!r} but full_response = "
                                   f"{str(done.fields['full_response'])[:80]!r}"))
    return out


@rule("each request gets exactly one text flag and exactly one speech flag (§4 dual completion)")
def one_completion_flag_each(c: Check) -> list[Violation]:
    out = []
    for req, events in c.requests():
        if _first(events, "working") is None:
            continue   # refused before any work: no completion owed
        for family, kinds in (("text", TEXT_FLAGS), ("speech", SPEECH_FLAGS)):
            flags = [e for e in events if e.kind in kinds]
            if len(flags) > 1:
                out.append(c.violation("one_completion_flag_each", flags[1],
                                       f"request {req.request}: a second {family} completion flag "
                                       f"({flags[1].label}; the first was #{flags[0].seq})"))
            elif not flags and c.final:
                last = events[-1] if events else req
                out.append(c.violation("one_completion_flag_each", last,
                                       f"request {req.request}: no {family} completion flag "
                                       f"({' or '.join(kinds)}) ever arrived"))
    return out


@rule("no text_chunk after text_completed (§4)")
def no_text_after_text_completed(c: Check) -> list[Violation]:
    out = []
    for req, events in c.requests():
        done = _first(events, "text_completed")
        late = done and next((e for e in events if e.kind == "text_chunk" and e.seq > done.seq), None)
        if late:
            out.append(c.violation("no_text_after_text_completed", late,
                                   f"request {req.request}: text_chunk at {_t(late)} after text_completed at {_t(done)}"))
    return out


# -- speech (section 5) -------------------------------------------------------

@rule("tts_started comes before the first audio_chunk (§5)")
def tts_started_before_audio(c: Check) -> list[Violation]:
    out = []
    for req, events in c.requests():
        audio = _first(events, "audio_chunk")
        started = _first(events, "tts_started")
        if audio and (started is None or started.seq > audio.seq):
            out.append(c.violation("tts_started_before_audio", audio,
                                   f"request {req.request}: audio before tts_started"
                                   + (f" (tts_started came at #{started.seq})" if started else " (no tts_started)")))
    return out


def decode_audio(value) -> bytes:
    """The bytes of one audio chunk; raises ValueError saying why it is not valid base64 audio."""
    if not isinstance(value, str):
        raise ValueError(f"content is {type(value).__name__}, not a base64 string")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not valid base64 ({exc})") from None
    if not data:
        raise ValueError("decodes to zero bytes")
    return data


@rule("every audio_chunk is valid base64 that decodes to non-empty bytes (§5)")
def audio_is_base64(c: Check) -> list[Violation]:
    out = []
    for e in c.transcript.of_kind("audio_chunk"):
        try:
            decode_audio(e.fields.get("audio"))
        except ValueError as exc:
            out.append(c.violation("audio_is_base64", e, f"audio chunk {exc}"))
    return out


@rule("the first text_chunk comes before tts_completed (§5)")
def text_before_tts_completed(c: Check) -> list[Violation]:
    out = []
    for req, events in c.requests():
        done = _first(events, "tts_completed")
        text = _first(events, "text_chunk")
        if done and text and text.seq > done.seq:
            out.append(c.violation("text_before_tts_completed", text,
                                   f"request {req.request}: first text_chunk at {_t(text)} after tts_completed at {_t(done)}"))
    return out


@rule("no tts_not_requested when speech was asked for (§5)")
def speech_not_refused(c: Check) -> list[Violation]:
    out = []
    for req, events in c.requests():
        if not req.fields.get("speech") or _first(events, "cancelled"):
            continue   # a cancelled request may close speech either way
        refused = _first(events, "tts_not_requested")
        if refused:
            out.append(c.violation("speech_not_refused", refused,
                                   f"request {req.request} asked for speech (tts_auto_execute) but got tts_not_requested"))
    return out


@rule("a tts_error is always followed by tts_completed (§5)")
def tts_error_then_completed(c: Check) -> list[Violation]:
    out = []
    for req, events in c.requests():
        for err in (e for e in events if e.kind == "tts_error"):
            if c.final and not any(e.kind == "tts_completed" and e.seq > err.seq for e in events):
                out.append(c.violation("tts_error_then_completed", err,
                                       f"request {req.request}: tts_error with no tts_completed after it"))
                break
    return out


@rule("tts_file_uploaded comes after tts_completed (§5)")
def upload_after_tts_completed(c: Check) -> list[Violation]:
    out = []
    for req, events in c.requests():
        upload = _first(events, "tts_file_uploaded")
        done = _first(events, "tts_completed")
        if upload and (done is None or done.seq > upload.seq):
            out.append(c.violation("upload_after_tts_completed", upload,
                                   f"request {req.request}: tts_file_uploaded before tts_completed"))
    return out


@rule("audio_chunk_count, when present, equals the number of audio_chunk events (§5)")
def audio_chunk_count_matches(c: Check) -> list[Violation]:
    out = []
    for req, events in c.requests():
        summary = _first(events, "tts_generation_completed")
        if summary is None or "audio_chunk_count" not in summary.fields:
            continue
        counted = sum(1 for e in events if e.kind == "audio_chunk")
        if summary.fields["audio_chunk_count"] != counted:
            out.append(c.violation("audio_chunk_count_matches", summary,
                                   f"request {req.request}: audio_chunk_count says {summary.fields['audio_chunk_count']}, "
                                   f"{counted} audio_chunk events arrived"))
    return out


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
    started: dict = {}
    answered: dict = {}
    for e in c.transcript.received():
        if e.kind == "tool_start":
            started.setdefault(_call_key(e), e)
        elif e.kind == "tool_result":
            key = _call_key(e)
            if key not in started:
                later = next((s for s in c.transcript.of_kind("tool_start", after=e.seq) if _call_key(s) == key), None)
                why = f"its tool_start came later, at #{later.seq}" if later else "no tool_start with that id at all"
                out.append(c.violation("tool_result_after_call", e,
                                       f"tool_result for {key[0]} {key[1]!r} before its call ({why})"))
            elif key in answered:
                out.append(c.violation("tool_result_after_call", e,
                                       f"a second tool_result for {key[0]} {key[1]!r} (the first was #{answered[key].seq})"))
            else:
                answered[key] = e
    return out


@rule("tool events come after working and before text_completed of their request (§6)")
def tool_events_within_request(c: Check) -> list[Violation]:
    out = []
    for req, events in c.requests():
        done = _first(events, "text_completed")
        late = done and next((e for e in events if e.kind in ("tool_start", "tool_result") and e.seq > done.seq), None)
        if late:
            out.append(c.violation("tool_events_within_request", late,
                                   f"request {req.request}: {late.label} after text_completed (#{done.seq})"))
    return out


@rule("every tool call gets its result (§6; asked for by the tool scenarios)", opt_in=True)
def tool_calls_have_results(c: Check) -> list[Violation]:
    results = {_call_key(e) for e in c.transcript.of_kind("tool_result")}
    return [c.violation("tool_calls_have_results", e,
                        f"tool call {e.fields.get('tool_name')!r} (call_id {e.fields.get('call_id')!r}) never got a tool_result")
            for e in c.transcript.of_kind("tool_start") if _call_key(e) not in results]


# -- chat history (section 7) ---------------------------------------------------

CHAT_RECORD = ("user_message_id", "ai_message_id", "session_id")   # what a stored exchange names (§7)
SPEECH_RECORD = ("message_id",)   # what a speech-only request's record names: the answer that got its audio (§5, §7)


@rule("db_operation_executed names what was stored: after a chat request user_message_id, ai_message_id and "
      "session_id, before text_completed; after a speech-only request the message_id it read aloud (§7)")
def db_record_well_formed(c: Check) -> list[Violation]:
    out = []
    for req, events in c.requests():
        done = _first(events, "text_completed")
        speech_only = req.fields.get("request_type") == "tts"
        wanted = SPEECH_RECORD if speech_only else CHAT_RECORD
        for e in events:
            if e.kind != "db_operation_executed":
                continue
            record = e.fields.get("record")
            missing = [k for k in wanted if not isinstance(record, dict) or k not in record]
            if speech_only and missing and isinstance(record, dict) and all(k in record for k in CHAT_RECORD):
                missing = []   # a chat record naming the answer (ai_message_id) says which message as well
            if missing:
                what = "a speech-only request's" if speech_only else "a chat request's"
                out.append(c.violation("db_record_well_formed", e, f"{what} db_operation_executed content lacks "
                                       f"{', '.join(missing)}: {str(record)[:80]!r}"))
            if done and done.seq < e.seq:
                out.append(c.violation("db_record_well_formed", e,
                                       f"request {req.request}: db_operation_executed after text_completed (#{done.seq})"))
    return out


# -- cancellation (section 8) ---------------------------------------------------

@rule("after cancelled, no text or audio of that request (§8)")
def nothing_after_cancelled(c: Check) -> list[Violation]:
    out = []
    for req, events in c.requests():
        cancelled = _first(events, "cancelled")
        # Chunks after cancelled count whether they still belong to the request or stray after it.
        late = cancelled and next((e for e in c.transcript.of_kind("text_chunk", "audio_chunk", after=cancelled.seq)
                                   if e.request in (req.request, None)), None)
        if late:
            sent = next((s for s in reversed(c.transcript.sent("cancel")) if s.seq < cancelled.seq), None)
            when = f"cancel sent at {_t(sent)}; " if sent else ""
            out.append(c.violation("nothing_after_cancelled", late,
                                   f"{when}{late.label} #{late.seq} arrived at {_t(late)}, after cancelled at {_t(cancelled)}"))
    return out


@rule("nothing is stored for a cancelled request (§8)")
def cancelled_not_stored(c: Check) -> list[Violation]:
    out = []
    for req, events in c.requests():
        if _first(events, "cancelled"):
            stored = _first(events, "db_operation_executed")
            if stored:
                out.append(c.violation("cancelled_not_stored", stored,
                                       f"request {req.request} was cancelled but db_operation_executed was sent"))
    return out


# -- running them ---------------------------------------------------------------

WHOLE_TRANSCRIPT = [name for name in RULES if name not in OPT_IN]
# Other modes speak another protocol after the upgrade (§2): only admission is judged there.
OTHER_MODES = ["frames_are_json"]


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
