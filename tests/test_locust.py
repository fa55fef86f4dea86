"""locustfile.py: chat customers on Locust's engine, checked by the suite's rules (skipped without Locust:
pip install -r requirements-load.txt). Locust runs in a subprocess: importing it here would monkey-patch
this test process."""
from __future__ import annotations

import importlib.util
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


def run_locust(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_SUITE_") and k not in ("BACKEND_WS_URL", "CI")}
    env.update(BACKEND_WS_URL=url, JWT_SECRET=SECRET)
    command = [sys.executable, "-m", "locust", "-f", "locustfile.py", "--headless", "-u", "20", "-r", "20",
               "--run-time", "8s", "--only-summary", "--exit-code-on-error", "1", "--stop-timeout", "5", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)


def aggregated_failures(output: str) -> int:
    found = re.search(r"^\s+Aggregated\s+\d+\s+(\d+)\(", output, re.MULTILINE)
    assert found, output[-3000:]
    return int(found.group(1))


def test_customers_keep_the_protocol_against_the_clean_backend():
    with BackendProcess(secret=SECRET) as backend:
        done = run_locust(backend.url)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert aggregated_failures(output) == 0, output[-3000:]
    for name in ("conversation", "time_to_first_text", "ws_connecting", "reply_duration", "inter_chunk_gap"):
        assert re.search(rf"^WS\s+{name}\s+[1-9]", output, re.MULTILINE), f"{name} missing:\n{output[-3000:]}"


def test_a_broken_rule_is_a_locust_failure_naming_the_rule():
    with BackendProcess(secret=SECRET, faults=["session_id_changes"]) as backend:
        done = run_locust(backend.url)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    assert aggregated_failures(output) > 0
    assert "protocol [session_id_constant]" in output and "[session_id_constant] session_id changed from" in output
    assert "customer " in output and "'s connection" in output
