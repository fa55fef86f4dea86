"""Run behave as a user would (a subprocess in the project root) and read its outcome."""
from __future__ import annotations

import atexit
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from tests.behave_pool import BehavePool

ROOT = Path(__file__).resolve().parent.parent
# Allure is optional (requirements-extras.txt, which CI installs): tests of its output skip without it.
needs_allure = __import__("pytest").mark.skipif(importlib.util.find_spec("allure_behave") is None,
                                                reason="allure-behave is not installed "
                                                       "(pip install -r requirements-extras.txt)")
ALLURE_FORMAT = "allure_behave.formatter:AllureFormatter"


_POOLS: list[BehavePool] = []   # this process's long-lived behave (started on first use)


def default_pool() -> BehavePool:
    if not _POOLS:
        _POOLS.append(BehavePool())
        atexit.register(_POOLS[0].close)
    return _POOLS[0]


def run_behave(*args: str, env: dict | None = None, timeout: float = 300.0, reports_dir: str | None = None,
               pool: BehavePool | bool | None = None) -> "Run":
    """behave with the given arguments; the caller's CHAT_SUITE_*/RUN_MANUAL_TESTS/CI are not inherited
    (CI would switch on the no-backend guard), so runs behave alike on a laptop and in CI.

    Transcripts go to reports_dir if given (the caller owns it), else to a temp folder that lives as
    long as the returned Run (tests read ``run.reports``) and is removed with it. behave runs in this
    process's long-lived behave (tests/behave_pool.py: same arguments, environment and output, a process
    of its own for each run, without Python's and the libraries' start-up each time; runs from several
    threads run side by side), or in a pool given; pool=False: `python -m behave`, for what only a
    process started afresh shows (the stdout it started with)."""
    reports = reports_dir or tempfile.mkdtemp(prefix="suite-reports-")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_SUITE_")
             and k not in ("RUN_MANUAL_TESTS", "BACKEND_WS_URL", "CI")}
    clean.update(env or {})
    command = ["--no-color", "-D", f"reports_dir={reports}", *args]
    try:
        if pool is None:
            pool = default_pool()
        returncode, stdout, stderr = (_in_pool(pool, command, clean, timeout) if pool else
                                      _in_subprocess(command, clean, timeout))
    except BaseException:
        if not reports_dir:
            shutil.rmtree(reports, ignore_errors=True)
        raise
    run = Run.parse(returncode, stdout + stderr)
    run.stdout, run.reports = stdout, reports
    if not reports_dir:
        weakref.finalize(run, shutil.rmtree, reports, ignore_errors=True)   # also at interpreter exit
    return run


def _in_subprocess(command: list[str], env: dict, timeout: float) -> tuple[int, str, str]:
    done = subprocess.run([sys.executable, "-m", "behave", *command], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)
    return done.returncode, done.stdout, done.stderr


def _in_pool(pool: BehavePool, command: list[str], env: dict, timeout: float) -> tuple[int, str, str]:
    with tempfile.TemporaryDirectory(prefix="behave-output-") as folder:
        out, err = Path(folder) / "stdout", Path(folder) / "stderr"
        returncode = pool.run(command, env, str(out), str(err), timeout)
        return returncode, out.read_text(errors="replace"), err.read_text(errors="replace")


@dataclass
class Run:
    returncode: int
    output: str
    seconds: float          # behave's own "Took" figure (scenario time, no start-up)
    failing: list[str]      # names of the failing scenarios
    stdout: str = ""        # stdout alone (output is stdout then stderr): what formatters wrote
    reports: str = ""       # the run's reports_dir (transcript JSON files)
    failing_tagged: list = field(default_factory=list)   # (name, tags) of failed scenarios, when asked for

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


def run_suite(*defines: str, tags: str | None = None, timeout: float = 300.0, args: tuple[str, ...] = (),
              scenario_tags: bool = False, reports_dir: str | None = None, backend: str = "reference",
              env: dict | None = None, pool: BehavePool | bool | None = None) -> Run:
    """behave against a fresh bundled reference backend, with -D defines, optional --tags and extra
    behave arguments (e.g. formatters: ``args=("-f", "json", "-o", path)``). backend="live" tests the
    backend that ws_url (a define) names instead; env adds to behave's environment."""
    command = ["-D", f"backend={backend}"]
    for define in defines:
        command += ["-D", define]
    if tags:
        command += ["--tags", tags]
    if not scenario_tags:
        return run_behave(*command, *args, timeout=timeout, reports_dir=reports_dir, env=env, pool=pool)
    with tempfile.TemporaryDirectory(prefix="suite-json-") as folder:
        report = Path(folder) / "behave.json"
        run = run_behave(*command, "-f", "json", "-o", str(report), "-f", "pretty", *args, timeout=timeout,
                         reports_dir=reports_dir, env=env, pool=pool)
        run.failing_tagged = failing_tagged(report)
    return run


def feature_parts(parts: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    """Feature paths (features/NAME.feature) in the named parts of a run, and in "the rest": every feature
    no part names, so a run split into parts (to run side by side) leaves none out."""
    named = {name for names in parts.values() for name in names}
    every = sorted(path.name for path in (ROOT / "features").glob("*.feature"))
    out = {part: [f"features/{name}" for name in names] for part, names in parts.items()}
    out["the rest"] = [f"features/{name}" for name in every if name not in named]
    return out


def failing_tagged(behave_json: Path) -> list[tuple[str, set[str]]]:
    """(name, tags) of each failed scenario in behave's JSON output; tags as written, with their @."""
    if not behave_json.is_file() or not behave_json.read_text().strip():
        return []
    out = []
    for feature in json.loads(behave_json.read_text()):
        for element in feature.get("elements", []):
            if element.get("type") == "scenario" and element.get("status") in ("failed", "error", "hook_error"):
                tags = {f"@{t}" for t in feature.get("tags", []) + element.get("tags", [])}
                out.append((element["name"], tags))
    return out
