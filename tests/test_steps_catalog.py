"""`behave --steps-catalog` documents every step: each step phrase is followed by its one-line docstring."""
from __future__ import annotations

import re

from tests.behave_runner import run_behave


def test_every_step_in_the_catalog_has_a_one_line_description():
    run = run_behave("--steps-catalog", pool=False)   # behave writes the catalog to the stdout it started with
    assert run.returncode == 0, run.output[-2000:]
    blocks = [b for b in re.split(r"\n\s*\n", run.output) if re.match(r"^(USING RUNNER: .*\n)?(Given|When|Then|Step) ", b)]
    assert len(blocks) >= 50, run.output[:2000]
    undocumented = [b.splitlines()[-1] for b in blocks if not re.search(r"\n    \S", b)]
    assert undocumented == [], undocumented
    assert all(len(re.findall(r"\n    \S", b)) == 1 for b in blocks), "descriptions are one line each"
