"""Send one generated frame on a connection of its own and judge what became of it.

The frame goes out; a request must get an answer or a refusal within error_timeout and, once
begun, both completion flags within timeout. Then a ping: its pong marks the end of the frame's
answer window (the backend answers in order, so an error that trails the answer arrives before
it). Then a valid question, which must be answered in full. Last, the whole-conversation rules.
The verdicts are verdicts.probe_outcome and verdicts.not_answered_in_full; this module only waits.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from support import rules, verdicts
from support.explore.cases import Case
from support.verdicts import Outcome
from support.session import ClosedByBackend, Session, WaitTimeout
from support.transcript import Transcript


@dataclass
class ProbeResult:
    case: Case
    outcome: Outcome
    transcript: Transcript
    violations: list = field(default_factory=list)


async def run_probe(settings, dialect, token: str, case: Case, name: str) -> ProbeResult:
    """Open a connection, send the case, judge it, close. A connection that cannot be opened raises
    (the backend is down: not a finding about this frame)."""
    session = Session(settings, dialect, name, token=token)
    await session.open()
    try:
        outcome = await _judge(session, case, settings)
    finally:
        await session.close()
    tr = session.transcript
    if not outcome.ok:
        return ProbeResult(case, outcome, tr)
    violations = verdicts.violations_only(rules.check(tr, strict=settings.strict_events))
    if violations:
        first = violations[0]
        outcome = Outcome(f"broke [{first.rule}]", first.message, first.seq)
    return ProbeResult(case, outcome, tr, violations)


async def _judge(session: Session, case: Case, settings) -> Outcome:
    tr = session.transcript
    sent = await session.send_raw(case.wire)
    n = sent.request
    try:
        if n is not None:
            try:
                await session.wait_for(lambda t: t.events_of_request(n) or t.first("error", after=sent.seq),
                                       f"an answer or an error for the generated request #{sent.seq}",
                                       settings.error_timeout)
            except WaitTimeout:
                return Outcome("no answer in time", f"neither an answer nor an error within error_timeout="
                                                    f"{settings.error_timeout:g} s")
            try:
                await session.wait_for(lambda t: t.request_finished(n), f"the generated request #{sent.seq} to finish",
                                       settings.timeout)
            except WaitTimeout:
                pass   # judged below: begun and never finished
        try:
            pong = await session.ping(settings.timeout)
        except WaitTimeout:
            outcome = verdicts.probe_outcome(tr, sent)
            return outcome if not outcome.ok else Outcome("no pong afterwards", f"a ping got no pong within "
                                                                                f"timeout={settings.timeout:g} s")
        outcome = verdicts.probe_outcome(tr, sent, until=pong.seq)
        if not outcome.ok:
            return outcome
        for error in tr.of_kind("error", after=sent.seq):
            if error.seq < pong.seq:
                tr.expect(error)   # the frame's refusal: an answer the property allows
        question = await session.send_request(settings.chat_prompt)
        await session.wait_for(lambda t: t.request_finished(question.request), "the next question's answer",
                               settings.timeout)
        why = verdicts.not_answered_in_full(tr, question.request)
        return outcome if why is None else Outcome("next question not answered in full", why)
    except ClosedByBackend:
        return verdicts.closed_outcome(tr)
    except WaitTimeout as exc:
        return Outcome("next question not answered in full", str(exc).splitlines()[0])
