"""Load: many customers chat at the same time; their answers, their speed and their protocol are checked."""
from __future__ import annotations

from behave import given, then

from support import load, load_results, report, verdicts


def _say(context, text: str) -> None:
    report.say(text)   # stderr: stdout belongs to behave's formatters


async def _run(context, count: int, speech: bool) -> None:
    customers, note = load.chosen(context.settings, "load_customers", count)
    if note:
        _say(context, f"load: {note}")
    connecting = context.settings.load_connecting
    assert connecting > 0, f"setting load_connecting={connecting}: a positive number of handshakes at once"
    run = await load.run_customers(context.settings, context.dialect, int(customers), speech=speech,
                                   connecting=connecting, limit_s=load.time_limit(context.settings.scenario_budget),
                                   progress=lambda line: _say(context, line))
    context.load_run = run
    # The few broken or failed conversations join the scenario's connections: the closing check judges
    # them again and the scenario's transcript file keeps them whole, for `python -m support.recheck`.
    for customer in run.kept():
        context.world.sessions[customer.name] = customer.session
    scenario = context.scenario
    path = report.transcript_path(context.run_folder, scenario.feature.name, scenario.name)
    context.load_report = load.write_report(path.with_name(path.stem + ".load.json"), run)
    for line in run.lines():
        _say(context, line)
    _say(context, f"    load report: {context.load_report}")


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


def _where(context) -> str:
    return f"\nload report: {context.load_report}"


@then("every answer arrives complete")
def step_every_answer_complete(context):
    """Every customer connected and got both completion flags, text_completed and a non-empty reply."""
    run = _load_run(context)
    failed = run.failed()
    if failed:
        shown = "\n".join(f"  {c.name}: {(c.failure or c.incomplete).splitlines()[0]}" for c in failed[:5])
        more = f"\n  … and {len(failed) - 5} more" if len(failed) > 5 else ""
        raise AssertionError(f"{len(failed)} of {len(run.customers)} customers did not get a complete answer:\n"
                             f"{shown}{more}{_where(context)}")


def _within(context, metric: str, what: str, percent: float, limit: float) -> None:
    run = _load_run(context)
    percent, note_p = load.chosen(context.settings, "load_percentile", percent)
    key = "load_first_text_ms" if metric == "time_to_first_text" else "load_first_audio_ms"
    limit, note_l = load.chosen(context.settings, key, limit)
    values = run.values(metric)
    total, need, ok = len(values), load.needed(percent, len(values)), load.within(values, limit)
    p = load_results.percentile([v for v in values if v is not None], percent)
    notes = "; ".join(n for n in (note_p, note_l) if n)
    verdict = (f"{ok} of {total} customers ({100.0 * ok / max(total, 1):.1f}%) {what} within {limit:g} ms; "
               f"{percent:g}% needed ({need}); p{percent:g} = {load_results.fmt(p)}" + (f" ({notes})" if notes else ""))
    if ok >= need:
        _say(context, f"    {verdict}")
        return
    slowest = sorted((c for c in run.customers), key=lambda c: -(c.first(metric) or float("inf")))[:5]
    shown = ", ".join(f"{c.name} {load_results.fmt(c.first(metric)) if c.first(metric) is not None else 'never'}"
                      for c in slowest)
    raise AssertionError(f"only {verdict}\nslowest: {shown}{_where(context)}")


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
    broken = run.broken()
    if not broken:
        _say(context, f"    every one of {len(run.customers)} conversations kept every protocol rule")
        return
    counts: dict[str, int] = {}
    for c in broken:
        for name in {v.rule for v in c.violations}:
            counts[name] = counts.get(name, 0) + 1
    rules_line = ", ".join(f"[{name}] on {n}" for name, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    explained = "\n".join(verdicts.explain(c.violations, c.transcript) if c.transcript is not None else
                          "\n".join(str(v) for v in c.violations) for c in broken[:3])
    more = f"\n… and {len(broken) - 3} more conversations" if len(broken) > 3 else ""
    raise AssertionError(f"{len(broken)} of {len(run.customers)} conversations broke the protocol ({rules_line}):\n"
                         f"{explained}{more}{_where(context)}")
