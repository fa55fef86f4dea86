"""behave's own runner, made to tell every output the truth about a run that stops early.

- stdout belongs to the formatters (`behave -f json | python -m json.tool`): behave 1.3.3 prints
  "USING RUNNER: …" (behave issue #1319) and "ABORTED: By user." there; both are dropped, and behave's
  summary moves to stderr when a machine-read format writes to stdout (in --dry-run too, where no hook runs).
- An abort keeps its reason (``aborted_because(config)``) for the JUnit reporter (an ``<error>`` per test
  not run) and the HTML report (a banner). A run stopped before its first feature (a configuration
  error, the CI guard, an unreachable backend) prints only its reason, once: no "ABORTED", no summary
  counting untested features.
- JUnit shows skipped scenarios with their reason (support/junit_report.py).

behave.ini names this runner; `pip install -r requirements.txt` installs the project in editable
mode (`-e .`), so a plain `behave` can import it before it puts the project folder on sys.path.
"""
from __future__ import annotations

import sys

from behave.reporter.junit import JUnitReporter as BehaveJUnitReporter
from behave.reporter.summary import AbstractSummaryReporter
from behave.runner import Context
from behave.runner import Runner as BehaveRunner

from support import report
from support.junit_report import JUnitReporter

DROPPED = ("USING RUNNER:", "\nABORTED: By user.")   # behave's own notes that are no formatter's output
DIVERTED = ("HOOK-ERROR in ",)   # behave's notes that matter: to stderr (a hook's error, mid JSON, broke it)
_REASON = "chat_suite_abort_reason"


def aborted_because(config) -> str | None:
    """Why the run was aborted, or None (it was not)."""
    return getattr(config, _REASON, None)


class _DropNotes:
    """stdout without behave's own note lines (print writes the text, then the newline): some dropped,
    some sent to stderr; everything else passes through."""

    def __init__(self, stream):
        self.stream = stream
        self.held: str | None = None   # where the newline after a note goes: "drop" or "divert"

    def write(self, text: str) -> int:
        if self.held and text == "\n":
            if self.held == "divert":
                report.say("")
            self.held = None
            return len(text)
        self.held = None
        if text.startswith(DROPPED):
            self.held = "drop"
            return len(text)
        if text.startswith(DIVERTED):
            print(text, end="", file=sys.__stderr__ or sys.stderr, flush=True)
            self.held = "divert"
            return len(text)
        return self.stream.write(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


class _Context(Context):
    def abort(self, reason=None):
        if self.aborted:
            return
        runner, config = self._runner, self._config
        setattr(config, _REASON, reason or "aborted")
        self._set_root_attribute("aborted", True)
        if runner.feature is None:   # before the first feature: the reason is the whole story
            config.reporters = [r for r in config.reporters if not isinstance(r, AbstractSummaryReporter)]
            if not report.just_said(str(reason)):   # a hook may have said it already: once is enough
                report.say(str(reason))
        else:
            report.say(f"ABORTED: {reason}")


class Runner(BehaveRunner):
    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self._stdout = sys.stdout
        sys.stdout = _DropNotes(sys.stdout)   # behave prints its banner right after making the runner
        report.keep_stdout_for_formatters(config)
        config.reporters = [JUnitReporter(config) if type(r) is BehaveJUnitReporter else r for r in config.reporters]

    def run_model(self, features=None):
        if self.context is not None and type(self.context) is Context:
            # made by behave's run_with_paths; only abort() differs (Context's __setattr__ would store a user value)
            object.__setattr__(self.context, "__class__", _Context)
        return super().run_model(features)

    def run(self, *args, **kwargs):
        try:
            return super().run(*args, **kwargs)
        finally:
            if isinstance(sys.stdout, _DropNotes):
                sys.stdout = self._stdout
