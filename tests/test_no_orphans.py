"""No orphaned backend: however the suite's process ends (SIGTERM, SIGHUP, SIGKILL, a closed stdout,
the watchdog's last resort), the bundled reference backend ends with it and leaves no temp folder.

Each run gets a private TMPDIR, so leftovers are counted there and not among other runs' files.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.behave_runner import default_pool

ROOT = Path(__file__).resolve().parent.parent
USING = re.compile(r"using the bundled reference backend at ws://127\.0\.0\.1:(\d+)")
PREFIXES = ("chat-suite-", "reference-backend-")
GONE_WITHIN = 15.0   # a correctness bound for "eventually gone", not a speed claim

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)")


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def alive(pid: int) -> bool:
    """Running; a zombie counts as gone (this machine's PID 1 may be slow to reap orphans)."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def established(port: int) -> int:
    """How many TCP connections to or from this local port are open (Linux /proc/net)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            count += state == "01" and int(local.rsplit(":", 1)[1], 16) == port   # 01: ESTABLISHED
    return count


def leftovers(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.iterdir() if p.name.startswith(PREFIXES))


def eventually(check, timeout: float = GONE_WITHIN):
    """check() until it is truthy or the time is up; returns its last value."""
    deadline = time.monotonic() + timeout
    while not (result := check()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return result


def clean_env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_SUITE_")
           and k not in ("RUN_MANUAL_TESTS", "BACKEND_WS_URL", "CI")}
    env["TMPDIR"] = str(tmp)
    return env


class SuiteRun:
    """behave against the reference backend, slowed down so it is surely mid-run when signalled.

    A process of its own, forked by the worker's long-lived behave (tests/behave_pool.py) with behave and
    the project already imported; `python -m behave` afresh when the test needs the stdout a process starts
    with (a pipe it closes)."""

    def __init__(self, tmp_path: Path, stdout=subprocess.DEVNULL, args: tuple = ("-D", "reference_chunk_delay=0.5",
                                                                              "--tags=@cancel")):
        self.tmp = tmp_path / "tmp"
        self.tmp.mkdir()
        command = ["--no-color", "-D", "backend=reference", "-D", f"reports_dir={tmp_path / 'reports'}", *args]
        self.stderr: list[str] = []
        self.port: int | None = None
        self.backend_pid: int | None = None
        self._up = threading.Event()
        if stdout is subprocess.DEVNULL:
            stderr = tmp_path / "stderr"
            os.mkfifo(stderr)   # read as behave writes it, as a pipe is
            threading.Thread(target=self._drain_fifo, args=(stderr,), daemon=True).start()
            self.proc = default_pool().start(command, clean_env(self.tmp), os.devnull, str(stderr))
        else:
            self.proc = subprocess.Popen([sys.executable, "-m", "behave", *command], cwd=ROOT, env=clean_env(self.tmp),
                                         stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE, text=True)
            threading.Thread(target=self._drain, args=(self.proc.stderr,), daemon=True).start()

    def _drain_fifo(self, path: Path) -> None:
        with open(path, errors="replace") as stream:
            self._drain(stream)

    def _drain(self, stream) -> None:
        """Keep reading, so behave never blocks on stderr; note the backend's port when behave names it."""
        for line in stream:
            self.stderr.append(line)
            if (found := USING.search(line)) and not self._up.is_set():
                self.port = int(found.group(1))
                self._up.set()
        self._up.set()

    def wait_until_backend_is_up(self) -> None:
        assert self._up.wait(60) and self.port, "the backend did not come up:\n" + "".join(self.stderr)[-3000:]
        [self.backend_pid] = [p for p in children_of(self.proc.pid) if "support.reference_backend" in cmdline(p)]
        assert listening(self.port) and leftovers(self.tmp), "the run's backend and temp folder should exist now"

    def wait_until_a_connection_is_open(self) -> None:
        assert eventually(lambda: established(self.port), 30), "no connection to the backend was opened"

    def assert_nothing_left(self) -> None:
        still = eventually(lambda: not alive(self.backend_pid)) or f"backend pid {self.backend_pid} still running"
        port = eventually(lambda: not listening(self.port)) or f"something still listens on port {self.port}"
        folders = eventually(lambda: not leftovers(self.tmp)) or f"temp folders left: {leftovers(self.tmp)}"
        problems = [p for p in (still, port, folders) if p is not True]
        assert not problems, "; ".join(problems) + "\nbehave's stderr:\n" + "".join(self.stderr)[-3000:]

    def kill_everything(self) -> None:
        """After the test, pass or fail: a failing run must not orphan anything either."""
        for pid in (self.proc.pid, self.backend_pid):
            if pid and alive(pid):
                os.kill(pid, signal.SIGKILL)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass


@pytest.fixture
def suite_run(tmp_path):
    runs: list[SuiteRun] = []

    def start(**kw) -> SuiteRun:
        runs.append(SuiteRun(tmp_path, **kw))
        return runs[-1]

    yield start
    for run in runs:
        run.kill_everything()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=lambda s: s.name)
