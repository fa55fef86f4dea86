"""behave hooks: gating, the reference backend's life, per-scenario cleanup and the whole-transcript check."""
from __future__ import annotations

import dataclasses
import os
import sys

from support import config, gating, html_report, report, rules
from support.backend_process import start_reference
from support.session import probe
from support.vocabulary import Dialect
from support.watchdog import Watchdog
from support.world import World


class ProtocolViolation(AssertionError):
    """The scenario's whole transcript broke a protocol rule (checked after every scenario)."""


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def before_all(context):
    context.backend = None
    try:
        settings = config.load(context.config.userdata, dict(context.config.userdata_defines or []))
    except config.ConfigError as exc:
        say(f"configuration error: {exc}")
        context.abort(reason=str(exc))
        return
    context.mode = gating.run_mode(settings, os.environ)
    context.watchdog = Watchdog()
    if context.mode == "off":
        say(f"NOTE: {gating.HOW_TO_ENABLE}")
    elif context.mode == "reference":
        context.backend = start_reference(settings)
        settings = dataclasses.replace(settings, ws_url=context.backend.url)
        say(f"using the bundled reference backend at {settings.ws_url} (dialect {settings.dialect})")
    else:
        problem = probe(settings, settings.connect_timeout)
        if problem:
            message = f"cannot reach the backend: {problem}. Is the backend running? docker-compose up -d backend"
            say(message)
            context.abort(reason=message)
            return
        say(f"testing the live backend at {settings.ws_url} (dialect {settings.dialect})")
    context.settings = settings
    context.dialect = Dialect.load(settings.dialect)


def before_scenario(context, scenario):
    can_restart = context.backend is not None or bool(context.settings.restart_command)
    reason = gating.skip_reason(context.mode, scenario.effective_tags, can_restart)
    if reason:
        scenario.skip(reason=reason)
        if reason != gating.HOW_TO_ENABLE:   # that one is said once for the whole run
            say(f"SKIPPED {scenario.name!r}: {reason}")
        return
    context.world = World(context.settings, context.dialect)
    context.watchdog.arm(scenario.name, context.settings.scenario_budget)


def after_scenario(context, scenario):
    world = getattr(context, "world", None)
    context.world = None
    if world is None:
        return
    context.watchdog.disarm()
    world.close_all_now()
    transcripts = world.transcripts()
    checked = [(tr, rules.check(tr, strict=context.settings.strict_events)) for tr in transcripts]
    for line in report.flow_lines(transcripts) + report.notices(checked):
        print(line)
    path = report.write_json(context.settings.reports_dir, scenario.feature.name, scenario.name,
                             scenario.status.name, transcripts, [v for _, found in checked for v in found])
    broken = [(tr, bad) for tr, bad in ((tr, rules.violations_only(found)) for tr, found in checked) if bad]
    # issue 9 (HTML report, Allure): what the reports read; the closing-step change attaches the same dict.
    scenario.chat_suite = {"transcripts": transcripts, "transcripts_path": str(path),
                           "violations": [(tr.name, v) for tr, found in checked for v in found]}
    html_report.attach_to_allure(scenario)
    if not broken:
        return
    explanation = "\n".join(rules.explain(found, tr) for tr, found in broken)
    if scenario.status.name == "failed":
        print(f"    also found by the whole-transcript check:\n{explanation}")   # more clues, same failure
    else:
        raise ProtocolViolation(explanation)


def after_all(context):
    if getattr(context, "mode", None) == "off":
        say(f"NOTE: {gating.HOW_TO_ENABLE}")
    if context.backend is not None:
        context.backend.stop()
