"""Tenant isolation: a connection acts for its token's customer only. Alice is the suite's customer, Bob the other."""
from behave import given, then, when

from support import phrases  # noqa: F401 - registers the parameter types
from support import verdicts
from support.transcript_view import dump

ALICE, BOB = phrases.PEOPLE


def _customer_id(settings, person: str) -> int:
    return settings.customer_id if person == ALICE else settings.other_customer_id


@given("Alice has a chat with one answer in it")
async def step_alice_has_chat(context):
    """Alice connects, asks, and the chat id of her stored answer is kept."""
    world = context.world
    session = await world.connect(ALICE, customer_id=_customer_id(context.settings, ALICE))
    n = await world.ask(context.settings.chat_prompt, session=session)
    await world.wait_finished(n, session=session)
    world.chat_id = verdicts.chat_id_of(session.transcript, n)
    assert world.chat_id, f"Alice's answer was not stored in a chat:\n{dump(session.transcript)}"


@when("Bob sends a question into Alice's chat, claiming to be {claimed:Person}")
async def step_bob_writes_into_alices_chat(context, claimed):
    """Bob, signed in as himself, sends a question with Alice's chat id and claims to be Alice or Bob."""
    world, s = context.world, context.settings
    session = await world.connect(BOB, customer_id=_customer_id(s, BOB))
    n = await world.ask(s.chat_prompt, session=session, chat_id=world.chat_id, customer_id=_customer_id(s, claimed))
    await world.wait_answer_or_close(n, session)


@given("{person:Person} is signed in")
async def step_signed_in(context, person):
    """The person connects with a valid token of their own customer number."""
    await context.world.connect(person, customer_id=_customer_id(context.settings, person))


@when("{person:Person} asks a question claiming to be {claimed:Person}")
async def step_claim_other(context, person, claimed):
    """The person asks a question whose customer_id is the other person's."""
    world, session = context.world, context.world.session(person)
    n = await world.ask(context.settings.chat_prompt, session=session, customer_id=_customer_id(context.settings, claimed))
    await world.wait_answer_or_close(n, session)


@then("Bob is refused, nothing is stored in Alice's chat and Bob gets nothing of it")
async def step_bob_refused(context):
    """No record naming Alice's chat reaches Bob, and his request was refused (error or close) with no work done."""
    world = context.world
    transcript = world.session(BOB).transcript
    leaked = verdicts.stored_in_chat(transcript, world.chat_id)
    assert not leaked, f"Bob's question was stored in Alice's chat:\n{dump(transcript)}"
    world.assert_refused(session=world.session(BOB), who="Bob")


@then("{person:Person} is refused and nothing is done for that question")
async def step_refused(context, person):
    """The person's last request was refused (error or close) and no work was done for it."""
    context.world.assert_refused(session=context.world.session(person), who=f"{person}'s question")


@then("{person:Person}'s connection still responds")
async def step_person_responds(context, person):
    """A ping on the person's connection gets its pong."""
    await context.world.ping(context.world.session(person))
