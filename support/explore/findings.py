"""Failures found by exploration, grouped by the path that was changed and the outcome: each group
is one defect, reported once with the smallest request that shows it, ready for a bug ticket.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from support import transcript_file
from support.explore.cases import REQUEST, VALID, group_path
from support.explore.probe import ProbeResult
from support.secrets import mask
from support.transcript_view import around, clip, dump

EXPLORE_JSON = "explore.json"   # in the run folder: one entry per distinct failure, for a pipeline to file


class ExploreFailure(AssertionError):
    """One distinct failure. Each group gets a subclass of its own, so that Hypothesis tells the groups
    apart (it separates failures by exception type) and shrinks each one."""


@dataclass
class Finding:
    result: ProbeResult        # the smallest example of the group so far
    seen: int = 1              # how many generated frames showed it
    first_example: int = 0     # the example number that first showed it
    also: tuple = ()           # paths whose change showed it too, when an unchanged request shows it already

    @property
    def size(self) -> int:
        return len(self.result.case.wire)


UNCHANGED = "(unchanged)"   # the group path of a request sent as it was generated, with nothing changed


def key_of(result: ProbeResult) -> tuple[str, str]:
    case = result.case
    unchanged = case.family == REQUEST and case.change == VALID
    return UNCHANGED if unchanged else group_path(case.path), result.outcome.name


class Findings:
    def __init__(self):
        self.groups: dict[tuple[str, str], Finding] = {}
        self.examples = 0          # frames judged
        self._classes: dict[tuple[str, str], type[ExploreFailure]] = {}

    def add(self, result: ProbeResult) -> tuple[str, str] | None:
        """Count a judged frame; a failure joins its group (kept if it is the group's smallest). Its key, or None."""
        self.examples += 1
        if result.outcome.ok:
            return None
        key = key_of(result)
        found = self.groups.get(key)
        if found is None:
            self.groups[key] = Finding(result, first_example=self.examples)
        else:
            found.seen += 1
            if len(result.case.wire) < found.size:
                found.result = result
        return key

    def failure(self, key: tuple[str, str]) -> ExploreFailure:
        """The exception Hypothesis sees for a group (one class per group)."""
        if key not in self._classes:
            self._classes[key] = type(f"ExploreFailure{len(self._classes) + 1}", (ExploreFailure,), {})
        path, outcome = key
        return self._classes[key](f"{outcome} at {path or '(the whole frame)'}")

    def __bool__(self) -> bool:
        return bool(self.groups)

    def sorted(self) -> list[Finding]:
        """The distinct failures, first found first. An outcome that a request with nothing changed shows is
        one defect, whatever else was changed: the groups of that outcome fold into it (their paths kept)."""
        unchanged = {outcome: f for (path, outcome), f in self.groups.items() if path == UNCHANGED}
        out = []
        for (path, outcome), finding in self.groups.items():
            if path == UNCHANGED:
                folded = [p for (p, o) in self.groups if o == outcome and p != UNCHANGED]
                out.append(Finding(finding.result, finding.seen + sum(self.groups[(p, outcome)].seen for p in folded),
                                   finding.first_example, tuple(folded)))
            elif outcome not in unchanged:
                out.append(finding)
        return sorted(out, key=lambda f: f.first_example)

    # -- reporting ---------------------------------------------------------------------------------
    def write(self, folder: Path, what: str, feature: str, dialect: str) -> list[dict]:
        """Each finding's transcript as a file in folder; returns the explore.json entries."""
        entries = []
        for i, finding in enumerate(self.sorted(), start=1):
            r = finding.result
            path = folder / f"{i}-{transcript_file.slug(r.outcome.name)}.json"
            transcript_file.write_json(path, feature, f"{what}: finding {i}", "failed",
                              [(r.transcript, r.violations)], dialect)
            entries.append({
                "path": r.case.path, "family": r.case.family, "change": r.case.change,
                "value": _jsonable(r.case.shown_value()), "outcome": r.outcome.name, "detail": mask(r.outcome.detail),
                "request": _jsonable(r.case.frame) if not isinstance(r.case.frame, bytes) else repr(r.case.frame),
                "wire": mask(clip(_text(r.case.wire), 4000)), "seen": finding.seen, "also_at": list(finding.also),
                "where": "with nothing changed" if key_of(r)[0] == UNCHANGED else f"at {r.case.path or '(the whole frame)'}",
                "transcript": str(path)})
        return entries

    def report(self, entries: list[dict], what: str, seed: int) -> str:
        """The text a team pastes into a bug ticket: each distinct failure once, smallest request first."""
        found = self.sorted()
        lines = [f"{len(found)} distinct failure(s) in {self.examples} {what} (seed {seed}); "
                 f"grouped by the path changed and what happened:"]
        for i, (finding, entry) in enumerate(zip(found, entries), start=1):
            r = finding.result
            lines += [
                "",
                f"{i}. {r.outcome.name}, {entry['where']} ({finding.seen} frame(s) showed it, shrinking included)",
                f"   sent:     {r.case.describe()}",
                f"   request:  {entry['wire'] if len(entry['wire']) < 600 else entry['wire'][:600] + '…'}",
                f"   happened: {mask(r.outcome.detail)}",
                f"   transcript: {entry['transcript']}",
            ]
            if finding.also:
                lines.append(f"   also with a change at: {', '.join(finding.also[:12])}"
                             + (f" and {len(finding.also) - 12} more" if len(finding.also) > 12 else ""))
            lines.append(around(r.transcript, r.outcome.seq, before=4, after=2) if r.outcome.seq is not None
                         else dump(r.transcript, limit=12))
        return "\n".join(lines)


def _text(wire: str | bytes) -> str:
    return wire if isinstance(wire, str) else repr(wire)


def _jsonable(value):
    """A value as it can be written to JSON: text that is not (a lone surrogate, deep nesting) goes as its repr."""
    try:
        json.dumps(value, allow_nan=False)
        text = json.dumps(value)
        return value if len(text) < 20_000 else clip(text, 20_000)
    except (TypeError, ValueError, RecursionError):
        return repr(value)


def write_explore_json(run_folder: Path, entries: list[dict]) -> Path:
    """Add entries to the run's explore.json (both exploring scenarios write there)."""
    path = Path(run_folder) / EXPLORE_JSON
    existing = json.loads(path.read_text()) if path.is_file() else []
    path.write_text(json.dumps(existing + entries, indent=1, ensure_ascii=True))
    return path
