"""Re-judge saved transcripts with today's rules: python -m support.recheck FILE… [--strict] [--junit DIR] [--json FILE]

A transcript file is what the suite writes to reports/ (or a recording in the same format):
``{"connections": {name: [{"seq", "t", "direction", "raw", …}, …]}}``, optionally with
``"dialect"`` and ``"modes"``. Every frame goes through the same recorder, schemas and rules as a
live run, so a nightly run's transcript (or recorded production traffic) can be re-checked after
upgrading the suite. Each file gets one verdict line (details indented below it), whatever it holds;
the files after a bad one are still judged. Exit status: 0 when no rule is broken (notices allowed),
1 when one is, 2 when a file cannot be read (the worst over all files).
"""
from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from support import rules
from support.config import Settings
from support.verdicts import explain, violations_only
from support.protocol import CHAT_MODE
from support.transcript import CLOSED, RECEIVED, SENT, Recorder, Transcript
from support.transcript_view import flow
from support.vocabulary import Dialect, available_dialects

OK, BROKEN, UNREADABLE = "ok", "broken", "unreadable"
EXIT = {OK: 0, BROKEN: 1, UNREADABLE: 2}


class Unreadable(ValueError):
    """The file is not a transcript the suite can rebuild; the message says why in a few words."""


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


def read(path: str) -> dict:
    """The file's document, checked to have the shape load() reads; Unreadable otherwise."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise Unreadable(f"cannot read it: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise Unreadable(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise Unreadable(f"not JSON ({exc})") from None
    except RecursionError:
        raise Unreadable("not a transcript: nested too deep to read") from None
    _check_shape(document)
    return document


JSON_TYPES = {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number",
              bool: "a boolean", type(None): "null"}


def _kind(value) -> str:
    return JSON_TYPES.get(type(value), type(value).__name__)


def _check_shape(document) -> None:
    if not isinstance(document, dict):
        raise Unreadable(f"not a transcript: {_kind(document)}, not an object with \"connections\"")
    if "connections" not in document:
        raise Unreadable(f"not a transcript: no \"connections\" (it has {', '.join(map(repr, list(document)[:5])) or 'no keys'})")
    connections = document["connections"]
    if not isinstance(connections, dict):
        raise Unreadable(f"not a transcript: \"connections\" is {_kind(connections)}, not an object")
    modes, dialect = document.get("modes") or {}, document.get("dialect")
    if not isinstance(modes, dict) or not all(isinstance(m, str) for m in modes.values()):
        raise Unreadable("not a transcript: \"modes\" is not an object of connection names to mode names")
    if dialect is not None and not isinstance(dialect, str):
        raise Unreadable(f"not a transcript: \"dialect\" is {_kind(dialect)}, not a name")
    for name, entries in connections.items():
        if not isinstance(entries, list):
            raise Unreadable(f"not a transcript: connection {name!r} is {_kind(entries)}, not an array of frames")
        for i, item in enumerate(entries):
            problem = _entry_problem(item)
            if problem:
                raise Unreadable(f"not a transcript: connection {name!r}, entry {i}: {problem}")


def _entry_problem(item) -> str | None:
    if not isinstance(item, dict):
        return f"{_kind(item)}, not an object"
    if not isinstance(item.get("direction"), str):
        return "no \"direction\""
    if not isinstance(item.get("raw"), (str, type(None))):
        return "\"raw\" is not a string"
    if not isinstance(item.get("kind", ""), str) or not isinstance(item.get("close") or {}, dict):
        return "\"kind\" or \"close\" has the wrong type"
    try:
        float(item.get("t", 0.0))
    except (TypeError, ValueError):
        return "\"t\" is not a number"
    if "raw_length" in item and not isinstance(item.get("seq"), int):
        return "a clipped frame without its \"seq\""
    return None


@dataclass
class Verdict:
    """One file's outcome: ok, broken or unreadable, with its findings or the reason it could not be read."""
    path: str
    verdict: str
    checked: list[tuple[Transcript, list[rules.Violation]]] = field(default_factory=list)
    reason: str = ""

    def broken(self) -> list[tuple[Transcript, list[rules.Violation]]]:
        return [(tr, bad) for tr, found in self.checked if (bad := violations_only(found))]


def judge(path: str, dialect_name: str | None = None, strict: bool = False) -> Verdict:
    """Read and re-check one file; never raises for what the file holds."""
    try:
        document = read(path)
        dialect = Dialect.load(dialect_name or document.get("dialect") or Settings.dialect)
    except Unreadable as exc:
        return Verdict(path, UNREADABLE, reason=str(exc))
    except (OSError, ValueError, KeyError) as exc:   # a dialect this suite does not have
        return Verdict(path, UNREADABLE, reason=f"dialect {document.get('dialect')!r}: {exc}")
    try:
        checked = recheck(document, dialect, strict)
    except RecursionError:
        return Verdict(path, UNREADABLE, reason="a frame nested too deep to judge")
    except (ValueError, TypeError, KeyError, AttributeError) as exc:   # a shape _check_shape let through
        return Verdict(path, UNREADABLE, reason=f"cannot rebuild it ({type(exc).__name__}: {exc})")
    verdict = Verdict(path, OK, checked)
    verdict.verdict = BROKEN if verdict.broken() else OK
    return verdict


