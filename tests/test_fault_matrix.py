"""Every scenario proves its title: for each scenario (each example of an outline) a fault of the
reference backend fails it when it runs alone, with the message that names the broken promise.

Each row runs its scenario alone against a real reference backend process with that fault switched
on (for its connections: one backend per test worker serves every row); every fault has a row; the
clean backend must pass the whole suite.
"""
from __future__ import annotations

import functools
from pathlib import Path

import pytest

from support.reference_backend.faults import FAULTS
from tests import fault_matrix
from tests.fault_matrix import MATRIX_TIMEOUT, ROWS, Row, caught, markdown, run_fault, run_suite

STALLS = ("no_ready", "stall_after_accept", "stall_mid_reply", "no_text_completed", "no_tts_completed")


@functools.cache
def outcome(row: Row):
    return run_fault(row)


def first_row(fault: str) -> Row:
    return next(r for r in ROWS if r.fault == fault)


def same_worker(fault: str):
    """A stall's row and its timing test run on one worker, so the timing reads the row's own run."""
    return pytest.mark.xdist_group(f"stall-{fault}")


def row_param(row: Row):
    marks = [same_worker(row.fault)] if row.fault in STALLS and row is first_row(row.fault) else []
    return pytest.param(row, marks=marks, id=f"{row.fault}-{row.scenario[1:]}" + (f"-{row.example}" if row.example else ""))


def test_every_fault_has_a_row_and_every_row_a_fault():
    assert [r.fault for r in ROWS if r.fault not in FAULTS] == []
    assert sorted(FAULTS) == sorted({r.fault for r in ROWS})
    assert len(FAULTS) >= 25


def test_every_scenario_and_example_has_a_row():
    """Parsed from features/*.feature: a scenario no fault fails proves nothing."""
    assert fault_matrix.uncovered() == []
    assert len(fault_matrix.scenarios()) >= 40


def test_a_scenario_without_a_row_is_named(monkeypatch):
    monkeypatch.setattr(fault_matrix, "ROWS", [r for r in ROWS if r.scenario != "@stop_idle"
                                               and r.example != "a garbled token"])
    missing = fault_matrix.uncovered()
    assert [m.split(":")[0] for m in missing] == ["@bad_token", "@stop_idle"], missing
    assert "A connection with a garbled token is turned away" in missing[0]


def test_an_example_row_must_select_one_example(monkeypatch):
    monkeypatch.setattr(fault_matrix, "ROWS", [Row("accept_expired", "@bad_token", "x", example="token")])
    assert len([m for m in fault_matrix.uncovered() if m.startswith("@bad_token:")]) == 6


def test_a_run_is_alone_when_one_scenario_ran_and_the_others_were_skipped():
    def summary(line):
        return fault_matrix.Run(1, f"...\n{line}\n3 steps passed", 0.0, [])
    assert fault_matrix.ran_alone(summary("0 scenarios passed, 1 failed, 43 skipped"))
    assert fault_matrix.ran_alone(summary("0 scenarios passed, 0 failed, 1 error, 43 skipped"))
    assert not fault_matrix.ran_alone(summary("0 scenarios passed, 2 failed, 42 skipped"))
    assert not fault_matrix.ran_alone(summary("1 scenario passed, 1 failed, 42 skipped"))
    assert not fault_matrix.ran_alone(summary("0 scenarios passed, 0 failed, 44 skipped"))


def test_the_clean_backend_passes_the_whole_suite():
    run = run_suite()
    assert run.returncode == 0, run.output[-4000:]
    assert " 0 failed" in run.summary and run.failing == [], run.summary


@pytest.mark.parametrize("row", [row_param(r) for r in ROWS])
def test_the_fault_fails_the_scenario_alone_with_its_message(row):
    run = outcome(row)
    assert run.returncode != 0, f"{row.fault} was not caught:\n{run.output[-3000:]}"
    assert fault_matrix.ran_alone(run), f"{row.scenario} {row.example} did not run alone: {run.summary}"
    assert any(row.scenario in tags and row.example in name for name, tags in run.failing_tagged), \
        f"expected {row.scenario} {row.example} to fail; failing: {run.failing_tagged}"
    assert row.message in run.output, f"expected {row.message!r} in the output:\n{run.output[-3000:]}"
    assert caught(row, run)


@pytest.mark.parametrize("fault", [pytest.param(f, marks=same_worker(f)) for f in STALLS])
def test_a_stall_ends_within_the_timeout_plus_two_seconds_per_scenario(fault):
    """No-hang guarantee: a silent backend costs at most one timeout (+2 s) per affected scenario."""
    run = outcome(first_row(fault))
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
    assert f"{len(FAULTS)} fault modes" in readme


def test_the_servers_happy_path_knows_no_fault():
    """Faults are filters registered in faults.py; the server never asks for one by name."""
    server = (Path(__file__).resolve().parent.parent / "support" / "reference_backend" / "server.py").read_text()
    named = [name for name in FAULTS if f'"{name}"' in server or f"'{name}'" in server]
    assert named == [], f"the server spells fault names: {named}"
