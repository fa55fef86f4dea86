"""A run that stops before it tests anything says so in every output (issue 16, item 1): JUnit counts
an error with the reason, JSON on stdout stays JSON, the HTML report has a banner, reports/latest
stays where it was, and a configuration error is one line. Skipped scenarios carry their reason;
failure messages open with the finding."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.behave_runner import ALLURE_FORMAT, needs_allure, run_behave, run_suite

REFUSED = "nothing accepts connections"


def aborts(port: int) -> dict:
    return {
        "ci-guard": ((), {"CI": "1"}, "CI='1' (a CI run)"),
        "unreachable": (("-D", f"ws_url=ws://127.0.0.1:{port}/chat/ws"), {"RUN_MANUAL_TESTS": "1"}, REFUSED),
        "configuration-error": (("-D", "backend=reference", "-D", "timeout=-1"), {}, "timeout='-1'"),
    }


@pytest.fixture
def earlier_run(tmp_path) -> Path:
    """A reports folder where an earlier run left its transcripts and reports/latest."""
    reports = tmp_path / "reports"
    (reports / "20260101T000000Z-1").mkdir(parents=True)
    (reports / "latest").symlink_to("20260101T000000Z-1")
    return reports


@pytest.mark.parametrize("kind", ["ci-guard", "unreachable", "configuration-error"])
def test_an_aborted_run_says_why_in_every_output(kind, tmp_path, earlier_run, unused_port):
    args, env, reason = aborts(unused_port)[kind]
    junit, page = tmp_path / "junit", tmp_path / "report.html"
    before = sorted(p.name for p in earlier_run.iterdir())
    latest = (earlier_run / "latest").resolve()
    run = run_behave(*args, "--tags=@chat or @cancel", "-f", "json", "-f", "html-timeline", "-o", "-", "-o",
                     str(page), "--junit", "--junit-directory", str(junit), env=env, reports_dir=str(earlier_run),
                     timeout=120)

    assert run.returncode != 0
    assert json.loads(run.stdout) == [], run.stdout[:500]   # stdout is the JSON document and nothing else
    stderr = run.output[len(run.stdout):]
    assert [line for line in stderr.splitlines() if line.strip()] == [next(
        line for line in stderr.splitlines() if reason in line)], stderr   # the reason, once: no ABORTED, no summary

    suites = [ET.parse(p).getroot() for p in sorted(junit.glob("*.xml"))]
    assert suites, "no JUnit file"
    errors = [case.find("error") for suite in suites for case in suite.iter("testcase")]
    assert errors and all(e is not None and reason in e.get("message") for e in errors), \
        ET.tostring(suites[0])[:1500]
    assert len(errors) == 5   # the @chat and @cancel scenarios: those --tags left out are no part of the run
    assert sum(int(s.get("errors")) for s in suites) == sum(int(s.get("tests")) for s in suites) == 5

    shown = page.read_text()
    assert 'class="aborted"' in shown and "The run was aborted" in shown
    assert reason.replace("'", "&#x27;") in shown

    assert sorted(p.name for p in earlier_run.iterdir()) == before   # no new, empty run folder
    assert (earlier_run / "latest").resolve() == latest


def test_a_configuration_error_is_the_only_line_printed():
    run = run_behave("-D", "backend=reference", "-D", "timeout=-1", "--tags=@chat", timeout=60)
    assert run.returncode != 0
    assert run.output.strip().splitlines() == [
        "configuration error: setting timeout='-1' (from -D timeout) is not valid: must not be negative"], run.output


def test_a_dry_run_prints_valid_json():
    run = run_behave("-D", "backend=reference", "--dry-run", "-f", "json", timeout=60)
    assert run.returncode == 0, run.output[-2000:]
    features = json.loads(run.stdout)   # behave's summary used to follow the document on stdout
    assert len(features) >= 8


def test_skipped_scenarios_carry_their_reason_in_junit_and_html(tmp_path):
    junit, page = tmp_path / "junit", tmp_path / "report.html"
    run = run_behave("--tags=@chat or @cancel", "-f", "html-timeline", "-o", str(page),
                     "--junit", "--junit-directory", str(junit), timeout=60)
    assert run.returncode == 0, run.output[-2000:]
    suites = {p.name: ET.parse(p).getroot() for p in junit.glob("*.xml")}
    cases = [case for suite in suites.values() for case in suite.iter("testcase")]
    assert len(cases) == 5, sorted(suites)   # the @chat and @cancel scenarios; those --tags left out stay out
    for case in cases:
        skipped = case.find("skipped")
        assert skipped is not None and "no backend was asked for" in skipped.get("message"), ET.tostring(case)[:800]
    shown = page.read_text()
    assert shown.count('class="skip-reason">not run: live scenarios are skipped: no backend was asked for') == 5


def test_failure_messages_open_with_the_finding(tmp_path):
    """PyHamcrest's "Expected: a transcript that keeps <11 rule names>" used to come first."""
    junit = tmp_path / "junit"
    run = run_suite("reference_faults=chunk_index_gap", tags="@chat", args=("--junit", "--junit-directory", str(junit)))
    assert run.returncode != 0
    [failure] = ET.parse(junit / "TESTS-chat_streaming.xml").getroot().iter("failure")
    assert failure.get("message").startswith("1 protocol rule(s) broken on my connection"), failure.get("message")
    assert "Expected:" not in failure.get("message") and "\nFailing step:" in failure.text
    assert "ASSERT FAILED: 1 protocol rule(s) broken" in failure.text   # behave's own message too


