"""Speech: asking for audio and checking it is real sound."""
from behave import then, when
from hamcrest import assert_that, greater_than_or_equal_to

from support.matchers import audio_problem, keeps_rules
from support.rules import decode_audio


@when("I ask a question and want to hear the answer")
async def step_ask_with_speech(context):
    await context.world.ask(context.settings.tts_prompt, speech=True)


@then("the answer streams in as text and as audio")
async def step_text_and_audio(context):
    world, n = context.world, context.world.last_request()
    await world.wait_finished(n)
    for kind in ("text_chunk", "audio_chunk"):
        assert_that(len(world.transcript.of_kind(kind, request=n)), greater_than_or_equal_to(1),
                    f"{world.wire_name(kind)} events of request {n}:\n{world.transcript.dump()}")


@then("both the text and the speech say they are finished")
async def step_both_flags(context):
    world, n = context.world, context.world.last_request()
    await world.wait_finished(n)
    assert_that(world.transcript, keeps_rules("speech"))
    for kind in ("text_completed", "tts_completed"):
        assert world.transcript.first(kind, request=n), f"no {world.wire_name(kind)}:\n{world.transcript.dump()}"


@then("the audio is real sound")
async def step_real_sound(context):
    world, n = context.world, context.world.last_request()
    chunks = [decode_audio(e.fields.get("audio")) for e in world.transcript.of_kind("audio_chunk", request=n)]
    started = world.transcript.first("tts_started", request=n)
    problem = audio_problem(chunks, started.fields.get("format") if started else None)
    assert problem is None, f"the audio of request {n} is not sound: {problem}"


@when("I ask for a text to be read aloud, without an answer")
async def step_ask_speech_only(context):
    await context.world.ask(context.settings.tts_prompt, speech=True, request_type="tts")


@then("the text is spoken and no answer is written")
async def step_spoken_not_written(context):
    world, n = context.world, context.world.last_request()
    await world.wait_finished(n)
    tr = world.transcript
    assert tr.of_kind("audio_chunk", request=n), f"no audio for a speech-only request:\n{tr.dump()}"
    assert not tr.of_kind("text_chunk", request=n), f"text was written for a speech-only request:\n{tr.dump()}"
    assert tr.first("text_not_requested", request=n) and tr.first("tts_completed", request=n), tr.dump()
