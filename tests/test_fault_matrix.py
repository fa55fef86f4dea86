"""The suite catches broken backends: every fault fails the run with the rule it broke.

Each fault runs the catching feature against a real reference backend process with that fault
switched on; the clean backend must pass the whole suite.
"""
from __future__ import annotations

import functools
from pathlib import Path

import pytest

from support.reference_backend.faults import FAULTS
from tests.fault_matrix import MATRIX_TIMEOUT, ROWS, markdown, run_fault, run_suite

STALLS = ("no_ready", "stall_after_accept", "stall_mid_reply", "no_text_completed", "no_tts_completed")


@functools.cache
def outcome(fault: str):
    return run_fault(next(r for r in ROWS if r.fault == fault))


def test_every_fault_has_a_row_and_every_row_a_fault():
    assert [r.fault for r in ROWS if r.fault not in FAULTS] == []
    assert sorted(FAULTS) == sorted(r.fault for r in ROWS)
    assert len(FAULTS) >= 25


def test_the_clean_backend_passes_the_whole_suite():
    run = run_suite()
    assert run.returncode == 0, run.output[-4000:]
    assert " 0 failed" in run.summary and run.failing == [], run.summary


@pytest.mark.parametrize("row", ROWS, ids=[r.fault for r in ROWS])
def test_the_fault_is_caught_with_its_message(row):
    run = outcome(row.fault)
    assert run.returncode != 0, f"{row.fault} was not caught:\n{run.output[-3000:]}"
    assert any(row.scenario in tags and row.example in name for name, tags in run.failing_tagged), \
        f"expected {row.scenario} {row.example} to fail; failing: {run.failing_tagged}"
    assert row.message in run.output, f"expected {row.message!r} in the output:\n{run.output[-3000:]}"


@pytest.mark.parametrize("fault", STALLS)
def test_a_stall_ends_within_the_timeout_plus_two_seconds_per_scenario(fault):
    """No-hang guarantee: a silent backend costs at most one timeout (+2 s) per affected scenario."""
    run = outcome(fault)
    assert run.failing, run.output[-2000:]
    assert run.seconds <= len(set(run.failing)) * (MATRIX_TIMEOUT + 2), (run.seconds, run.failing)


def test_the_watchdog_ends_a_scenario_over_its_budget():
    run = run_suite("reference_faults=stall_mid_reply", "timeout=60", "scenario_budget=2", tags="@chat")
    assert run.returncode != 0
    assert "exceeded its budget of 2 s" in run.output, run.output[-2000:]
    assert run.seconds < 10, run.seconds


def test_an_unknown_event_is_only_reported_unless_strict():
    run = run_suite("reference_faults=unknown_event", tags="@chat")
    assert run.returncode == 0, run.output[-3000:]
    assert "notice on my connection: unknown event type 'debug_trace'" in run.output


def test_the_readme_table_is_the_matrix():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert markdown() in readme, "README's fault table is stale: paste the output of `python -m tests.fault_matrix`"
    assert f"{len(ROWS)} fault modes" in readme


def test_the_servers_happy_path_knows_no_fault():
    """Faults are filters registered in faults.py; the server never asks for one by name."""
    server = (Path(__file__).resolve().parent.parent / "support" / "reference_backend" / "server.py").read_text()
    named = [name for name in FAULTS if f'"{name}"' in server or f"'{name}'" in server]
    assert named == [], f"the server spells fault names: {named}"
