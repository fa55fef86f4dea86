"""Step judgments: what a single scenario's step decides about a transcript, as pure functions.

No sockets, no behave: each takes a transcript (and what the step sent) and returns a verdict, e.g.
(ok, what happened) or the reason it failed (None when it did not). The whole-conversation rules
live in support/rules; these are the verdicts one step asks for, and the wording of broken rules.
"""
from __future__ import annotations

from dataclasses import dataclass

from support.protocol import (CONTENT_KINDS, REFUSAL_CLOSE_CODES, REFUSAL_STATUSES, SPEECH_FLAGS, TEXT_FLAGS,
                              TRAILING_KINDS, CloseCode, CloseKind)
from support.rules import VIOLATION, Violation, decode_audio
from support.transcript import Entry, Transcript

ALLOWED_REFUSALS = (f"HTTP {'/'.join(map(str, REFUSAL_STATUSES))} at the upgrade, "
                    f"or close {'/'.join(map(str, REFUSAL_CLOSE_CODES))}")   # how §2 lets a backend turn one away
WORK_KINDS = frozenset({"pong", "working"}) | CONTENT_KINDS   # what "no work done" forbids


# -- broken rules, worded for a failure ---------------------------------------------------------------

def violations_only(found: list[Violation]) -> list[Violation]:
    return [v for v in found if v.severity == VIOLATION]


def explain(found: list[Violation], transcript: Transcript, per_rule: int = 2) -> str:
    """Violations grouped by rule: the first few of each in full, then how many more."""
    by_rule: dict[str, list[Violation]] = {}
    for v in found:
        by_rule.setdefault(v.rule, []).append(v)
    lines = [f"{len(by_rule)} protocol rule(s) broken on {transcript.name} ({len(found)} violation(s)):"]
    for rule_name, group in by_rule.items():
        lines += [str(v) for v in group[:per_rule]]
        if len(group) > per_rule:
            lines.append(f"[{rule_name}]: … and {len(group) - per_rule} more like it, at events "
                         + ", ".join(f"#{v.seq}" for v in group[per_rule:per_rule + 10]))
    return "\n".join(lines)


def rules_broken(transcript: Transcript, found: list[Violation], what: str) -> AssertionError:
    """The failure of a step's rule check: its text is the explanation; its violations, as (connection, Violation)
    pairs on `.violations`, go to the reports as they are (a report never reads the text back). A plain
    AssertionError, so every formatter names it as it names any failed assertion."""
    failure = AssertionError(f"{explain(found, transcript)}\n(expected a transcript that keeps {what})")
    failure.violations = [(transcript.name, v) for v in found]
    return failure


# -- a connection turned away, a request answered or refused, what was stored -------------------------

def refusal(transcript: Transcript) -> tuple[bool, str]:
    """(refused as the protocol allows?, what actually happened) for a connection (§2)."""
    closed = transcript.closed()
    if closed is None:
        return False, "the connection is still open"
    f = closed.fields
    if f.get("status") is not None:
        return f["status"] in REFUSAL_STATUSES, f"the upgrade was answered with HTTP {f['status']} at t={closed.t:.3f} s"
    if closed.kind == CloseKind.BY_BACKEND:
        return f.get("code") in REFUSAL_CLOSE_CODES, f"the backend closed the socket: {f['detail']} at t={closed.t:.3f} s"
    return False, f"{closed.kind}: {f.get('detail')} at t={closed.t:.3f} s"


def not_answered_in_full(transcript: Transcript, request: int) -> str | None:
    """Why a request was not answered in full (both completion flags, text_completed, some text), or None:
    the one meaning of "answered in full", for single scenarios and load runs alike (§4)."""
    if request == 0:
        return "no question was sent"
    if not transcript.request_finished(request):
        return f"request {request} did not finish (no completion flags)"
    if transcript.first("text_completed", request=request) is None:
        return f"request {request} finished without text_completed"
    if not transcript.reply_text(request).strip():
        return f"request {request} got an empty reply"
    return None


def admission(transcript: Transcript) -> tuple[bool, str]:
    """(let in?, what happened) for a connection in another mode: a first frame and no refusal (§2)."""
    refused, what = refusal(transcript)
    if refused:
        return False, f"it was refused: {what}"
    if not transcript.received():
        return False, "no frame arrived" + (f" ({what})" if transcript.closed() else "")
    return True, f"{transcript.received()[0].label} arrived and no refusal followed"


