"""CLI: python -m support.reference_backend --host 127.0.0.1 --port 8000 [--secret S] [--fault NAME ...]

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
import sys
import tempfile
import threading

PARENT_PID_ENV = "REFERENCE_BACKEND_PARENT_PID"   # the suite's PID: follow it
OWNED_DIR_ENV = "REFERENCE_BACKEND_OWNED_DIR"     # the suite's temp folder for us: remove it if the suite is gone
PR_SET_PDEATHSIG = 1
PARENT_PID = int(os.environ.get(PARENT_PID_ENV) or 0)
_parent_gone = threading.Event()   # set when stdin reaches EOF: only the suite's end closes it
_own_temp: list[str] = []          # our own "reference-backend-" folder, removed on any orderly exit


def _quit_on_signal(signum, frame):
    raise SystemExit(128 + signum)   # unwind, so atexit still removes the temp folders


def _follow_parent() -> None:
    """Arm the death signal first, then check the parent is still there (it may have died before)."""
    if not PARENT_PID:
        return
    for name in ("SIGTERM", "SIGHUP"):   # until asyncio installs its own handlers
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _quit_on_signal)
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            pass   # no prctl: the stdin watch below still ends us
    if os.getppid() != PARENT_PID:
        _parent_gone.set()
        sys.exit(0)


def _parent_is_gone() -> bool:
    # after a parent's death the kernel reparents us before sending the death signal
    return bool(PARENT_PID) and (_parent_gone.is_set() or os.getppid() != PARENT_PID)


def _remove_temp_folders() -> None:
    for folder in _own_temp:
        shutil.rmtree(folder, ignore_errors=True)
    owned = os.environ.get(OWNED_DIR_ENV, "")
    # the suite keeps its folder across restarts; if the suite died, nobody else will remove it
    if owned and _parent_is_gone() and os.path.basename(owned).startswith("chat-suite-"):
        shutil.rmtree(owned, ignore_errors=True)


atexit.register(_remove_temp_folders)
_follow_parent()

from support.reference_backend.faults import FAULTS, validate
from support.reference_backend.server import Options, run_server
from support.reference_backend.storage import ChatStore
from support.vocabulary import available_dialects


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m support.reference_backend",
                                description="The bundled reference chat backend (protocol.md §1-§9).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed on start)")
    p.add_argument("--secret", default=os.environ.get("JWT_SECRET") or os.environ.get("MY_AUTH_TOKEN")
                   or "reference-backend-dev-secret-change-me", help="HS256 secret (default: $JWT_SECRET, then $MY_AUTH_TOKEN)")
    p.add_argument("--auth-at", choices=("first_frame", "handshake"), default="first_frame",
                   help="first_frame: accept, then close 4401 (production); handshake: refuse the upgrade with 401")
    p.add_argument("--chunk-delay", type=float, default=0.02, help="seconds between streamed chunks")
    p.add_argument("--jitter", type=float, default=0.0, help="random extra delay per frame, up to this many seconds")
    p.add_argument("--random-chunks", action="store_true", help="stream chunks of random sizes")
    p.add_argument("--seed", type=int, default=None, help="seed for --jitter and --random-chunks")
    p.add_argument("--first-frame-timeout", type=float, default=10.0)
    p.add_argument("--dialect", choices=available_dialects(), default="v2")
    p.add_argument("--db", default="", help="SQLite file for chat history (default: a new temporary file)")
    p.add_argument("--fault", action="append", default=[], metavar="NAME",
                   help="switch on a named fault (repeatable); --list-faults shows them")
    p.add_argument("--list-faults", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list_faults:
        for name, what in FAULTS.items():
            print(f"{name:32} {what}")
        return 0
    if not args.db:
        _own_temp.append(tempfile.mkdtemp(prefix="reference-backend-"))
    db_path = args.db or os.path.join(_own_temp[0], "chat.sqlite3")
    options = Options(secret=args.secret, auth_at=args.auth_at, chunk_delay=args.chunk_delay, jitter=args.jitter,
                      random_chunks=args.random_chunks, seed=args.seed, first_frame_timeout=args.first_frame_timeout,
                      dialect=args.dialect, db_path=db_path, faults=validate(args.fault))
    store = ChatStore(db_path)

    def started(url: str) -> None:
        faults = f" with faults: {', '.join(sorted(options.faults))}" if options.faults else ""
        print(f"reference backend serving {url} (dialect {options.dialect}, db {db_path}){faults}", flush=True)

    async def serve_until_signalled() -> None:
        task = asyncio.create_task(run_server(args.host, args.port, options, store, started))
        loop = asyncio.get_running_loop()
        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            if hasattr(signal, name):
                loop.add_signal_handler(getattr(signal, name), task.cancel)
        if PARENT_PID:
            threading.Thread(target=_watch_stdin, args=(loop, task), daemon=True).start()
        try:
            await task
        except asyncio.CancelledError:
            pass

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


def _watch_stdin(loop: asyncio.AbstractEventLoop, task: asyncio.Task) -> None:
    """The suite holds our stdin open; EOF means it is gone (any way, on any OS): stop serving."""
    try:
        while sys.stdin.buffer.read1(4096):
            pass
    except (OSError, ValueError):
        pass
    _parent_gone.set()
    try:
        loop.call_soon_threadsafe(task.cancel)
    except RuntimeError:
        pass   # the loop already ended


if __name__ == "__main__":
    sys.exit(main())
