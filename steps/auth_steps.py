"""Authentication: who is turned away, and that nothing is done for them."""
from behave import given, then, when

from support import rules

TOKEN_PHRASES = {
    "no token": "missing",
    "a token that is not a JWT": "malformed",
    "an expired token": "expired",
    "a token signed with the wrong secret": "wrong_secret",
    "an unsigned token": "alg_none",
    "a token without a customer id": "missing_id",
}
PLACES = {"query string": "query", "Authorization header": "header"}


@when("I connect with {token} and try to chat")
async def step_connect_bad(context, token):
    """Connect with a bad token of the named kind and try a ping and a question."""
    session = await context.world.connect(token_kind=TOKEN_PHRASES[token], strict=False, learn_session_id=False)
    await context.world.try_to_chat(session)


@when("I connect in {mode} mode with {token} and try to chat")
async def step_connect_mode_bad(context, mode, token):
    """Connect in another mode (proactive, realtime) with a bad token and send a first frame."""
    session = await context.world.connect(token_kind=TOKEN_PHRASES[token], mode=mode, strict=False,
                                          learn_session_id=False)
    await context.world.try_to_chat(session)


@given("I am connected to the chat backend with my token in the {place}")
async def step_connected_via(context, place):
    """Connect with a valid token sent in the query string or the Authorization header."""
    await context.world.connect(transport=PLACES[place])


@when("I connect in {mode} mode with my valid token")
async def step_connect_mode_valid(context, mode):
    """Connect in another mode with a valid token, send a first frame and listen for a refusal."""
    await context.world.try_to_enter(mode)


@then("the connection is refused")
async def step_refused(context):
    """The connection ended as the protocol allows a refusal: HTTP 401/403, or close 4401/4403/1008."""
    refused, what = rules.refusal(context.world.transcript)
    assert refused, (f"expected a refusal (HTTP 401/403 at the upgrade, or close 4401/4403/1008), but {what}:\n"
                     f"{context.world.transcript.dump()}")
    context.say(f"    refused as allowed: {what}")


@then("no work was done for it")
async def step_no_work(context):
    """No pong, no working, no content event arrived on the refused connection."""
    worked = rules.work_done(context.world.transcript)
    assert not worked, "the backend worked for a refused connection:\n" + "\n".join(e.brief() for e in worked)


@then("the connection is let in")
async def step_let_in(context):
    """A first frame arrived in that mode and no refusal followed."""
    admitted, what = rules.admission(context.world.transcript)
    assert admitted, f"expected to be let in (a first frame, and no refusal), but {what}:\n{context.world.transcript.dump()}"
