"""No leak: the signing secret never appears on a command line (anyone can read those with `ps`),
and the temp folders of the bundled backend and of the project's own suite runs are removed."""
from __future__ import annotations

import asyncio
import gc
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from support.backend_process import BackendProcess
from support.config import load
from support.session import ClosedByBackend, Session
from support.tokens import mint
from support.vocabulary import Dialect
from tests.behave_runner import run_suite

ROOT = Path(__file__).resolve().parent.parent
SECRET = "cmdline-test-secret-of-at-least-32-bytes"
PREFIXES = ("chat-suite-", "reference-backend-", "suite-reports-")


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """A temp dir of our own for this process and its children, so other runs' files do not count."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def leftovers(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.iterdir() if p.name.startswith(PREFIXES))


def opens_with(url: str, secret: str) -> bool:
    """A session with a token signed by secret gets in (ping answered, session id learnt)."""
    settings = load({}, {"ws_url": url, "jwt_secret": secret, "timeout": "5"}, environ={})
    session = Session(settings, Dialect.load(settings.dialect), token=mint(settings, "valid"))
    try:
        asyncio.run(session.open())
        return True
    except ClosedByBackend:
        return False
    finally:
        session.close_now()


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc (Linux)")
def test_the_secret_is_not_on_the_backends_command_line():
    with BackendProcess(secret=SECRET) as backend:
        command_line = Path(f"/proc/{backend.proc.pid}/cmdline").read_bytes()
        assert b"support.reference_backend" in command_line   # the right process
        assert SECRET.encode() not in command_line and b"--secret" not in command_line
        assert opens_with(backend.url, SECRET)                 # the backend still signs with it
        assert not opens_with(backend.url, "some-other-secret-of-at-least-32-bytes")


def test_a_backend_process_removes_its_temp_folder_on_stop(private_tmp):
    with BackendProcess(secret=SECRET):
        assert [n for n in leftovers(private_tmp) if n.startswith("chat-suite-")]   # it made one
    assert leftovers(private_tmp) == []


def test_a_restart_keeps_the_storage_and_stop_still_removes_it(private_tmp):
    with BackendProcess(secret=SECRET) as backend:
        db = Path(backend.db_path)
        backend.restart()
        assert db.exists()
    assert leftovers(private_tmp) == []


def test_the_cli_removes_its_own_temp_folder_when_stopped(private_tmp):
    proc = subprocess.Popen([sys.executable, "-m", "support.reference_backend", "--port", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "serving ws://" in proc.stdout.readline()
        assert [n for n in leftovers(private_tmp) if n.startswith("reference-backend-")]
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert leftovers(private_tmp) == []


def test_a_suite_run_removes_its_reports_folder_once_done_with(private_tmp):
    run = run_suite(tags="@chat")
    assert run.returncode == 0, run.output[-3000:]
    assert Path(run.reports).is_dir()          # kept while the caller holds the run (tests read transcripts)
    del run
    gc.collect()
    assert leftovers(private_tmp) == []


def test_a_suite_run_writes_into_a_folder_the_caller_owns(private_tmp, tmp_path):
    owned = tmp_path / "reports"
    run = run_suite(tags="@chat", reports_dir=str(owned))
    assert run.returncode == 0 and run.reports == str(owned)
    del run
    gc.collect()
    assert any(owned.rglob("*.json")) and leftovers(private_tmp) == []
