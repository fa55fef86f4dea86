"""A very large question: answered in full or refused with an error; closed (1009) only over a declared limit (§9)."""
from __future__ import annotations

from tests.behave_runner import run_suite

DECLARED = "max_message_bytes=1000000"   # under the scenario's 2 MB question


def test_a_close_1009_is_polite_only_over_the_declared_limit():
    run = run_suite("reference_faults=large_question_closes", DECLARED, tags="@large_question")
    assert run.returncode == 0 and "1 scenario passed" in run.output, run.output[-3000:]


def test_a_declared_limit_must_be_kept():
    run = run_suite(DECLARED, tags="@large_question")
    assert run.returncode != 0, run.output[-3000:]
    assert "declares a limit of 1000000 bytes (max_message_bytes) but served a" in run.output, run.output[-3000:]


def test_without_a_declared_limit_the_question_is_answered_in_full():
    run = run_suite(tags="@large_question")
    assert run.returncode == 0 and "1 scenario passed" in run.output, run.output[-3000:]
