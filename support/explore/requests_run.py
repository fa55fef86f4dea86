"""Drive the exploration of single requests: the sweep, then Hypothesis's search, which shrinks every
new failure to the smallest frame that still shows it.

Frames are judged explore_connections at a time, each on its own connection: a Hypothesis example
is a batch of that many frames. Hypothesis sees one exception per batch, of the class of the first
failure whose group the sweep did not already show, so it shrinks each new group once; every
failure met on the way, while searching or shrinking, is recorded in its group and the smallest kept.
The budget (explore_examples frames, explore_budget seconds) bounds generating; past the seconds,
the remaining calls do nothing and what was found is reported.
"""
from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from pathlib import Path

from hypothesis import given, seed, strategies as st
from hypothesis.errors import HypothesisException

from support.explore import strategies
from support.explore.engine import Budget, hypothesis_settings
from support.explore.findings import UNCHANGED, ExploreFailure, Findings
from support.explore.probe import run_probe
from support.session import run_blocking
from support.tokens import mint


@dataclass
class Exploration:
    """What one exploring run was: its seed, how far it got, and what it found."""

    seed: int
    findings: Findings
    seconds: float = 0.0
    out_of_time: bool = False


def explore_requests(settings, dialect, run_folder: Path, seed_value: int) -> Exploration:
    budget = Budget(settings)
    token = mint(settings, "valid")
    findings = Findings()
    width = settings.explore_connections
    limit = settings.conversation_limit + settings.error_timeout + 5   # one batch at worst: a probe waits error_timeout too

    def judge(cases) -> list:
        async def batch():
            return await asyncio.gather(*(run_probe(settings, dialect, token, case, f"generated frame {i + 1}")
                                          for i, case in enumerate(cases)))
        results = budget.run(lambda: run_blocking(batch(), limit, "a batch of generated frames")) or []
        return [findings.add(r) for r in results]   # group keys (None: kept its promise)

    swept = strategies.sweep(settings, dialect)[:settings.explore_examples]
    for i in range(0, len(swept), width):
        judge(swept[i:i + width])
    known = set(findings.groups)   # shown by the sweep already, at their smallest: not worth shrinking again

    remaining = settings.explore_examples - len(swept)
    if remaining > 0 and not budget.over():
        @hypothesis_settings(settings, run_folder, math.ceil(remaining / width))
        @seed(seed_value)
        @given(st.lists(strategies.cases(settings, dialect), min_size=width, max_size=width))
        def search(cases):
            for key in judge(cases):
                if key is not None and key not in known and (UNCHANGED, key[1]) not in findings.groups:
                    raise findings.failure(key)   # new, and not one an unchanged request shows: worth shrinking

        try:
            search()
        except (ExploreFailure, HypothesisException, BaseExceptionGroup) as exc:
            _reraise_our_bugs(exc)
    budget.raise_if_stopped()
    return Exploration(seed_value, findings, budget.seconds, budget.out_of_time)


def _reraise_our_bugs(exc: BaseException) -> None:
    """Failures of the backend are in the findings; anything else is a bug of the suite and must show."""
    inner = list(exc.exceptions) if isinstance(exc, BaseExceptionGroup) else [exc]
    for e in inner:
        if isinstance(e, BaseExceptionGroup):
            _reraise_our_bugs(e)
        elif not isinstance(e, (ExploreFailure, HypothesisException)):
            raise e
        elif isinstance(e, HypothesisException) and e.__cause__ is not None and \
                not isinstance(e.__cause__, (ExploreFailure, HypothesisException)):
            raise e.__cause__
