"""Speech: asking for audio, reading a stored answer aloud, and checking it is real sound."""
from behave import given, then, when

from support import verdicts
from support.matchers import audio_problem, keeps_rule
from support.transcript_view import dump


@when("I ask a question and want to hear the answer")
async def step_ask_with_speech(context):
    """Send tts_prompt with tts_auto_execute on."""
    await context.world.ask(context.settings.tts_prompt, speech=True)


@then("the answer streams in as text and as audio")
async def step_text_and_audio(context):
    """The request finished with at least one text chunk and one audio chunk."""
    world = context.world
    missing = verdicts.missing_kinds(world.transcript, await world.finished_reply(), ("text_chunk", "audio_chunk"))
    assert not missing, f"no {' or '.join(map(world.wire_name, missing))}:\n{dump(world.transcript)}"


@then("both the text and the speech say once that they are finished")
async def step_both_flags(context):
    """text_completed and tts_completed arrived, one flag of each kind per request, and no tts_not_requested."""
    world = context.world
    n = await world.assert_reply_keeps(keeps_rule("one_completion_flag_each", "speech_not_refused"))
    missing = verdicts.missing_kinds(world.transcript, n, ("text_completed", "tts_completed"))
    assert not missing, f"no {' or '.join(map(world.wire_name, missing))}:\n{dump(world.transcript)}"


@then("the audio is real sound")
async def step_real_sound(context):
    """Every audio chunk is valid base64, and together they decode as the format tts_started declared."""
    world = context.world
    n = await world.assert_reply_keeps(keeps_rule("audio_is_base64"))
    problem = audio_problem(*verdicts.audio_of(world.transcript, n))
    assert problem is None, f"the audio of request {n} is not sound: {problem}"


@then("the speech counts its pieces right")
async def step_audio_count(context):
    """audio_chunk_count, when the backend reports it, equals the audio chunks that arrived."""
    await context.world.assert_reply_keeps(keeps_rule("audio_chunk_count_matches"))


@given("I have asked a question and its answer was stored")
async def step_have_answer(context):
    """Ask a question and keep the message id its answer was stored under."""
    world = context.world
    await world.ask(context.settings.chat_prompt)
    world.answer_id = verdicts.answer_id_of(world.transcript, await world.finished_reply())
    assert world.answer_id is not None, (
        f"the answer was not stored with a message id (db_operation_executed ai_message_id):\n{dump(world.transcript)}")


@when("I ask for that answer to be read aloud")
async def step_read_aloud(context):
    """Send a speech-only request naming the stored answer by its message id (§5)."""
    await context.world.ask(context.settings.tts_prompt, speech=True, request_type="tts",
                            message_id=context.world.answer_id)


@then("it is spoken to its end and no new answer is written")
async def step_spoken_not_written(context):
    """Audio, text_not_requested and tts_completed arrived, and no text chunk."""
    world = context.world
    problem = verdicts.not_spoken_only(world.transcript, await world.finished_reply())
    assert problem is None, f"{problem}:\n{dump(world.transcript)}"
