"""Load: many customers chat at the same time; their answers, their speed and their protocol are checked."""
from __future__ import annotations

from behave import given, then

from support import load, report, transcript_file


async def _run(context, count: int, speech: bool) -> None:
    path = transcript_file.transcript_path(context.run_folder, context.scenario.feature.name, context.scenario.name)
    context.load_report = path.with_name(path.stem + ".load.json")
    context.load_run = await load.run_scenario(context.settings, context.dialect, count, speech, context.load_report,
                                               say=report.say)   # stderr: stdout belongs to behave's formatters
    # The few broken or failed conversations join the scenario's connections: the closing check judges
    # them again and the scenario's transcript file keeps them whole, for `python -m support.recheck`.
    context.world.sessions.update((c.name, c.session) for c in context.load_run.kept())


@given("{count:d} customers chat at the same time")
async def step_customers_chat(context, count):
    """Each customer opens its own connection, asks chat_prompt and waits for both completion flags, all at once."""
    await _run(context, count, speech=False)


@given("{count:d} customers chat at the same time and hear the answers read aloud")
async def step_customers_chat_aloud(context, count):
    """As many customers chat at once with speech switched on."""
    await _run(context, count, speech=True)


def _load_run(context) -> load.LoadRun:
    run = getattr(context, "load_run", None)
    assert run is not None, "no customers have chatted in this scenario (start with: Given N customers chat ...)"
    return run


@then("every answer arrives complete")
def step_every_answer_complete(context):
    """Every customer connected and got both completion flags, text_completed and a non-empty reply."""
    problem = load.not_all_complete(_load_run(context))
    assert problem is None, f"{problem}\nload report: {context.load_report}"


def _within(context, metric: str, what: str, percent: float, limit: float) -> None:
    ok, verdict = load.timing(_load_run(context), context.settings, metric, what, percent, limit)
    assert ok, f"{verdict}\nload report: {context.load_report}"
    report.say(f"    {verdict}")


@then("{percent:g}% of them see the first words within {limit:g} ms")
def step_first_words_within(context, percent, limit):
    """At least that share of customers got the first text piece within the limit after asking."""
    _within(context, "time_to_first_text", "saw the first words", percent, limit)


@then("{percent:g}% of them hear the first sounds within {limit:g} ms")
def step_first_sounds_within(context, percent, limit):
    """At least that share of customers got the first audio piece within the limit after asking."""
    _within(context, "time_to_first_audio", "heard the first sounds", percent, limit)


@then("every conversation keeps the protocol")
def step_every_conversation_keeps_the_protocol(context):
    """Every customer's whole conversation passed every protocol rule, as in the functional scenarios."""
    run = _load_run(context)
    problem = load.protocol_broken(run)
    assert problem is None, f"{problem}\nload report: {context.load_report}"
    report.say(f"    every one of {len(run.customers)} conversations kept every protocol rule")
