"""The HTML timeline report: rendered safely from behave's model (no browser), and read in a real
headless Chromium after a failing run (skipped when no chromium binary is installed).
"""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from types import SimpleNamespace

import pytest

from tests.behave_runner import run_suite
from conftest import conforming_text_reply
from support import html_report, rules, verdicts
from support.transcript import RECEIVED, Entry, Transcript
from support.transcript_view import around

BROWSER = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
needs_browser = pytest.mark.skipif(BROWSER is None, reason="no chromium binary found (apt-get install -y chromium)")


def status(name: str) -> SimpleNamespace:
    return SimpleNamespace(name=name)


def fake_scenario(name: str, state: str, steps=(), error_message: str = "", chat_suite=None) -> SimpleNamespace:
    return SimpleNamespace(
        name=name, keyword="Scenario", status=status(state), duration=0.5, effective_tags={"chat"},
        error_message=error_message, feature=SimpleNamespace(name="Chat"),
        all_steps=[fake_step(*step) for step in steps], **({"chat_suite": chat_suite} if chat_suite is not None else {}))


def fake_step(keyword: str, name: str, state: str, message: str | None, exception: Exception | None = None):
    return SimpleNamespace(keyword=keyword, name=name, status=status(state), duration=0.1, error_message=message,
                           exception=exception)


def a_transcript(b):
    b.ready()
    conforming_text_reply(b, text_chunks=("Hello", " there", "!"))
    return b.tr


def test_a_hook_error_counts_as_failed_and_its_violation_is_highlighted(b):
    tr = a_transcript(b)
    violation = rules.Violation("chunk_index_sequence", 7, "request 1: chunk_index 4, expected 3 (a gap)",
                                around(tr, 7))
    scenario = fake_scenario(
        "A question gets a complete answer", "hook_error",
        steps=[("Given", "I am connected to the chat backend", "passed", None)],
        error_message="HOOK-ERROR in after_scenario: ProtocolViolation: 1 protocol rule(s) broken on test connection",
        chat_suite={"transcripts": [tr], "violations": [(tr.name, violation)], "transcripts_path": "x.json"})
    page = html_report.render_report([html_report.view(scenario)])
    assert '<section class="scenario failed"' in page
    assert re.search(r'<g class="mark cat-\w+ violation" data-seq="7"', page)
    assert "[chunk_index_sequence]" in page and "&gt;&gt; #7" in page
    assert "1 failed" in page


def test_the_failing_steps_message_is_shown_and_its_violations_come_with_it(b):
    tr = a_transcript(b)
    broken = verdicts.rules_broken(tr, [rules.Violation("chunk_index_sequence", 10, "a gap")], "chunk_index_sequence")
    message = f"Assertion Failed: {broken}"
    scenario = fake_scenario("S", "failed", steps=[("Then", "the answer streams in several pieces", "failed",
                                                    message, broken)])
    v = html_report.view(scenario)
    assert v.status == "failed" and v.message == message
    assert [(x.connection, x.rule, x.seq) for x in v.broken] == [(tr.name, "chunk_index_sequence", 10)]


def test_everything_is_escaped_and_tokens_masked(b):
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6MX0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    b.ready()
    b.sent_raw(f'{{"prompt": "</title><script>alert(1)</script>", "token": "{jwt}"}}')
    scenario = fake_scenario("<script>alert('name')</script>", "failed",
                             steps=[("When", "I send <b>bold</b>", "failed", f"boom <img src=x> ?token={jwt}")],
                             chat_suite={"transcripts": [b.tr], "violations": []})
    page = html_report.render_report([html_report.view(scenario)])
    assert "<script>alert" not in page and "<img src=x>" not in page and "<b>bold" not in page
    assert "&lt;script&gt;alert(&#x27;name&#x27;)" in page
    assert jwt not in page and jwt[:40] not in page
    assert page.count("<script>") == 1   # only the page's own


def test_scenarios_without_suite_data_still_render():
    page = html_report.render_report([html_report.view(fake_scenario("skipped one", "skipped")),
                                      html_report.view(fake_scenario("untested one", "untested"))])
    assert page.count('class="scenario skipped"') == 2 and 'class="timeline"' not in page


