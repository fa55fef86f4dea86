"""Scenarios read as plain language, and a phrase the steps do not know is an undefined step."""
from __future__ import annotations

import re
import subprocess
import sys

from tests.behave_runner import ROOT

WIRE_WORDS = re.compile(r"\b(json|jwt|ping|pong|binary|database|query string|header|close code|"
                        r"websocket|payload|1000|1003|1008|1009|1011|4401|4403)\b", re.IGNORECASE)


def test_no_scenario_text_uses_wire_words():
    found = []
    for path in sorted((ROOT / "features").glob("*.feature")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if WIRE_WORDS.search(line):
                found.append(f"{path.name}:{number}: {line.strip()}")
    assert found == [], "wire words belong in step code and the README:\n" + "\n".join(found)


def test_a_misspelled_phrase_is_an_undefined_step_at_dry_run(tmp_path):
    for name in ("steps", "support", "environment.py", "behave.ini"):
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "typo.feature").write_text(
        "Feature: typo\n\n  Scenario: a token kind nobody defined\n"
        "    When I connect with a slightly expired token and try to chat\n"
        "    Then the connection is refused\n\n"
        "  Scenario: a known one\n    When I connect with an expired token and try to chat\n"
        "    Then the connection is refused\n")
    done = subprocess.run([sys.executable, "-m", "behave", "--dry-run", "--no-color", "features"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert "1 undefined" in output and "I connect with a slightly expired token" in output, output[-2000:]
    assert done.returncode != 0
