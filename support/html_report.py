"""The HTML timeline report: a behave formatter that writes ONE self-contained page (inline CSS,
JS and SVG, nothing fetched), and the same timeline attached to Allure results.

Run: python -m behave -D backend=reference -f html-timeline -o reports/report.html -f pretty
It reads what the hooks leave on each scenario (``scenario.chat_suite``: transcripts, violations,
transcripts_path), defensively: a scenario without it still shows its steps and failure.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from behave.formatter.base import Formatter

from support import load_results, rules, timeline
from support.report import say
from support.timeline import Broken, Lane, Latency
from support.transcript import Transcript
from support.transcript_view import to_json

MESSAGE_LIMIT = 20_000   # characters of one failure message shown
FAILED = {"failed", "error", "hook_error", "cleanup_error", "undefined", "pending"}
BROKEN_SHOWN = 20       # violations spelled out per failed scenario; the rest are counted
# sub-rows of a lane, top to bottom; "expected": an error a step asked for, drawn apart from failures
ROWS = ("sent", "control", "text", "speech", "tools", "expected", "errors")
COLOURS = {"sent": "#2e7d32", "control": "#607d8b", "text": "#1e88e5", "speech": "#8e24aa",
           "tools": "#ef6c00", "expected": "#9e9d24", "errors": "#d32f2f", "closes": "#212121"}
NO_RULE = "(no protocol rule)"   # a failure with no broken rule: a timeout, a refusal, a step's own check


def e(value: Any) -> str:
    return escape(str(value), quote=True)


def no_lone_surrogates(text: str) -> str:
    """Half an emoji (a lone UTF-16 surrogate, from a backend that cuts text by code units) as the
    escape \\udXXX: UTF-8 cannot encode it, and the page must still be written."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def status_of(obj: Any) -> str:
    """passed, failed or skipped: a hook error or error counts as failed, untested as skipped."""
    status = getattr(getattr(obj, "status", None), "name", str(getattr(obj, "status", "untested")))
    if status in FAILED:
        return "failed"
    return status if status == "passed" else "skipped"


# -- what a scenario says, read from behave's model ------------------------------------------------

@dataclass
class StepView:
    keyword: str
    text: str
    status: str
    raw_status: str
    duration: float


@dataclass
class ScenarioView:
    feature: str
    keyword: str
    name: str
    tags: list[str]
    status: str
    duration: float
    steps: list[StepView]
    message: str = ""                     # why it failed, masked and capped
    skip_reason: str = ""                 # why it did not run
    feature_description: str = ""
    broken: list[Broken] = field(default_factory=list)
    transcripts: list = field(default_factory=list)
    transcripts_path: str = ""


def step_violations(scenario: Any) -> list:
    """The violations a failed step's rule check carried (verdicts.rules_broken), as (connection, Violation)."""
    return [pair for step in getattr(scenario, "all_steps", None) or [] if status_of(step) == "failed"
            for pair in getattr(getattr(step, "exception", None), "violations", None) or []]


def failure_message(scenario: Any) -> str:
    """The failing step's message, or the scenario's hook error (the whole-transcript check today)."""
    for step in getattr(scenario, "all_steps", None) or []:
        if status_of(step) == "failed" and getattr(step, "error_message", None):
            return str(step.error_message)
    return str(getattr(scenario, "error_message", "") or "")


