"""Chat streaming: asking and reading the streamed answer."""
from behave import given, then, when

from support import verdicts
from support.matchers import keeps_rule
from support.transcript_view import dump


@when("I ask a question")
async def step_ask(context):
    """Send chat_prompt as a text request."""
    await context.world.ask(context.settings.chat_prompt)


@then("the answer streams in several pieces")
async def step_several_pieces(context):
    """At least min_text_chunks text chunks arrived before text_completed."""
    world, n = context.world, context.world.last_request()
    await world.wait_event("text_completed", request=n)
    problem = verdicts.too_few_chunks(world.transcript, n, context.settings.min_text_chunks)
    assert problem is None, f"{problem}:\n{dump(world.transcript)}"


@then("the answer is complete and not empty")
async def step_complete(context):
    """Both completion flags arrived, text_completed among them, and the reply text is not empty."""
    await context.world.assert_answered_in_full()


@then("the pieces together are the whole answer")
async def step_pieces_whole(context):
    """The text chunks joined equal the full answer the backend reports (text_generation_completed)."""
    await context.world.assert_reply_keeps(keeps_rule("text_matches_full_response"))


@given("I have asked for a long answer")
async def step_asked_long(context):
    """Send long_prompt, whose answer is long enough to interrupt."""
    await context.world.ask(context.settings.long_prompt)


@given("I have asked for a long answer read aloud")
async def step_asked_long_spoken(context):
    """Send long_prompt with speech switched on."""
    await context.world.ask(context.settings.long_prompt, speech=True)


@then("a next question is answered in full")
async def step_next_question(context):
    """A new question on the same connection gets both flags and a non-empty reply."""
    await context.world.assert_answered_in_full(await context.world.ask(context.settings.chat_prompt))