def test_the_backend_ends_with_the_suite_on_any_signal(suite_run, signum):
    run = suite_run()
    run.wait_until_backend_is_up()
    os.kill(run.proc.pid, signum)
    try:
        run.proc.wait(GONE_WITHIN)   # behave itself ends promptly too
    except subprocess.TimeoutExpired:
        pytest.fail(f"behave still runs {GONE_WITHIN:g} s after {signum.name}")
    run.assert_nothing_left()
    if signum != signal.SIGKILL:   # behave said why it ended, and died of the signal as usual
        assert run.proc.returncode == -signum
        assert eventually(lambda: any(f"stopped by {signum.name}" in line for line in run.stderr), 5)


@pytest.mark.parametrize("attempt", range(5))
def test_a_sigkill_right_after_start_leaves_nothing_either(suite_run, attempt):
    """SIGKILL ends behave's threads one by one: the backend's death signal may come while a sibling
    thread still holds behave's PID, so getppid() alone would wrongly say the suite lives on."""
    run = suite_run()
    run.wait_until_backend_is_up()
    os.kill(run.proc.pid, signal.SIGKILL)
    run.proc.wait(GONE_WITHIN)
    run.assert_nothing_left()


def test_the_backend_ends_when_stdout_is_closed_early(suite_run):
    """`behave ... | head -1`: the reader goes away while the suite still writes."""
    run = suite_run(stdout=subprocess.PIPE)
    run.wait_until_backend_is_up()
    run.proc.stdout.close()
    try:
        run.proc.wait(60)
    except subprocess.TimeoutExpired:
        pytest.fail("behave kept running after its stdout was closed")
    run.assert_nothing_left()


WATCHDOG_SCRIPT = """
import sys, time
from support.backend_process import BackendProcess
from support.watchdog import ScenarioOverBudget, Watchdog

backend = BackendProcess(secret="watchdog-test-secret-of-at-least-32-bytes")
backend.start()
print(backend.url, backend.proc.pid, flush=True)
def stop_backend():
    backend.stop()
    print("stopped the reference backend", file=sys.stderr, flush=True)

dog = Watchdog(before_exit=stop_backend)
dog.GRACE = 0.5
dog.arm("a step that swallows the watchdog", 0.2)
while True:              # a scenario that cannot be unwound: only the last resort ends it
    try:
        time.sleep(30)
    except ScenarioOverBudget:
        pass
"""


def test_the_watchdogs_last_resort_stops_the_backend_first(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", WATCHDOG_SCRIPT], cwd=ROOT, env=clean_env(tmp),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    backend_pid = None
    try:
        out, err = proc.communicate(timeout=60)
        url, pid = out.split()
        backend_pid = int(pid)
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        assert proc.returncode == 3, err[-3000:]
        assert "stopped the reference backend" in err, err[-3000:]
        assert eventually(lambda: not alive(backend_pid)), "the backend outlived the watchdog's exit"
        assert eventually(lambda: not listening(port)), f"something still listens on port {port}"
        assert eventually(lambda: not leftovers(tmp)), f"temp folders left: {leftovers(tmp)}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if backend_pid and alive(backend_pid):
            os.kill(backend_pid, signal.SIGKILL)


STALLED = ("-D", "reference_faults=stall_after_accept", "-D", "connect_timeout=60", "-D", "timeout=60", "--tags=@chat")


@pytest.mark.parametrize("attempt", range(3))
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGUSR1, signal.SIGTERM, signal.SIGHUP, signal.SIGINT],
                         ids=lambda s: s.name)
def test_a_stalled_connection_does_not_keep_the_backend_alive(suite_run, signum, attempt):
    """The backend's handler for a stalled connection never returns by itself: stopping must not wait for it.
    SIGUSR1 ends behave without any of its code running, as SIGKILL does; SIGTERM and SIGHUP stop the backend
    first; SIGINT unwinds behave."""
    run = suite_run(args=STALLED)
    run.wait_until_backend_is_up()
    run.wait_until_a_connection_is_open()
    os.kill(run.proc.pid, signum)
    run.proc.wait(GONE_WITHIN)
    run.assert_nothing_left()


def test_sigterm_with_a_stalled_connection_stops_the_backend_in_seconds(tmp_path):
    """Alone (no suite around it): one stop, one stalled handler. Closing the server waits for every handler;
    this one would be waited for forever."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "support.reference_backend", "--port", "0", "--fault",
                             "stall_after_accept"], cwd=ROOT, env=clean_env(tmp), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port = int(re.search(r"serving ws://127\.0\.0\.1:(\d+)", proc.stdout.readline()).group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"GET /chat/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            assert b"101" in conn.recv(1024)   # upgraded: the handler now runs, and stalls
            proc.send_signal(signal.SIGTERM)
            try:
                out, _ = proc.communicate(timeout=GONE_WITHIN)
            except subprocess.TimeoutExpired:
                pytest.fail(f"the backend still runs {GONE_WITHIN:g} s after SIGTERM with a stalled connection")
        assert proc.returncode == 0 and "reference backend stopped" in out, out
        assert not leftovers(tmp)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
