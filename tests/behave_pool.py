"""One long-lived behave process that runs many behave command lines in turn, so a test that runs the
suite dozens of times (the fault matrix) pays Python's and behave's start-up once, not per run.

Each run is behave's own ``main`` with fresh arguments and environment, and file descriptors 1 and 2
pointed at files of the caller's: what behave, the hooks and the formatters print is read as from a
subprocess. The project's own modules (support/, steps/, hooks) are imported afresh for each run, as
in a new process: behave forgets registered step types between runs, and module state (what was said
last, caches) must not leak from one run into the next; third-party libraries stay imported. If the
process dies mid-run (the watchdog's last resort ends it) or a run outlasts its timeout, the next run
starts a fresh process.

The parent side is ``BehavePool``; ``python -m tests.behave_pool`` is the child: one JSON request a
line on stdin ({"args", "env", "stdout", "stderr"}), one JSON reply a line ({"returncode"}).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class BehavePool:
    """The parent's handle on one child; ``run`` is what ``subprocess.run`` would have done."""

    def __init__(self):
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def run(self, args: list[str], env: dict, stdout: str, stderr: str, timeout: float) -> int:
        """behave with these arguments and environment, its output written to the files stdout and stderr;
        the exit code. subprocess.TimeoutExpired past timeout (the child is ended)."""
        with self._lock:
            proc = self._child()
            proc.stdin.write(json.dumps({"args": args, "env": env, "stdout": stdout, "stderr": stderr}) + "\n")
            proc.stdin.flush()
            reply: list[str] = []
            reader = threading.Thread(target=lambda: reply.append(proc.stdout.readline()), daemon=True)
            reader.start()
            reader.join(timeout)
            if reader.is_alive():
                self.close()
                raise subprocess.TimeoutExpired(["behave", *args], timeout)
            if not reply[0]:   # the child ended mid-run: its exit code is the run's, as for a subprocess
                self._proc = None
                return proc.wait(5)
            return json.loads(reply[0])["returncode"]

    def _child(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen([sys.executable, "-m", "tests.behave_pool"], cwd=ROOT, text=True,
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=dict(os.environ))
        return self._proc

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.kill()
        proc.wait(5)
        for pipe in (proc.stdin, proc.stdout):
            pipe.close()


def _ours(path: str | None) -> bool:
    """A module of the project's own (not of a library, even one in a virtual environment inside it)."""
    return bool(path) and Path(path).is_relative_to(ROOT) and not Path(path).is_relative_to(sys.prefix) \
        and "site-packages" not in Path(path).parts


def _run_one(request: dict) -> int:
    from behave.__main__ import main

    for name, module in list(sys.modules.items()):
        if name != "__main__" and _ours(getattr(module, "__file__", None)):
            del sys.modules[name]
    os.environ.clear()
    os.environ.update(request["env"])
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(request["stdout"], "w") as out, open(request["stderr"], "w") as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            code = main(request["args"])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except Exception:
            traceback.print_exc()   # into the run's stderr, with exit code 1, as `python -m behave` would
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
    return code


def serve() -> None:
    replies = os.fdopen(os.dup(1), "w")   # fd 1 itself is lent to each run's stdout
    for line in sys.stdin:
        replies.write(json.dumps({"returncode": _run_one(json.loads(line))}) + "\n")
        replies.flush()


if __name__ == "__main__":
    serve()
