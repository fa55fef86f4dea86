"""Production is the judge: conversations recorded from the production backend, re-checked offline.

tests/recordings/ holds them (see its README): the clean ones must keep every rule (notices are
fine), and each defect must be caught by the rule or verdict that names it.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import recheck, rules, verdicts
from support.vocabulary import Dialect
from support.transcript_view import to_json

RECORDINGS = Path(__file__).parent / "recordings"


def recording(name: str) -> dict:
    return json.loads((RECORDINGS / name).read_text())


def checked(name: str, strict: bool = False):
    return {tr.name: (tr, found) for tr, found in recheck.recheck(recording(name), Dialect.load("v2"), strict)}


CLEAN = sorted(p.name for p in RECORDINGS.glob("*.json") if recording(p.name)["verdict"] == "clean")


def test_the_recordings_are_there():
    assert len(CLEAN) >= 5 and {"defect-cross-tenant.json", "defect-blank-prompt.json"} <= {
        p.name for p in RECORDINGS.glob("*.json")}


@pytest.mark.parametrize("name", CLEAN)
def test_a_clean_recording_keeps_every_rule(name):
    for tr, found in checked(name).values():
        assert tr.received(), f"{name}: {tr.name} has no frames: the recording was not read"
        assert verdicts.violations_only(found) == [], verdicts.explain(verdicts.violations_only(found), tr)


def test_production_habits_are_notices_that_fail_only_when_strict():
    tr, found = checked("speech-buffered.json")["my connection"]
    notices = [v.message for v in found if v.severity == rules.NOTICE]
    assert any("'event_type' is a required property" in m for m in notices), notices
    assert any("$.content.model: None" in m for m in notices), notices
    tr, strict = checked("speech-buffered.json", strict=True)["my connection"]
    assert {v.rule for v in verdicts.violations_only(strict)} == {"frames_match_schema"}


def test_a_search_tool_without_result_is_conforming_unless_results_are_required():
    tr, _ = checked("tool-start-only.json")["my connection"]
    assert [e.fields["tool_name"] for e in tr.of_kind("tool_start")] == ["web_search"]
    assert rules.check(tr, ["tool_result_after_call"]) == []
    missing = rules.check(tr, ["tool_calls_have_results"])
    assert len(missing) == 1 and "'web_search'" in missing[0].message and "never got a tool_result" in missing[0].message


def test_customer_b_writing_into_customer_a_chat_is_caught():
    tr, found = checked("defect-cross-tenant.json")["customer B"]
    refused, what = verdicts.request_refused(tr, tr.last_request())
    assert not refused and what == "the backend worked on it: working at #6", what
    bad = verdicts.violations_only(found)
    assert [v.rule for v in bad] == ["errors_expected"] and "Failed to save chat history" in bad[0].message


def test_a_blank_prompt_answered_without_an_error_is_caught():
    tr, found = checked("defect-blank-prompt.json")["my connection"]
    refused, what = verdicts.request_refused(tr, tr.last_request())
    assert not refused and "worked on it: working" in what
    assert tr.first("error") is None


def test_a_speech_only_request_without_its_message_id_is_reported():
    tr, found = checked("speech-only-without-message-id.json")["my connection"]
    bad = verdicts.violations_only(found)
    assert [v.rule for v in bad] == ["errors_expected"] and "TTS request requires message_id" in bad[0].message


def test_the_recheck_command_judges_files(capsys, tmp_path):
    assert recheck.main([str(RECORDINGS / "chat.json")]) == 0
    assert "ok: no protocol rule broken" in capsys.readouterr().out
    assert recheck.main([str(RECORDINGS / "chat.json"), "--strict"]) == 1
    assert recheck.main([str(RECORDINGS / "defect-cross-tenant.json")]) == 1
    assert "[errors_expected] at event #18" in capsys.readouterr().out
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert recheck.main([str(broken)]) == 2


def test_a_report_the_suite_wrote_re_checks_to_the_same_verdict(b, tmp_path):
    from conftest import conforming_text_reply
    b.ready()
    conforming_text_reply(b)
    b.tr.expect(b.recv("error", stage="database", message="asked for"))
    b.recv("error", stage="text", message="not asked for")
    b.closed(1000)
    document = {"connections": {b.tr.name: to_json(b.tr)}}
    again = recheck.recheck(json.loads(json.dumps(document)), Dialect.load("v2"))
    [(tr, found)] = again
    assert [(v.rule, v.seq) for v in verdicts.violations_only(found)] == \
           [(v.rule, v.seq) for v in verdicts.violations_only(rules.check(b.tr))] == [("errors_expected", tr.entries[-2].seq)]
    assert tr.closed().fields["code"] == 1000


def test_a_frame_clipped_in_the_file_is_not_judged_and_the_rest_is(b):
    from conftest import conforming_text_reply
    b.ready()
    conforming_text_reply(b)
    huge = b.recv_frame({"type": "pong", "timestamp": "x" * 5000})
    document = {"connections": {b.tr.name: to_json(b.tr, raw_limit=1000)}}
    saved = document["connections"][b.tr.name][huge.seq - 1]
    assert len(saved["raw"]) == 1000 and saved["raw_length"] > 5000
    [(tr, found)] = recheck.recheck(document, Dialect.load("v2"))
    assert verdicts.violations_only(found) == [] and tr.entries[huge.seq - 1].kind == "malformed"