@needs_allure
def test_allure_failure_messages_open_with_the_finding(tmp_path):
    allure = tmp_path / "allure"
    run = run_suite("reference_faults=chunk_index_gap", tags="@chat", args=("-f", ALLURE_FORMAT, "-o", str(allure),
                                                                           "-f", "plain"))
    assert run.returncode != 0
    [result] = [json.loads(p.read_text()) for p in allure.glob("*-result.json")]
    assert result["statusDetails"]["message"].startswith("AssertionError: 1 protocol rule(s) broken")


def test_an_allure_attachment_problem_is_said_on_stderr(monkeypatch, capfd):
    allure = pytest.importorskip("allure")
    from support import html_report

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(allure, "attach", broken)
    html_report.attach_to_allure(type("S", (), {"chat_suite": {}})())
    out = capfd.readouterr()
    assert out.out == "" and "allure attachment skipped: OSError: disk full" in out.err


@needs_allure
def test_allure_gets_categories_keyed_on_rule_names(tmp_path):
    allure = tmp_path / "allure"
    run = run_suite("reference_faults=chunk_index_gap", tags="@chat",
                    args=("-f", "allure_behave.formatter:AllureFormatter", "-o", str(allure), "-f", "plain"))
    assert run.returncode != 0
    categories = json.loads((allure / "categories.json").read_text())
    [gap] = [c for c in categories if c["name"].startswith("[chunk_index_sequence]")]
    [result] = [json.loads(p.read_text()) for p in allure.glob("*-result.json")]
    assert re.fullmatch(gap["messageRegex"], result["statusDetails"]["message"])
    assert "failed" in gap["matchedStatuses"]


def test_behaves_own_notes_leave_stdout(capfd):
    """print() writes a note, then its newline: both leave stdout; a hook's error goes to stderr."""
    import io

    from support.quiet_runner import _DropNotes

    out = io.StringIO()
    notes = _DropNotes(out)
    for note in ("USING RUNNER: support.quiet_runner:Runner", "\nABORTED: By user.",
                 "HOOK-ERROR in after_scenario: OSError: disk full"):
        print("[", file=notes)
        print(note, file=notes)
        print("]", file=notes)
    assert out.getvalue() == "[\n]\n" * 3
    assert capfd.readouterr().err == "HOOK-ERROR in after_scenario: OSError: disk full\n"


def test_a_reason_said_by_the_hook_is_not_repeated(capfd):
    from types import SimpleNamespace

    from support import quiet_runner, report

    class Runner:   # what the context reads of its runner
        feature = None
        config = SimpleNamespace(reporters=[])

    runner = Runner()
    context = quiet_runner._Context(runner)
    config = runner.config
    report.say("configuration error: timeout is wrong")
    context.abort(reason="timeout is wrong")
    assert capfd.readouterr().err == "configuration error: timeout is wrong\n"
    assert quiet_runner.aborted_because(config) == "timeout is wrong"
