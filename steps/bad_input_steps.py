"""Bad input and staying responsive: clear errors, a living connection, a clean end."""
import json

from behave import then, when

from support import phrases
from support.protocol import build_chat_request
from support.transcript_view import dump

TOO_BIG = 1009   # the close code for a frame over the size limit the backend declares (§9)


async def _send_request_frame(context, change):
    frame = build_chat_request(context.settings, context.settings.chat_prompt)
    change(frame)
    context.world.provoked = await context.world.me.send_json(frame)


def _set_customer(frame, value):
    if value == phrases.DROP:
        frame.pop("customer_id")
    else:
        frame["customer_id"] = value


@when("I send a garbled message")
async def step_not_json(context):
    """Send a text frame that is not JSON."""
    context.world.provoked = await context.world.me.send_raw("this is {not JSON")


@when("I send a question with no text")
async def step_no_prompt(context):
    """Send a chat request whose user_input has no prompt."""
    await _send_request_frame(context, lambda f: f["user_input"].pop("prompt"))


@when("I send a question with a blank text")
async def step_blank_prompt(context):
    """Send a chat request whose prompt is only spaces."""
    await _send_request_frame(context, lambda f: f["user_input"].update(prompt=[{"type": "text", "text": "   "}]))


@when("I send a question whose customer number is {customer:CustomerNumber}")
async def step_customer_number(context, customer):
    """Send a chat request whose customer_id is a word, negative, zero, empty or missing."""
    await _send_request_frame(context, lambda f: _set_customer(f, customer))


@when("I send a message that is not text")
async def step_binary(context):
    """Send a binary frame."""
    context.world.provoked = await context.world.me.send_raw(b"\x00\x01\x02 binary \xff")


@when("I send a question of {megabytes:d} MB")
async def step_oversized(context, megabytes):
    """Send a chat request of the given size in megabytes."""
    frame = build_chat_request(context.settings, "x" * (megabytes * 2**20))
    context.world.provoked = await context.world.me.send_raw(json.dumps(frame))


@then("the assistant says in time what is wrong with it")
async def step_validation_error(context):
    """An error with stage 'validation' answers what was sent, within error_timeout."""
    error = await context.world.wait_error(after=context.world.provoked.seq)
    assert error.fields.get("stage") == "validation", f"an error with stage {error.fields.get('stage')!r}, expected 'validation'"


@then("the assistant answers with an error in time")
async def step_error_in_time(context):
    """An error of any stage answers what was sent, within error_timeout."""
    await context.world.wait_error(after=context.world.provoked.seq)


@then("the connection stays open, responds and answers a next question in full")
async def step_keeps_working(context):
    """No close; a ping gets its pong and a next question both flags and a non-empty reply (an error is fine, §9)."""
    await context.world.assert_keeps_working(context.world.provoked)


def _over_declared_limit(context) -> bool:
    limit = context.settings.message_limit
    return limit is not None and len(context.world.provoked.raw) > limit


@then("the assistant answers it in full or refuses it politely")
async def step_answered_or_refused(context):
    """Both flags and text, or an error; over max_message_bytes (when set) it must be refused: an error or close 1009."""
    world, sent, limit = context.world, context.world.provoked, context.settings.message_limit
    n, size = sent.request, len(sent.raw)
    await world.me.wait_for(lambda tr: tr.request_finished(n) or tr.first("error", after=sent.seq) or tr.closed(),
                            f"an answer to the {size}-byte question, an error or a close")
    closed, error = world.transcript.closed(), world.transcript.first("error", after=sent.seq)
    if closed is not None:
        assert _over_declared_limit(context) and closed.fields.get("code") == TOO_BIG, (
            f"the backend closed the connection after the {size}-byte question ({closed.fields.get('detail')}); "
            f"a refusal must be an error, and only a question over a declared size limit may be closed with "
            f"{TOO_BIG} (max_message_bytes={limit or 'not set'}):\n{dump(world.transcript)}")
    elif error is not None:
        world.accept_errors(after=sent.seq)
    else:
        assert not _over_declared_limit(context), (
            f"the backend declares a limit of {limit} bytes (max_message_bytes) but served a {size}-byte question "
            f"instead of refusing it:\n{dump(world.transcript)}")
        await world.assert_answered_in_full(n)


@then("unless it was over the declared size limit, the connection stays open, responds and answers a next question in full")
async def step_keeps_working_unless_too_big(context):
    """As "the connection stays open, …", except after a close 1009 for a question over max_message_bytes."""
    closed = context.world.transcript.closed()
    if closed is not None and _over_declared_limit(context) and closed.fields.get("code") == TOO_BIG:
        return
    await context.world.assert_keeps_working(context.world.provoked)


@when("I check the connection while the answer streams")
async def step_ping_while_streaming(context):
    """Once the long answer streams, send a ping."""
    await context.world.wait_streaming(context.world.last_request())
    context.world.ping_sent = await context.world.me.send_control("ping")


@then("it responds before the answer is finished")
async def step_pong_before_finish(context):
    """The pong arrives while the answer is still streaming; then the answer finishes."""
    world, ping, n = context.world, context.world.ping_sent, context.world.last_request()
    pong = await world.wait_event("pong", after=ping.seq)
    finished = world.transcript.request_finished(n)
    last = world.transcript.events_of_request(n)[-1]
    assert not finished or last.seq > pong.seq, (
        f"ping sent at t={ping.t:.3f} s; pong arrived at t={pong.t:.3f} s, after the answer finished at t={last.t:.3f} s")
    if not world.transcript.request_finished(n):
        await world.me.send_control("cancel")   # the point is made; the rest of a long answer proves nothing more
    await world.wait_finished(n)


@when("I ask to end the conversation")
async def step_close_session(context):
    """Send close_session."""
    await context.world.me.send_control("close_session")


@then("the assistant says goodbye")
async def step_closing(context):
    """A closing event with reason client_request arrives."""
    closing = await context.world.me.wait_for(lambda tr: tr.first("closing"), "closing")
    assert closing.fields.get("reason") == "client_request", f"closing reason {closing.fields.get('reason')!r}"


@then("the connection ends cleanly")
async def step_closes_normally(context):
    """The backend closes the connection with code 1000."""
    closed = await context.world.me.wait_closed()
    assert closed.kind == "closed by backend" and closed.fields.get("code") == 1000, (
        f"expected the backend to close with 1000, got {closed.kind}: {closed.fields.get('detail')}")
