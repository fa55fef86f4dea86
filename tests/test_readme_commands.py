"""The README's examples as written: the Locust recipe's backend lets the suite in with the secret
both sides read, paths name the run folder, and the event flow is in the dialect it claims (v2)."""
from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from support.config import load
from support.session import Session
from support.tokens import mint
from support.vocabulary import Dialect

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SERVING = re.compile(r"serving (ws://\S+)")


def locust_backend_line() -> str:
    [line] = [line for line in README.splitlines() if line.startswith("python -m support.reference_backend --port")]
    return line.split("#")[0].strip().removesuffix("&").strip()


def gets_in(url: str, environ: dict) -> bool:
    """A session configured as Locust's users are (behave.ini's settings, then the environment) opens."""
    settings = load({}, {"ws_url": url, "timeout": "5"}, environ=environ)
    session = Session(settings, Dialect.load(settings.dialect), token=mint(settings))
    try:
        asyncio.run(session.open(strict=False))
        return session.session_id is not None and not session.is_closed
    finally:
        session.close_now()


def locust_line() -> str:
    """The recipe's Locust command, its continuation lines joined."""
    lines = README.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("python -m support.reference_backend --port"))
    command = lines[start + 1]
    for more in lines[start + 2:]:
        if not command.endswith("\\"):
            break
        command = command[:-1] + more
    return command


def run_recipe_backend(environ: dict, then=gets_in):
    """Start the recipe's backend as written (on a free port, JWT_SECRET as given) and call then(url, environ)."""
    command = re.sub(r"--port \d+", "--port 0", locust_backend_line())
    env = {k: v for k, v in os.environ.items() if k not in ("JWT_SECRET", "MY_AUTH_TOKEN")
           and not k.startswith("CHAT_SUITE_")} | environ
    proc = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    try:
        for line in proc.stdout:
            if found := SERVING.search(line):
                return then(found.group(1), env)
        return False   # it did not start
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def test_the_locust_recipe_backend_lets_the_suite_in_with_jwt_secret_unset():
    assert "$JWT_SECRET" not in locust_backend_line()   # `ps` shows command lines; and unset it expands to ""
    assert run_recipe_backend({})


def test_the_locust_recipe_backend_lets_the_suite_in_with_jwt_secret_set():
    assert run_recipe_backend({"JWT_SECRET": "a-team-secret-of-at-least-32-bytes-long"})


def test_transcript_paths_name_the_run_folder():
    assert not re.findall(r"reports/<feature>", README)
    assert "reports/<run id>/<feature>/<scenario>.json" in README


def test_the_event_flow_example_is_in_the_v2_dialect():
    intro = README.index("Each scenario prints its event flow")
    block = README[README.index("```", intro) + 3:README.index("```", README.index("```", intro) + 3)]
    [flow] = [line for line in block.splitlines() if line.startswith("my connection: ")]
    names = [re.match(r"\w+", part).group(0) for part in flow.removeprefix("my connection: ").split(" → ")]
    v2 = {spec.wire_type for spec in Dialect.load("v2").events.values()}
    assert len(names) > 5 and [n for n in names if n not in v2] == [], flow


@pytest.mark.skipif(importlib.util.find_spec("locust") is None, reason="locust is not installed")
def test_the_locust_recipe_passes_as_written_against_the_clean_backend():
    """The recipe's Locust command, smaller (20 users for 4 s), with JWT_SECRET unset: every conversation
    gets in and is answered in full, and those running at the end may finish (exit 0)."""
    def locust(url: str, env: dict) -> subprocess.CompletedProcess:
        command = locust_line().replace("ws://localhost:8765/chat/ws", url).replace("--processes 2", "")
        command = re.sub(r"-u \d+ -r \d+ --run-time \w+", "-u 20 -r 20 --run-time 2s", command)
        return subprocess.run(["bash", "-c", command + " --only-summary"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
    assert "--stop-timeout" in locust_line() and "-u 2000" in locust_line()
    done = run_recipe_backend({}, then=locust)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    found = re.search(r"^\s*WS\s+conversation\s+(\d+)\s+(\d+)\(", done.stdout + done.stderr, re.MULTILINE)
    assert found and int(found.group(1)) > 0 and found.group(2) == "0", (done.stdout + done.stderr)[-3000:]
