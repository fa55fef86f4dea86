"""No false alarms: a conforming backend with random latency and random chunk sizes passes every time.

Benchmark mode (20 full runs): python -m pytest -m benchmark -n 0 -s   — prints a figure per run.
"""
from __future__ import annotations

import pytest

from tests.behave_runner import run_suite

RUNS = 20
JITTER = 0.02   # up to 20 ms extra per frame, far inside every timeout


@pytest.mark.benchmark
def test_a_jittery_conforming_backend_passes_twenty_runs_in_a_row():
    seconds = []
    for number in range(1, RUNS + 1):
        run = run_suite(f"reference_jitter={JITTER}", "reference_random_chunks=true")
        print(f"run {number:2}/{RUNS}: {run.summary} in {run.seconds:.1f} s", flush=True)
        assert run.returncode == 0, f"false alarm in run {number}:\n{run.output[-5000:]}"
        seconds.append(run.seconds)
    print(f"{RUNS} runs passed; scenario time min {min(seconds):.1f} s, max {max(seconds):.1f} s, "
          f"mean {sum(seconds) / len(seconds):.1f} s")
