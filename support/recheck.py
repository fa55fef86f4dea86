"""Re-judge a saved transcript with today's rules: python -m support.recheck reports/…/x.json [--strict]

A transcript file is what the suite writes to reports/ (or a recording in the same format):
``{"connections": {name: [{"seq", "t", "direction", "raw", …}, …]}}``, optionally with
``"dialect"`` and ``"modes"``. Every frame goes through the same recorder, schemas and rules as a
live run, so a nightly run's transcript can be re-checked after upgrading the suite. Exit status:
0 when no rule is broken (notices allowed), 1 when one is, 2 when a file cannot be read.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from support import rules
from support.protocol import CHAT_MODE
from support.recorder import Recorder
from support.transcript import CLOSED, RECEIVED, SENT, Transcript
from support.vocabulary import DEFAULT_DIALECT, Dialect, available_dialects


def load(document: dict, dialect: Dialect) -> list[tuple[Transcript, set[int]]]:
    """Rebuild each connection's transcript from its saved frames, with the seqs of frames the file clipped."""
    modes = document.get("modes") or {}
    out = []
    for name, entries in document["connections"].items():
        transcript = Transcript(name, mode=modes.get(name, CHAT_MODE))
        recorder = Recorder(transcript, dialect)
        clipped = {item["seq"] for item in entries if "raw_length" in item}
        for item in entries:
            direction, t, raw = item["direction"], float(item.get("t", 0.0)), item.get("raw")
            if direction == RECEIVED:
                entry = recorder.received(raw if raw is not None else "", t)
                entry.expected = bool(item.get("expected"))
            elif direction == SENT:
                recorder.sent(raw if raw is not None else "", t=t)
            elif direction == CLOSED or item.get("kind", "").startswith("closed"):
                close = item.get("close") or {}
                recorder.closed(close.get("how") or item.get("kind") or "closed", close.get("detail") or "",
                                code=close.get("code"), reason=close.get("reason") or "", status=close.get("status"),
                                t=t)
        out.append((transcript, clipped))
    return out


def recheck(document: dict, dialect: Dialect, strict: bool = False) -> list[tuple[Transcript, list[rules.Violation]]]:
    """Every rule over every connection; findings about a frame the file clipped are left out (it cannot be judged)."""
    return [(tr, [v for v in rules.check(tr, strict=strict) if v.seq not in clipped])
            for tr, clipped in load(document, dialect)]


def report(path: str, checked: list[tuple[Transcript, list[rules.Violation]]]) -> tuple[str, bool]:
    """The text printed for one file, and whether it broke a rule."""
    lines, broken = [f"{path}:"], False
    for tr, found in checked:
        lines.append(f"  {tr.name}: {tr.flow() or '(nothing received)'}")
        bad = rules.violations_only(found)
        if bad:
            broken = True
            lines += ["    " + line for line in rules.explain(bad, tr).splitlines()]
        lines += [f"    notice: {v.message} (#{v.seq})" for v in found if v.severity == rules.NOTICE]
    lines.append(f"  {'BROKEN: a protocol rule is broken' if broken else 'ok: no protocol rule broken'}")
    return "\n".join(lines), broken


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m support.recheck", description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", help="transcript JSON files (reports/<feature>/<scenario>.json)")
    p.add_argument("--dialect", choices=available_dialects(), help="default: the file's own, else v2")
    p.add_argument("--strict", action="store_true", help="notices fail too (strict_events=true)")
    args = p.parse_args(argv)
    status = 0
    for path in args.files:
        try:
            document = json.loads(Path(path).read_text())
            dialect = Dialect.load(args.dialect or document.get("dialect") or DEFAULT_DIALECT)
            text, broken = report(path, recheck(document, dialect, args.strict))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"{path}: cannot re-check: {type(exc).__name__}: {exc}", file=sys.stderr)
            status = max(status, 2)
            continue
        print(text)
        status = max(status, 1 if broken else 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
