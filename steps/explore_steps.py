"""Exploration: generated questions and conversations, judged by the protocol's promises (support/explore/)."""
from behave import then, when

from support.explore import scenario as explore


@when("my app sends many generated questions and messages, each on a connection of its own")
def step_send_generated(context):
    """The sweep and Hypothesis's search: explore_examples frames, explore_connections at a time, within explore_budget."""
    explore.requests(context)


@then("each was answered in full, or refused in time with a reason and no answer")
def step_each_answered_or_refused(context):
    """No generated frame got an incomplete or empty answer, an answer and an error, a blank error, or silence."""
    explore.assert_no_findings(context, about_the_answer=True)


@then("after each the connection stayed open, responded, and answered a next question in full")
def step_connection_lived_on(context):
    """No frame was answered by a close; after each, a ping got its pong, a next question was answered in full,
    and the whole-conversation rules held."""
    explore.assert_no_findings(context, about_the_answer=False)


@when("I hold many generated conversations")
def step_hold_conversations(context):
    """Hypothesis's state machine of asking, listening, stopping, checking, reading aloud and reconnecting."""
    explore.conversations(context)


@then("every conversation kept every promise, and every stopped answer was left unstored")
def step_conversations_kept_promises(context):
    """Every whole-conversation rule held after every step (cancelled_not_stored among them); every request finished."""
    explore.assert_conversations_kept(context)
