"""Chat streaming: asking and reading the streamed answer."""
from behave import given, then, when
from hamcrest import assert_that, greater_than_or_equal_to, is_not, empty

from support.transcript import TEXT_FLAGS


@when("I ask a question")
async def step_ask(context):
    """Send chat_prompt as a text request."""
    await context.world.ask(context.settings.chat_prompt)


@then("the answer streams in several pieces")
async def step_several_pieces(context):
    """At least min_text_chunks text chunks arrived before text_completed."""
    world = context.world
    await world.wait_event("text_completed", request=world.last_request())
    chunks = world.transcript.of_kind("text_chunk", request=world.last_request())
    assert_that(len(chunks), greater_than_or_equal_to(context.settings.min_text_chunks),
                f"text chunks of request {world.last_request()}:\n{world.transcript.dump()}")


@then("the answer is complete and not empty")
async def step_complete(context):
    """Both completion flags arrived and the reply text is not empty."""
    world = context.world
    await world.wait_finished(world.last_request())
    assert world.transcript.first(*TEXT_FLAGS, request=world.last_request()), "no text completion flag arrived"
    assert_that(world.transcript.reply_text(world.last_request()).strip(), is_not(empty()), "the reply text")


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
    world = context.world
    n = await world.ask(context.settings.chat_prompt)
    await world.wait_finished(n)
    assert world.transcript.first("text_completed", request=n), f"request {n} got no text_completed"
    assert world.transcript.reply_text(n).strip(), f"request {n} got an empty reply:\n{world.transcript.dump()}"
