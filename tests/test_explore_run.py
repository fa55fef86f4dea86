"""Exploration against the bundled backend: clean, it finds nothing; with a defect no written scenario
sends the request for, it finds it, shrunk to one changed path, reported once, in explore.json."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.behave_runner import run_suite

FAST = ("timeout=3", "error_timeout=3", "explore_budget=30")
FOUND = {   # fault: (the path it breaks at, the outcome)
    "empty_answer_on_bad_temperature": ("/user_settings/text/temperature", "empty answer with no error"),
    "close_on_bad_request_type": ("/request_type", "closed with code 1000"),
    "silent_on_bad_chat_id": ("/user_input/session_id", "no answer in time"),
    "answer_then_error_on_bad_history": ("/user_input/chat_history", "answer then error"),
}


def _explore_json(run) -> list[dict]:
    found = list(Path(run.reports).glob("*/explore.json"))
    return json.loads(found[0].read_text()) if found else []


def test_the_clean_backend_keeps_every_promise_and_the_seed_is_printed():
    run = run_suite(tags="@explore")
    assert run.returncode == 0, run.output[-3000:]
    assert "(seed " in run.output and "exploring 100 generated questions" in run.output
    assert _explore_json(run) == []


@pytest.mark.parametrize("fault", FOUND)
def test_each_defect_is_found_once_at_its_path(fault):
    run = run_suite(f"reference_faults={fault}", *FAST, tags="@explore_requests", scenario_tags=True)
    path, outcome = FOUND[fault]
    assert run.returncode != 0 and any("@explore_requests" in tags for _, tags in run.failing_tagged), run.output[-3000:]
    [entry] = _explore_json(run)
    assert (entry["path"], entry["outcome"]) == (path, outcome), entry
    assert entry["change"] == "wrong type"
    assert Path(entry["transcript"]).is_file()
    assert f"{outcome}, at {path}" in run.output and f"{outcome} at {path}" in run.output   # the report, the failure
    assert "replay: behave -D backend=reference --tags=@explore_requests -D explore_seed=" in run.output


def test_two_defects_are_two_grouped_failures_each_with_its_smallest_request():
    faults = "empty_answer_on_bad_temperature,close_on_bad_request_type"
    run = run_suite(f"reference_faults={faults}", *FAST, "explore_examples=300", tags="@explore_requests")
    entries = _explore_json(run)
    assert sorted((e["path"], e["outcome"]) for e in entries) == sorted(
        FOUND[f] for f in faults.split(",")), entries
    for e in entries:   # the request the suite always sends, with the one change
        request = json.loads(e["wire"])
        assert request["user_input"]["prompt"] == [{"type": "text", "text": "Say hello in 3 words"}]
    assert "2 distinct failure(s)" in run.output


def test_a_seed_repeats_a_run():
    runs = [run_suite("reference_faults=close_on_bad_request_type", *FAST, "explore_seed=7", tags="@explore_requests")
            for _ in range(2)]
    found = [[(e["path"], e["outcome"], e["wire"]) for e in _explore_json(r)] for r in runs]
    assert found[0] == found[1] and found[0]
    assert all("(seed 7)" in r.output for r in runs)


def test_a_broken_conversation_is_printed_as_plain_steps():
    run = run_suite("reference_faults=store_cancelled", *FAST, tags="@explore_conversations", scenario_tags=True)
    assert run.returncode != 0 and any("@explore_conversations" in tags for _, tags in run.failing_tagged)
    assert "[cancelled_not_stored]" in run.output
    assert "   When I ask" in run.output   # the shortest conversation, as steps a person can repeat
    entries = _explore_json(run)
    assert entries and all(e["steps"] for e in entries)
