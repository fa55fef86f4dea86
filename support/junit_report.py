"""behave's JUnit reporter, telling CI what a run really did.

- A scenario the suite skipped (no backend, no restart command, …) is a ``<skipped message="reason">``;
  scenarios left out by --tags stay out, as behave does (unless show_skipped).
- A scenario an aborted run never reached is an ``<error type="RunAborted" message="reason">``: behave
  lists it as "untested" with failures="0", which Jenkins and GitLab show as green. Scenarios the
  run's --tags (or --name) left out are no part of it and stay out.
"""
from __future__ import annotations

from xml.etree import ElementTree

from behave.model_type import Status
from behave.reporter.junit import CDATA
from behave.reporter.junit import JUnitReporter as BehaveJUnitReporter


def _aborted(config) -> str | None:
    from support.quiet_runner import aborted_because   # the runner imports this module
    return aborted_because(config)


class JUnitReporter(BehaveJUnitReporter):
    def __init__(self, config):
        super().__init__(config)
        self._show_skipped_always = self.show_skipped_always

    def _not_reached(self, scenario) -> bool:
        return scenario.status == Status.untested and _aborted(self.config) is not None

    def _shows(self, scenario) -> bool:
        return bool(getattr(scenario, "skip_reason", None)) or (
            self._not_reached(scenario) and scenario.should_run(self.config))

    def feature(self, feature):
        self.show_skipped_always = self._show_skipped_always or any(self._shows(s) for s in feature.walk_scenarios())
        try:
            super().feature(feature)
        finally:
            self.show_skipped_always = self._show_skipped_always

    def _process_scenario(self, scenario, report):
        if self._not_reached(scenario) and not scenario.should_run(self.config):
            return   # not selected: behave would list it untested, with no verdict
        self.show_skipped_always = self._show_skipped_always or self._shows(scenario)
        before = len(report.testcases)
        super()._process_scenario(scenario, report)
        if len(report.testcases) == before:
            return
        case = report.testcases[-1]
        skipped = case.find("skipped")
        reason = _aborted(self.config)
        if scenario.status == Status.untested and reason is not None:
            if skipped is not None:
                case.remove(skipped)
                report.counts_skipped -= 1
            error = ElementTree.Element("error", {"type": "RunAborted", "message": f"the run was aborted: {reason}"})
            error.append(CDATA(f"\nThe run stopped before this scenario ran: {reason}\n"))
            case.insert(0, error)
            report.counts_errors += 1
        elif skipped is not None and getattr(scenario, "skip_reason", None):
            skipped.set("message", str(scenario.skip_reason))
