"""Protocol-checked load: many customers chat at once, and every conversation is judged by the
same rules as the functional scenarios.

`samples` reads one recorded transcript (tests run it without a socket); support/load_results.py
turns samples into percentiles, the table and the mergeable `*.load.json`. The runner
(`run_customers`, `one_customer`) drives the public Session API; every connection lives on the
session helper's background loop, so arrival times stay exact however many are open. Each
conversation is judged as soon as it ends (as a k6 or Locust iteration is), so the progress lines
count broken conversations while the run goes on, and a clean transcript is dropped at once.

Metric names follow k6 where k6 has one (ws_connecting, ws_session_duration, ws_msgs_received,
ws_msgs_sent); the rest are this suite's. All times are milliseconds.
"""
from __future__ import annotations

import asyncio
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from support import load_results, rules, verdicts
from support.load_results import COUNTERS, TRENDS
from support.protocol import CHAT_REQUEST, SPEECH_FLAGS, TEXT_FLAGS
from support.secrets import mask
from support.socket_loop import on_background
from support.transcript import CLOSED, RECEIVED, SENT, Transcript
from support.transcript_view import clip

KEEP_FOR_READING = 3   # broken, and failed, conversations whose transcripts a scenario keeps in full
PROGRESS_EVERY = 1.0   # seconds between progress lines (k6 prints one a second)
WHY_LIMIT = 300        # characters of a failure's first line kept in the results file


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


# -- pure: one transcript --------------------------------------------------------------------------

def samples(tr: Transcript) -> dict[str, list[float]]:
    """Every metric's samples from one connection's transcript (entry.t: seconds since it started)."""
    entries = tr.entries   # one snapshot: the list is copied once, not per query
    received = [e for e in entries if e.direction == RECEIVED]
    out: dict[str, list[float]] = {name: [] for name in TRENDS + COUNTERS}
    ready = next((e for e in received if e.kind == "ready"), None)
    if ready is not None:
        out["ws_connecting"].append(_ms(ready.t))
    closed = next((e for e in entries if e.direction == CLOSED), None)
    if closed is not None:
        out["ws_session_duration"].append(_ms(closed.t))
    out["ws_msgs_received"].append(len(received))
    out["ws_msgs_sent"].append(sum(1 for e in entries if e.direction == SENT))
    by_request: dict[int, list] = {}
    for e in received:
        if e.request is not None:
            by_request.setdefault(e.request, []).append(e)
    for req in (e for e in entries if e.direction == SENT and e.kind == CHAT_REQUEST):
        events = by_request.get(req.request, [])
        text = [e for e in events if e.kind == "text_chunk"]
        if text:
            out["time_to_first_text"].append(_ms(text[0].t - req.t))
            out["inter_chunk_gap"] += [_ms(b.t - a.t) for a, b in zip(text, text[1:])]
        if req.fields.get("speech"):
            audio = next((e for e in events if e.kind == "audio_chunk"), None)
            if audio is not None:
                out["time_to_first_audio"].append(_ms(audio.t - req.t))
        text_flag = next((e for e in events if e.kind in TEXT_FLAGS), None)
        speech_flag = next((e for e in events if e.kind in SPEECH_FLAGS), None)
        if text_flag is not None and speech_flag is not None:
            out["reply_duration"].append(_ms(max(text_flag.t, speech_flag.t) - req.t))
    return out


def incomplete_answer(tr: Transcript) -> str | None:
    """Why the connection's last question was not answered in full, or None: as the chat scenarios mean it."""
    return verdicts.not_answered_in_full(tr, tr.last_request())


# -- pure: many customers --------------------------------------------------------------------------

def within(values: list[float | None], limit_ms: float) -> int:
    """How many customers' values are at most limit_ms (a customer with no value is not within)."""
    return sum(1 for v in values if v is not None and v <= limit_ms)


def needed(percent: float, customers: int) -> int:
    return math.ceil(percent / 100.0 * customers - 1e-9)


