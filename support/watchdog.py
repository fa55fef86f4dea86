"""A per-scenario budget, so a run never hangs CI even if a wait somewhere forgets its timeout.

SIGALRM raises ScenarioOverBudget in the main thread (where behave runs steps): the step fails
with a message naming the budget. If even that cannot unwind the scenario, a last-resort timer
ends the process after a grace period with a message, so CI sees a failure instead of a hang;
``before_exit`` (the reference backend's stop) runs first, as os._exit runs no other cleanup.
"""
from __future__ import annotations

import os
import signal
import sys
import threading


class ScenarioOverBudget(AssertionError):
    pass


class Watchdog:
    GRACE = 15.0

    def __init__(self, before_exit=None):
        self.before_exit = before_exit
        self._hard: threading.Timer | None = None
        self.available = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()

    def arm(self, name: str, budget: float) -> None:
        self.disarm()

        def soft(signum, frame):
            raise ScenarioOverBudget(f"watchdog: scenario {name!r} exceeded its budget of {budget:g} s "
                                     "(scenario_budget); it was stopped and counted as failed")

        def hard():
            try:
                sys.stderr.write(f"\nwatchdog: scenario {name!r} did not stop {self.GRACE:g} s after its budget of "
                                 f"{budget:g} s; ending the run as failed\n")
                sys.stderr.flush()
            except OSError:
                pass   # a broken stderr must not keep us from exiting
            if self.before_exit:
                try:
                    self.before_exit()
                except BaseException:
                    pass   # exit anyway: a hang is what we are ending
            os._exit(3)

        if self.available:
            signal.signal(signal.SIGALRM, soft)
            signal.setitimer(signal.ITIMER_REAL, budget)
        self._hard = threading.Timer(budget + self.GRACE, hard)
        self._hard.daemon = True
        self._hard.start()

    def disarm(self) -> None:
        if self.available:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if self._hard:
            self._hard.cancel()
            self._hard = None
