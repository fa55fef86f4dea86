"""Allure: a fault run marks the broken scenario failed and attaches its transcript and timeline.
Skipped when allure-behave (requirements-extras.txt) is not installed.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.behave_runner import run_suite

pytest.importorskip("allure_behave", reason="allure-behave is not installed (pip install -r requirements-extras.txt)")

@pytest.mark.parametrize("fault, tags, scenario", [
    ("chunk_index_gap", "@chat", "A question gets a complete answer that streams in"),   # a written step fails
    ("removed_event", "@errors", "A question with no text"),   # only the closing whole-conversation check fails
])
def test_the_broken_scenario_is_failed_in_allure_with_its_attachments(tmp_path, fault, tags, scenario):
    results = tmp_path / "allure-results"
    run = run_suite(f"reference_faults={fault}", tags=tags,
                    args=("-f", "allure_behave.formatter:AllureFormatter", "-o", str(results), "-f", "plain"))
    assert run.returncode != 0, run.output[-3000:]
    found = [json.loads(p.read_text()) for p in results.glob("*-result.json")]
    (result,) = [r for r in found if r["name"].startswith(scenario)]
    attachments = {a["name"]: results / a["source"] for a in result.get("attachments", [])}
    assert set(attachments) >= {"transcript", "timeline"}
    transcript = json.loads(Path(attachments["transcript"]).read_text())
    assert transcript["connections"]["my connection"]
    assert 'class="mark cat-' in attachments["timeline"].read_text()
    assert ' violation" data-seq="' in attachments["timeline"].read_text()
    assert result["status"] == "failed"