# -- one customer ----------------------------------------------------------------------------------

@dataclass
class Customer:
    number: int
    name: str
    session: object = None            # support.session.Session; dropped once judged (a few are kept)
    failure: str | None = None        # a connection failure or timeout, in the session helper's words
    incomplete: str | None = None     # why the answer was not complete
    violations: list = field(default_factory=list)   # rules.Violation, notices excluded
    notices: dict = field(default_factory=dict)      # rule -> how many notices
    samples: dict = field(default_factory=dict)
    unfinished: bool = False          # still running when the run ended: failed, with that as its failure
    judged: bool = False

    @property
    def transcript(self) -> Transcript | None:
        return self.session.transcript if self.session is not None else None

    def first(self, metric: str) -> float | None:
        values = self.samples.get(metric) or []
        return values[0] if values else None

    @property
    def clean(self) -> bool:
        return not (self.failure or self.incomplete or self.violations)

    def problem(self) -> str | None:
        """Why the conversation failed (first) or broke a rule, in one line; None when clean."""
        if self.failure or self.incomplete:
            return (self.failure or self.incomplete).splitlines()[0]
        if self.violations:
            v = self.violations[0]
            more = f" (and {len(self.violations) - 1} more findings)" if len(self.violations) > 1 else ""
            return f"[{v.rule}] {v.message.splitlines()[0] if v.message else ''}{more}"
        return None


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return mask(text if isinstance(exc, AssertionError) else f"{type(exc).__name__}: {text}")


def stopped(customer: Customer, why: str) -> Customer:
    """Mark a conversation the run ended before it did: it counts as failed ("unfinished")."""
    customer.unfinished = True
    customer.failure = f"unfinished: {why}"
    return customer


async def connect(customer: Customer, settings, dialect) -> None:
    """Open the customer's own connection with a valid token for customer_id (a failure is recorded)."""
    from support.session import Session   # here: tests of the pure half import no socket code
    from support.tokens import mint
    customer.session = Session(settings, dialect, customer.name, token=mint(settings, "valid"))
    try:
        await customer.session.open()
    except Exception as exc:  # noqa: BLE001 - one customer's failure is a finding, not the end of the run
        customer.failure = _why(exc)


async def chat(customer: Customer, settings, speech: bool = False) -> None:
    """Ask chat_prompt and wait for both completion flags."""
    if customer.failure or customer.session is None:
        return
    session = customer.session
    try:
        entry = await session.send_request(settings.chat_prompt, speech=speech)
        await session.wait_for(lambda tr: tr.request_finished(entry.request),
                               f"request {entry.request} to finish (both completion flags)")
    except Exception as exc:  # noqa: BLE001
        customer.failure = _why(exc)


async def close(customer: Customer) -> None:
    if customer.session is not None:
        try:
            await customer.session.close()
        except Exception:  # noqa: BLE001 - closing is best effort; the transcript says how it ended
            pass


def judge(customer: Customer, strict: bool = False, keep: bool = False, final: bool = True) -> Customer:
    """Samples, completeness and every whole-transcript rule; a clean transcript is dropped unless keep.
    final=False for a conversation the run stopped: flags still owed are not counted as missing."""
    customer.judged = True
    tr = customer.transcript
    if tr is None:
        return customer
    customer.samples = samples(tr)
    customer.incomplete = None if customer.failure else incomplete_answer(tr)
    found = rules.check(tr, strict=strict, final=final)
    customer.violations = verdicts.violations_only(found)
    for v in found:
        if v.severity == rules.NOTICE:
            customer.notices[v.rule] = customer.notices.get(v.rule, 0) + 1
    if customer.clean and not keep:
        customer.session = None
    return customer


