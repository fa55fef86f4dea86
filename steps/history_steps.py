"""Chat history: the chat id comes back, and sending it back continues the chat."""
import uuid

from behave import given, then, when

from support import verdicts
from support.transcript_view import dump


async def _ask_and_store(world, prompt, **kw) -> str | None:
    n = await world.ask(prompt, **kw)
    await world.wait_finished(n)
    return verdicts.chat_id_of(world.transcript, n)


@then("the answer tells me the id of the chat it was stored in")
async def step_chat_id_given(context):
    """The stored answer's db_operation_executed names a chat id."""
    world = context.world
    world.chat_id = verdicts.chat_id_of(world.transcript, await world.finished_reply())
    assert world.chat_id, f"no chat id (db_operation_executed session_id):\n{dump(world.transcript)}"


@given("I have a chat with one answer in it")
async def step_have_chat(context):
    """Connect, ask a question, and keep the chat id it was stored under."""
    await context.world.connect()
    context.world.chat_id = await _ask_and_store(context.world, context.settings.chat_prompt)
    assert context.world.chat_id, f"the answer was not stored in a chat:\n{dump(context.world.transcript)}"


async def _ask_in_same_chat(world) -> None:
    world.chat_id_again = await _ask_and_store(world, "And one more thing", chat_id=world.chat_id)


@when("I ask another question in the same chat")
async def step_ask_same_chat(context):
    """Ask another question, sending the chat id back."""
    await _ask_in_same_chat(context.world)


@when("I reconnect and ask another question in that chat")
async def step_reconnect_and_ask(context):
    """Open a new connection and ask another question in the same chat."""
    await context.world.reconnect()
    await _ask_in_same_chat(context.world)


@when("I ask a question in a chat that does not exist")
async def step_ask_unknown_chat(context):
    """Ask a question naming a chat id that does not exist."""
    await context.world.ask(context.settings.chat_prompt, chat_id=str(uuid.uuid4()))


@then("it is stored in the same chat")
async def step_same_chat(context):
    """The later answer was stored under the same chat id."""
    world = context.world
    problem = verdicts.other_chat(world.chat_id_again, world.chat_id)
    assert problem is None, f"{problem}:\n{dump(world.transcript)}"


@then("the assistant says it could not find that chat")
async def step_database_error(context):
    """An error with stage 'database' arrived for the request, and the request still finished."""
    world = context.world
    error = verdicts.database_error(world.transcript, await world.finished_reply())
    assert error, f"no error with stage 'database' for an unknown chat id:\n{dump(world.transcript)}"
    world.transcript.expect(error)


@when("the assistant restarts")
async def step_restart(context):
    """Restart the backend (the bundled one, or restart_command) and wait until it answers again."""
    await context.world.restart_assistant()
