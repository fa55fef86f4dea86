"""Tenant isolation: a connection acts for its token's customer only."""
from behave import given, then, when

from support import rules

A, B = "customer A", "customer B"


@given("customer A has a chat with one answer in it")
async def step_a_has_chat(context):
    """Customer A connects, asks, and keeps the chat id of the stored answer."""
    world = context.world
    session = await world.connect(A, customer_id=context.settings.customer_id)
    n = await world.ask(context.settings.chat_prompt, session=session)
    await world.wait_finished(n, session=session)
    world.notes["chat A"] = rules.chat_id_of(session.transcript, n)
    assert world.notes["chat A"], f"customer A's answer was not stored in a chat:\n{session.transcript.dump()}"


@when("customer B sends a question into customer A's chat, claiming to be {claimed}")
async def step_b_writes_into_a(context, claimed):
    """Customer B sends a question with customer A's chat id, claiming to be A or B."""
    world, s = context.world, context.settings
    session = await world.connect(B, customer_id=s.other_customer_id)
    claim = s.customer_id if claimed == A else s.other_customer_id
    n = await world.ask(s.chat_prompt, session=session, chat_id=world.notes["chat A"], customer_id=claim)
    await session.wait_for(lambda tr: tr.request_finished(n) or tr.closed(), f"an answer to customer B's request {n}")


@when("I ask a question claiming to be another customer")
async def step_claim_other(context):
    """Ask a question whose customer_id is another customer's."""
    world = context.world
    n = await world.ask(context.settings.chat_prompt, customer_id=context.settings.other_customer_id)
    await world.me.wait_for(lambda tr: tr.request_finished(n) or tr.closed(), f"an answer to request {n}")


@then("customer B is refused and gets nothing of customer A's chat")
async def step_b_refused(context):
    """Customer B's request was refused (error or close) with no work and nothing stored in A's chat."""
    transcript = context.world.session(B).transcript
    refused, what = rules.request_refused(transcript, transcript.last_request())
    leaked = [e for e in transcript.of_kind("db_operation_executed") if context.world.notes["chat A"] in str(e.raw)]
    assert refused and not leaked, f"customer B was not refused ({what}):\n{transcript.dump()}"
    context.world.accept_errors(after=transcript.requests()[-1].seq, session=context.world.session(B))


@then("I am refused and nothing is done for that question")
async def step_i_am_refused(context):
    """The request was refused (error or close) and no work was done for it."""
    refused, what = rules.request_refused(context.world.transcript, context.world.last_request())
    assert refused, f"the question was not refused ({what}):\n{context.world.transcript.dump()}"
    context.world.accept_errors(after=context.world.transcript.requests()[-1].seq)