def work_done(transcript: Transcript) -> list[Entry]:
    """Events that mean the backend worked for the connection: pong, working, any content (§2)."""
    return [e for e in transcript.received() if e.kind in WORK_KINDS]


def request_refused(transcript: Transcript, request: int) -> tuple[bool, str]:
    """(was the request refused with no work done?, what happened) — tenant isolation (§2)."""
    events = transcript.events_of_request(request)
    worked = [e for e in events if e.kind in WORK_KINDS]
    if worked:
        return False, f"the backend worked on it: {worked[0].label} at #{worked[0].seq}"
    error = next((e for e in events if e.kind == "error"), None)
    if error:
        return True, f"refused with error stage={error.fields.get('stage')!r}: {error.fields.get('message')!r}"
    closed = transcript.closed()
    if closed is not None:
        return True, f"refused by closing the connection: {closed.fields.get('detail')}"
    return False, "no answer at all (neither an error nor a close)"


def _stored_record(transcript: Transcript, request: int) -> dict:
    stored = transcript.first("db_operation_executed", request=request)
    record = stored.fields.get("record") if stored else None
    return record if isinstance(record, dict) else {}


def chat_id_of(transcript: Transcript, request: int) -> str | None:
    """The chat-history id the request was stored under (db_operation_executed, §7)."""
    return _stored_record(transcript, request).get("session_id")


def answer_id_of(transcript: Transcript, request: int):
    """The stored answer's message id (ai_message_id, §7): what a speech-only request reads aloud (§5)."""
    return _stored_record(transcript, request).get("ai_message_id")


def stored_in_chat(transcript: Transcript, chat_id: str) -> list[Entry]:
    """The records (db_operation_executed) that name a chat: a stranger's request must store none (§2, §7)."""
    return [e for e in transcript.of_kind("db_operation_executed") if chat_id in str(e.raw)]


def other_chat(stored: str | None, expected: str | None) -> str | None:
    """Why a later answer was not stored in the chat it continued (§7), or None."""
    return None if stored == expected else f"stored in chat {stored!r}, expected the same chat {expected!r}"


def database_error(transcript: Transcript, request: int) -> Entry | None:
    """The error saying a named chat was not found (stage database): the reply still completes (§7)."""
    return next((e for e in transcript.of_kind("error", request=request) if e.fields.get("stage") == "database"), None)


# -- errors, closes, stops, speech and tools ----------------------------------------------------------

def wrong_stage(error: Entry, stage: str) -> str | None:
    """Why an error is not of the stage a step expects (validation, for a bad request, §9), or None."""
    got = error.fields.get("stage")
    return None if got == stage else f"an error with stage {got!r}, expected {stage!r}"


def over_declared_limit(sent: Entry, limit: int | None) -> bool:
    """Is the frame larger than the max_message_bytes the backend declares (None: it declares none)?"""
    return limit is not None and len(sent.raw) > limit


def closed_for_size(transcript: Transcript, sent: Entry, limit: int | None) -> bool:
    """Did the backend close with 1009 after a frame over the limit it declares: the one such close §9 allows?"""
    closed = transcript.closed()
    return closed is not None and over_declared_limit(sent, limit) and closed.fields.get("code") == CloseCode.TOO_BIG


def big_question_problem(transcript: Transcript, sent: Entry, limit: int | None) -> str | None:
    """What is wrong with the answer to a large question so far, or None (§9): a refusal is an error, or close
    1009 over a declared limit; a question over a declared limit must not be served."""
    closed, size = transcript.closed(), len(sent.raw)
    if closed is not None:
        return None if closed_for_size(transcript, sent, limit) else (
            f"the backend closed the connection after the {size}-byte question ({closed.fields.get('detail')}); "
            f"a refusal must be an error, and only a question over a declared size limit may be closed with "
            f"{CloseCode.TOO_BIG} (max_message_bytes={limit or 'not set'})")
    if transcript.first("error", after=sent.seq) is None and over_declared_limit(sent, limit):
        return (f"the backend declares a limit of {limit} bytes (max_message_bytes) but served a {size}-byte "
                f"question instead of refusing it")
    return None


def too_few_chunks(transcript: Transcript, request: int, least: int) -> str | None:
    """Why the request's answer did not stream in at least `least` text pieces (min_text_chunks), or None."""
    got = len(transcript.of_kind("text_chunk", request=request))
    return None if got >= least else f"{got} text pieces in request {request}, expected at least {least}"


