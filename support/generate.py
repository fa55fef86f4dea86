"""Writes every generated part of the repository in place, so none can drift from its data:

- each dialect's derived AsyncAPI document (``support.vocabulary.generate``);
- every part of a document between ``<!-- generated: NAME -->`` and ``<!-- end generated -->``:
  on lines of their own a table, on one line a phrase (README's count of fault modes).
  ``PARTS`` says which side writes each one: the vocabulary, the rules, the fault matrix.

    python -m support.generate           # rewrite what is stale
    python -m support.generate --check   # exit 1 if anything is stale (what tests/test_generated_docs.py runs)

The top of the layers: a developer's command that reads every side and is imported by nothing of
the suite. (The fault matrix lives with the tests, which prove each of its rows.)
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Callable

from support import rules
from support.reference_backend.faults import descriptions
from support.vocabulary import generate as vocabulary
from tests import fault_matrix

ROOT = Path(__file__).resolve().parent.parent
COMMAND = "python -m support.generate"
DOCUMENTS = [ROOT / "docs" / "protocol.md", ROOT / "README.md"]   # the files with generated parts

PARTS: dict[str, Callable[[], str]] = {   # marker name -> what writes it
    **vocabulary.TABLES,                                       # protocol.md §10, §11
    "rules": rules.table,                                      # protocol.md's appendix
    "faults": fault_matrix.markdown,                           # README's fault table
    "fault-modes": lambda: f"{len(descriptions())} fault modes",   # README's count, in its prose
}
END = "<!-- end generated -->"
# A marker in `code` is prose that shows one (docs/protocol.md explains them), not a marker.
START = re.compile(r"(?<!`)<!-- generated: (?P<name>[\w-]+) -->")
ENDS = re.compile(r"(?<!`)" + re.escape(END))
# The body may not contain another marker, so a lost end marker cannot make one part swallow
# the prose up to the next part's end.
PART = re.compile(r"(?P<start>" + START.pattern + ")"
                  r"(?P<body>(?:(?!<!-- (?:generated:|end generated)).)*?)" + re.escape(END), re.S)


def generated_parts(text: str) -> dict[str, str]:
    """name -> body of every generated part; a marker without its pair, or of no known part, is an error."""
    parts = {m.group("name"): m.group("body") for m in PART.finditer(text)}
    starts = [m.group("name") for m in START.finditer(text)]
    if sorted(starts) != sorted(parts) or len(ENDS.findall(text)) != len(starts):
        raise ValueError(f"unbalanced generated markers (starts: {starts}, complete parts: {sorted(parts)})")
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown generated part(s) {sorted(unknown)}; known: {', '.join(PARTS)}")
    return parts


def _written(match: re.Match) -> str:
    body = PARTS[match.group("name")]()
    if match.group("body").startswith("\n"):   # a block: the markers keep their own lines
        return f"{match.group('start')}\n{body}\n{END}"
    if "\n" in body:
        raise ValueError(f"generated part {match.group('name')!r} is a table: give its markers lines of their own")
    return f"{match.group('start')}{body}{END}"


def fill(text: str) -> str:
    """`text` with every generated part replaced by what its data says now."""
    generated_parts(text)
    return PART.sub(_written, text)


def outputs() -> dict[Path, str]:
    """Every generated file with the content it must have now."""
    return {**vocabulary.asyncapi_outputs(), **{path: fill(path.read_text()) for path in DOCUMENTS}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale files (exit 1), write nothing")
    args = parser.parse_args(argv)
    stale = []
    for path, content in outputs().items():
        if path.read_text() != content:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(content)
    verb = "stale" if args.check else "rewrote"
    for path in stale:
        print(f"{verb}: {path}")
    if args.check and stale:
        print(f"run: {COMMAND}", file=sys.stderr)
        return 1
    if not stale:
        print("up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