def view(scenario: Any, feature_name: str | None = None) -> ScenarioView:
    suite = getattr(scenario, "chat_suite", None)
    suite = suite if isinstance(suite, dict) else {}
    steps = [StepView(s.keyword, s.name, status_of(s), getattr(s.status, "name", str(s.status)),
                      float(getattr(s, "duration", 0) or 0)) for s in (getattr(scenario, "all_steps", None) or [])]
    status = status_of(scenario)
    message = failure_message(scenario) if status == "failed" else ""
    broken = timeline.broken_from(suite.get("violations") or [])
    if status == "failed" and not [b for b in broken if b.severity == "violation"]:
        broken += timeline.broken_from(step_violations(scenario))
    transcripts = [tr for tr in (suite.get("transcripts") or []) if isinstance(tr, Transcript)]
    feature = getattr(scenario, "feature", None)
    return ScenarioView(
        feature=feature_name or getattr(feature, "name", ""),
        feature_description="\n".join(getattr(feature, "description", None) or []),
        skip_reason=str(getattr(scenario, "skip_reason", None) or "") if status == "skipped" else "",
        keyword=getattr(scenario, "keyword", "Scenario"), name=scenario.name,
        tags=sorted(str(t) for t in getattr(scenario, "effective_tags", ()) or ()), status=status,
        duration=float(getattr(scenario, "duration", 0) or 0), steps=steps,
        message=timeline.clip(timeline.mask(message), MESSAGE_LIMIT), broken=broken, transcripts=transcripts,
        transcripts_path=str(suite.get("transcripts_path") or ""))


# -- rendering ----------------------------------------------------------------------------------------

def offending(broken: list[Broken]) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for b in broken:
        if b.seq is not None and b.severity == "violation":
            out.setdefault(b.connection or "", set()).add(b.seq)
    return out


def _shape(cat: str, x: float, y: float) -> str:
    c = COLOURS[cat]
    if cat == "text":
        return f'<circle cx="{x:.1f}" cy="{y}" r="4" fill="{c}"/>'
    if cat == "control":
        return f'<rect x="{x - 4:.1f}" y="{y - 4}" width="8" height="8" fill="{c}"/>'
    if cat == "speech":
        return f'<path d="M{x:.1f} {y - 5}l5 5l-5 5l-5 -5z" fill="{c}"/>'
    if cat == "tools":
        return f'<path d="M{x:.1f} {y - 5}l5 9h-10z" fill="{c}"/>'
    if cat == "errors":
        return (f'<path d="M{x - 4:.1f} {y - 4}l8 8M{x + 4:.1f} {y - 4}l-8 8" stroke="{c}" stroke-width="2.5"/>')
    if cat == "expected":
        return (f'<circle cx="{x:.1f}" cy="{y}" r="4.5" fill="none" stroke="{c}" stroke-width="1.5"/>'
                f'<path d="M{x:.1f} {y - 2.5}v3" stroke="{c}" stroke-width="1.5"/>')
    if cat == "sent":
        return f'<path d="M{x - 5:.1f} {y - 4}h10l-5 8z" fill="none" stroke="{c}" stroke-width="1.8"/>'
    return ""


def tick_label(t: float, t_max: float) -> str:
    """An axis label: milliseconds under 2 s (a 20 ms conversation reads 0, 4, 8 … 20 ms), else seconds."""
    if t_max < 2:
        ms = t * 1000
        return f"{ms:.0f} ms" if t_max >= 0.05 or ms == round(ms) else f"{ms:.1f} ms"
    return f"{t:.1f} s" if t_max < 20 else f"{t:.0f} s"