def closed_after(transcript: Transcript, sent: Entry) -> str | None:
    """Why the connection did not stay open after a frame the backend may refuse (§9), or None."""
    closed = transcript.closed()
    return None if closed is None else (f"the backend closed the connection after {sent.label} #{sent.seq}: "
                                        f"{closed.fields.get('detail')}")


def pong_after_answer(transcript: Transcript, ping: Entry, pong: Entry, request: int) -> str | None:
    """Why the pong did not come while the answer streamed (a ping is answered at once, §9), or None."""
    if not transcript.request_finished(request):
        return None
    last = transcript.events_of_request(request)[-1]
    return None if last.seq > pong.seq else (f"ping sent at t={ping.t:.3f} s; pong arrived at t={pong.t:.3f} s, "
                                             f"after the answer finished at t={last.t:.3f} s")


def wrong_closing(closing: Entry) -> str | None:
    """Why a closing event is not the goodbye to close_session (reason client_request), or None."""
    reason = closing.fields.get("reason")
    return None if reason == "client_request" else f"closing reason {reason!r}, expected 'client_request'"


def not_closed_normally(closed: Entry) -> str | None:
    """Why the end of a conversation was not the backend's close with 1000, or None."""
    if closed.kind == CloseKind.BY_BACKEND and closed.fields.get("code") == CloseCode.NORMAL:
        return None
    return f"expected the backend to close with {CloseCode.NORMAL}, got {closed.kind}: {closed.fields.get('detail')}"


def finished_too_soon(transcript: Transcript, request: int) -> str | None:
    """Why a request cannot be stopped mid-stream (it already finished), or None."""
    return (f"request {request} finished before it could be interrupted; use a longer long_prompt"
            if transcript.request_finished(request) else None)


def not_cancelled(transcript: Transcript, request: int, cancel: Entry | None = None) -> str | None:
    """Why a stopped request has no cancelled (§8), or None. With the cancel frame given, a request that had
    finished before it went out is fine: nothing was left to stop."""
    if transcript.first("cancelled", request=request):
        return None
    flags = transcript.of_kind(*TEXT_FLAGS, *SPEECH_FLAGS, request=request)
    if cancel is not None and flags and flags[-1].seq < cancel.seq:
        return None
    sent = cancel or next(iter(transcript.sent("cancel")[-1:]), None)
    when = f"; cancel sent at t={sent.t:.3f} s" if sent else ""
    if transcript.request_finished(request):
        return f"request {request} ran to its end without cancelled{when}"
    return f"request {request} has no cancelled{when}"


def answers_to(transcript: Transcript, sent: Entry, until: int | None = None) -> list[Entry]:
    """What answered a frame that wants no answer (a stop with nothing running, §8): the events after it (up to
    seq `until`), except what trails a request that had finished (its upload or record, §5)."""
    return [e for e in transcript.received() if e.seq > sent.seq and (until is None or e.seq < until)
            and not (e.request is not None and e.kind in TRAILING_KINDS)]


def missing_kinds(transcript: Transcript, request: int, kinds: tuple[str, ...]) -> list[str]:
    """Which of the kinds never arrived for the request."""
    return [kind for kind in kinds if transcript.first(kind, request=request) is None]


def not_spoken_only(transcript: Transcript, request: int) -> str | None:
    """Why a speech-only request (read a stored answer aloud, §5) was not spoken and left unwritten, or None."""
    if transcript.first("audio_chunk", request=request) is None:
        return f"no audio for a speech-only request (request {request})"
    written = transcript.of_kind("text_chunk", request=request)
    if written:
        return f"text was written for a speech-only request: {len(written)} text pieces for request {request}"
    missing = missing_kinds(transcript, request, ("text_not_requested", "tts_completed"))
    return f"no {' or '.join(missing)} for the speech-only request {request}" if missing else None


def audio_of(transcript: Transcript, request: int) -> tuple[list[bytes], str | None]:
    """A request's audio decoded, and the format its tts_started declared (None when it declared none)."""
    chunks = [decode_audio(e.fields.get("audio")) for e in transcript.of_kind("audio_chunk", request=request)]
    started = transcript.first("tts_started", request=request)
    return chunks, started.fields.get("format") if started else None


def tool_calls(transcript: Transcript, request: int, tool_name: str) -> list[Entry]:
    """The request's calls of the named tool ("any": of every tool)."""
    return [e for e in transcript.of_kind("tool_start", request=request)
            if tool_name == "any" or e.fields.get("tool_name") == tool_name]


