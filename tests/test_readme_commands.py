"""The README's examples as written: the Locust recipe's backend lets the suite in with the secret
both sides read, paths name the run folder, and the event flow is in the dialect it claims (v2)."""
from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
from pathlib import Path

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
    session = Session(settings, Dialect.load("v2"), token=mint(settings))
    try:
        asyncio.run(session.open(strict=False))
        return session.session_id is not None and not session.is_closed
    finally:
        session.close_now()


def run_recipe_backend(environ: dict) -> bool:
    command = re.sub(r"--port \d+", "--port 0", locust_backend_line())
    env = {k: v for k, v in os.environ.items() if k not in ("JWT_SECRET", "MY_AUTH_TOKEN")} | environ
    proc = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    try:
        for line in proc.stdout:
            if found := SERVING.search(line):
                return gets_in(found.group(1), environ)
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
