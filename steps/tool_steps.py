"""Tools: the agent calls generate_image and the result is a real picture."""
from behave import then, when
from hamcrest import assert_that

from support.matchers import is_real_image, keeps_rule

IMAGE_TOOL = "generate_image"


@when("I ask the assistant, in agent mode, to make a picture")
async def step_ask_for_picture(context):
    await context.world.ask(context.settings.tools_prompt, agent=True)


@then("the assistant calls the image tool")
async def step_calls_image_tool(context):
    world, n = context.world, context.world.last_request()
    await world.wait_finished(n)
    calls = [e for e in world.transcript.of_kind("tool_start", request=n) if e.fields.get("tool_name") == IMAGE_TOOL]
    assert calls, (f"no tool calls: the backend answered without calling {IMAGE_TOOL} (prompt "
                   f"{context.settings.tools_prompt!r}; set tools_prompt to one that triggers it):\n{world.transcript.dump()}")


@then("every tool call is followed by its result")
async def step_every_call_has_result(context):
    await context.world.wait_finished(context.world.last_request())
    assert_that(context.world.transcript, keeps_rule("tool_result_after_call"))
    if context.settings.require_tool_results:
        assert_that(context.world.transcript, keeps_rule("tool_calls_have_results"))


@then("the picture it made is a real image")
async def step_real_image(context):
    world, n = context.world, context.world.last_request()
    results = [e for e in world.transcript.of_kind("tool_result", request=n) if e.fields.get("tool_name") == IMAGE_TOOL]
    assert results, f"no {IMAGE_TOOL} result in request {n}:\n{world.transcript.dump()}"
    assert_that(results[0].fields.get("result"), is_real_image())