async def one_customer(number: int, settings, dialect, speech: bool = False, where: str = "") -> Customer:
    """One whole conversation, judged: connect, ask, wait for completion, close (Locust runs these).
    `where` tells processes apart in the connection's name (" on worker 2")."""
    customer = Customer(number, f"customer {number}'s connection{where}")
    try:
        await connect(customer, settings, dialect)
        await chat(customer, settings, speech)
    finally:
        await close(customer)
    return judge(customer, strict=settings.strict_events)


# -- many customers --------------------------------------------------------------------------------

@dataclass
class Tally:
    """What the progress lines count, as conversations start and end."""
    count: int
    started: int = 0
    finished: int = 0
    failed: int = 0
    broken: int = 0
    first_text: list = field(default_factory=list)

    def add(self, c: Customer) -> None:
        self.finished += 1
        self.failed += bool(c.failure or c.incomplete)
        self.broken += bool(c.violations)
        self.first_text += c.samples.get("time_to_first_text", [])[:1]

    def line(self, seconds: float) -> str:
        p95 = load_results.percentile(self.first_text, 95)
        return (f"load {seconds:.1f} s: {self.started} of {self.count} conversations started, {self.finished} "
                f"finished, {self.broken} broken, {self.failed} failed; p95 time_to_first_text "
                f"{load_results.fmt(p95)}")


class _Progress:
    """A line every PROGRESS_EVERY s from its own thread: judging a burst of finished conversations keeps the
    step's loop busy for seconds, and the lines must not wait for it."""

    def __init__(self, progress: Callable[[str], None], tally: Tally, start: float, limit_s: float | None):
        self.progress, self.tally, self.start = progress, tally, start
        # Bounded even if the run is abandoned without end() (an interrupt that never reaches its finally).
        self.until = start + (limit_s + 60 if limit_s is not None else math.inf)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="load-progress", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(PROGRESS_EVERY) and time.monotonic() < self.until:
            self.progress(self.tally.line(time.monotonic() - self.start))

    def end(self) -> None:
        self.stop.set()
        self.thread.join(PROGRESS_EVERY)


@dataclass
class LoadRun:
    customers: list[Customer]
    speech: bool
    phases: dict[str, float]           # seconds: connecting, chatting (with closing), checking (within them)
    wall_s: float

    def failed(self) -> list[Customer]:
        return [c for c in self.customers if c.failure or c.incomplete]

    def broken(self) -> list[Customer]:
        return [c for c in self.customers if c.violations]

    def values(self, metric: str) -> list[float | None]:
        return [c.first(metric) for c in self.customers]

    def notices(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for c in self.customers:
            for name, n in c.notices.items():
                total[name] = total.get(name, 0) + n
        return total

    def kept(self, limit: int = KEEP_FOR_READING) -> list[Customer]:
        """A few broken or failed conversations, broken first, whose transcripts the scenario keeps."""
        chosen = [c for c in self.broken() if c.session is not None][:limit]
        chosen += [c for c in self.failed() if c.session is not None and c not in chosen][:limit - len(chosen)]
        return chosen

    def broken_rules(self) -> dict[str, int]:
        """How many conversations broke each rule, the most broken first."""
        counts: dict[str, int] = {}
        for c in self.broken():
            for rule in {v.rule for v in c.violations}:
                counts[rule] = counts.get(rule, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))

    def results(self) -> load_results.Results:
        broken, broken_rules, failed = self.broken(), self.broken_rules(), self.failed()
        return load_results.Results(
            customers=len(self.customers), answered=len(self.customers) - len(failed), broken=len(broken),
            unfinished=sum(c.unfinished for c in self.customers), wall_s=self.wall_s,
            samples=load_results.combine(c.samples for c in self.customers), speech=self.speech,
            phases=self.phases, broken_rules=broken_rules, notices=self.notices(),
            failed=[{"connection": c.name, "why": clip(c.problem() or "", WHY_LIMIT)} for c in failed],
            violations=[{"connection": c.name, "rule": v.rule, "seq": v.seq, "message": v.message, "context": v.context}
                        for c in broken[:load_results.DETAIL_LIMIT] for v in c.violations[:5]])

    def lines(self) -> list[str]:
        return self.results().lines()


