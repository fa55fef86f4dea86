"""locustfile.py: chat customers on Locust's engine, checked by the suite's rules (skipped without Locust:
pip install -r requirements-load.txt). Locust runs in a subprocess: importing it here would monkey-patch
this test process."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest

from support.backend_process import BackendProcess
from tests.behave_runner import ROOT

pytestmark = pytest.mark.skipif(importlib.util.find_spec("locust") is None,
                                reason="locust is not installed (pip install -r requirements-load.txt)")
SECRET = "locust-test-secret-0123456789abcdef0123"


def run_locust(url: str, *args: str, run_time: str = "2s", stop_timeout: str = "10") -> subprocess.CompletedProcess:
    """A short headless run; --stop-timeout lets conversations still running at the end finish (or not)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_SUITE_") and k not in ("BACKEND_WS_URL", "CI")}
    env.update(BACKEND_WS_URL=url, JWT_SECRET=SECRET)
    command = [sys.executable, "-m", "locust", "-f", "locustfile.py", "--headless", "-u", "5", "-r", "5",
               "--run-time", run_time, "--stop-timeout", stop_timeout, "--only-summary", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)


def row(output: str, name: str) -> tuple[int, int]:
    """(requests, failures) of one row of Locust's summary table."""
    found = re.search(rf"^\s*(?:WS)?\s+{name}\s+(\d+)\s+(\d+)\(", output, re.MULTILINE)
    assert found, output[-3000:]
    return int(found.group(1)), int(found.group(2))


def test_customers_keep_the_protocol_against_the_clean_backend(tmp_path):
    with BackendProcess(secret=SECRET) as backend:
        done = run_locust(backend.url, "--load-json", str(tmp_path / "locust.load.json"))
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    requests, failures = row(output, "Aggregated")
    assert requests > 0 and failures == 0 and row(output, "conversation") == (requests, 0), output[-3000:]
    assert set(re.findall(r"^WS\s+(\S+)", output, re.MULTILINE)) == {"conversation"}, output[-3000:]   # timings: no requests
    assert re.search(r"^\s+time_to_first_text\s+[1-9]\d*\s+[\d.,]+ ms", output, re.MULTILINE), output[-3000:]
    results = json.loads((tmp_path / "locust.load.json").read_text())
    assert results["customers"] == requests and len(results["samples"]["time_to_first_text"]) == requests


def test_every_conversation_broken_is_a_failure_rate_of_100_percent():
    with BackendProcess(secret=SECRET, faults=["session_id_changes"]) as backend:
        done = run_locust(backend.url)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    requests, failures = row(output, "Aggregated")
    assert requests > 0 and failures == requests and "100.00%" in output, output[-3000:]
    assert row(output, "conversation") == (requests, requests)
    assert "WS conversation: ChatFailure(\"[session_id_constant] session_id changed from" in output, output[-3000:]
    assert "customer " in output and "'s connection" in output


@pytest.mark.parametrize("fault", ["stall_after_accept", "stall_mid_reply"])
def test_a_hung_backend_fails_the_run_with_unfinished_conversations(fault):
    with BackendProcess(secret=SECRET, faults=[fault]) as backend:
        done = run_locust(backend.url, run_time="2s", stop_timeout="1")
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-3000:]
    requests, failures = row(output, "Aggregated")
    assert requests > 0 and failures == requests, output[-3000:]
    assert "unfinished: still running when the run ended" in output
