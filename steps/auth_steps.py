"""Authentication: who is turned away, and that nothing is done for them."""
from behave import given, then, when

from support import phrases  # noqa: F401 - registers the parameter types
from support import verdicts
from support.transcript_view import brief, dump


@when("I connect with {token:Token} and try to chat")
async def step_connect_bad(context, token):
    """Connect with a bad token of the named kind and try a ping and a question."""
    await context.world.try_to_connect(token)


@when("I connect in {mode:Mode} mode with {token:Token} and try to chat")
async def step_connect_mode_bad(context, mode, token):
    """Connect in another mode (proactive, realtime) with a bad token and send a first frame."""
    await context.world.try_to_connect(token, mode)


@given("I am connected to the assistant with my token {place:TokenPlace}")
async def step_connected_via(context, place):
    """Connect with a valid token sent as ?token= in the web address, or as an Authorization header."""
    await context.world.connect(transport=place)


@when("I connect in {mode:Mode} mode with my valid token")
async def step_connect_mode_valid(context, mode):
    """Connect in another mode with a valid token, send a first frame and listen for a refusal."""
    await context.world.try_to_enter(mode)


@then("the connection is refused")
async def step_refused(context):
    """The connection ended as the protocol allows a refusal: HTTP 401/403, or close 4401/4403/1008."""
    refused, what = verdicts.refusal(context.world.transcript)
    assert refused, (f"expected a refusal ({verdicts.ALLOWED_REFUSALS}), but {what}:\n"
                     f"{dump(context.world.transcript)}")
    context.say(f"    refused as allowed: {what}")


@then("no work was done for it")
async def step_no_work(context):
    """No pong, no working, no content event arrived on the refused connection."""
    worked = verdicts.work_done(context.world.transcript)
    assert not worked, "the backend worked for a refused connection:\n" + "\n".join(brief(e) for e in worked)


@then("the connection is let in")
async def step_let_in(context):
    """A first frame arrived in that mode and no refusal followed."""
    admitted, what = verdicts.admission(context.world.transcript)
    assert admitted, f"expected to be let in (a first frame, and no refusal), but {what}:\n{dump(context.world.transcript)}"
