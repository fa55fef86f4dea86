"""Steps every capability shares: connecting, keepalive, the order check."""
from behave import given, then
from hamcrest import assert_that

from support.matchers import keeps_rules


@given("I am connected to the chat backend")
async def step_connected(context):
    """Connect with a valid token and complete the ready handshake."""
    await context.world.connect()


@then("the {aspect} events arrive in the promised order")
async def step_events_in_order(context, aspect):
    """The request finished and the named group of rules (text, speech, tool, cancel) holds."""
    await context.world.wait_finished(context.world.last_request())
    assert_that(context.world.transcript, keeps_rules(aspect))


@then("the connection still answers a ping")
async def step_ping(context):
    """A ping gets its pong."""
    await context.world.ping()
