"""Results that CI systems and people read: a broken protocol rule is a failed scenario in
behave's summary, its JSON and JUnit output and the transcript file; stdout stays the formatter's;
a CI run that asked for no backend fails instead of passing with everything skipped."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from support.report import CLOSING_STEP
from support.transcript_file import transcript_path
from tests.behave_runner import ROOT, run_behave, run_suite

FEATURE = "Chat replies stream in as text"
SCENARIO = "A question gets a complete answer that streams in"


def text_of(message) -> str:
    """behave's JSON splits multi-line messages into a list of lines."""
    return "\n".join(message) if isinstance(message, list) else str(message or "")


def scenarios_in(behave_json: list) -> list[dict]:
    return [e for feature in behave_json for e in feature.get("elements", []) if e.get("type") == "scenario"]


def failed_steps(scenario: dict) -> list[dict]:
    return [s for s in scenario["steps"] if s.get("result", {}).get("status") == "failed"]


def test_a_broken_rule_fails_the_scenario_in_every_format(tmp_path):
    behave_json, junit = tmp_path / "behave.json", tmp_path / "junit"
    run = run_suite("reference_faults=chunk_index_gap", tags="@chat",
                    args=("-f", "json", "-o", str(behave_json), "-f", "plain",
                          "--junit", "--junit-directory", str(junit)))
    transcript = transcript_path((Path(run.reports) / "latest").resolve(), FEATURE, SCENARIO)

    assert run.returncode != 0
    assert "0 scenarios passed, 1 failed" in run.summary, run.summary
    assert run.failing == [SCENARIO] and "Errored scenarios" not in run.output, run.output[-3000:]

    [scenario] = scenarios_in(json.loads(behave_json.read_text()))
    assert scenario["status"] == "failed"
    [step] = failed_steps(scenario)
    assert "[chunk_index_sequence]" in text_of(step["result"]["error_message"])

    [failure] = ET.parse(junit / "TESTS-chat_streaming.xml").getroot().iter("failure")
    failure_text = (failure.get("message") or "") + (failure.text or "")
    assert "[chunk_index_sequence]" in failure_text and str(transcript) in failure_text, failure_text

    saved = json.loads(transcript.read_text())
    assert saved["status"] == "failed"
    assert "chunk_index_sequence" in [v["rule"] for v in saved["violations"]]


def test_the_closing_step_fails_a_scenario_whose_written_steps_all_pass(tmp_path):
    """An unknown event breaks no written step; only the whole-transcript check (strict) catches it."""
    behave_json = tmp_path / "behave.json"
    run = run_suite("reference_faults=unknown_event", "strict_events=true", tags="@chat",
                    args=("-f", "json", "-o", str(behave_json), "-f", "plain"))
    assert run.returncode != 0
    assert "0 scenarios passed, 1 failed" in run.summary and "HOOK-ERROR" not in run.output, run.output[-3000:]
    [scenario] = scenarios_in(json.loads(behave_json.read_text()))
    assert scenario["status"] == "failed"
    written, closing = scenario["steps"][:-1], scenario["steps"][-1]
    assert {s["result"]["status"] for s in written} == {"passed"}
    assert closing["name"] == CLOSING_STEP and closing["result"]["status"] == "failed"
    message = text_of(closing["result"]["error_message"])
    transcript = transcript_path((Path(run.reports) / "latest").resolve(), FEATURE, SCENARIO)
    assert "[known_events]" in message and str(transcript) in message
    assert json.loads(transcript.read_text())["status"] == "failed"   # written after the check, not before
    assert f"Then {CLOSING_STEP}" in run.stdout   # shown like a written step


def test_report_formatters_find_the_transcripts_on_the_scenario(tmp_path):
    probe = tmp_path / "probe.json"
    run = run_suite("reference_faults=unknown_event", "strict_events=true", tags="@chat",
                    args=("-f", "tests.chat_suite_probe:ChatSuiteProbe", "-o", str(probe), "-f", "plain"))
    [seen] = json.loads(probe.read_text())
    assert seen["status"] == "failed" and seen["transcripts_path"] == str(transcript_path((Path(run.reports) / "latest").resolve(), FEATURE,
                                                                                           SCENARIO))
    assert seen["transcripts"]["my connection"] > 5
    assert any({"connection": "my connection", "rule": "known_events", "severity": "violation"}.items() <= v.items()
               for v in seen["violations"]), seen["violations"]


def test_json_on_stdout_is_only_the_json_document():
    run = run_suite(tags="@chat or @tools", args=("-f", "json"))
    assert run.returncode == 0, run.output[-3000:]
    document = json.loads(run.stdout)   # anything else on stdout (behave's banner, flows, summary) breaks this
    assert [e["status"] for e in scenarios_in(document)] == ["passed", "passed", "passed"]
    assert all(e["steps"][-1]["name"] == CLOSING_STEP for e in scenarios_in(document))
    assert "my connection: websocket_ready" in run.output and "1 failed" not in run.output   # flows on stderr


def test_progress_prints_one_line_per_feature():
    run = run_suite(tags="@chat or @tools", args=("-f", "progress"))
    assert run.returncode == 0, run.output[-3000:]
    body = [line for line in run.stdout.splitlines()
            if line.strip() and not re.match(r"^(\d+ (features?|scenarios?|steps?) passed|Took )", line)]
    assert len(body) == 2 and all(re.match(r"^features/\S+\.feature\s+\.+\s*$", line) for line in body), body


def test_ci_without_a_backend_fails_with_the_reason():
    run = run_behave(env={"CI": "true"})
    assert run.returncode != 0
    assert "CI='true'" in run.output and "-D backend=reference" in run.output and "RUN_MANUAL_TESTS=1" in run.output
    required = run_behave("-D", "require_backend=true")
    assert required.returncode != 0 and "require_backend=true" in required.output


def test_ci_with_the_reference_backend_runs():
    ci = run_behave("-D", "backend=reference", "--tags", "@chat", env={"CI": "true"})
    assert ci.returncode == 0, ci.output[-3000:]
    assert "1 scenario passed, 0 failed" in ci.output


def test_the_behave_command_itself_prints_only_json_on_stdout(tmp_path):
    """The installed `behave` script (not python -m): the project's runner and formatters are importable."""
    behave = Path(sys.executable).with_name("behave")
    done = subprocess.run([str(behave), "-D", "backend=reference", "--tags=@chat", "-f", "json",
                           "-D", f"reports_dir={tmp_path}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "CI"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert scenarios_in(json.loads(done.stdout))[0]["status"] == "passed"
