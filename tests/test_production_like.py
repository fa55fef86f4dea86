"""Production is the judge: against a backend that behaves like the recorded production backend
(its defects switched on as faults, its tool a web search without results), configured only
through the README's settings, the suite fails the scenarios of real defects and nothing else."""
from __future__ import annotations

from tests.behave_runner import run_suite

# The production backend's real defects (issue tracker: "Green on the production backend").
PRODUCTION_DEFECTS = "cross_tenant,blank_prompt_served,customer_id_unchecked,modes_without_token"
PRODUCTION_SETTINGS = ("tools_prompt=search the web for the weather in Paris", "tool_name=web_search",
                       "require_tool_results=false")
DEFECT_SCENARIOS = {
    "Customer B cannot write into customer A's chat, even claiming to be customer B -- @1.1": "customer B was not refused",
    "Customer B cannot write into customer A's chat, even claiming to be customer A -- @1.2": "customer B was not refused",
    "A question that claims to come from another customer is refused": "the question was not refused",
    "A question with a blank prompt": "waiting for error answering",
    "A question whose customer number is a word is refused, and the chat carries on -- @1.1": "waiting for error answering",
    "A question whose customer number is a negative number is refused, and the chat carries on -- @1.2":
        "waiting for error answering",
    "The proactive mode also turns away no token -- @1.1": "expected a refusal",
    "The proactive mode also turns away an expired token -- @1.2": "expected a refusal",
    "The realtime mode also turns away no token -- @1.3": "expected a refusal",
    "The realtime mode also turns away an expired token -- @1.4": "expected a refusal",
}


def test_a_production_like_backend_fails_only_its_real_defects():
    run = run_suite(f"reference_faults={PRODUCTION_DEFECTS}", *PRODUCTION_SETTINGS, "timeout=3", "error_timeout=2",
                    "quiet_window=0.3", "reference_chunk_delay=0.005")
    failing = {name.strip() for name in run.failing}
    assert failing == set(DEFECT_SCENARIOS), (sorted(failing ^ set(DEFECT_SCENARIOS)), run.output[-4000:])
    for message in set(DEFECT_SCENARIOS.values()):
        assert message in run.output, message
    assert "tool_name=web_search is not an image tool" in run.output   # the picture check is skipped, with a reason


def test_the_tools_feature_passes_against_a_search_tool_without_results():
    run = run_suite(*PRODUCTION_SETTINGS, tags="@tools")
    assert run.returncode == 0, run.output[-3000:]
    assert "1 scenario passed, 0 failed" in run.output and "not an image tool" in run.output, run.summary
    assert "tool_start(web_search) → text_chunk" in run.output
