"""Bad input and staying responsive: clear errors, a living connection, a clean end."""
from behave import then, when

from support import phrases, protocol, verdicts
from support.transcript_view import dump


@when("I send a garbled message")
async def step_not_json(context):
    """Send a text frame that is not JSON."""
    await context.world.provoke(protocol.GARBLED)


@when("I send a question with no text")
async def step_no_prompt(context):
    """Send a chat request whose user_input has no prompt."""
    await context.world.provoke(protocol.request_without(context.settings, protocol.PROMPT))


@when("I send a question with a blank text")
async def step_blank_prompt(context):
    """Send a chat request whose prompt is only spaces."""
    await context.world.provoke(protocol.request_with(context.settings, protocol.PROMPT, protocol.blank_prompt()))


@when("I send a question whose customer number is {customer:CustomerNumber}")
async def step_customer_number(context, customer):
    """Send a chat request whose customer_id is a word, negative, zero, empty or missing."""
    s = context.settings
    await context.world.provoke(protocol.request_without(s, protocol.CUSTOMER) if customer == phrases.DROP
                                else protocol.request_with(s, protocol.CUSTOMER, customer))


@when("I send a message that is not text")
async def step_binary(context):
    """Send a binary frame."""
    await context.world.provoke(protocol.BINARY)


@when("I send a question of {megabytes:d} MB")
async def step_oversized(context, megabytes):
    """Send a chat request of the given size in megabytes."""
    await context.world.provoke(protocol.oversized_request(context.settings, megabytes))


@then("the assistant says in time what is wrong with it")
async def step_validation_error(context):
    """An error with stage 'validation' answers what was sent, within error_timeout."""
    error = await context.world.wait_error(after=context.world.provoked.seq)
    problem = verdicts.wrong_stage(error, "validation")
    assert problem is None, problem


@then("the assistant answers with an error in time")
async def step_error_in_time(context):
    """An error of any stage answers what was sent, within error_timeout."""
    await context.world.wait_error(after=context.world.provoked.seq)


@then("the connection stays open, responds and answers a next question in full")
async def step_keeps_working(context):
    """No close; a ping gets its pong and a next question both flags and a non-empty reply (an error is fine, §9)."""
    await context.world.assert_keeps_working(context.world.provoked)


@then("the assistant answers it in full or refuses it politely")
async def step_answered_or_refused(context):
    """Both flags and text, or an error; over max_message_bytes (when set) it must be refused: an error or close 1009."""
    world, sent = context.world, context.world.provoked
    await world.wait_answer_error_or_close(sent)
    problem = verdicts.big_question_problem(world.transcript, sent, context.settings.message_limit)
    assert problem is None, f"{problem}:\n{dump(world.transcript)}"
    await world.assert_answered_unless_refused(sent)


@then("unless it was over the declared size limit, the connection stays open, responds and answers a next question in full")
async def step_keeps_working_unless_too_big(context):
    """As "the connection stays open, …", except after a close 1009 for a question over max_message_bytes."""
    world = context.world
    if not verdicts.closed_for_size(world.transcript, world.provoked, context.settings.message_limit):
        await world.assert_keeps_working(world.provoked)


@when("I check the connection while the answer streams")
async def step_ping_while_streaming(context):
    """Once the long answer streams, send a ping."""
    await context.world.wait_streaming(context.world.last_request())
    context.world.ping_sent = await context.world.me.send_control("ping")


@then("it responds before the answer is finished")
async def step_pong_before_finish(context):
    """The pong arrives while the answer is still streaming; then the answer finishes."""
    world, ping, n = context.world, context.world.ping_sent, context.world.last_request()
    pong = await world.wait_event("pong", after=ping.seq)
    problem = verdicts.pong_after_answer(world.transcript, ping, pong, n)
    assert problem is None, problem
    await world.stop_if_running(n)   # the point is made; the rest of a long answer proves nothing more


@when("I ask to end the conversation")
async def step_close_session(context):
    """Send close_session."""
    await context.world.me.send_control("close_session")


@then("the assistant says goodbye")
async def step_closing(context):
    """A closing event with reason client_request arrives."""
    closing = await context.world.wait_event("closing")
    problem = verdicts.wrong_closing(closing)
    assert problem is None, problem


@then("the connection ends cleanly")
async def step_closes_normally(context):
    """The backend closes the connection with code 1000."""
    problem = verdicts.not_closed_normally(await context.world.me.wait_closed())
    assert problem is None, problem
