"""Tools: the agent calls the configured tool; an image tool's result is a real picture."""
from behave import then, when
from hamcrest import assert_that

from support.matchers import is_real_image, keeps_rule
from support.transcript_view import dump


def _calls(context, n):
    wanted = context.settings.tool_name
    return [e for e in context.world.transcript.of_kind("tool_start", request=n)
            if wanted == "any" or e.fields.get("tool_name") == wanted]


@when("I ask the assistant a question that needs its tool, with tools switched on")
async def step_ask_agent(context):
    """Send tools_prompt with agent mode on (ai_agent_enabled)."""
    await context.world.ask(context.settings.tools_prompt, agent=True)


@then("the assistant calls the tool")
async def step_calls_tool(context):
    """The backend called the configured tool (tool_name, or any tool)."""
    world, s = context.world, context.settings
    n = await world.finished_reply()
    called = sorted({str(e.fields.get("tool_name")) for e in world.transcript.of_kind("tool_start", request=n)})
    assert _calls(context, n), (
        f"the backend did not call {'a tool' if s.tool_name == 'any' else s.tool_name} (tools called: "
        f"{', '.join(called) or 'none'}; prompt {s.tools_prompt!r}). Set tools_prompt to a question that makes "
        f"your backend call it, and tool_name to the tool it calls (or 'any'):\n{dump(world.transcript)}")


@then("each tool result comes once, after the call it answers")
async def step_results_follow_calls(context):
    """Each tool_result follows the tool_start with its call_id, at most once per call (§6)."""
    await context.world.finished_reply()
    assert_that(context.world.transcript, keeps_rule("tool_result_after_call"))


@then("every tool call gets its result, unless the settings say the tools report none")
async def step_every_call_answered(context):
    """Every tool_start gets its tool_result, unless require_tool_results=false (tools run inside the model)."""
    await context.world.finished_reply()
    if context.settings.require_tool_results:
        assert_that(context.world.transcript, keeps_rule("tool_calls_have_results"))


@then("the picture it made is a real image")
async def step_real_image(context):
    """The image tool's result decodes as a real picture."""
    world, n = context.world, context.world.last_request()
    names = {e.fields.get("tool_name") for e in _calls(context, n)}
    results = [e for e in world.transcript.of_kind("tool_result", request=n) if e.fields.get("tool_name") in names]
    assert results, f"no result of {', '.join(map(str, names))} in request {n}:\n{dump(world.transcript)}"
    assert_that(results[0].fields.get("result"), is_real_image())
