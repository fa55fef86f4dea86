"""Protocol-checked load: many customers chat at once, and every conversation is judged by the
same rules as the functional scenarios.

Two halves. Pure functions (`samples` of one transcript, `percentile`, `summarize`, `table`)
read recorded transcripts only, so tests run them without a socket. The runner
(`run_customers`, `one_customer`) drives the public Session API; every connection lives on the
session helper's background loop, so arrival times stay exact however many are open.

Metric names follow k6 where k6 has one (ws_connecting, ws_session_duration, ws_msgs_received,
ws_msgs_sent); the rest are this suite's. All times are milliseconds.
"""
from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from support import rules
from support.protocol import CHAT_REQUEST, SPEECH_FLAGS, TEXT_FLAGS
from support.secrets import mask
from support.transcript import CLOSED, RECEIVED, SENT, Transcript, clip

# Distributions: one sample per customer (per chunk for inter_chunk_gap).
TRENDS = ("ws_connecting", "time_to_first_text", "time_to_first_audio", "inter_chunk_gap", "reply_duration",
          "ws_session_duration")
COUNTERS = ("ws_msgs_received", "ws_msgs_sent")
DESCRIPTIONS = {
    "ws_connecting": "connection attempt to the first ready event",
    "time_to_first_text": "question sent to the first text piece",
    "time_to_first_audio": "question sent to the first audio piece (speech asked)",
    "inter_chunk_gap": "between consecutive text pieces of one answer",
    "reply_duration": "question sent to both completion flags",
    "ws_session_duration": "connection attempt to the connection's end",
    "ws_msgs_received": "frames received",
    "ws_msgs_sent": "frames sent",
}
KEEP_FOR_READING = 3   # broken or failed conversations whose transcripts a scenario keeps in full


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
    return rules.not_answered_in_full(tr, tr.last_request())


# -- pure: many customers --------------------------------------------------------------------------