def timeline_svg(lanes: list[Lane], bad: dict[str, set[int]], width: int = 1100) -> str:
    """One lane per connection, time across, one sub-row per mark category."""
    left, right, top, row_h = 170, 14, 22, 11
    lane_h = row_h * len(ROWS) + 12
    height = top + lane_h * max(1, len(lanes)) + 6
    t_max = max([m.t for ln in lanes for m in ln.marks] + [0.001])
    span = width - left - right

    def x_of(t: float) -> float:
        return left + span * t / t_max

    out = [f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="100%" role="img" aria-label="event timeline">']
    for i in range(6):   # time axis
        t = t_max * i / 5
        out.append(f'<line x1="{x_of(t):.1f}" y1="{top - 4}" x2="{x_of(t):.1f}" y2="{height - 4}" class="grid"/>'
                   f'<text x="{x_of(t):.1f}" y="{top - 8}" class="tick{" last" if i == 5 else ""}">{tick_label(t, t_max)}</text>')
    for n, ln in enumerate(lanes):
        y0 = top + n * lane_h
        out.append(f'<g class="lane" data-conn="{e(ln.name)}">'
                   f'<rect x="0" y="{y0}" width="{width}" height="{lane_h - 4}" class="lane-bg"/>'
                   f'<text x="6" y="{y0 + 16}" class="lane-name">{e(timeline.clip(ln.name, 24))}</text>')
        if ln.omitted:
            flagged_note = f", {ln.omitted_flagged} of them breaking a rule" if ln.omitted_flagged else ""
            out.append(f'<text x="6" y="{y0 + 32}" class="omitted">{ln.omitted} marks not drawn{flagged_note}</text>')
        for r, cat in enumerate(ROWS):
            out.append(f'<text x="{left - 6}" y="{y0 + 10 + r * row_h + 3}" class="row-name">{cat}</text>')
        flagged = bad.get(ln.name, set()) | bad.get("", set())   # "": a violation whose connection is unknown
        for m in sorted(ln.marks, key=lambda m: m.seq in flagged):   # violations drawn on top
            x = x_of(m.t)
            hit = m.seq in flagged
            arrow = {"sent": "→", "closes": "×"}.get(m.category, "←")
            title = (f"#{m.seq} t={m.t:.3f} s {arrow} {m.label}" + (" (an error a step asked for)"
                                                                   if m.category == "expected" else "")
                     + (f" (request {m.request})" if m.request else "") + (" — BREAKS A RULE" if hit else "")
                     + (f"\n{m.text}" if m.text else ""))
            css = f"mark cat-{m.category}" + (" violation" if hit else "")
            if m.category == "closes":
                shape = f'<line x1="{x:.1f}" y1="{y0 + 2}" x2="{x:.1f}" y2="{y0 + lane_h - 6}" class="close-bar"/>'
                y = y0 + lane_h / 2
            else:
                y = y0 + 10 + ROWS.index(m.category) * row_h
                shape = _shape(m.category, x, y)
            ring = f'<circle cx="{x:.1f}" cy="{y}" r="9" class="ring"/>' if hit else ""
            out.append(f'<g class="{css}" data-seq="{m.seq}" data-kind="{e(m.kind)}" tabindex="0">'
                       f'<title>{e(title)}</title>{ring}{shape}</g>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def latency_rows(transcripts: list) -> list[tuple[str, Latency]]:
    return [(tr.name, timeline.latency(timeline.entries_of(tr))) for tr in transcripts]


def _secs(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f} s"


def load_html(v: ScenarioView) -> tuple[str, str]:
    """A load scenario's results (its .load.json beside the transcript): the customers that actually ran and
    the broken share for the summary line, the percentiles for the body; ("", "") for other scenarios."""
    path = Path(v.transcripts_path)
    try:
        r = load_results.read(path.with_name(path.stem + ".load.json")) if v.transcripts_path else None
    except ValueError:
        r = None
    if r is None:
        return "", ""
    bad = r.broken or r.answered < r.customers
    unfinished = f" ({r.unfinished} unfinished)" if r.unfinished else ""
    line = (f'<span class="load" style="margin-left:10px;{"color:#b71c1c;font-weight:600" if bad else ""}">'
            f"load: {r.customers} customers · {r.answered} answered in full{unfinished} · {r.broken} of "
            f"{r.customers} broke a protocol rule ({r.broken_share():.1f}%)</span>")
    summary = r.summary()
    rows = "".join(f"<tr><td>{e(name)}</td><td>{summary[name]['count']}</td>"
                   + "".join(f"<td>{e(load_results.fmt(summary[name][k]))}</td>" for k in load_results.STATS) + "</tr>"
                   for name in load_results.TRENDS if summary[name]["count"])
    rules = ", ".join(f"[{e(rule)}] on {n}" for rule, n in sorted(r.broken_rules.items(), key=lambda kv: -kv[1]))
    body = ('<table class="latency load"><tr><th>metric</th><th>count</th>'
            + "".join(f"<th>{k}</th>" for k in load_results.STATS) + f"</tr>{rows}</table>"
            + (f'<div class="load-broken">conversations that broke a rule: {rules}</div>' if rules else ""))
    return line, body


def scenario_html(v: ScenarioView, index: int, interactive: bool = True) -> str:
    tags = " ".join(f'<span class="tag">@{e(t)}</span>' for t in v.tags)
    load_line, load_body = load_html(v)
    parts = [f'<section class="scenario {v.status}" id="s{index}" data-status="{v.status}" '
             f'data-feature="{e(v.feature)}" data-tags="{e(" ".join(v.tags))}">',
             f'<details{" open" if v.status == "failed" or not interactive else ""}><summary>'
             f'<h3><span class="badge {v.status}">{v.status}</span> {e(v.keyword)}: {e(v.name)}'
             f' <span class="dur">{v.duration:.2f} s</span></h3> <span class="tags">{tags}</span>{load_line}</summary>',
             load_body, '<ol class="steps">']
    for s in v.steps:
        parts.append(f'<li class="step {s.status}"><b>{e(s.keyword)}</b> {e(s.text)} '
                     f'<span class="st">{e(s.raw_status)}</span></li>')
    parts.append("</ol>")
    if v.skip_reason:
        parts.append(f'<div class="skip-reason">not run: {e(v.skip_reason)}</div>')
    if v.status == "failed":
        parts.append('<div class="failure"><h4>Why it failed</h4>')
        violations = [b for b in v.broken if b.severity == "violation"]
        for b in violations[:BROKEN_SHOWN]:
            where = f" on {e(b.connection)}" if b.connection else ""
            at = f" at event #{b.seq}" if b.seq is not None else ""
            seq = "" if b.seq is None else b.seq
            parts.append(f'<div class="broken" data-rule="{e(b.rule)}" data-seq="{seq}"><b>[{e(b.rule)}]</b>'
                         f'{where}{at}: {e(timeline.mask(b.message))}')
            if b.context:
                parts.append(f'<pre class="context">{e(timeline.clip(timeline.mask(b.context), 5000))}</pre>')
            parts.append("</div>")
        if len(violations) > BROKEN_SHOWN:
            parts.append(f'<div class="more">and {len(violations) - BROKEN_SHOWN} more</div>')
        if v.message:
            parts.append(f'<details{" open" if not v.broken else ""}><summary>the full message</summary>'
                         f'<pre class="message">{e(v.message)}</pre></details>')
        parts.append("</div>")
    notices = [b for b in v.broken if b.severity != "violation"]
    for b in notices[:10]:
        parts.append(f'<div class="notice">notice on {e(b.connection or "?")}: [{e(b.rule)}] {e(b.message)}</div>')
    if v.transcripts:
        rows = "".join(f"<tr><td>{e(name)}</td><td>{_secs(lat.connect)}</td><td>{_secs(lat.first_text)}</td>"
                       f"<td>{_secs(lat.first_audio)}</td><td>{_secs(lat.whole_reply)}</td></tr>"
                       for name, lat in latency_rows(v.transcripts))
        parts.append('<table class="latency"><tr><th>connection</th><th>connect (first ready)</th>'
                     '<th>first text</th><th>first audio</th><th>whole reply</th></tr>' + rows + "</table>")
        bad = offending(v.broken)
        hint = '<pre class="mark-detail">click a mark to see its frame</pre>' if interactive else ""
        parts.append(f'<div class="tl">{timeline_svg(timeline.lanes(v.transcripts, bad), bad)}{hint}</div>')
    if v.transcripts_path:
        parts.append(f'<div class="path">transcript: <code>{e(v.transcripts_path)}</code></div>')
    parts.append("</details></section>")
    return "".join(parts)


def _counts(views: list[ScenarioView], key) -> list[tuple[str, dict[str, int]]]:
    table: dict[str, dict[str, int]] = {}
    for v in views:
        for name in key(v):
            row = table.setdefault(name, {"passed": 0, "failed": 0, "skipped": 0})
            row[v.status] += 1
    return sorted(table.items())


def _count_table(title: str, rows: list[tuple[str, dict[str, int]]]) -> str:
    body = "".join(f'<tr class="{"has-failed" if c["failed"] else ""}"><td>{e(name)}</td><td>{c["passed"]}</td>'
                   f'<td>{c["failed"]}</td><td>{c["skipped"]}</td></tr>' for name, c in rows)
    return (f'<table class="counts"><tr><th>{e(title)}</th><th>passed</th><th>failed</th><th>skipped</th></tr>'
            f"{body}</table>")


def legend() -> str:
    names = {"expected": "expected error (a step asked for it)", "errors": "error"}
    items = "".join(f'<svg width="16" height="16" viewBox="-8 -8 16 16">{_shape(c, 0, 0)}</svg> {names.get(c, c)} '
                    for c in ROWS)
    return (f'<p class="legend">{items}<svg width="6" height="16"><line x1="3" y1="1" x2="3" y2="15" '
            'class="close-bar"/></svg> connection closed · <span class="ringdemo">◯</span> breaks a rule</p>')


CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1180px;padding:16px;color:#222;background:#fafafa}
h1{font-size:22px;margin:4px 0}h2{font-size:18px;margin:22px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:0 0 4px;display:inline}summary{cursor:pointer}h3.feature{display:block;margin:16px 0 4px;color:#444}table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ddd;padding:2px 8px}
th{background:#eee;text-align:left}.counts tr.has-failed td:first-child{color:#b71c1c;font-weight:600}
.scenario{background:#fff;border:1px solid #ddd;border-left:6px solid #9e9e9e;margin:10px 0;padding:8px 12px}
.scenario.passed{border-left-color:#43a047}.scenario.failed{border-left-color:#d32f2f}
.scenario.skipped{opacity:.65}.scenario{padding:6px 12px}.badge{font-size:12px;padding:1px 6px;border-radius:3px;color:#fff;background:#9e9e9e}
.badge.passed{background:#43a047}.badge.failed{background:#d32f2f}.dur{color:#777;font-weight:400;font-size:12px}
.tag{font-size:12px;color:#555;margin-left:6px}.steps{margin:4px 0;padding-left:22px}
.step .st{font-size:11px;color:#777}.step.failed{color:#b71c1c;font-weight:600}.step.skipped{color:#999}
.failure{background:#fff3f3;border:1px solid #f2c4c4;padding:6px 10px;margin:6px 0}.failure h4{margin:0 0 4px}
.broken{margin:4px 0}pre{white-space:pre-wrap;word-break:break-all;font-size:12px;background:#f6f6f6;padding:6px;margin:4px 0}
.notice{color:#8d6e00;font-size:12px}.latency td,.latency th{font-size:12px}.path{font-size:11px;color:#777}
svg.timeline{background:#fff;border:1px solid #eee}.grid{stroke:#eee}.tick{font-size:10px;fill:#777;text-anchor:middle}.tick.last{text-anchor:end}
.lane-bg{fill:#fcfcfc;stroke:#eee}.lane-name{font-size:12px;font-weight:600}.row-name{font-size:9px;fill:#999;text-anchor:end}
.omitted{font-size:10px;fill:#b71c1c}.close-bar{stroke:#212121;stroke-width:3}.mark{cursor:pointer}
.mark:hover,.mark:focus{outline:none;filter:drop-shadow(0 0 2px #000)}.ring{fill:#ffcdd2;fill-opacity:.6;stroke:#d50000;stroke-width:2.5}
.mark-detail{max-height:160px;overflow:auto}.legend{font-size:12px}.legend svg{vertical-align:middle}
.ringdemo{color:#d50000;font-weight:700}.aborted{background:#b71c1c;color:#fff;padding:10px 14px;margin:8px 0;font-size:15px}
.skip-reason{font-size:12px;color:#555}.feature-description{white-space:pre-wrap;color:#555;margin:0 0 6px}
.causes h2{border:0;margin:0 0 4px}.cause{margin:3px 0}.more{font-size:12px;color:#b71c1c}.filters button{margin-right:6px}.hide-passed .scenario.passed,.hide-passed .scenario.skipped{display:none}
"""

# Click a mark to read its frame; a filter; and a self-check the browser test reads from the DOM.
JS = """
(function(){
  var errors=[];
  window.addEventListener('error',function(ev){errors.push(String(ev.message));});
  document.addEventListener('click',function(ev){
    var m=ev.target.closest&&ev.target.closest('.mark'); if(!m)return;
    var box=m.closest('.tl').querySelector('.mark-detail');
    var t=m.querySelector('title'); box.textContent=t?t.textContent:'';
  });
  var only=document.getElementById('only-failed');
  if(only)only.addEventListener('click',function(){document.body.classList.toggle('hide-passed');});
  function selfCheck(){
    var failed=[].slice.call(document.querySelectorAll('section.scenario.failed'));
    document.body.dataset.selfCheck=JSON.stringify({
      scenarios:document.querySelectorAll('section.scenario').length,
      failed:failed.map(function(s){
        var v=[].slice.call(s.querySelectorAll('svg.timeline .mark.violation'));
        return {name:s.querySelector('h3').textContent, timeline:!!s.querySelector('svg.timeline'),
                marks:s.querySelectorAll('svg.timeline .mark').length,
                violations:v.map(function(g){return Number(g.getAttribute('data-seq'));}),
                rules:[].slice.call(s.querySelectorAll('.broken')).map(function(b){return b.dataset.rule;})};
      }),
      errors:errors});
  }
  if(document.readyState==='loading')document.addEventListener('DOMContentLoaded',selfCheck);else selfCheck();
})();
"""


def causes(views: list[ScenarioView]) -> list[tuple[str, list[int]]]:
    """The failures grouped by cause: each broken rule (or NO_RULE) with the failed scenarios' numbers
    (1-based, as their anchors), the rule that broke most scenarios first."""
    by_rule: dict[str, list[int]] = {}
    for i, v in enumerate(views, start=1):
        if v.status == "failed":
            for rule in sorted({b.rule for b in v.broken if b.severity == "violation"}) or [NO_RULE]:
                by_rule.setdefault(rule, []).append(i)
    return sorted(by_rule.items(), key=lambda item: (item[0] == NO_RULE, -len(item[1]), item[0]))


def causes_html(views: list[ScenarioView]) -> str:
    rows = []
    for rule, numbers in causes(views):
        sentence = ("failed without breaking a protocol rule: a timeout, a refused or dropped connection, or a "
                    "step's own check (see each scenario)" if rule == NO_RULE
                    else rules.DESCRIPTIONS.get(rule, "a rule this version of the suite does not describe"))
        links = ", ".join(f'<a href="#s{i}">{e(views[i - 1].name)}</a>' for i in numbers)
        label = e(rule) if rule == NO_RULE else f"[{e(rule)}]"
        rows.append(f'<li class="cause" data-rule="{e(rule)}" data-scenarios="{len(numbers)}"><b>{label}</b> '
                    f'{e(sentence)} — broke {len(numbers)} scenario{"s" if len(numbers) != 1 else ""}: {links}</li>')
    return f'<div class="failure causes"><h2>Why the run failed</h2><ul>{"".join(rows)}</ul></div>' if rows else ""


def render_report(views: list[ScenarioView], title: str = "Chat WebSocket acceptance report",
                  aborted: str | None = None) -> str:
    """The page; `aborted`: why the run stopped early (a banner says so, and that its counts are not a result)."""
    total = {s: sum(1 for v in views if v.status == s) for s in ("passed", "failed", "skipped")}
    body, feature = [], None
    for i, v in enumerate(views, start=1):
        if v.feature != feature:
            feature = v.feature
            body.append(f'<h3 class="feature">Feature: {e(feature)}</h3>')
            if v.feature_description:
                body.append(f'<p class="feature-description">{e(v.feature_description)}</p>')
        body.append(scenario_html(v, i))
    banner = (f'<div class="aborted" role="alert"><b>The run was aborted</b>: {e(timeline.mask(aborted.rstrip(".")))}. '
              "The scenarios it did not reach were not tested; this page is no verdict on the backend.</div>"
              if aborted else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<style>{CSS}</style></head>
<body{' class="run-aborted"' if aborted else ''}><h1>{e(title)}</h1>
{banner}
<p>{total["passed"]} passed · {total["failed"]} failed · {total["skipped"]} {"not run" if aborted else "skipped"} — written {e(time.strftime("%Y-%m-%d %H:%M:%S"))}</p>
{causes_html(views)}
<h2>Summary</h2><div style="display:flex;gap:24px;flex-wrap:wrap">
{_count_table("feature", _counts(views, lambda v: [v.feature]))}
{_count_table("tag", _counts(views, lambda v: ["@" + t for t in v.tags]))}</div>
<h2>Scenarios</h2><p class="filters"><button id="only-failed" type="button">show failed only / all</button></p>
{legend()}
{''.join(body)}
<script>{JS}</script></body></html>
"""


class TimelineFormatter(Formatter):
    """behave formatter `html-timeline`: collects the features, writes the page when the run ends."""

    name = "html-timeline"
    description = "one self-contained HTML page: summary, steps, failures and event timelines"

    def __init__(self, stream_opener, config):
        super().__init__(stream_opener, config)
        self.features: list = []

    def feature(self, feature):
        self.features.append(feature)

    def close(self):
        from support.quiet_runner import aborted_because   # the runner that records why a run stopped
        aborted = aborted_because(self.config)
        views = [view(s, f.name) for f in self.features for s in f.walk_scenarios()]
        for v in views:
            if aborted and v.status == "skipped" and not v.skip_reason:
                v.skip_reason = "the run was aborted before this scenario"
        self.open().write(no_lone_surrogates(render_report(views, aborted=aborted)))
        self.close_stream()


# -- Allure ------------------------------------------------------------------------------------------

def timeline_page(scenario: Any) -> str:
    """One scenario's failure and timeline as a small page (what Allure shows as an attachment)."""
    v = view(scenario)
    if offending(v.broken):
        v.status = "failed"   # called from after_scenario, before the whole-transcript check fails it
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><style>{CSS}</style></head><body>'
            f"{legend()}{scenario_html(v, 1, interactive=False)}</body></html>")


ALLURE_FORMATTER = "allure_behave.formatter:AllureFormatter"


def allure_categories() -> list[dict]:
    """Allure's categories.json: one category per protocol rule, matched on the "[rule]" every failure
    message names, so Allure groups 26 failures of one cause as one."""
    return [{"name": f"[{name}] {description}", "messageRegex": rf"(?s).*\[{name}\].*",
             "matchedStatuses": ["failed", "broken"]} for name, description in rules.DESCRIPTIONS.items()]


def write_allure_categories(config: Any) -> None:
    """categories.json in every Allure results folder of this run (-f allure_behave… -o FOLDER)."""
    outputs = list(getattr(config, "outputs", None) or [])
    for i, name in enumerate(getattr(config, "format", None) or []):
        folder = getattr(outputs[i], "name", None) if i < len(outputs) else None
        if name == ALLURE_FORMATTER and folder not in (None, "-"):
            try:
                Path(folder).mkdir(parents=True, exist_ok=True)
                (Path(folder) / "categories.json").write_text(json.dumps(allure_categories(), indent=1))
            except OSError as exc:
                say(f"    (allure categories not written: {exc})")


def attach_to_allure(scenario: Any) -> None:
    """Attach the transcript JSON and the timeline to the scenario's Allure result; no-op without Allure."""
    try:
        import allure
    except ImportError:
        return
    try:
        _attach(allure, scenario)
    except Exception as exc:  # noqa: BLE001 - a report must never fail the scenario it reports on
        say(f"    (allure attachment skipped: {type(exc).__name__}: {exc})")   # stderr: stdout is the formatters'


def _attach(allure: Any, scenario: Any) -> None:
    suite = getattr(scenario, "chat_suite", None) or {}
    path = Path(str(suite.get("transcripts_path") or ""))
    if path.is_file():
        body = path.read_text()
    else:
        body = json.dumps({tr.name: to_json(tr) for tr in suite.get("transcripts") or [] if isinstance(tr, Transcript)})
    allure.attach(no_lone_surrogates(timeline.mask(body)), name="transcript",
                  attachment_type=allure.attachment_type.JSON)
    allure.attach(no_lone_surrogates(timeline_page(scenario)), name="timeline",
                  attachment_type=allure.attachment_type.HTML)

