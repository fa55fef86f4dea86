"""No frame can break a report (issue 16, item 2): half an emoji (a lone UTF-16 surrogate), a frame
nested 500 or 100,000 deep, 100,000 rule-breaking frames and `</script>` reach the HTML report, the
transcripts, JUnit, behave's JSON and Allure, which are all written, escaped and clipped."""
from __future__ import annotations

import gc
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest

from support import html_report, rules, timeline, transcript_file
from support.transcript import RECEIVED, Entry, Transcript
from tests.behave_runner import ALLURE_FORMAT, needs_allure, run_behave
from tests.hostile import hostile

SURROGATE = "\ud83d"          # the first half of 😀, as a backend that cuts text by UTF-16 code units sends it
SCRIPT = "</script><script>document.title='pwned'</script>"
PAGE_CAP = 5_000_000          # bytes: a report page must stay readable


def nested(depth: int) -> str:
    return '{"d":' * depth + "0" + "}" * depth


def hostile_transcript(violating: int) -> tuple[Transcript, list]:
    """One connection with every hostile frame, and `violating` frames that each break a rule."""
    tr = Transcript("my connection")
    frames = [json.dumps({"type": "text_chunk", "text": "half " + SURROGATE, "chunk_index": 1}),
              json.dumps({"type": "text_chunk", "text": SCRIPT, "chunk_index": 2}),
              nested(500), nested(100_000), "[" * 100_000 + "]" * 100_000]
    for n, raw in enumerate(frames, start=1):
        tr.add(Entry(0, n / 1000, RECEIVED, "unknown", raw=raw, label=SURROGATE + SCRIPT))
    found = []
    raw = json.dumps({"type": "text_chunk", "text": SCRIPT + SURROGATE})   # the same frame each time: written once
    message = f"text_chunk after text_completed {SURROGATE}{SCRIPT}"
    for n in range(violating):
        entry = tr.add(Entry(0, 0.01 + n / 100_000, RECEIVED, "text_chunk", raw=raw, label="text_chunk"))
        found.append(rules.Violation("no_text_after_text_completed", entry.seq, message, SCRIPT + SURROGATE))
    return tr, found


def scenario_with(tr: Transcript, found: list, path: str = "") -> SimpleNamespace:
    step = SimpleNamespace(keyword="Then", name=f"the answer {SCRIPT}", status=SimpleNamespace(name="failed"),
                           duration=0.1, error_message=f"1 protocol rule(s) broken {SURROGATE} {SCRIPT}")
    return SimpleNamespace(
        name=f"hostile {SURROGATE} {SCRIPT}", keyword="Scenario", status=SimpleNamespace(name="failed"), duration=1.0,
        effective_tags={"chat"}, error_message="", feature=SimpleNamespace(name="Chat", description=[SCRIPT]),
        all_steps=[step], chat_suite={"transcripts": [tr], "violations": [(tr.name, v) for v in found],
                                      "transcripts_path": path})


