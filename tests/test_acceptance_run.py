"""The suite as a newcomer runs it: skipped by default, green on the reference backend, honest when
nothing listens, and the same against a backend started by hand with its CLI."""
from __future__ import annotations

import re

import pytest

from support.backend_process import BackendProcess
from support.config import Settings
from support.gating import HOW_TO_ENABLE
from tests.behave_runner import feature_parts, run_behave, run_suite

# The live run in parts of about equal length, run side by side: a live backend's paced stream makes
# stopping and exploring take seconds each.
LIVE_PARTS = feature_parts({"stopping": ("cancellation.feature",), "exploring": ("explore.feature",)})


def test_plain_behave_skips_everything_and_says_how_to_enable():
    run = run_behave()
    assert run.returncode == 0, run.output[-2000:]
    assert "0 scenarios passed, 0 failed" in run.output and "skipped" in run.summary
    assert HOW_TO_ENABLE in run.output


def test_tags_select_only_the_tool_scenarios():
    run = run_suite(tags="@tools")
    assert run.returncode == 0, run.output[-3000:]
    assert "2 scenarios passed, 0 failed" in run.output, run.summary
    assert "tool_start(generate_image) → tool_result(success)" in run.output


def test_nothing_listening_stops_the_run_early_with_one_message(unused_port):
    run = run_behave(env={"RUN_MANUAL_TESTS": "1", "BACKEND_WS_URL": f"ws://127.0.0.1:{unused_port}/chat/ws"},
                     timeout=60)
    assert run.returncode != 0
    assert "connection refused" in run.output and "docker-compose up -d backend" in run.output
    assert "timed out" not in run.output
    assert len(run.output.strip().splitlines()) == 1, run.output   # that message alone: no ABORTED, no summary


@pytest.mark.parametrize("part", LIVE_PARTS)
def test_live_mode_passes_against_the_backend_started_by_its_cli(part):
    with BackendProcess(secret=Settings().jwt_secret, chunk_delay=0.005) as backend:   # still paced, 4x faster
        # Silence proved in 0.3 s and 20 generated frames: a local backend, and the point is live mode itself.
        run = run_behave(*LIVE_PARTS[part], "-D", "quiet_window=0.3", "-D", "explore_examples=20",
                         env={"RUN_MANUAL_TESTS": "1", "BACKEND_WS_URL": backend.url})
    assert run.returncode == 0, run.output[-3000:]
    assert " 0 failed" in run.summary and "testing the live backend" in run.output
    assert not re.search(r"\b0 scenarios passed", run.summary), run.summary
