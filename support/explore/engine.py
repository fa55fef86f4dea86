"""What both explorations share: the seed, Hypothesis's settings and example database, and the budget."""
from __future__ import annotations

import random
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, Verbosity, settings as hsettings
from hypothesis.database import DirectoryBasedExampleDatabase

from support.watchdog import ScenarioOverBudget


def choose_seed(settings) -> int:
    return int(settings.explore_seed) if settings.explore_seed else random.randrange(2**32)


def hypothesis_settings(settings, run_folder: Path, max_examples: int, **extra) -> hsettings:
    """Quiet (stdout belongs to behave's formatters), no deadline (the socket waits have theirs), the example
    database in the run folder (or explore_database, to replay an earlier run's failures)."""
    database = DirectoryBasedExampleDatabase(settings.explore_database or str(Path(run_folder) / "hypothesis"))
    return hsettings(max_examples=max(1, max_examples), database=database, deadline=None,
                     suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet, print_blob=False,
                     phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink), **extra)


class Budget:
    """explore_budget seconds (and never the whole scenario_budget): past it, every call does nothing, so
    Hypothesis ends at once and what was found is reported. The watchdog's stop is kept and raised after."""

    def __init__(self, settings):
        self.started = time.monotonic()
        self.deadline = self.started + min(settings.explore_budget, 0.8 * settings.scenario_budget)
        self.out_of_time = False
        self.stopped: ScenarioOverBudget | None = None

    def over(self) -> bool:
        if time.monotonic() > self.deadline or self.stopped is not None:
            self.out_of_time = True
        return self.out_of_time

    def run(self, action):
        """action() unless over budget; a watchdog stop ends the exploration instead of failing one example."""
        if self.over():
            return None
        try:
            return action()
        except ScenarioOverBudget as exc:
            self.stopped = exc
            self.out_of_time = True
            return None

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def raise_if_stopped(self) -> None:
        if self.stopped is not None:
            raise self.stopped