def tool_not_called(transcript: Transcript, request: int, tool_name: str) -> str | None:
    """Why the request shows no call of the tool (tool_name, or "any"), or None."""
    if tool_calls(transcript, request, tool_name):
        return None
    called = sorted({str(e.fields.get("tool_name")) for e in transcript.of_kind("tool_start", request=request)})
    return (f"the backend did not call {'a tool' if tool_name == 'any' else tool_name} "
            f"(tools called: {', '.join(called) or 'none'})")


def tool_results(transcript: Transcript, request: int, tool_name: str) -> list[Entry]:
    """The results of the request's calls of the named tool."""
    names = {e.fields.get("tool_name") for e in tool_calls(transcript, request, tool_name)}
    return [e for e in transcript.of_kind("tool_result", request=request) if e.fields.get("tool_name") in names]


# -- what became of one generated frame (exploration: protocol §3, §4, §9) ---------------------------------

ANSWERED, REFUSED, TAKEN = "answered", "refused", "taken"   # the outcomes that keep the property
OK_OUTCOMES = (ANSWERED, REFUSED, TAKEN)


@dataclass(frozen=True)
class Outcome:
    """What became of one frame a client sent: one of OK_OUTCOMES, or the kind of failure, and what happened."""

    name: str
    detail: str
    seq: int | None = None   # the event that shows it

    @property
    def ok(self) -> bool:
        return self.name in OK_OUTCOMES


def _error_text(error: Entry) -> str:
    return str(error.fields.get("message") or "").strip()


def closed_outcome(transcript: Transcript) -> Outcome | None:
    """The connection ended, other than by the suite's own close: never an answer to a frame (§9). A flood is
    named as such (the suite stopped listening)."""
    closed = transcript.closed()
    if closed is None or closed.kind == CloseKind.BY_SUITE:
        return None
    if closed.kind not in (CloseKind.BY_BACKEND, CloseKind.DROPPED):   # flooded, or the reader failed
        return Outcome(closed.kind, str(closed.fields.get("detail")), closed.seq)
    code = closed.fields.get("code")
    name = f"closed with code {code}" if code is not None else "dropped without a close frame"
    return Outcome(name, f"the backend ended the connection: {closed.fields.get('detail')}", closed.seq)


def probe_outcome(transcript: Transcript, sent: Entry, until: int | None = None) -> Outcome:
    """What became of the frame sent at `sent`, judged on the events up to seq `until` (its answer window).

    A request is answered in full (both flags, text_completed, some text, no error), or refused by an error
    that says something and no text. Any other frame may be ignored or refused. Whatever it is, the backend
    never closes the connection in answer and never goes silent on a request. A database error beside a
    complete answer is allowed when the request named a chat (§7: an unknown chat is reported, the reply
    still completes)."""
    closed = closed_outcome(transcript)
    if closed is not None and (until is None or closed.seq <= until):
        return closed
    n = sent.request
    errors = [e for e in transcript.of_kind("error", after=sent.seq)
              if e.request in (n, None) and (until is None or e.seq <= until)]
    blank = next((e for e in errors if not _error_text(e)), None)
    if blank is not None:
        return Outcome("error that says nothing", f"an error with stage={blank.fields.get('stage')!r} and no text",
                       blank.seq)
    if n is None:
        return Outcome(TAKEN, f"answered with an error: {_error_text(errors[0])!r}" if errors else "no answer, as allowed")
    events = transcript.events_of_request(n)
    if not events and not errors:
        return Outcome("no answer in time", "neither an answer nor an error")
    text = transcript.reply_text(n)
    if errors and text.strip():
        if sent.fields.get("chat_id") and all(e.fields.get("stage") == "database" for e in errors):
            errors = []   # §7: the named chat was not found; the answer must still be complete
        else:
            return Outcome("answer then error", f"{len(text)} characters of answer and an error: "
                                                f"{_error_text(errors[0])!r}", errors[0].seq)
    if errors:
        return Outcome(REFUSED, f"refused: {_error_text(errors[0])!r}", errors[0].seq)
    if not transcript.request_finished(n):
        return Outcome("answer never finished", "the backend began working on it and never sent both completion "
                                                "flags", events[-1].seq)
    why = not_answered_in_full(transcript, n)
    if why is None:
        return Outcome(ANSWERED, f"answered in full ({len(text)} characters)")
    if not text.strip():
        return Outcome("empty answer with no error", why, events[-1].seq)
    return Outcome("answer not complete", why, events[-1].seq)
