"""How exploration groups what it finds: by path and outcome, the smallest kept, and an outcome that a request
with nothing changed shows read as one defect."""
from __future__ import annotations

from support.explore.cases import REQUEST, VALID, WRONG_TYPE, Case
from support.explore.findings import UNCHANGED, Findings
from support.explore.probe import ProbeResult
from support.verdicts import Outcome
from support.transcript import Transcript


def result(path: str, outcome: str, frame: dict, change: str = WRONG_TYPE) -> ProbeResult:
    return ProbeResult(Case(REQUEST, frame, path, change, 0), Outcome(outcome, "what happened"), Transcript("t"))


def test_one_group_per_path_and_outcome_with_its_smallest_frame():
    found = Findings()
    found.add(result("/a", "closed with code 1000", {"a": 0, "padding": "xxxxxxxx"}))
    found.add(result("/a", "closed with code 1000", {"a": 0}))
    found.add(result("/b", "closed with code 1000", {"b": 0}))
    found.add(ProbeResult(Case(REQUEST, {}), Outcome("answered", ""), Transcript("t")))
    assert found.examples == 4
    [a, b] = found.sorted()
    assert (a.result.case.frame, a.seen) == ({"a": 0}, 2) and b.result.case.path == "/b"


def test_array_positions_are_one_path():
    found = Findings()
    found.add(result("/p/0/text", "answer then error", {"p": [{"text": 0}]}))
    found.add(result("/p/2/text", "answer then error", {"p": [{}, {}, {"text": 0}]}))
    assert len(found.sorted()) == 1


def test_an_outcome_shown_with_nothing_changed_is_one_defect_wherever_else_it_shows():
    found = Findings()
    found.add(result("/a", "answer then error", {"a": 0}))
    found.add(result("", "answer then error", {"a": 1}, change=VALID))
    found.add(result("/b", "answer then error", {"b": 0}))
    found.add(result("/c", "no answer in time", {"c": 0}))
    [unchanged, other] = found.sorted()
    assert (unchanged.result.case.change, set(unchanged.also), unchanged.seen) == (VALID, {"/a", "/b"}, 3)
    assert other.result.outcome.name == "no answer in time"
    assert (UNCHANGED, "answer then error") in found.groups


def test_each_group_is_its_own_exception_for_hypothesis():
    found = Findings()
    a, b = found.failure(("/a", "x")), found.failure(("/b", "x"))
    assert type(a) is not type(b) and type(found.failure(("/a", "x"))) is type(a)
    assert str(a) == "x at /a"
