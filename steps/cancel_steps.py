"""Cancellation: stopping a streaming answer and carrying on."""
from behave import then, when
from hamcrest import assert_that, empty

from support.matchers import keeps_rule, keeps_rules


@when("I stop the answer while it streams")
async def step_stop_while_streaming(context):
    """Once the answer streams, send cancel."""
    world = context.world
    world.stopped.append(world.last_request())
    await world.wait_streaming(world.last_request())
    await world.me.send_control("cancel")


@when("I stop the answer although nothing is running")
async def step_stop_idle(context):
    """Send cancel while no request is running."""
    await context.world.me.send_control("cancel")


@when("I ask for a long answer and stop it, {times:d} times in a row")
async def step_ask_and_stop_repeatedly(context, times):
    """Ask for a long answer and cancel it mid-stream, the given number of times."""
    context.world.stopped += [await context.world.ask_and_stop(context.settings.long_prompt) for _ in range(times)]


@then("the backend confirms the stop in time")
async def step_confirms_stop(context):
    """A cancelled event arrives for the stopped request."""
    await context.world.wait_cancelled(context.world.stopped[-1])


@then("no more of the stopped answer arrives")
async def step_nothing_more(context):
    """After a quiet window, no text or audio of the stopped request arrived after cancelled."""
    await context.world.me.quiet()
    assert_that(context.world.transcript, keeps_rule("nothing_after_cancelled"))


@then("the stopped answer is closed off properly")
async def step_closed_off(context):
    """The stopped request still gets exactly one text flag and one speech flag."""
    await context.world.wait_finished(context.world.stopped[-1])
    assert_that(context.world.transcript, keeps_rule("one_completion_flag_each"))


@then("nothing of the stopped answer is stored")
async def step_not_stored(context):
    """No db_operation_executed was sent for the stopped request."""
    assert_that(context.world.transcript, keeps_rule("cancelled_not_stored"))


@then("the backend does not answer the stop")
async def step_no_answer(context):
    """Nothing arrives within a quiet window after a cancel with nothing running."""
    arrived = await context.world.me.quiet()
    assert_that([e.brief() for e in arrived], empty(), "events after a cancel with nothing running")


@then("every stopped answer was confirmed and closed off")
async def step_all_stopped(context):
    """Every stopped request got cancelled, both flags, and kept the cancellation rules."""
    world = context.world
    for n in world.stopped:
        assert world.transcript.first("cancelled", request=n), f"request {n} has no cancelled:\n{world.transcript.dump()}"
    assert_that(world.transcript, keeps_rules("cancel"))
