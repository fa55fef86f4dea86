"""Step judgments: what a single scenario's step decides about a transcript, as pure functions.

No sockets, no behave: each takes a transcript (and what the step sent) and returns a verdict, e.g.
(ok, what happened) or the reason it failed (None when it did not). The whole-conversation rules
live in support/rules; these are the verdicts one step asks for, and the wording of broken rules.
"""
from __future__ import annotations

from dataclasses import dataclass

from support.protocol import CONTENT_KINDS, REFUSAL_CLOSE_CODES, REFUSAL_STATUSES
from support.rules import VIOLATION, Violation
from support.transcript import Entry, Transcript

WORK_KINDS = frozenset({"pong", "working"}) | CONTENT_KINDS   # what "no work done" forbids


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


# -- verdicts for single scenarios (pure, not whole-transcript rules) ------------------------

def refusal(transcript: Transcript) -> tuple[bool, str]:
    """(refused as the protocol allows?, what actually happened) for a connection (§2)."""
    closed = transcript.closed()
    if closed is None:
        return False, "the connection is still open"
    f = closed.fields
    if f.get("status") is not None:
        return f["status"] in REFUSAL_STATUSES, f"the upgrade was answered with HTTP {f['status']} at t={closed.t:.3f} s"
    if closed.kind == "closed by backend":
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
    if closed is None or closed.kind == "closed by suite":
        return None
    if closed.kind not in ("closed by backend", "connection dropped"):   # flooded, or the reader failed
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
