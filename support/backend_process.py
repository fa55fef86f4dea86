"""Start and stop the bundled reference backend as a separate process on a free port.

A separate process, reached over a real socket, like any backend under test: nothing in the
suite's own process can make it pass.
"""
from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVING = re.compile(r"serving (ws://\S+)")


class BackendProcess:
    def __init__(self, *, secret: str, dialect: str = "v2", faults: list[str] | None = None,
                 chunk_delay: float = 0.02, auth_at: str = "first_frame", db_path: str | None = None,
                 extra_args: list[str] | None = None, port: int = 0):
        self.db_path = db_path or os.path.join(tempfile.mkdtemp(prefix="chat-suite-"), "chat.sqlite3")
        self.args = [sys.executable, "-m", "support.reference_backend", "--host", "127.0.0.1", "--port", str(port),
                     "--secret", secret, "--dialect", dialect, "--chunk-delay", str(chunk_delay),
                     "--auth-at", auth_at, "--db", self.db_path]
        for fault in faults or []:
            self.args += ["--fault", fault]
        self.args += extra_args or []
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None
        self.output: list[str] = []

    def start(self, timeout: float = 15.0) -> str:
        self.proc = subprocess.Popen(self.args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1)
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            assert self.proc and self.proc.stdout
            for line in self.proc.stdout:
                self.output.append(line.rstrip())
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        while True:
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                self.stop()
                raise RuntimeError(f"the reference backend did not start within {timeout} s:\n" + "\n".join(self.output))
            if line is None:
                raise RuntimeError("the reference backend exited at start:\n" + "\n".join(self.output))
            found = SERVING.search(line)
            if found:
                self.url = found.group(1)
                return self.url

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def restart(self) -> str:
        """Stop and start again on the same port with the same storage (the process object is reused)."""
        port = self.url.rsplit(":", 1)[1].split("/")[0] if self.url else "0"
        self.stop()
        self.args[self.args.index("--port") + 1] = port
        return self.start()

    def __enter__(self) -> "BackendProcess":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _faults(settings) -> list[str]:
    return [f.strip() for f in settings.reference_faults.split(",") if f.strip()]


def start_reference(settings) -> BackendProcess:
    """Start the reference backend as the settings describe (secret, dialect, faults, pacing)."""
    extra = ["--jitter", str(settings.reference_jitter)] + (["--random-chunks"] if settings.reference_random_chunks else [])
    backend = BackendProcess(secret=settings.jwt_secret, dialect=settings.dialect, faults=_faults(settings),
                             chunk_delay=settings.reference_chunk_delay, auth_at=settings.reference_auth_at,
                             db_path=settings.reference_db or None, extra_args=extra)
    backend.start()
    return backend


def restart(settings, backend: BackendProcess | None, probe) -> None:
    """Restart the backend under test keeping its storage: the reference process on the same port,
    or a live backend with the configured restart_command (then wait until it answers again)."""
    if backend is not None:
        backend.restart()
        return
    subprocess.run(settings.restart_command, shell=True, check=True, timeout=120)
    problem = None
    for _ in range(30):          # up to ~90 s for the backend to answer again
        problem = probe(settings, 2.0)
        if problem is None:
            return
        time.sleep(1.0)
    raise AssertionError(f"the backend did not come back after `{settings.restart_command}`: {problem}")