def _keep_few(customer: Customer, held: dict[str, int]) -> None:
    """Keep the transcripts of the first few broken and the first few failed conversations (memory)."""
    kind = "broken" if customer.violations else None if customer.clean else "failed"
    if kind and held[kind] < KEEP_FOR_READING:
        held[kind] += 1
    else:
        customer.session = None


async def run_customers(settings, dialect, count: int, *, speech: bool = False, connecting: int = 50,
                        limit_s: float | None = None, progress: Callable[[str], None] | None = None) -> LoadRun:
    """`count` customers chat at the same time: all connect (at most `connecting` handshakes in flight,
    as a listen backlog is finite), then all ask at once; each closes once answered and is judged then.
    After limit_s seconds the conversations still running are stopped and count as failed ("unfinished").
    `progress` gets a line every PROGRESS_EVERY s (from another thread) and a last one at the end.
    Awaited from a step: each Session coroutine runs on the session helper's background loop."""
    customers = [Customer(i, f"customer {i}'s connection") for i in range(1, count + 1)]
    gate = asyncio.Semaphore(max(1, connecting))
    everyone_connected = asyncio.Event()
    tally, held = Tally(count), {"broken": 0, "failed": 0}
    phases = {"connecting": 0.0, "chatting": 0.0, "checking": 0.0}
    start = time.monotonic()
    arrived = 0

    def finish(c: Customer, final: bool = True) -> None:
        mark = time.monotonic()
        judge(c, strict=settings.strict_events, keep=True, final=final)
        phases["checking"] += time.monotonic() - mark
        _keep_few(c, held)
        tally.add(c)

    async def one(c: Customer) -> None:
        nonlocal arrived
        try:
            try:
                async with gate:
                    tally.started += 1
                    await connect(c, settings, dialect)
            finally:
                arrived += 1
                if arrived == count:
                    phases["connecting"] = time.monotonic() - start
                    everyone_connected.set()
            await everyone_connected.wait()   # all ask at the same moment
            await chat(c, settings, speech)
        finally:
            await close(c)   # also when the run stops it: the close is its last frame
        finish(c)

    tasks = [asyncio.ensure_future(one(c)) for c in customers]
    ticker = _Progress(progress, tally, start, limit_s) if progress else None
    try:
        done, pending = await asyncio.wait(tasks, timeout=limit_s) if tasks else (set(), set())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            task.result()   # a fault in the runner itself is not a finding: raise it
        for c in customers:
            if not c.judged:   # only a run with a time limit leaves any
                finish(stopped(c, f"still running when the load run ended at its time limit of {limit_s:g} s"),
                       final=False)
    finally:
        for task in tasks:
            task.cancel()
        if ticker is not None:
            ticker.end()
    wall = time.monotonic() - start
    if not everyone_connected.is_set():
        phases["connecting"] = wall
    phases["chatting"] = wall - phases["connecting"]
    if progress:
        progress(tally.line(wall))
    return LoadRun(customers, speech, phases, wall)


async def run_scenario(settings, dialect, count: int, speech: bool, report: Path, say: Callable[[str], None]) -> LoadRun:
    """A load step's run: `count` customers (or load_customers), within the scenario's budget, its progress
    said as it goes and its results written to `report`."""
    customers, note = chosen(settings, "load_customers", count)
    if note:
        say(f"load: {note}")
    connecting = settings.load_connecting
    assert connecting > 0, f"setting load_connecting={connecting}: a positive number of handshakes at once"
    # On the socket loop itself, where every connection lives: the customers' calls need no hop to it.
    run = await on_background(run_customers(settings, dialect, int(customers), speech=speech, connecting=connecting,
                                            limit_s=time_limit(settings.scenario_budget), progress=say))
    write_report(report, run)
    for line in [*run.lines(), f"    load report: {report}"]:
        say(line)
    return run


