"""Steps every capability shares: connecting, staying responsive, the order check."""
from behave import given, then

from support import phrases  # noqa: F401 - registers the parameter types
from support.matchers import keeps_rules


@given("I am connected to the assistant")
async def step_connected(context):
    """Connect with a valid token and complete the ready handshake."""
    await context.world.connect()


@then("the {rules:OrderRules} arrives in the right order")
async def step_events_in_order(context, rules):
    """The request finished and the order rules of the written answer, the speech or the tool use hold."""
    await context.world.assert_reply_keeps(keeps_rules(rules))


@then("the connection still responds")
async def step_responds(context):
    """A ping gets its pong."""
    await context.world.ping()