@pytest.fixture
def no_cyclic_collection():
    """Hundreds of thousands of objects stay alive through the test: the cyclic collector would walk them
    all again and again (most of a second) and free nothing; it runs once at the end instead."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


def test_the_formatters_survive_every_hostile_frame(tmp_path, no_cyclic_collection):
    tr, found = hostile_transcript(100_000)
    checked = [(tr, found)]

    path = transcript_file.write_json(transcript_file.transcript_path(tmp_path, "Chat", "hostile"), "Chat", "hostile", "failed",
                             checked)
    saved = json.loads(path.read_text(encoding="utf-8"))   # written, and readable back
    assert len(saved["violations"]) == 100_000

    scenario = scenario_with(tr, found, str(path))
    page = html_report.no_lone_surrogates(html_report.render_report([html_report.view(scenario)]))
    written = page.encode("utf-8")   # strict: a lone surrogate would raise here
    assert len(written) < PAGE_CAP, len(written)
    assert "\\ud83d" in page and SURROGATE not in page   # written as an escape
    assert page.count("</script>") == 1 and "&lt;/script&gt;" in page   # only the page's own script tag
    assert "and 99980 more" in page   # violations listed: 20, then counted
    assert page.count('class="mark ') <= timeline.LANE_LIMIT + timeline.FLAGGED_LIMIT
    assert re.search(r"marks not drawn, \d{5} of them breaking a rule", page)

    attachment = html_report.no_lone_surrogates(html_report.timeline_page(scenario))
    assert len(attachment.encode("utf-8")) < PAGE_CAP and attachment.count("</script>") == 0


@pytest.mark.parametrize("depth", [500, 5_000, 100_000])
def test_depth_is_clipped_without_recursion(depth):
    value: object = "bottom"
    for _ in range(depth):
        value = {"d": [value]}
    clipped = timeline._clip_values(value)
    shown = json.dumps(clipped)   # shallow enough to dump
    assert "nested deeper than" in shown and len(shown) < 2_000
    assert "nested deeper than" in timeline.wire_text(nested(500))
    tooltip = timeline.wire_text(nested(depth))   # past the parser's stack: the text itself, clipped
    assert "nested deeper than" in tooltip or (tooltip.endswith(" chars)") and len(tooltip) <= timeline.CLIP)


HOSTILE = pytest.mark.parametrize("mode, status", [("hostile_text", "passed"), ("hostile_error", "failed")])


def hostile_run(mode: str, port: int, *formats: str):
    with hostile(mode, port) as url:
        return run_behave("--tags=@chat", *formats, env={"RUN_MANUAL_TESTS": "1", "BACKEND_WS_URL": url}, timeout=120)


@HOSTILE
def test_a_hostile_backend_cannot_break_any_report(mode, status, tmp_path, unused_port):
    """Every report is written in full (the page used to be 0 bytes, the JSON cut short and the exit
    status 1 on a UnicodeEncodeError though every scenario passed); with hostile_error the failure
    message itself carries the hostile text."""
    page, junit = tmp_path / "report.html", tmp_path / "junit"
    run = hostile_run(mode, unused_port, "-f", "json", "-f", "html-timeline", "-o", "-", "-o", str(page),
                      "--junit", "--junit-directory", str(junit))
    assert (run.returncode == 0) == (status == "passed"), run.output[-3000:]
    assert "Traceback" not in run.output and "Error:" not in run.output, run.output[-3000:]

    [feature] = json.loads(run.stdout)
    assert [e["status"] for e in feature["elements"] if e["type"] == "scenario"] == [status]

    shown = page.read_text(encoding="utf-8")
    assert ("1 passed · 0 failed" if status == "passed" else "0 passed · 1 failed") in shown
    assert "\\ud83d" in shown and shown.count("</script>") == 1 and "pwned" in shown

    [suite] = [ET.parse(p).getroot() for p in junit.glob("*.xml")]
    assert suite.get("failures") == ("0" if status == "passed" else "1") and suite.get("errors") == "0"

    [transcript] = list((Path(run.reports) / "latest").glob("*/*.json"))
    saved = json.loads(transcript.read_text(encoding="utf-8"))
    assert any("\\ud83d" in (e["raw"] or "") for e in saved["connections"]["my connection"])


@needs_allure
@HOSTILE
def test_a_hostile_backend_cannot_break_allure(mode, status, tmp_path, unused_port):
    allure = tmp_path / "allure"
    run = hostile_run(mode, unused_port, "-f", ALLURE_FORMAT, "-o", str(allure), "-f", "plain")
    assert (run.returncode == 0) == (status == "passed"), run.output[-3000:]
    assert "Traceback" not in run.output and "Error:" not in run.output, run.output[-3000:]
    [result] = [json.loads(p.read_text()) for p in allure.glob("*-result.json")]
    assert result["status"] == status
    timeline_file = next(allure / a["source"] for a in result["attachments"] if a["name"] == "timeline")
    assert "\\ud83d" in timeline_file.read_text(encoding="utf-8")
