"""CLI: python -m support.reference_backend --host 127.0.0.1 --port 8000 [--secret S] [--fault NAME ...]
[--faults-from-url]  (then each connection also gets the faults its URL names: /chat/ws?fault=NAME,NAME)

Started by the suite (support/backend_process.py sets REFERENCE_BACKEND_PARENT_PID), it ends when
the suite's process ends, however that ends: a death signal (Linux) and EOF on stdin (anywhere).
"""
from __future__ import annotations

import argparse
import asyncio
import atexit
import ctypes
import os
import shutil
import signal
import socket
import sqlite3
import sys
import tempfile
import threading

PARENT_PID_ENV = "REFERENCE_BACKEND_PARENT_PID"   # the suite's PID: follow it
OWNED_DIR_ENV = "REFERENCE_BACKEND_OWNED_DIR"     # the suite's temp folder for us: remove it if the suite is gone
PR_SET_PDEATHSIG = 1
PARENT_PID = int(os.environ.get(PARENT_PID_ENV) or 0)
VERDICT_WAIT = 2.0                 # seconds a stop waits to learn from stdin whether the suite is gone
_parent_gone = threading.Event()   # stdin ended without "stop": the suite is gone
_verdict = threading.Event()       # stdin ended: _parent_gone says how
_watching: list = []               # the stdin watcher runs
_own_temp: list[str] = []          # our own "reference-backend-" folder, removed on any orderly exit
_serving: list = []                # (loop, task) while serving, then "done", then "cleaned"
_wake_sockets: list = []           # kept open for the process's life
_stopping: list = []               # a stop was begun
STOP_GRACE = 1.0                   # seconds connections get to end after a stop before every task is cancelled
LAST_RESORT = 10.0                 # seconds after a stop before the process exits whatever still runs
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


def _on_stop_signal(signum, frame):
    """Before serving: unwind (atexit removes the temp folders). While serving: stop the server.
    Afterwards: nothing, cleanup is under way. (Not asyncio's handlers: they leave SIG_DFL behind,
    and a late death signal would then kill us halfway through the cleanup.)"""
    if not _serving:
        raise SystemExit(128 + signum)
    if _serving[0] not in ("done", "cleaned"):
        _request_stop(*_serving[0])


def _request_stop(loop: asyncio.AbstractEventLoop, task: asyncio.Task) -> None:
    """Both ways a stop comes (a signal, the end of stdin) lead here, from any thread, as often as they come."""
    try:
        loop.call_soon_threadsafe(_stop_serving, loop, task)
    except RuntimeError:
        pass   # the loop already ended


def _stop_serving(loop: asyncio.AbstractEventLoop, task: asyncio.Task) -> None:
    """Stop once, bounded: closing the server waits for every connection's handler, and a stalled one
    (a fault that stops sending) never returns by itself. Two stops close together would be one
    cancellation, so the second is not sent: after STOP_GRACE every task is cancelled, and after
    LAST_RESORT the process exits whatever still runs."""
    if _stopping:
        return
    _stopping.append(True)
    task.cancel()
    loop.call_later(STOP_GRACE, _cancel_every_task, loop)
    last_resort = threading.Timer(LAST_RESORT, _exit_now)
    last_resort.daemon = True
    last_resort.start()


def _cancel_every_task(loop: asyncio.AbstractEventLoop) -> None:
    for task in asyncio.all_tasks(loop):
        task.cancel()


def _exit_now() -> None:
    _remove_temp_folders()
    try:
        print(f"reference backend: still running {LAST_RESORT:g} s after a stop; exiting", file=sys.stderr, flush=True)
    except OSError:
        pass
    os._exit(1)


def _follow_parent() -> None:
    """Arm the death signal first, then check the parent is still there (it may have died before)."""
    if not PARENT_PID:
        return
    for signum in STOP_SIGNALS[1:]:
        signal.signal(signum, _on_stop_signal)
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            pass   # no prctl: the stdin watch below still ends us
    if os.getppid() != PARENT_PID:
        _parent_gone.set()
        sys.exit(0)


def _parent_is_gone() -> bool:
    """The suite stops us with "stop" on stdin, then EOF; EOF alone means it died. getppid() alone is
    not enough: when the thread that started us dies first, we are reparented to a sibling thread."""
    if not PARENT_PID:
        return False
    if _watching:
        _verdict.wait(VERDICT_WAIT)   # the suite dying closes stdin soon; one alive keeps it open
    return _parent_gone.is_set() or os.getppid() != PARENT_PID


def _remove_temp_folders() -> None:
    if _serving == ["cleaned"]:
        return   # main's finally did it; this is atexit
    for folder in _own_temp:
        shutil.rmtree(folder, ignore_errors=True)
    owned = os.environ.get(OWNED_DIR_ENV, "")
    # the suite keeps its folder across restarts; if the suite died, nobody else will remove it
    if owned and _parent_is_gone() and os.path.basename(owned).startswith("chat-suite-"):
        shutil.rmtree(owned, ignore_errors=True)
    if _serving:
        _serving[:] = ["cleaned"]


atexit.register(_remove_temp_folders)
_follow_parent()   # before the slower imports below: a SIGTERM while importing still cleans up

