"""Cancellation: stopping an answer while it is written or read aloud, and carrying on."""
from behave import then, when

from support import verdicts
from support.matchers import assert_keeps, keeps_rule
from support.transcript_view import brief, dump


async def _stop_once_streaming(context, kind: str, chunks: int) -> None:
    world = context.world
    world.stopped.append(world.last_request())
    await world.wait_streaming(world.last_request(), chunks=chunks, kind=kind)
    await world.me.send_control("cancel")


@when("I stop the answer while it streams")
async def step_stop_while_streaming(context):
    """Once two text chunks of the answer arrived, send cancel."""
    await _stop_once_streaming(context, "text_chunk", 2)


@when("I stop the answer while it is read aloud")
async def step_stop_while_spoken(context):
    """Once audio of the answer arrives (and before it finished), send cancel."""
    await _stop_once_streaming(context, "audio_chunk", 1)


@when("I stop the answer although nothing is running")
async def step_stop_idle(context):
    """Send cancel while no request is running."""
    context.world.provoked = await context.world.me.send_control("cancel")


@when("I ask for a long answer and stop it, {times:d} times in a row")
async def step_ask_and_stop_repeatedly(context, times):
    """Ask for a long answer, cancel it mid-stream and wait for cancelled (in time) and both flags, N times."""
    context.world.stopped += [await context.world.ask_and_stop(context.settings.long_prompt) for _ in range(times)]


@then("the assistant confirms the stop in time")
async def step_confirms_stop(context):
    """A cancelled event arrives for the stopped request within error_timeout."""
    await context.world.wait_cancelled(context.world.stopped[-1])


@then("no more of the stopped answer arrives")
async def step_nothing_more(context):
    """After a quiet window, no text or audio of the stopped request arrived after cancelled."""
    await context.world.me.quiet()
    assert_keeps(context.world.transcript, keeps_rule("nothing_after_cancelled"))


@then("every stop was confirmed in time and no more of its answer arrived")
async def step_all_stops_confirmed(context):
    """Every stopped request got cancelled; after a quiet window, no text or audio of any arrived after it."""
    world = context.world
    for n in world.stopped:
        problem = verdicts.not_cancelled(world.transcript, n)
        assert problem is None, f"{problem}:\n{dump(world.transcript)}"
    await world.me.quiet()
    assert_keeps(world.transcript, keeps_rule("nothing_after_cancelled"))


@then("the stopped answer is marked as finished, once")
@then("every stopped answer is marked as finished, once")
async def step_marked_finished(context):
    """Each stopped request still gets exactly one text flag and one speech flag."""
    for n in context.world.stopped:
        await context.world.wait_finished(n)
    assert_keeps(context.world.transcript, keeps_rule("one_completion_flag_each"))


@then("nothing of the stopped answer is stored")
@then("nothing of the stopped answers is stored")
async def step_not_stored(context):
    """No db_operation_executed was sent for a stopped request."""
    assert_keeps(context.world.transcript, keeps_rule("cancelled_not_stored"))


@then("the assistant does not answer the stop")
async def step_no_answer(context):
    """Nothing arrives after a cancel with nothing running, until a quiet window has passed."""
    world = context.world
    await world.me.quiet()
    arrived = verdicts.answers_to(world.transcript, world.provoked)
    assert not arrived, "events after a cancel with nothing running:\n" + "\n".join(brief(e) for e in arrived)