def headline(v: Verdict) -> str:
    if v.verdict == UNREADABLE:
        return f"{v.path}: UNREADABLE: {v.reason}"
    if v.verdict == BROKEN:
        names = sorted({x.rule for _, bad in v.broken() for x in bad})
        return f"{v.path}: BROKEN: a protocol rule is broken ({', '.join(names)})"
    return f"{v.path}: ok: no protocol rule broken"


def report(v: Verdict) -> str:
    """The text printed for one file: its verdict line, then each connection's flow and findings, indented."""
    lines = [headline(v)]
    for tr, found in v.checked:
        lines.append(f"  {tr.name}: {flow(tr) or '(nothing received)'}")
        bad = violations_only(found)
        if bad:
            lines += ["    " + line for line in explain(bad, tr).splitlines()]
        lines += [f"    notice: {x.message} (#{x.seq})" for x in found if x.severity == rules.NOTICE]
    return "\n".join(lines)


# -- files for CI ---------------------------------------------------------------------------

def _findings(v: Verdict) -> list[dict]:
    return [{"connection": tr.name, "rule": x.rule, "seq": x.seq, "severity": x.severity, "message": x.message}
            for tr, found in v.checked for x in found]


def as_json(verdicts: list[Verdict]) -> list[dict]:
    """One entry per file: path, verdict, violations (broken rules), notices, and why it was unreadable."""
    out = []
    for v in verdicts:
        found = _findings(v)
        entry = {"path": v.path, "verdict": v.verdict,
                 "violations": [f for f in found if f["severity"] == rules.VIOLATION],
                 "notices": [f for f in found if f["severity"] == rules.NOTICE]}
        if v.reason:
            entry["reason"] = v.reason
        out.append(entry)
    return out


def _xml_text(text: str) -> str:
    """Characters XML 1.0 cannot hold (control characters, lone surrogates) written as \\uXXXX escapes."""
    return "".join(c if c in "\t\n\r" or ("\x20" <= c <= "\ud7ff") or ("\ue000" <= c <= "\ufffd")
                   or c > "\uffff" else f"\\u{ord(c):04x}" for c in text)


def as_junit(verdicts: list[Verdict]) -> ET.ElementTree:
    """One test case per file: a broken one fails with its rules' text, an unreadable one is an error."""
    suite = ET.Element("testsuite", name="recheck", tests=str(len(verdicts)),
                       failures=str(sum(v.verdict == BROKEN for v in verdicts)),
                       errors=str(sum(v.verdict == UNREADABLE for v in verdicts)), skipped="0")
    for v in verdicts:
        case = ET.SubElement(suite, "testcase", classname="recheck", name=_xml_text(v.path))
        if v.verdict == UNREADABLE:
            ET.SubElement(case, "error", message=_xml_text(v.reason), type="unreadable").text = _xml_text(v.reason)
        elif v.verdict == BROKEN:
            first = v.broken()[0][1][0]
            failure = ET.SubElement(case, "failure", message=_xml_text(f"[{first.rule}] {first.message}"),
                                    type="protocol rule broken")
            failure.text = _xml_text("\n\n".join(explain(bad, tr) for tr, bad in v.broken()))
    tree = ET.ElementTree(suite)
    ET.indent(tree)
    return tree


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m support.recheck", description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", help="transcript JSON files (reports/<run>/<feature>/<scenario>.json)")
    p.add_argument("--dialect", choices=available_dialects(), help=f"default: the file's own, else {Settings.dialect}")
    p.add_argument("--strict", action="store_true", help="notices fail too (strict_events=true)")
    p.add_argument("--junit", metavar="DIR", help="also write DIR/recheck.xml: one JUnit test case per file")
    p.add_argument("--json", metavar="FILE", help="also write FILE: one entry per file (path, verdict, violations)")
    args = p.parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):   # a frame may hold half an emoji (a lone surrogate): print it escaped
        sys.stdout.reconfigure(errors="backslashreplace")
    verdicts = []
    for path in args.files:
        verdicts.append(judge(path, args.dialect, args.strict))
        print(report(verdicts[-1]), flush=True)
    if args.junit:
        Path(args.junit).mkdir(parents=True, exist_ok=True)
        as_junit(verdicts).write(Path(args.junit) / "recheck.xml", encoding="utf-8", xml_declaration=True)
    if args.json:
        Path(args.json).write_text(json.dumps(as_json(verdicts), indent=2) + "\n", encoding="utf-8")
    return max(EXIT[v.verdict] for v in verdicts)


if __name__ == "__main__":
    sys.exit(main())
