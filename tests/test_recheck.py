"""python -m support.recheck judges every file it is given: one verdict line each, exit 0 clean,
1 broken, 2 unreadable (the worst wins), never a traceback; --junit and --json for CI."""
from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from support import recheck

ROOT = Path(__file__).resolve().parent.parent
RECORDINGS = ROOT / "tests" / "recordings"
CLEAN, BROKEN = RECORDINGS / "chat.json", RECORDINGS / "defect-cross-tenant.json"
NOT_TRANSCRIPTS = {
    "empty-array": "[]",
    "a-string": '"x"',
    "number-connections": '{"connections": 5}',
    "very-deep": "[" * 100_000 + "]" * 100_000,
    "other-json": '{"name": "a settings file"}',
    "not-json": "{not json",
    "frames-not-objects": '{"connections": {"c": [5]}}',
    "binary": None,
}


@pytest.fixture
def bad_files(tmp_path) -> list[Path]:
    out = []
    for name, text in NOT_TRANSCRIPTS.items():
        path = tmp_path / f"{name}.json"
        path.write_bytes(b"\xff\xfe\x00garbage" if text is None else text.encode())
        out.append(path)
    return out + [tmp_path / "missing.json"]


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "support.recheck", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def verdict_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if not line.startswith(" ")]


def test_every_file_gets_one_verdict_line_and_the_worst_exit_status(bad_files):
    done = run(CLEAN, *bad_files, BROKEN)
    assert done.returncode == 2 and done.stderr == "", done.stderr[-2000:]
    lines = verdict_lines(done.stdout)
    assert [line.split(": ", 1)[0] for line in lines] == [str(p) for p in (CLEAN, *bad_files, BROKEN)], done.stdout
    assert lines[0].endswith("ok: no protocol rule broken")
    assert all(": UNREADABLE: " in line for line in lines[1:-1]), lines
    assert lines[-1].endswith("BROKEN: a protocol rule is broken (errors_expected)")


@pytest.mark.parametrize("name", [*NOT_TRANSCRIPTS, "missing"])
def test_a_file_that_is_no_transcript_is_unreadable_with_a_reason(bad_files, capsys, name):
    [path] = [p for p in bad_files if p.stem == name]
    assert recheck.main([str(path)]) == 2
    [line] = capsys.readouterr().out.splitlines()
    reason = line.split(": UNREADABLE: ", 1)[1]
    assert reason and "Traceback" not in reason and "KeyError" not in reason, line


def test_the_reasons_say_what_the_file_is(bad_files):
    reasons = {p.stem: recheck.judge(str(p)).reason for p in bad_files}
    assert reasons["empty-array"] == 'not a transcript: an array, not an object with "connections"'
    assert reasons["number-connections"] == 'not a transcript: "connections" is a number, not an object'
    assert reasons["very-deep"] == "not a transcript: nested too deep to read"
    assert reasons["other-json"] == "not a transcript: no \"connections\" (it has 'name')"
    assert reasons["not-json"].startswith("not JSON (")
    assert reasons["binary"].startswith("not UTF-8 text") and reasons["missing"].startswith("cannot read it: No such")


def test_exit_status_is_0_when_clean_and_1_when_a_rule_is_broken(capsys):
    assert recheck.main([str(CLEAN)]) == 0
    assert recheck.main([str(CLEAN), str(BROKEN)]) == 1


def hostile(tmp_path) -> Path:
    """A frame with half an emoji (a lone surrogate) and a control character the backend never should send."""
    frame = json.dumps({"type": "error", "message": "half \ud83d and \x01"}, ensure_ascii=False)
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps({"connections": {"c": [{"seq": 1, "t": 0.1, "direction": "received", "raw": frame}]}}))
    return path


def test_a_lone_surrogate_in_a_frame_is_printed_escaped(tmp_path):
    done = run(hostile(tmp_path))
    assert done.returncode == 1 and done.stderr == "", done.stderr[-2000:]
    assert "\\ud83d" in done.stdout


def test_junit_has_one_case_per_file_failures_carry_the_rule_and_errors_the_reason(tmp_path, bad_files):
    status = recheck.main([str(CLEAN), str(BROKEN), str(bad_files[0]), str(hostile(tmp_path)),
                           "--junit", str(tmp_path / "junit")])
    assert status == 2
    suite = ET.parse(tmp_path / "junit" / "recheck.xml").getroot()   # parses: valid XML despite the surrogate
    assert (suite.tag, suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("testsuite", "4", "2", "1")
    clean, broken, unreadable, escaped = suite.findall("testcase")
    assert clean.get("name") == str(CLEAN) and list(clean) == []
    [failure] = broken.findall("failure")
    assert failure.get("message").startswith("[errors_expected] the backend reported an error no step asked for")
    assert "[errors_expected] at event #18" in failure.text and "Failed to save chat history" in failure.text
    [error] = unreadable.findall("error")
    assert "an array, not an object" in error.get("message") and not unreadable.findall("failure")
    assert "\\ud83d" in escaped.find("failure").text


def test_json_has_one_entry_per_file_with_path_verdict_and_violations(tmp_path, bad_files):
    out = tmp_path / "recheck.json"
    assert recheck.main([str(CLEAN), str(BROKEN), str(bad_files[-1]), "--json", str(out)]) == 2
    clean, broken, missing = json.loads(out.read_text())
    assert (clean["path"], clean["verdict"], clean["violations"]) == (str(CLEAN), "ok", [])
    assert clean["notices"] and clean["notices"][0]["rule"] == "frames_match_schema"
    assert broken["verdict"] == "broken"
    [v] = broken["violations"]
    assert (v["connection"], v["rule"], v["seq"]) == ("customer B", "errors_expected", 18)
    assert "Failed to save chat history" in v["message"]
    assert missing["verdict"] == "unreadable" and missing["violations"] == [] and "No such file" in missing["reason"]
