"""Start and stop the bundled reference backend as a separate process on a free port.

A separate process, reached over a real socket, like any backend under test: nothing in the
suite's own process can make it pass. It never outlives the suite (see the CLI's docstring and
``end_with_this_process``), its secret travels in its environment, not on its command line (which
`ps` shows to every user), and its temp folder is removed on stop.
"""
from __future__ import annotations

import atexit
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from support.config import Settings
from support.reference_backend.faults import names_in, unknown_faults   # the registry only: it acts on nothing

ROOT = Path(__file__).resolve().parent.parent
PARENT_PID_ENV = "REFERENCE_BACKEND_PARENT_PID"   # as in support/reference_backend/__main__.py
OWNED_DIR_ENV = "REFERENCE_BACKEND_OWNED_DIR"     # (not imported: that module acts on import)
SERVING = re.compile(r"serving (ws://\S+)")


class BackendStartError(RuntimeError):
    """The reference backend cannot start as asked; the message is one line that says why."""


class BackendProcess:
    """Start it from a thread that lives as long as the backend should (the main thread): on Linux
    the child's death signal fires when the thread that started it ends."""

    def __init__(self, *, secret: str, dialect: str = Settings.dialect, faults: list[str] | None = None,
                 chunk_delay: float = 0.02, auth_at: str = Settings.reference_auth_at, db_path: str | None = None,
                 extra_args: list[str] | None = None, port: int = 0, faults_from_url: bool = False):
        problem = unknown_faults(faults or [])
        if problem:
            raise BackendStartError(problem)
        self._own_dir = None if db_path else tempfile.mkdtemp(prefix="chat-suite-")
        self.db_path = db_path or os.path.join(self._own_dir, "chat.sqlite3")
        self.args = [sys.executable, "-m", "support.reference_backend", "--host", "127.0.0.1", "--port", str(port),
                     "--dialect", dialect, "--chunk-delay", str(chunk_delay), "--auth-at", auth_at, "--db", self.db_path]
        for fault in faults or []:
            self.args += ["--fault", fault]
        if faults_from_url:
            self.args.append("--faults-from-url")
        self.args += extra_args or []
        self.env = {k: v for k, v in os.environ.items() if k != "MY_AUTH_TOKEN"}   # JWT_SECRET alone decides
        self.env.update({"JWT_SECRET": secret, PARENT_PID_ENV: str(os.getpid())})
        if self._own_dir:
            self.env[OWNED_DIR_ENV] = self._own_dir
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None
        self.output: list[str] = []

    def start(self, timeout: float = 15.0) -> str:
        # stdin stays open while we live: EOF without "stop" tells the child we are gone
        self.proc = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
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
                self._end_process()
                raise RuntimeError(f"the reference backend did not start within {timeout} s:\n" + "\n".join(self.output))
            if line is None:
                raise RuntimeError("the reference backend exited at start:\n" + "\n".join(self.output))
            found = SERVING.search(line)
            if found:
                self.url = found.group(1)
                return self.url

    def stop(self) -> None:
        """End the process and remove its temp folder (safe to call again, and from a signal handler)."""
        self._end_process()
        if self._own_dir:
            shutil.rmtree(self._own_dir, ignore_errors=True)

    def _end_process(self) -> None:
        proc = self.proc
        if proc is None:
            return
        # "stop" then EOF: we are stopping you and the folder is ours (EOF alone would say we died)
        for tell in (lambda: proc.stdin.write("stop\n"), proc.stdin.close):
            try:
                tell()
            except (OSError, ValueError, RuntimeError):
                pass   # it already ended, or we already told it
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def restart(self) -> str:
        """Stop and start again on the same port with the same storage (the process object is reused)."""
        port = self.url.rsplit(":", 1)[1].split("/")[0] if self.url else "0"
        self._end_process()
        self.args[self.args.index("--port") + 1] = port
        return self.start()

    def __enter__(self) -> "BackendProcess":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def end_with_this_process(backend: BackendProcess, say=None) -> None:
    """Stop the backend however this process ends: a normal exit or an uncaught error (atexit, e.g.
    `behave | head` breaking stdout), SIGTERM or SIGHUP (stop it, then die of the signal as usual).
    SIGKILL and os._exit run no code of ours: the child watches its parent for those."""
    atexit.register(backend.stop)
    if threading.current_thread() is not threading.main_thread():
        return   # signal handlers can only be set from the main thread

    def stop_then_die(signum, frame):
        backend.stop()
        if say:
            try:
                say(f"stopped by {signal.Signals(signum).name}; the reference backend was stopped")
            except OSError:
                pass
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None and signal.getsignal(signum) is signal.SIG_DFL:   # respect nohup's SIG_IGN
            signal.signal(signum, stop_then_die)


def start_reference(settings, faults_from_url: bool = False) -> BackendProcess:
    """Start the reference backend as the settings describe (secret, dialect, faults, pacing); with
    faults_from_url each connection also gets the faults its URL names (?fault=NAME,NAME).
    An unknown fault name raises BackendStartError before anything starts."""
    extra = ["--jitter", str(settings.reference_jitter)] + (["--random-chunks"] if settings.reference_random_chunks else [])
    try:
        backend = BackendProcess(secret=settings.jwt_secret, dialect=settings.dialect,
                                 faults=names_in(settings.reference_faults), chunk_delay=settings.reference_chunk_delay,
                                 auth_at=settings.reference_auth_at, db_path=settings.reference_db or None,
                                 extra_args=extra, faults_from_url=faults_from_url)
    except BackendStartError as exc:
        raise BackendStartError(f"reference_faults: {exc}") from None   # the setting to fix
    try:
        backend.start()
    except BaseException:
        backend.stop()   # nobody else holds it yet
        raise
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
