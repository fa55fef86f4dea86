"""One long-lived process that runs behave command lines, so a test that runs the suite dozens of times
(the fault matrix) pays Python's and behave's start-up once, not per run.

The child imports behave, the libraries and the project's modules once; for each run it forks a copy
of itself, and that copy runs behave's own ``main`` with the run's arguments and environment, file
descriptors 1 and 2 pointed at files of the caller's, and ends with behave's exit code as a new process
ends (atexit handlers run, non-daemon threads are waited for, output is flushed). What behave, the
hooks and the formatters print is read as from a subprocess. No run sees what another did (module
state, what was said last, caches, handlers): each starts from the state the child had before any
run. A project module whose import registers something with behave (behave clears its step and type
registries as a run starts) is left out of that state, so each run imports it, as a new process does.
Runs may overlap (each is a process of its own). If a run's process dies (the watchdog's last resort
ends it), its exit code is the run's, as for a subprocess; if it outlasts its timeout it is killed.

The parent side is ``BehavePool``; ``python -m tests.behave_pool`` is the child: one JSON request a line
on stdin ({"id", "args", "env", "stdout", "stderr"}, or {"kill": id}), JSON replies a line: for each run
its pid once forked ({"id", "pid"}) and its exit code once ended ({"id", "returncode"}).
"""
from __future__ import annotations

import ast
import ctypes
import gc
import importlib
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PR_SET_PDEATHSIG = 1
FORKS = hasattr(os, "fork") and hasattr(os, "pidfd_open")   # Linux; elsewhere each run is a new `python -m behave`


