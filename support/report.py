"""What a scenario leaves behind: the event flow printed, and the whole transcript as JSON."""
from __future__ import annotations

import json
import re
from pathlib import Path

from support import rules
from support.transcript import Transcript


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80] or "scenario"


def flow_lines(transcripts: list[Transcript]) -> list[str]:
    return [f"    {tr.name}: {tr.flow() or '(nothing received)'}" for tr in transcripts]


def notices(checked: list[tuple[Transcript, list[rules.Violation]]]) -> list[str]:
    """The notices among already-checked results (reported, not failing)."""
    return [f"    notice on {tr.name}: {v.message} (#{v.seq})"
            for tr, found in checked for v in found if v.severity == rules.NOTICE]


def write_json(directory: str, feature: str, scenario: str, status: str, transcripts: list[Transcript],
               found: list[rules.Violation]) -> Path:
    path = Path(directory) / slug(feature) / f"{slug(scenario)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "feature": feature, "scenario": scenario, "status": status,
        "violations": [{"rule": v.rule, "seq": v.seq, "message": v.message, "severity": v.severity} for v in found],
        "connections": {tr.name: tr.to_json() for tr in transcripts},
    }, indent=1))
    return path
