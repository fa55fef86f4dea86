"""Tools: the agent calls the configured tool; an image tool's result is a real picture."""
from behave import then, when
from hamcrest import assert_that

from support import verdicts
from support.matchers import assert_keeps, is_real_image, keeps_rule
from support.transcript_view import dump


@when("I ask the assistant a question that needs its tool, with tools switched on")
async def step_ask_agent(context):
    """Send tools_prompt with agent mode on (ai_agent_enabled)."""
    await context.world.ask(context.settings.tools_prompt, agent=True)


@then("the assistant calls the tool")
async def step_calls_tool(context):
    """The backend called the configured tool (tool_name, or any tool)."""
    world, s = context.world, context.settings
    problem = verdicts.tool_not_called(world.transcript, await world.finished_reply(), s.tool_name)
    assert problem is None, (f"{problem}; prompt {s.tools_prompt!r}. Set tools_prompt to a question that makes your "
                             f"backend call it, and tool_name to the tool it calls (or 'any'):\n{dump(world.transcript)}")


@then("each tool result comes once, after the call it answers")
async def step_results_follow_calls(context):
    """Each tool_result follows the tool_start with its call_id, at most once per call (§6)."""
    await context.world.assert_reply_keeps(keeps_rule("tool_result_after_call"))


@then("every tool call gets its result, unless the settings say the tools report none")
async def step_every_call_answered(context):
    """Every tool_start gets its tool_result, unless require_tool_results=false (tools run inside the model)."""
    await context.world.finished_reply()
    if context.settings.require_tool_results:
        assert_keeps(context.world.transcript, keeps_rule("tool_calls_have_results"))


@then("the picture it made is a real image")
async def step_real_image(context):
    """The image tool's result decodes as a real picture."""
    world, n, tool = context.world, context.world.last_request(), context.settings.tool_name
    results = verdicts.tool_results(world.transcript, n, tool)
    assert results, f"no result of {tool} in request {n}:\n{dump(world.transcript)}"
    assert_that(results[0].fields.get("result"), is_real_image())