from support.config import Settings  # noqa: E402
from support.reference_backend.faults import descriptions, names_in, unknown_faults  # noqa: E402
from support.reference_backend.server import Options, run_server  # noqa: E402
from support.reference_backend.storage import ChatStore  # noqa: E402
from support.vocabulary import available_dialects  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m support.reference_backend",
                                description="The bundled reference chat backend (protocol.md §1-§9).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed on start)")
    p.add_argument("--secret", default=os.environ.get("JWT_SECRET") or os.environ.get("MY_AUTH_TOKEN")
                   or Settings.jwt_secret, help="HS256 secret (default: $JWT_SECRET, then $MY_AUTH_TOKEN)")
    p.add_argument("--auth-at", choices=("first_frame", "handshake"), default="first_frame",
                   help="first_frame: accept, then close 4401 (production); handshake: refuse the upgrade with 401")
    p.add_argument("--chunk-delay", type=float, default=0.001, help="seconds between streamed chunks")
    p.add_argument("--jitter", type=float, default=0.0, help="random extra delay per frame, up to this many seconds")
    p.add_argument("--random-chunks", action="store_true", help="stream chunks of random sizes")
    p.add_argument("--seed", type=int, default=None, help="seed for --jitter and --random-chunks")
    p.add_argument("--first-frame-timeout", type=float, default=10.0)
    p.add_argument("--dialect", choices=available_dialects(), default=Settings.dialect)
    p.add_argument("--db", default="", help="SQLite file for chat history (default: a new temporary file)")
    p.add_argument("--fault", action="append", default=[], metavar="NAME",
                   help="switch on a named fault (repeatable); --list-faults shows them")
    p.add_argument("--faults-from-url", action="store_true",
                   help="each connection also gets the faults its upgrade URL names: /chat/ws?fault=NAME,NAME")
    p.add_argument("--list-faults", action="store_true")
    args = p.parse_args(argv)
    if not args.secret:   # HS256 with an empty key: anyone could sign a token that gets in
        p.error("--secret is empty: give the signing secret (better in $JWT_SECRET: `ps` shows command lines)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list_faults:
        for name, what in descriptions().items():
            print(f"{name:32} {what}")
        return 0
    faults = names_in(",".join(args.fault))
    if problem := unknown_faults(faults):
        print(problem, file=sys.stderr)   # one line: the suite shows it as the reason the backend did not start
        return 2
    if not args.db:
        _own_temp.append(tempfile.mkdtemp(prefix="reference-backend-"))
    db_path = args.db or os.path.join(_own_temp[0], "chat.sqlite3")
    options = Options(secret=args.secret, auth_at=args.auth_at, chunk_delay=args.chunk_delay, jitter=args.jitter,
                      random_chunks=args.random_chunks, seed=args.seed, first_frame_timeout=args.first_frame_timeout,
                      dialect=args.dialect, db_path=db_path, faults=faults,
                      faults_from_url=args.faults_from_url)
    try:
        store = ChatStore(db_path)
    except sqlite3.Error as exc:
        print(f"reference backend cannot open its chat history --db {db_path}: {exc}", file=sys.stderr)
        return 2

    def started(url: str) -> None:
        faults = f" with faults: {', '.join(sorted(options.faults))}" if options.faults else ""
        faults += " (and each connection's ?fault=)" if options.faults_from_url else ""
        print(f"reference backend serving {url} (dialect {options.dialect}, db {db_path}){faults}", flush=True)

    async def serve_until_signalled() -> None:
        task = asyncio.create_task(run_server(args.host, args.port, options, store, started))
        loop = asyncio.get_running_loop()
        _serving[:] = [(loop, task)]
        _wake_loop_on_signals(loop)
        for signum in STOP_SIGNALS:
            signal.signal(signum, _on_stop_signal)
        if PARENT_PID:
            _watching.append(True)
            threading.Thread(target=_watch_stdin, args=(loop, task), daemon=True).start()
        try:
            await task
        except asyncio.CancelledError:
            pass
        finally:
            _serving[:] = ["done"]

    try:
        asyncio.run(serve_until_signalled())
    except OSError as exc:
        print(f"reference backend could not listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
        _remove_temp_folders()
    try:
        print("reference backend stopped", flush=True)
    except OSError:
        pass   # the suite that read our stdout is gone
    return 0


def _wake_loop_on_signals(loop: asyncio.AbstractEventLoop) -> None:
    """Python runs signal handlers in the main thread when it next runs Python code; a signal that
    lands on another thread must still wake the loop's select (as asyncio's own handlers do)."""
    rsock, wsock = socket.socketpair()
    rsock.setblocking(False)
    wsock.setblocking(False)
    try:
        loop.add_reader(rsock.fileno(), rsock.recv, 4096)
    except NotImplementedError:
        return   # a loop without add_reader (Windows): signals arrive on the main thread there
    signal.set_wakeup_fd(wsock.fileno(), warn_on_full_buffer=False)
    _wake_sockets.extend((rsock, wsock))


def _watch_stdin(loop: asyncio.AbstractEventLoop, task: asyncio.Task) -> None:
    """The suite holds our stdin open and writes "stop" before closing it to stop us; EOF without
    "stop" means it is gone (any way, on any OS): stop serving and remove its temp folder."""
    told = b""
    try:
        while chunk := sys.stdin.buffer.read1(4096):
            told = (told + chunk)[-64:]
    except (OSError, ValueError):
        pass
    if b"stop" not in told:
        _parent_gone.set()
    _verdict.set()
    _request_stop(loop, task)


if __name__ == "__main__":
    sys.exit(main())