def chromium(*args: str, tmp_path) -> subprocess.CompletedProcess:
    command = [BROWSER, "--headless", "--disable-gpu", "--no-sandbox", f"--user-data-dir={tmp_path / 'profile'}",
               "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@needs_browser
def test_a_failing_run_reads_well_in_a_real_browser(tmp_path):
    report = tmp_path / "report.html"
    run = run_suite("reference_faults=chunk_index_gap", tags="@chat",
                    args=("-f", "html-timeline", "-o", str(report), "-f", "plain"))
    assert run.returncode != 0 and run.failing, run.output[-3000:]
    offending = int(re.search(r"\[chunk_index_sequence\] at event #(\d+)", run.output).group(1))

    shown = chromium("--dump-dom", report.as_uri(), tmp_path=tmp_path)
    assert shown.returncode == 0, shown.stderr[-2000:]
    found = re.search(r'<body[^>]*data-self-check="([^"]*)"', shown.stdout)
    assert found, "the page's script did not run in the browser"
    check = json.loads(html.unescape(found.group(1)))
    assert check["errors"] == []
    (failed,) = check["failed"]
    assert "A question gets a complete answer" in failed["name"]
    assert failed["timeline"] and failed["marks"] > 10
    assert failed["violations"] == [offending] and failed["rules"] == ["chunk_index_sequence"]
    console = [line for line in shown.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert console == []

    shot = tmp_path / "report.png"
    chromium("--hide-scrollbars", f"--screenshot={shot}", "--window-size=1400,1000", report.as_uri(),
             tmp_path=tmp_path)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_flooding_backend_cannot_make_a_giant_page():
    tr = Transcript("my connection")
    for n in range(1, 20_001):
        tr.add(Entry(0, n / 1000, RECEIVED, "text_chunk", raw='{"type": "text_chunk", "content": "' + "x" * 5000 + '"}',
                     label="text_chunk"))
    scenario = fake_scenario("flood", "passed", chat_suite={"transcripts": [tr], "violations": []})
    page = html_report.render_report([html_report.view(scenario)])
    assert "18000 marks not drawn" in page
    assert page.count('class="mark ') == 2000 and len(page) < 2_000_000


# -- failures grouped by cause, descriptions, the axis, expected errors (issue 16, item 4) -----------

def broken(rule: str, seq: int = 3) -> rules.Violation:
    return rules.Violation(rule, seq, f"{rule} broke", "")


def test_the_report_opens_with_the_broken_rules_each_with_its_scenarios():
    gap = fake_scenario("gap one", "failed", chat_suite={"violations": [("c", broken("chunk_index_sequence"))]})
    both = fake_scenario("gap two", "failed", chat_suite={"violations": [
        ("c", broken("chunk_index_sequence")), ("c", broken("nothing_after_cancelled"))]})
    timed_out = fake_scenario("timed out", "failed", steps=[("When", "I ask", "failed", "timed out after 20 s")])
    fine = fake_scenario("fine", "passed")
    page = html_report.render_report([html_report.view(s) for s in (gap, fine, both, timed_out)])

    causes = page.index("Why the run failed")
    assert causes < page.index('<section class="scenario')   # the page opens with them
    found = re.findall(r'<li class="cause" data-rule="([^"]+)" data-scenarios="(\d+)">(.*?)</li>', page)
    assert [(rule, int(n)) for rule, n, _ in found] == [
        ("chunk_index_sequence", 2), ("nothing_after_cancelled", 1), (html_report.NO_RULE, 1)]
    first = found[0][2]
    assert html.escape(rules.DESCRIPTIONS["chunk_index_sequence"], quote=True) in first
    assert "broke 2 scenarios" in first and 'href="#s1"' in first and 'href="#s3"' in first
    assert 'href="#s2"' not in page[causes:page.index('<section class="scenario')]   # the passed one is no cause


def test_feature_descriptions_and_skip_reasons_are_shown():
    scenario = fake_scenario("skipped one", "skipped")
    scenario.feature.description = ["A customer asks and watches the answer appear,", "piece by piece."]
    scenario.skip_reason = "needs the dockerised backend"
    page = html_report.render_report([html_report.view(scenario)])
    assert "A customer asks and watches the answer appear,\npiece by piece." in page
    assert "not run: needs the dockerised backend" in page


def test_the_axis_reads_milliseconds_on_a_short_conversation(b):
    tr = a_transcript(b)
    for entry in tr.entries:
        entry.t = entry.t / 50   # the 20 ms conversation of the issue: 0.00 s, 0.00 s, 0.01 s
    page = html_report.render_report([html_report.view(fake_scenario("quick", "passed",
                                                                     chat_suite={"transcripts": [tr]}))])
    ticks = re.findall(r'class="tick(?: last)?">([^<]+)<', page)
    assert len(ticks) == 6 and all(t.endswith(" ms") for t in ticks), ticks
    assert len(set(ticks)) == 6   # each tick says a different time
    assert html_report.tick_label(30, 60) == "30 s" and html_report.tick_label(1.5, 3) == "1.5 s"


def test_an_expected_error_is_drawn_apart_from_failures(b):
    b.ready()
    b.tr.expect(b.recv("error", stage="validation", message="no prompt"))
    b.recv("error", stage="database", message="nobody asked")
    page = html_report.render_report([html_report.view(fake_scenario("errors", "passed",
                                                                     chat_suite={"transcripts": [b.tr]}))])
    kinds = re.findall(r'<g class="mark cat-(\w+)[^"]*" data-seq="\d+" data-kind="error"', page)
    assert kinds == ["expected", "errors"], kinds
    assert "an error a step asked for" in page and "expected error" in html_report.legend()