# -- what the load steps decide about a finished run (pure) -----------------------------------------

def not_all_complete(run: LoadRun, shown: int = 5) -> str | None:
    """Why not every customer got a complete answer (the first few named), or None."""
    failed = run.failed()
    if not failed:
        return None
    lines = "\n".join(f"  {c.name}: {(c.failure or c.incomplete).splitlines()[0]}" for c in failed[:shown])
    more = f"\n  … and {len(failed) - shown} more" if len(failed) > shown else ""
    return f"{len(failed)} of {len(run.customers)} customers did not get a complete answer:\n{lines}{more}"


def timing(run: LoadRun, settings, metric: str, what: str, percent: float, limit: float) -> tuple[bool, str]:
    """(did enough customers get `metric` within the limit?, the verdict: how many, the percentile and, when
    too few, the slowest). The settings load_percentile and load_first_*_ms override the scenario's figures."""
    percent, note_p = chosen(settings, "load_percentile", percent)
    key = "load_first_text_ms" if metric == "time_to_first_text" else "load_first_audio_ms"
    limit, note_l = chosen(settings, key, limit)
    values = run.values(metric)
    total, need, ok = len(values), needed(percent, len(values)), within(values, limit)
    p = load_results.percentile([v for v in values if v is not None], percent)
    notes = "; ".join(n for n in (note_p, note_l) if n)
    verdict = (f"{ok} of {total} customers ({100.0 * ok / max(total, 1):.1f}%) {what} within {limit:g} ms; "
               f"{percent:g}% needed ({need}); p{percent:g} = {load_results.fmt(p)}" + (f" ({notes})" if notes else ""))
    if ok >= need:
        return True, verdict
    slowest = sorted(run.customers, key=lambda c: -(c.first(metric) or float("inf")))[:5]
    shown = ", ".join(f"{c.name} {load_results.fmt(c.first(metric)) if c.first(metric) is not None else 'never'}"
                      for c in slowest)
    return False, f"only {verdict}\nslowest: {shown}"


def protocol_broken(run: LoadRun, shown: int = 3) -> str | None:
    """Which conversations broke which rules (the first few explained), or None when every one kept them all."""
    broken = run.broken()
    if not broken:
        return None
    rules_line = ", ".join(f"[{name}] on {n}" for name, n in run.broken_rules().items())
    # those whose transcripts were kept first (the first few to finish broken): they explain with context
    broken = sorted(broken, key=lambda c: c.transcript is None)
    explained = "\n".join(verdicts.explain(c.violations, c.transcript) if c.transcript is not None else
                          "\n".join(str(v) for v in c.violations) for c in broken[:shown])
    more = f"\n… and {len(broken) - shown} more conversations" if len(broken) > shown else ""
    return f"{len(broken)} of {len(run.customers)} conversations broke the protocol ({rules_line}):\n{explained}{more}"


def time_limit(budget_s: float) -> float:
    """How long a load run may take within its scenario's budget (scenario_budget): a fifth of it, at most
    30 s, is left for closing the stopped conversations, the report and the remaining steps."""
    return budget_s - min(30.0, budget_s / 5)


def write_report(path: Path, run: LoadRun) -> Path:
    """The run's results file (load_results.write), next to the scenario's transcript file."""
    return load_results.write(path, run.results())


def chosen(settings, key: str, stated: float) -> tuple[float, str]:
    """The number a load step uses: the scenario's, unless the setting `key` is given (non-zero).
    Returns (number, a note saying which, for the output)."""
    value = getattr(settings, key)
    if value < 0 or (key == "load_percentile" and value > 100):
        raise AssertionError(f"setting {key}={value!r} is not valid: "
                             + ("a percentage from 0 to 100" if key == "load_percentile" else "a positive number")
                             + " (0 keeps the scenario's number)")
    if value and value != stated:
        return value, f"{key}={value:g} overrides the scenario's {stated:g}"
    return stated, ""
