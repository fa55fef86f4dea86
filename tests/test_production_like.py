"""Production is the judge: against a backend that behaves like the recorded production backend
(its defects switched on as faults, its tool a web search without results), configured only
through the README's settings, the suite fails the scenarios of real defects and nothing else."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.behave_runner import feature_parts, run_suite

# The production backend's real defects (issue tracker: "Green on the production backend").
PRODUCTION_DEFECTS = "cross_tenant,blank_prompt_served,customer_id_unchecked,modes_without_token"
PRODUCTION_SETTINGS = ("tools_prompt=search the web for the weather in Paris", "tool_name=web_search",
                       "require_tool_results=false")
# (scenario tag, example) of each scenario a real defect fails, and the words that name the defect.
DEFECTS = {
    ("@cross_chat", "claiming to be Bob"): "Bob's question was stored in Alice's chat",
    ("@cross_chat", "claiming to be Alice"): "Bob's question was stored in Alice's chat",
    ("@claim_other", ""): "Bob's question was not refused",
    ("@blank_text", ""): "waiting for error answering",
    ("@impossible_customer", "a word"): "waiting for error answering",
    ("@impossible_customer", "a negative number"): "waiting for error answering",
    ("@bad_token_in_mode", "The proactive mode also turns away no token"): "expected a refusal",
    ("@bad_token_in_mode", "The proactive mode also turns away an expired token"): "expected a refusal",
    ("@bad_token_in_mode", "The realtime mode also turns away no token"): "expected a refusal",
    ("@bad_token_in_mode", "The realtime mode also turns away an expired token"): "expected a refusal",
}
# The whole suite in parts side by side, each against its own production-like backend: the defects'
# waits (a refusal that never comes is waited out) would add up to most of a run's time.
PARTS = feature_parts({"sign-in": ("authentication.feature",), "bad input": ("bad_input.feature",),
                       "stopping": ("cancellation.feature",), "exploring": ("explore.feature",)})


# Short waits where a defect's refusal is waited out. No defect fails an exploring scenario, so nothing
# there is waited out in a passing run: its waits stay the suite's own. (With 2 s, one of its hundred
# generated requests, eight at a time beside four other parts, once went unanswered in time on a
# loaded machine: "1 failed" for a slow machine, not for a defect.)
SHORT_WAITS = ("timeout=3", "error_timeout=2")


def production_like_run(part: str):
    waits = () if part == "exploring" else SHORT_WAITS
    return run_suite(f"reference_faults={PRODUCTION_DEFECTS}", *PRODUCTION_SETTINGS, *waits,
                     "quiet_window=0.3", "reference_chunk_delay=0.005", scenario_tags=True, args=tuple(PARTS[part]))


def test_a_production_like_backend_fails_only_its_real_defects():
    with ThreadPoolExecutor(len(PARTS)) as pool:
        runs = list(pool.map(production_like_run, PARTS))
    failing = [found for run in runs for found in run.failing_tagged]
    output = "\n".join(run.output for run in runs)
    unexplained = [(name, sorted(tags)) for name, tags in failing
                   if not any(tag in tags and example in name for tag, example in DEFECTS)]
    assert unexplained == [], (unexplained, output[-4000:])
    for (tag, example), message in DEFECTS.items():
        assert any(tag in tags and example in name for name, tags in failing), (tag, example)
        assert message in output, message
    assert len(failing) == len(DEFECTS)
    assert "tool_name=web_search is not an image tool" in output   # the picture check is skipped, with a reason


def test_the_tools_feature_passes_against_a_search_tool_without_results():
    run = run_suite(*PRODUCTION_SETTINGS, tags="@tools")
    assert run.returncode == 0, run.output[-3000:]
    assert "1 scenario passed, 0 failed" in run.output and "not an image tool" in run.output, run.summary
    assert "tool_start(web_search) → text_chunk" in run.output
