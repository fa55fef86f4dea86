"""The closing step environment.py adds to every scenario that runs: the whole-transcript check.

Checking in a step (not in after_scenario) makes a broken rule an ordinary failed step, so
behave's summary, JSON, JUnit and any other formatter report the scenario as failed with the
rule's text. The result is kept on the context so after_scenario does not check again.
"""
from behave import then

from support import report, transcript_file


@then(report.CLOSING_STEP)
def step_whole_conversation_keeps_the_protocol(context):
    """Close every connection and check the whole transcript against every protocol rule."""
    world = context.world
    world.close_all_now()   # the transcript is complete only once every connection is closed
    context.protocol_checked = report.check_all(world.transcripts(), strict=context.settings.strict_events)
    explanation = report.explain_broken(context.protocol_checked)
    if explanation:
        scenario = context.scenario
        path = transcript_file.transcript_path(context.run_folder, scenario.feature.name, scenario.name)
        raise AssertionError(f"{explanation}\ntranscript: {path}")
