"""The transcript file a scenario leaves behind: where it goes, and what it holds.

One JSON file per scenario (and per exploration finding): its feature and scenario, its status, the
dialect, each connection's entries (support/transcript_view.to_json) and every finding of the check.
``python -m support.recheck`` reads it back and judges it again.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from support import rules
from support.config import Settings
from support.transcript import Transcript
from support.transcript_view import to_json

Checked = list[tuple[Transcript, list[rules.Violation]]]

RAW_LIMIT = 2**20   # characters of one frame kept in a transcript file; a longer one is clipped, its length noted


def slug(text: str) -> str:
    """A file name for a feature or scenario name: its words (any script), lower case, joined by dashes,
    then a short hash of the exact name, so names that differ only in case, punctuation or script
    ("Stop!" and "Stop?", two Chinese names) get files of their own."""
    words = re.sub(r"[\W_]+", "-", text.lower()).strip("-")[:60].strip("-")
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{words}-{digest}" if words else digest


def transcript_path(directory: str | Path, feature: str, scenario: str) -> Path:
    """Where write_json puts a scenario's transcript in the run folder (known before it is written);
    one file per distinct feature and scenario name."""
    return Path(directory) / slug(feature) / f"{slug(scenario)}.json"


def findings(checked: Checked) -> list[dict]:
    return [{"connection": tr.name, "rule": v.rule, "seq": v.seq, "message": v.message, "severity": v.severity,
             "context": v.context} for tr, found in checked for v in found]


def write_json(path: Path, feature: str, scenario: str, status: str, checked: Checked,
               dialect: str = Settings.dialect) -> Path:
    """The scenario's transcript file; `python -m support.recheck` re-judges it later."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_one_item_a_line({
        "feature": feature, "scenario": scenario, "status": status, "dialect": dialect,
        "modes": {tr.name: tr.mode for tr, _ in checked},
        "violations": findings(checked),
        "connections": {tr.name: to_json(tr, raw_limit=RAW_LIMIT) for tr, _ in checked},
    }))
    return path


def _one_item_a_line(document: dict) -> str:
    """The document as JSON with each finding and each entry on a line of its own, for people reading
    the file; every line is encoded by json's C encoder (an indented dump runs json's Python one)."""
    def items(values: list, indent: str) -> str:
        return "[]" if not values else "[\n" + ",\n".join(indent + json.dumps(v) for v in values) + "\n" + indent[:-1] + "]"

    def value(key: str, v) -> str:
        if key == "violations":
            return items(v, "  ")
        if key == "connections":
            return "{\n" + ",\n".join(f"  {json.dumps(name)}: {items(entries, '   ')}" for name, entries in v.items()) + "\n }"
        return json.dumps(v)
    return "{\n" + ",\n".join(f" {json.dumps(k)}: {value(k, v)}" for k, v in document.items()) + "\n}\n"
