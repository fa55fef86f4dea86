"""Soak: run `behave -D backend=reference` N times in a row and say, after each run and at the end,
whether anything was left behind: a process, a temp folder, a listening port.

    python bench/soak.py                 # 20 runs
    python bench/soak.py --runs 3 -- --tags=@chat      # arguments after -- go to behave

It prints figures and asserts nothing; the exit status is 1 if anything was left behind.
The runs get a private TMPDIR (removed at the end), so other programs' files do not count.
Processes are read from /proc (Linux); elsewhere that column reads n/a.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
USING = re.compile(r"using the bundled reference backend at ws://127\.0\.0\.1:(\d+)")
SUMMARY = re.compile(r"^(\d+) scenarios? passed, (\d+) failed", re.MULTILINE)
PREFIXES = ("chat-suite-", "reference-backend-", "suite-reports-")
PROC = Path("/proc")


def processes() -> dict[int, tuple[int, str]] | None:
    """pid -> (parent pid, command line), or None without /proc."""
    if not (PROC / "self" / "stat").exists():
        return None
    found = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, IndexError):
            continue
        if fields[0] not in ("Z", "X"):   # a zombie holds nothing; PID 1 may be slow to reap it
            found[int(entry.name)] = (int(fields[1]), command)
    return found


def ours(tmp: Path) -> set[int] | None:
    """Live processes that belong to the runs: descendants of this script, or anything (orphaned or
    not) whose command line names the runs' private temp folder (the backend's --db)."""
    table = processes()
    if table is None:
        return None
    mine, grew = {os.getpid()}, True
    while grew:
        more = {pid for pid, (ppid, _) in table.items() if ppid in mine} - mine
        mine |= more
        grew = bool(more)
    mine.discard(os.getpid())
    return mine | {pid for pid, (_, command) in table.items() if str(tmp) in command}


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def temp_folders(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.iterdir() if p.name.startswith(PREFIXES))


def _text(captured) -> str:
    return captured.decode(errors="replace") if isinstance(captured, bytes) else captured or ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds one run may take before it is killed")
    parser.add_argument("behave_args", nargs="*", help="after --: extra arguments for behave")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_SUITE_")
           and k not in ("RUN_MANUAL_TESTS", "BACKEND_WS_URL", "CI")}
    env["TMPDIR"] = str(tmp)
    ports: list[int] = []
    before = ours(tmp) or set()
    totals = {"processes": 0, "folders": 0, "ports": 0, "failed runs": 0}
    print(f"soak: {args.runs} runs of behave -D backend=reference {' '.join(args.behave_args)} (TMPDIR={tmp})")
    try:
        for n in range(1, args.runs + 1):
            command = [sys.executable, "-m", "behave", "--no-color", "-f", "progress", "-D", "backend=reference",
                       "-D", f"reports_dir={tmp / 'reports'}", *args.behave_args]
            started = time.monotonic()
            try:
                done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.timeout)
                output, code = done.stdout + done.stderr, done.returncode
            except subprocess.TimeoutExpired as exc:   # subprocess.run has killed behave
                output = _text(exc.stdout) + _text(exc.stderr)
                code = "timeout"
            seconds = time.monotonic() - started
            port = int(m.group(1)) if (m := USING.search(output)) else None
            if port:
                ports.append(port)
            time.sleep(0.5)   # what is left after half a second is left behind
            now = ours(tmp)
            stray = sorted(now - before) if now is not None else None
            table = processes() or {}
            described = [f"{pid} {table.get(pid, (0, '?'))[1][:90]}" for pid in stray or []]
            folders = temp_folders(tmp)
            open_ports = [p for p in ports if listening(p)]
            summary = SUMMARY.search(output)
            result = f"{summary.group(1)} passed, {summary.group(2)} failed" if summary else "no summary"
            if code != 0:
                totals["failed runs"] += 1
            totals["processes"] = max(totals["processes"], len(stray or []))
            totals["folders"] = max(totals["folders"], len(folders))
            totals["ports"] = max(totals["ports"], len(open_ports))
            print(f"run {n}/{args.runs}: exit {code}, {result}, {seconds:.1f} s, port {port}; left behind: "
                  f"processes {'n/a' if stray is None else len(stray)}, temp folders {len(folders)}, "
                  f"listening ports {len(open_ports)}"
                  + "".join(f"\n    process {d}" for d in described) + (f" {folders}" if folders else "")
                  + (f" {open_ports}" if open_ports else ""), flush=True)
    finally:
        print(f"soak: {args.runs} runs, {totals['failed runs']} failed; most ever left behind at once: "
              f"processes {totals['processes']}, temp folders {totals['folders']}, "
              f"listening ports {totals['ports']} (of {len(ports)} ports used)")
        shutil.rmtree(tmp, ignore_errors=True)
    left = totals["processes"] or totals["folders"] or totals["ports"]
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
