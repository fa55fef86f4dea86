"""Run behave as a user would (a subprocess in the project root) and read its outcome."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_behave(*args: str, env: dict | None = None, timeout: float = 300.0) -> "Run":
    """behave with the given arguments; the caller's CHAT_SUITE_*/RUN_MANUAL_TESTS are not inherited."""
    reports = tempfile.mkdtemp(prefix="suite-reports-")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_SUITE_")
             and k not in ("RUN_MANUAL_TESTS", "BACKEND_WS_URL")}
    clean.update(env or {})
    command = [sys.executable, "-m", "behave", "--no-color", "-D", f"reports_dir={reports}", *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=clean)
    return Run.parse(done.returncode, done.stdout + done.stderr)


@dataclass
class Run:
    returncode: int
    output: str
    seconds: float          # behave's own "Took" figure (scenario time, no start-up)
    failing: list[str]      # names of the failing scenarios

    @classmethod
    def parse(cls, returncode: int, output: str) -> "Run":
        took = re.search(r"Took (\d+)min ([\d.]+)s", output)
        seconds = int(took.group(1)) * 60 + float(took.group(2)) if took else float("nan")
        blocks = "".join(output.split(title)[-1] for title in ("Failing scenarios:", "Errored scenarios:")
                         if title in output)
        failing = re.findall(r"^\s+features/\S+\s+(.+)$", blocks, re.MULTILINE)
        return cls(returncode, output, seconds, failing)

    @property
    def summary(self) -> str:
        return " | ".join(line for line in self.output.splitlines() if re.match(r"^\d+ (feature|scenario)", line))


def run_suite(*defines: str, tags: str | None = None, timeout: float = 300.0, extra_args: tuple = ()) -> Run:
    """behave against a fresh bundled reference backend, with -D defines, optional --tags and extra arguments."""
    args = ["-D", "backend=reference", *extra_args]
    for define in defines:
        args += ["-D", define]
    if tags:
        args += ["--tags", tags]
    return run_behave(*args, timeout=timeout)