def percentile(values: Iterable[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value that at least p% of the values do not exceed."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarize(values: list[float]) -> dict:
    """count, min, avg, p50, p95, p99 and max of one metric (None when there is no sample)."""
    if not values:
        return {"count": 0, "min": None, "avg": None, "p50": None, "p95": None, "p99": None, "max": None}
    return {"count": len(values), "min": min(values), "avg": round(sum(values) / len(values), 3),
            "p50": percentile(values, 50), "p95": percentile(values, 95), "p99": percentile(values, 99),
            "max": max(values)}


def merge(per_customer: Iterable[dict[str, list[float]]]) -> dict[str, list[float]]:
    merged: dict[str, list[float]] = {name: [] for name in TRENDS + COUNTERS}
    for one in per_customer:
        for name, values in one.items():
            merged.setdefault(name, []).extend(values)
    return merged


def metrics(merged: dict[str, list[float]], wall_s: float) -> dict[str, dict]:
    """Trends summarised; counters as a total and a rate per second of wall time (as k6 shows them)."""
    out = {name: summarize(merged.get(name, [])) for name in TRENDS}
    for name in COUNTERS:
        total = int(sum(merged.get(name, [])))
        out[name] = {"count": total, "rate": round(total / wall_s, 1) if wall_s > 0 else None}
    return out


def within(values: list[float | None], limit_ms: float) -> int:
    """How many customers' values are at most limit_ms (a customer with no value is not within)."""
    return sum(1 for v in values if v is not None and v <= limit_ms)


def needed(percent: float, customers: int) -> int:
    return math.ceil(percent / 100.0 * customers - 1e-9)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def table(summary: dict[str, dict]) -> list[str]:
    """The metrics as aligned lines, trends first (metrics with no samples are left out)."""
    lines = [f"    {'metric':<21}{'count':>8}{'p50':>11}{'p95':>11}{'p99':>11}{'max':>11}"]
    for name in TRENDS:
        s = summary[name]
        if s["count"]:
            lines.append(f"    {name:<21}{s['count']:>8}{_fmt(s['p50']):>11}{_fmt(s['p95']):>11}"
                         f"{_fmt(s['p99']):>11}{_fmt(s['max']):>11}")
    for name in COUNTERS:
        s = summary[name]
        rate = f"{s['rate']:,.1f}/s" if s["rate"] is not None else "-"
        lines.append(f"    {name:<21}{s['count']:>8}   {rate}")
    return lines


# -- one customer ----------------------------------------------------------------------------------

@dataclass
class Customer:
    number: int
    name: str
    session: object = None            # support.session.Session; dropped once judged clean (memory)
    failure: str | None = None        # a connection failure or timeout, in the session helper's words
    incomplete: str | None = None     # why the answer was not complete
    violations: list = field(default_factory=list)   # rules.Violation, notices excluded
    notices: dict = field(default_factory=dict)      # rule -> how many notices
    samples: dict = field(default_factory=dict)

    @property
    def transcript(self) -> Transcript | None:
        return self.session.transcript if self.session is not None else None

    def first(self, metric: str) -> float | None:
        values = self.samples.get(metric) or []
        return values[0] if values else None

    @property
    def clean(self) -> bool:
        return not (self.failure or self.incomplete or self.violations)


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return mask(text if isinstance(exc, AssertionError) else f"{type(exc).__name__}: {text}")


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


def judge(customer: Customer, strict: bool = False, keep: bool = False) -> Customer:
    """Samples, completeness and every whole-transcript rule; a clean transcript is dropped unless keep."""
    tr = customer.transcript
    if tr is None:
        return customer
    customer.samples = samples(tr)
    customer.incomplete = None if customer.failure else incomplete_answer(tr)
    found = rules.check(tr, strict=strict)
    customer.violations = rules.violations_only(found)
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
class LoadRun:
    customers: list[Customer]
    speech: bool
    phases: dict[str, float]           # seconds: connecting, chatting, closing, checking
    wall_s: float                      # connecting + chatting + closing

    def summary(self) -> dict[str, dict]:
        return metrics(merge(c.samples for c in self.customers), self.wall_s)

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
        chosen = self.broken()[:limit]
        chosen += [c for c in self.failed() if c not in chosen][:limit - len(chosen)]
        return chosen

    def lines(self) -> list[str]:
        n = len(self.customers)
        head = (f"load: {n} customers{' (answers read aloud)' if self.speech else ''}: "
                f"{n - len(self.failed())} answered in full, {len(self.broken())} broke a protocol rule; "
                f"wall {self.wall_s:.2f} s (connecting {self.phases['connecting']:.2f} s, chatting "
                f"{self.phases['chatting']:.2f} s, closing {self.phases['closing']:.2f} s; rules checked in "
                f"{self.phases['checking']:.2f} s)")
        notes = ["    notices (informational, failing only with strict_events=true): "
                 + ", ".join(f"{rule} ×{count}" for rule, count in sorted(self.notices().items()))] \
            if self.notices() else []
        return [head, *table(self.summary()), *notes]

    def to_json(self) -> dict:
        broken_rules: dict[str, int] = {}
        for c in self.broken():
            for v in c.violations:
                broken_rules[v.rule] = broken_rules.get(v.rule, 0) + 1
        return {
            "customers": len(self.customers), "speech": self.speech, "wall_seconds": round(self.wall_s, 3),
            "phases_seconds": {k: round(v, 3) for k, v in self.phases.items()},
            "metrics": self.summary(), "metric_descriptions": DESCRIPTIONS,
            "failed": [{"connection": c.name, "why": clip(c.failure or c.incomplete or "", 2000)} for c in self.failed()],
            "broken_rules": broken_rules,
            "violations": [{"connection": c.name, "rule": v.rule, "seq": v.seq, "message": v.message,
                            "context": v.context} for c in self.broken() for v in c.violations[:5]],
            "notices": self.notices(),
        }


async def run_customers(settings, dialect, count: int, *, speech: bool = False, connecting: int = 50) -> LoadRun:
    """`count` customers chat at the same time: all connect (at most `connecting` handshakes in flight,
    as a listen backlog is finite), then all ask at once and wait for their answers, then all close.
    Awaited from a step: each Session coroutine runs on the session helper's background loop."""
    customers = [Customer(i, f"customer {i}'s connection") for i in range(1, count + 1)]
    gate = asyncio.Semaphore(max(1, connecting))

    async def gated(c: Customer) -> None:
        async with gate:
            await connect(c, settings, dialect)

    phases: dict[str, float] = {}
    start = time.monotonic()
    try:
        await asyncio.gather(*(gated(c) for c in customers))
        phases["connecting"] = time.monotonic() - start
        await asyncio.gather(*(chat(c, settings, speech) for c in customers))
        phases["chatting"] = time.monotonic() - start - phases["connecting"]
    finally:
        mark = time.monotonic()
        await asyncio.gather(*(close(c) for c in customers))
        phases["closing"] = time.monotonic() - mark
    wall = time.monotonic() - start
    mark = time.monotonic()
    for c in customers:
        judge(c, strict=settings.strict_events, keep=True)
    run = LoadRun(customers, speech, phases, wall)
    kept = {c.number for c in run.kept()}
    for c in customers:
        if c.number not in kept:
            c.session = None   # only the few kept transcripts stay in memory
    phases["checking"] = time.monotonic() - mark
    return run


def write_report(path: Path, run: LoadRun) -> Path:
    """The run's metrics, failures and violations as JSON (next to the scenario's transcript file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run.to_json(), indent=1))
    return path


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
