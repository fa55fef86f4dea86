"""behave hooks: gating, the reference backend's life, per-scenario cleanup and the whole-transcript check."""
from __future__ import annotations

import dataclasses
import os

from behave.model import Step

from support import config, gating, html_report, matchers, report, tokens, transcript_file
from support.backend_process import BackendStartError, end_with_this_process, start_reference
from support.session import probe
from support.vocabulary import Dialect, UnknownDialect
from support.watchdog import Watchdog
from support.world import World


say = report.say   # notes for humans go to stderr: stdout belongs to behave's formatters


def before_all(context):
    context.backend = None
    try:
        settings = config.load(context.config.userdata, dict(context.config.userdata_defines or []))
        dialect = Dialect.load(settings.dialect)   # the settings know no dialects: a name is checked here
    except (config.ConfigError, UnknownDialect) as exc:
        context.abort(reason=f"configuration error: {exc}")   # the runner prints the reason, once
        return
    context.mode = gating.run_mode(settings, os.environ)
    if context.mode != "off" and (notice := tokens.secret_notice(settings)):
        say(notice)
    context.say = say   # for steps: one way to print
    context.watchdog = Watchdog()
    unmet = gating.backend_required_but_off(context.mode, settings.require_backend, os.environ)
    if unmet:
        context.mode = "refused"   # not "off": after_all's how-to note would repeat the reason
        context.abort(reason=unmet)
        return
    if context.mode != "off":
        try:
            context.run_folder = report.open_run_folder(settings.reports_dir)
        except OSError as exc:
            message = f"reports_dir={settings.reports_dir!r} cannot be written ({exc}); choose a writable folder"
            context.abort(reason=f"configuration error: {message}")
            return
    if context.mode == "off":
        say(f"NOTE: {gating.HOW_TO_ENABLE}")
    elif context.mode == "reference":
        try:
            context.backend = start_reference(settings)
        except BackendStartError as exc:   # asked for what the backend cannot be (an unknown fault): one line
            report.discard_run_folder(context.run_folder)
            context.abort(reason=f"configuration error: {exc}")
            return
        end_with_this_process(context.backend, say)   # atexit, SIGTERM, SIGHUP: no orphaned backend
        context.watchdog.before_exit = context.backend.stop
        settings = dataclasses.replace(settings, ws_url=context.backend.url)
        say(f"using the bundled reference backend at {settings.ws_url} (dialect {settings.dialect})")
    else:
        problem = probe(settings, settings.connect_timeout)
        if problem:
            report.discard_run_folder(context.run_folder)   # reports/latest stays on the last run that ran
            context.abort(reason=f"cannot reach the backend: {problem}")   # the problem names its cause and what to do
            return
        say(f"testing the live backend at {settings.ws_url} (dialect {settings.dialect})")
    if context.mode != "off":
        report.point_latest_at(context.run_folder)
        say(f"transcripts of this run: {context.run_folder}")
    context.settings = settings
    context.dialect = dialect


def before_scenario(context, scenario):
    can_restart = context.backend is not None or bool(context.settings.restart_command)
    reason = gating.skip_reason(context.mode, scenario.effective_tags, can_restart, context.settings.tool_name)
    if reason:
        scenario.skip(reason=reason)
        if reason != gating.HOW_TO_ENABLE:   # that one is said once for the whole run
            say(f"SKIPPED {scenario.name!r}: {reason}")
        return
    context.world = World(context.settings, context.dialect, backend=context.backend)
    context.protocol_checked = None
    add_closing_step(scenario)
    context.watchdog.arm(scenario.name, context.settings.scenario_budget)


def after_step(context, step):
    """A PyHamcrest failure opens with the finding, not with what the matcher wanted: JUnit and Allure
    show the exception's first line (behave has built its own message already; after_scenario fixes that)."""
    if step.status.has_failed() and isinstance(step.exception, AssertionError):
        step.exception.args = (matchers.finding_first(str(step.exception)),)


def add_closing_step(scenario):
    """Append the whole-transcript check as the scenario's last step.

    behave shows and runs a scenario's steps only after before_scenario, so the added step is run,
    printed and reported like a written one; it is skipped when an earlier step failed.
    """
    if scenario.steps and scenario.steps[-1].name == report.CLOSING_STEP:
        return   # already there (the scenario ran before in this process)
    scenario.steps.append(Step(scenario.filename, scenario.line, "Then", "then", report.CLOSING_STEP))


def after_scenario(context, scenario):
    world = getattr(context, "world", None)
    context.world = None
    if world is None:
        return
    try:
        finish_scenario(context, scenario, world)
    finally:
        context.watchdog.disarm()   # only now: the budget covers the check and the report too


def finish_scenario(context, scenario, world):
    world.close_all_now()
    checked = context.protocol_checked   # set by the closing step when it ran
    closing_step_ran = checked is not None
    if not closing_step_ran:
        checked = report.check_all(world.transcripts(), strict=context.settings.strict_events)
    for line in report.flow_lines(world.transcripts()) + report.notices(checked):
        say(line)
    status = scenario.status.name
    path = transcript_file.transcript_path(context.run_folder, scenario.feature.name, scenario.name)
    transcript_file.write_json(path, scenario.feature.name, scenario.name, status, checked, context.settings.dialect)
    report.attach(scenario, path, checked, status)
    html_report.attach_to_allure(scenario)
    explanation = report.explain_broken(checked)
    if explanation and not closing_step_ran:
        say(f"    also found by the whole-transcript check:\n{explanation}")   # more clues, same failure
    if scenario.status.has_failed() and point_failure_at_transcript(scenario, path):
        say(f"    transcript: {path}")


def point_failure_at_transcript(scenario, path) -> bool:
    """Name the transcript file in the failing step's message, for JUnit (written after this hook).

    True if the message lacked it (the closing step names it itself; other steps do not).
    """
    for step in scenario.all_steps:
        message = getattr(step, "error_message", None)
        if step.status.has_failed() and message:
            head, colon, rest = message.partition(": ")   # behave's "ASSERT FAILED: " before the exception's text
            message = step.error_message = f"{head}{colon}{matchers.finding_first(rest)}" if colon else message
            if str(path) in message:
                return False
            step.error_message = f"{message}\ntranscript: {path}"
            return True
    return False


def after_all(context):
    if getattr(context, "mode", None) == "off":
        say(f"NOTE: {gating.HOW_TO_ENABLE}")
    html_report.write_allure_categories(context.config)
    if context.backend is not None:
        context.backend.stop()
