"""Hostile backends for the hardening tests (server.py), and a way to run one for a test."""
from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


@contextmanager
def hostile(mode: str, port: int):
    """The hostile server in `mode` on `port`, for the with-block: yields its chat URL."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.hostile.server", mode, str(port)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert "serving" in proc.stdout.readline()
        yield f"ws://127.0.0.1:{port}/chat/ws"
    finally:
        proc.kill()
        proc.wait(10)