class BehavePool:
    """The parent's handle on one child; ``run`` is what ``subprocess.run`` would have done."""

    def __init__(self):
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._waiting: dict[int, PoolRun] = {}   # run id -> the run, until its exit code comes
        self._ids = 0

    def run(self, args: list[str], env: dict, stdout: str, stderr: str, timeout: float) -> int:
        """behave with these arguments and environment, its output written to the files stdout and stderr;
        the exit code. subprocess.TimeoutExpired past timeout (the run is killed). Threads may run
        several at once."""
        run = self.start(args, env, stdout, stderr)
        try:
            return run.wait(timeout)
        except subprocess.TimeoutExpired:
            run.kill()
            try:
                run.wait(5)   # gone, as subprocess.run leaves a run it timed out
            except (subprocess.TimeoutExpired, RuntimeError):
                pass
            raise

    def start(self, args: list[str], env: dict, stdout: str, stderr: str) -> "PoolRun | subprocess.Popen":
        """Start a run and return once it is a process: what ``subprocess.Popen`` would have given (pid,
        poll, wait, kill, returncode). stdout and stderr are paths (a named pipe is read as the run writes)."""
        if not FORKS:
            with open(stdout, "w") as out, open(stderr, "w") as err:
                return subprocess.Popen([sys.executable, "-m", "behave", *args], cwd=ROOT, env=env,
                                        stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        with self._lock:
            proc = self._child()
            self._ids += 1
            run = PoolRun(self, proc, self._ids, args)
            self._waiting[run.id] = run
            self._send(proc, {"id": run.id, "args": args, "env": env, "stdout": stdout, "stderr": stderr})
        run.wait_forked(60)
        return run

    def _child(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen([sys.executable, "-m", "tests.behave_pool"], cwd=ROOT, text=True,
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=dict(os.environ))
            threading.Thread(target=self._read_replies, args=(self._proc,), daemon=True).start()
        return self._proc

    @staticmethod
    def _send(proc: subprocess.Popen, request: dict) -> None:
        try:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
        except (OSError, ValueError):
            pass   # the child ended: its reader tells the runs that wait

    def _read_replies(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            reply = json.loads(line)
            with self._lock:
                run = self._waiting.get(reply["id"])
                if run is not None and "returncode" in reply:
                    del self._waiting[reply["id"]]
            if run is not None:
                run._told(reply)
        with self._lock:   # the child ended: no reply will come
            if self._proc is proc:
                self._proc = None
            ended = [run for run in self._waiting.values() if run.child is proc]
            for run in ended:
                del self._waiting[run.id]
        for run in ended:
            run._told({"returncode": None})

    def _kill(self, run: "PoolRun") -> None:
        with self._lock:
            self._send(run.child, {"kill": run.id})

    def close(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.kill()   # its runs die with it (their death signal)
        proc.wait(5)
        proc.stdin.close()


class PoolRun:
    """One run in the long-lived behave, seen as a subprocess: its pid once forked, its exit code once
    ended (-N for a signal, as for a subprocess)."""

    def __init__(self, pool: BehavePool, child: subprocess.Popen, run_id: int, args: list[str]):
        self.pool, self.child, self.id, self.args = pool, child, run_id, args
        self.pid: int | None = None
        self.returncode: int | None = None
        self._forked, self._ended = threading.Event(), threading.Event()

    def _told(self, reply: dict) -> None:
        if "pid" in reply:
            self.pid = reply["pid"]
            self._forked.set()
            return
        self.returncode = reply["returncode"]   # None: the long-lived behave itself ended
        self._forked.set()
        self._ended.set()

    def wait_forked(self, timeout: float) -> int:
        """The run's pid, once the long-lived behave has forked it."""
        if not self._forked.wait(timeout) or self.pid is None:
            raise RuntimeError(f"the long-lived behave (tests/behave_pool.py) did not start behave {self.args}")
        return self.pid

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(["behave", *self.args], timeout)
        if self.returncode is None:
            raise RuntimeError(f"the long-lived behave (tests/behave_pool.py) ended during a run of behave {self.args}")
        return self.returncode

    def kill(self) -> None:
        self.pool._kill(self)


# -- the child ---------------------------------------------------------------------------------------
_ours_cache: dict[str, bool] = {}


def _ours(path: str | None) -> bool:
    """A module of the project's own (not of a library, even one in a virtual environment inside it)."""
    if not path:
        return False
    if path not in _ours_cache:
        _ours_cache[path] = Path(path).is_relative_to(ROOT) and not Path(path).is_relative_to(sys.prefix) \
            and "site-packages" not in Path(path).parts
    return _ours_cache[path]


_per_run: set[str] = set()   # project modules each run imports itself: their import registers with behave


def _imported_by_a_run() -> list[str]:
    """What behave's runner, the hooks and the step files import (read from their import statements)."""
    names = ["behave.__main__", "behave.formatter.pretty", "behave.formatter.json", "behave.reporter.junit",
             "support.quiet_runner"]
    for source in [ROOT / "environment.py", *sorted((ROOT / "steps").glob("*.py"))]:
        for node in ast.parse(source.read_text()).body:
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module != "__future__":
                names.append(node.module)
                names += [f"{node.module}.{alias.name}" for alias in node.names]   # `from package import module`
    return names


def _preload(names: list[str]) -> None:
    """Import these modules (those that exist) into the state every run starts from. A project module
    whose import registers a step, a type or a step matcher with behave, and every project module that
    holds it or something of it, is dropped again: behave resets those registries as a run starts, so
    the run must import it itself."""
    from behave import matchers, step_registry
    from behave.runner_util import reset_runtime

    registering: set[str] = set()

    def watch(cls, method):
        original = getattr(cls, method)

        def noted(*args, **kwargs):
            frame = sys._getframe(1)
            while frame is not None:   # every project module on the way (one imports the next)
                if _ours(frame.f_globals.get("__file__")):
                    registering.add(frame.f_globals.get("__name__", ""))
                frame = frame.f_back
            return original(*args, **kwargs)
        setattr(cls, method, noted)
        return original

    watched = [(cls, method, watch(cls, method)) for cls, method in (
        (matchers.TypeRegistry, "register_type"), (matchers.StepMatcherFactory, "use_step_matcher"),
        (step_registry.StepRegistry, "add_step_definition"))]
    try:
        for name in names:
            if name not in sys.modules and name not in _per_run:
                try:
                    importlib.import_module(name)
                except Exception:   # `from package import name` of a name that is no module; a run tries again
                    pass
    finally:
        for cls, method, original in watched:
            setattr(cls, method, original)
    ours = {name for name, module in sys.modules.items() if _ours(getattr(module, "__file__", None))
            and name not in ("__main__", __spec__.name)}
    dropped = registering & ours
    while dropped:   # and whatever holds a dropped module, or a function or class of one
        _per_run.update(dropped)
        held = {id(sys.modules[name]) for name in dropped}
        for name in dropped:
            module = sys.modules.pop(name)
            package, _, attribute = name.rpartition(".")
            if getattr(sys.modules.get(package), attribute, None) is module:
                delattr(sys.modules[package], attribute)   # `from package import it` must import it again
        dropped = {name for name in ours - _per_run if name in sys.modules and any(
            id(value) in held or getattr(value, "__module__", None) in _per_run
            for value in list(vars(sys.modules[name]).values()))}
    reset_runtime()
    gc.collect()
    gc.freeze()   # the runs share these pages: their collections must not touch (copy) them


def _run(request: dict, learned: int) -> None:
    """In the forked copy: one behave run, then exit with its code (never returns)."""
    if sys.platform.startswith("linux"):   # the child ends (killed on a timeout): this run ends with it
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    from behave.__main__ import main

    before = set(sys.modules)
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None   # a new process reads TMPDIR afresh
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)   # the requests are the child's
    os.close(null)
    with open(request["stdout"], "w") as out, open(request["stderr"], "w") as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
    try:
        code = main(request["args"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()   # into the run's stderr, with exit code 1, as `python -m behave` would
        code = 1
    try:   # the modules this run imported that the child had not: the child imports them for later runs
        os.write(learned, json.dumps(sorted(set(sys.modules) - before - _per_run)).encode())
    except OSError:
        pass
    # The interpreter's own exit, as `python -m behave` ends: wait for non-daemon threads, run the atexit
    # handlers, flush; only the teardown of every module, which nothing can see, is left out.
    import atexit
    threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code & 0xFF)


class _Child:
    """The child's loop: read requests, fork a run for each, reply as each ends."""

    def __init__(self):
        self.replies = os.fdopen(os.dup(1), "w")   # fd 1 itself is lent to each run's stdout
        self.selector = selectors.DefaultSelector()
        self.runs: dict[int, tuple[int, int, int, list]] = {}   # run id -> (pid, pidfd, learned fd, what it says)
        self.learned: list[str] = []

    def serve(self) -> None:
        sys.path.insert(0, str(ROOT / "steps"))   # where behave puts it for the step files' own imports
        _preload(_imported_by_a_run())
        sys.path.remove(str(ROOT / "steps"))
        os.set_blocking(0, False)
        self.selector.register(0, selectors.EVENT_READ, ("requests", None))
        pending = b""
        while True:
            for key, _ in self.selector.select():
                kind, run_id = key.data
                if kind != "requests" and run_id not in self.runs:
                    continue   # it ended earlier in this round
                if kind == "requests":
                    chunk = os.read(0, 1 << 16)
                    if not chunk:   # the parent is gone: so are its runs
                        for pid, *_ in self.runs.values():
                            os.kill(pid, signal.SIGKILL)
                        return
                    pending += chunk
                    while b"\n" in pending:
                        line, pending = pending.split(b"\n", 1)
                        self.handle(json.loads(line))
                elif kind == "learned":
                    if chunk := os.read(key.fd, 1 << 16):
                        self.runs[run_id][3].append(chunk)
                    else:
                        self.selector.unregister(key.fd)
                elif kind == "ended":
                    self.ended(run_id)
            if self.learned and not self.runs:
                _preload(self.learned)
                self.learned = []

    def handle(self, request: dict) -> None:
        if "kill" in request:
            if request["kill"] in self.runs:
                os.kill(self.runs[request["kill"]][0], signal.SIGKILL)
            return
        learned_r, learned_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            self.replies.close()
            self.selector.close()
            for _, pidfd, fd, _ in self.runs.values():
                os.close(pidfd)
                os.close(fd)
            os.close(learned_r)
            try:
                _run(request, learned_w)
            finally:
                os._exit(1)   # whatever happens, a run never goes on as the child
        os.close(learned_w)
        pidfd = os.pidfd_open(pid)
        self.runs[request["id"]] = (pid, pidfd, learned_r, [])
        self.reply(id=request["id"], pid=pid)
        self.selector.register(learned_r, selectors.EVENT_READ, ("learned", request["id"]))
        self.selector.register(pidfd, selectors.EVENT_READ, ("ended", request["id"]))

    def reply(self, **what) -> None:
        self.replies.write(json.dumps(what) + "\n")
        self.replies.flush()

    def ended(self, run_id: int) -> None:
        pid, pidfd, learned_r, said = self.runs.pop(run_id)
        _, status = os.waitpid(pid, 0)
        self.reply(id=run_id, returncode=os.waitstatus_to_exitcode(status))
        os.set_blocking(learned_r, False)
        try:   # what it wrote last (a process it started may hold the pipe open: read what is there)
            while chunk := os.read(learned_r, 1 << 16):
                said.append(chunk)
        except BlockingIOError:
            pass
        for fd in (pidfd, learned_r):
            try:
                self.selector.unregister(fd)
            except KeyError:
                pass
            os.close(fd)
        try:
            self.learned += json.loads(b"".join(said) or b"[]")
        except ValueError:
            pass   # it died while writing


if __name__ == "__main__":
    _Child().serve()
