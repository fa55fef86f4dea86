"""CLI: python -m support.reference_backend --host 127.0.0.1 --port 8000 [--secret S] [--fault NAME ...]"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile

from support.reference_backend.faults import descriptions, validate
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
    p.add_argument("--chunk-delay", type=float, default=0.001, help="seconds between streamed chunks")
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
        for name, what in descriptions().items():
            print(f"{name:32} {what}")
        return 0
    db_path = args.db or os.path.join(tempfile.mkdtemp(prefix="reference-backend-"), "chat.sqlite3")
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
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
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
    print("reference backend stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
