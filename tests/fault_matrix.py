"""The fault matrix, keyed by scenario: for every scenario (and every example of an outline) a fault of
the reference backend that makes it fail when it runs alone, and the message that says why.

Used by tests/test_fault_matrix.py (run each scenario alone against its fault, expect the failure) and
rendered into the README (`python -m tests.fault_matrix` prints the table; `--run` runs every row).
A row runs over a live socket against one reference backend per process that takes each connection's
faults from its URL (?fault=NAME), by the process's long-lived behave (tests/behave_pool.py); a fault
the backend cannot switch per connection (faults.process_wide) gets a backend of its own, as a user
would start it.
"""
from __future__ import annotations

import atexit
import re
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path

from support import config
from support.backend_process import start_reference
from support.reference_backend.faults import process_wide
from tests.behave_runner import ROOT, Run, run_suite

MATRIX_TIMEOUT = 1.5   # seconds per wait in matrix runs: stalls are caught fast
SMALL_LOAD = "load_customers=5"   # a load scenario run alone needs only a few customers to show a load fault
UNLISTED: set[str] = set()        # scenarios no row needs (none: every scenario is proved)
EXPLORE = "explore_budget=20"     # exploration reports what it found by then


@dataclass(frozen=True)
class Row:
    fault: str
    scenario: str        # the id tag of the scenario that must fail, run alone (titles may be reworded freely)
    message: str         # the failure output must contain this
    defines: tuple = ()  # extra -D settings the run needs
    example: str = ""    # for a Scenario Outline: words of the one example's name that must fail


ROWS = [
    Row("no_ready", "@streamed_answer", "waiting for websocket_ready"),
    Row("session_id_changes", "@streamed_answer", "[session_id_constant]"),
    Row("stall_after_accept", "@streamed_answer", "waiting for websocket_ready"),
    Row("late_working", "@streamed_answer", "[working_before_content]"),
    Row("chunk_index_gap", "@streamed_answer", "[chunk_index_sequence]"),
    Row("duplicate_chunk", "@streamed_answer", "a repeated chunk"),
    Row("full_response_mismatch", "@streamed_answer", "[text_matches_full_response]"),
    Row("no_text_completed", "@streamed_answer", "waiting for text_completed"),
    Row("double_text_completed", "@streamed_answer", "[one_completion_flag_each]"),
    Row("text_after_completed", "@streamed_answer", "[no_text_after_text_completed]"),
    Row("removed_event", "@streamed_answer", "[removed_events_absent]"),
    Row("malformed_frame", "@streamed_answer", "[frames_are_json]"),
    Row("unknown_event", "@streamed_answer", "[known_events]", ("strict_events=true",)),
    Row("chunk_index_as_text", "@streamed_answer", "[frames_match_schema]"),
    Row("stall_mid_reply", "@streamed_answer", "waiting for text_completed"),
    Row("drop_mid_reply", "@streamed_answer", "connection dropped while waiting"),
    Row("answers_lost_under_load", "@load_text", "did not get a complete answer", (SMALL_LOAD,)),
    Row("answers_lost_under_load", "@load_speech", "did not get a complete answer", (SMALL_LOAD,)),
    Row("no_tts_completed", "@spoken_answer", "waiting for request 1 to finish"),
    Row("tts_not_requested_with_speech", "@spoken_answer", "[speech_not_refused]"),
    Row("audio_not_base64", "@spoken_answer", "[audio_is_base64]"),
    Row("audio_before_tts_started", "@spoken_answer", "[tts_started_before_audio]"),
    Row("tts_error_without_completed", "@spoken_answer", "[tts_error_then_completed]"),
    Row("audio_count_mismatch", "@spoken_answer", "[audio_chunk_count_matches]"),
    Row("read_aloud_writes_text", "@read_aloud", "text was written for a speech-only request"),
    Row("read_aloud_silent", "@read_aloud", "no audio for a speech-only request"),
    Row("tool_result_before_call", "@tool_call", "[tool_result_after_call]"),
    Row("tool_result_unknown_call", "@tool_call", "no tool_start with that id"),
    Row("double_tool_result", "@tool_call", "a second tool_result"),
    Row("tool_after_text_completed", "@tool_call", "[tool_events_within_request]"),
    Row("tool_without_result", "@tool_call", "[tool_calls_have_results]"),
    Row("tool_answer_dropped", "@tool_call", "got an empty reply"),
    Row("image_not_decodable", "@image", "does not decode"),
    Row("history_id_not_reused", "@same_chat", "expected the same chat"),
    Row("chats_bound_to_connection", "@new_connection", "expected the same chat"),
    Row("unknown_chat_silent", "@unknown_chat", "no error with stage 'database'"),
    Row("chats_lost_on_restart", "@requires_restart", "expected the same chat"),
    Row("cancel_ignored", "@stop_streaming", "ran to its end without cancelled"),
    Row("stream_after_cancelled", "@stop_streaming", "[nothing_after_cancelled]"),
    Row("close_after_cancel", "@stop_streaming", "close code 1011"),
    Row("store_cancelled", "@stop_streaming", "[cancelled_not_stored]"),
    Row("cancel_idle_answered", "@stop_idle", "events after a cancel with nothing running"),
    Row("cancel_ignored_while_speaking", "@stop_speech", "ran to its end without cancelled"),
    Row("stream_after_cancelled", "@stop_speech", "[nothing_after_cancelled]"),
    Row("cancel_once", "@stop_repeatedly", "ran to its end without cancelled"),
    Row("accept_no_token", "@bad_token", "expected a refusal", example="with no token"),
    Row("accept_garbled_token", "@bad_token", "expected a refusal", example="a garbled token"),
    Row("accept_expired", "@bad_token", "expected a refusal", example="an expired token"),
    Row("accept_wrong_secret", "@bad_token", "expected a refusal", example="the wrong secret"),
    Row("accept_alg_none", "@bad_token", "expected a refusal", example="a token with no signature"),
    Row("accept_missing_id", "@bad_token", "expected a refusal", example="does not say who I am"),
    Row("modes_without_token", "@bad_token_in_mode", "expected a refusal", example="proactive mode also turns away no token"),
    Row("modes_without_token", "@bad_token_in_mode", "expected a refusal", example="realtime mode also turns away no token"),
    Row("accept_expired", "@bad_token_in_mode", "expected a refusal", example="proactive mode also turns away an expired"),
    Row("accept_expired", "@bad_token_in_mode", "expected a refusal", example="realtime mode also turns away an expired"),
    Row("query_token_ignored", "@transport", "close code 4401", example="in the web address"),
    Row("header_token_ignored", "@transport", "close code 4401", example="in the sign-in field"),
    Row("modes_refuse_valid", "@mode_admission", "expected to be let in", example="proactive"),
    Row("modes_refuse_valid", "@mode_admission", "expected to be let in", example="realtime"),
    Row("cross_tenant", "@cross_chat", "Bob's question was stored in Alice's chat", example="claiming to be Bob"),
    Row("cross_tenant", "@cross_chat", "Bob's question was stored in Alice's chat", example="claiming to be Alice"),
    Row("customer_id_unchecked", "@claim_other", "Bob's question was not refused"),
    Row("invalid_json_kills", "@garbled", "close code 1011"),
    Row("no_prompt_silent", "@no_text", "waiting for error"),
    Row("blank_prompt_served", "@blank_text", "waiting for error answering"),
    Row("customer_id_unchecked", "@impossible_customer", "waiting for error answering", example="a word"),
    Row("customer_id_unchecked", "@impossible_customer", "waiting for error answering", example="a negative number"),
    Row("unnamed_customer_refused", "@unnamed_customer", "customer_id required", example="is zero"),
    Row("unnamed_customer_refused", "@unnamed_customer", "customer_id required", example="is empty"),
    Row("unnamed_customer_refused", "@unnamed_customer", "customer_id required", example="is missing"),
    Row("binary_closes", "@not_text", "closed the connection after"),
    Row("large_question_closes", "@large_question", "a refusal must be an error"),
    Row("pong_blocked_while_streaming", "@responsive", "after the answer finished"),
    Row("close_session_ignored", "@end_conversation", "waiting for closing"),
    # Exploration finds what no written scenario sends (its budget keeps a row short).
    Row("empty_answer_on_bad_temperature", "@explore_requests",
        "empty answer with no error at /user_settings/text/temperature", (EXPLORE,)),
    Row("close_on_bad_request_type", "@explore_requests", "closed with code 1000 at /request_type", (EXPLORE,)),
    Row("silent_on_bad_chat_id", "@explore_requests", "no answer in time at /user_input/session_id", (EXPLORE,)),
    Row("answer_then_error_on_bad_history", "@explore_requests", "answer then error at /user_input/chat_history",
        (EXPLORE,)),
    Row("store_cancelled", "@explore_conversations", "[cancelled_not_stored]", (EXPLORE,)),
]


def run_fault(row: Row) -> Run:
    """The row's scenario alone (its id tag, and its example by name) against a backend with the fault:
    this process's shared backend, the fault named in the upgrade URL, run by its long-lived behave (the
    one every other run of this process uses);
    a fault the shared backend cannot switch per connection gets a backend process of its own."""
    name = ("-n", re.escape(row.example)) if row.example else ()
    waits = (f"timeout={MATRIX_TIMEOUT}", f"error_timeout={MATRIX_TIMEOUT}", *row.defines)
    if row.fault in process_wide():
        return run_suite(f"reference_faults={row.fault}", *waits, tags=row.scenario, args=name, scenario_tags=True)
    url, as_reference = shared_backend()
    return run_suite(f"ws_url={url}?fault={row.fault}", *as_reference, *waits, backend="live",
                     env={"RUN_MANUAL_TESTS": "1"}, tags=row.scenario, args=name,
                     scenario_tags=True)


_shared: dict = {}   # this process's backend that takes faults from the URL


def shared_backend() -> tuple[str, tuple[str, ...]]:
    """The shared backend's URL (started on first use, stopped when this process ends) and the -D settings
    that make a live run judge as a reference run does (the settings whose defaults differ by backend)."""
    if not _shared:
        reference = config.load({}, {"backend": "reference"}, environ={})
        live = config.load({}, {"backend": "live"}, environ={})
        backend = start_reference(reference, faults_from_url=True)
        atexit.register(backend.stop)
        differ = [f.name for f in fields(reference) if f.name != "backend"
                  and getattr(reference, f.name) != getattr(live, f.name)]
        _shared.update(url=backend.url,
                       as_reference=tuple(f"{name}={getattr(reference, name)}" for name in differ))
    return _shared["url"], _shared["as_reference"]


def ran_alone(run: Run) -> bool:
    """Exactly one scenario ran (passed, failed or errored); every other one was skipped."""
    lines = re.findall(r"^\d+ scenarios? passed.*$", run.output, re.MULTILINE)
    counts = re.findall(r"(\d+) (?:scenarios? )?(\w+)", lines[-1]) if lines else []
    return bool(counts) and sum(int(n) for n, status in counts if status not in ("skipped", "untested")) == 1


def caught(row: Row, run: Run) -> bool:
    """The row's scenario (and example) ran alone and failed, and the output names the broken promise."""
    return run.returncode != 0 and ran_alone(run) and row.message in run.output and any(
        row.scenario in tags and row.example in name for name, tags in run.failing_tagged)


def scenarios(features: Path = ROOT / "features") -> list[tuple[str, str]]:
    """(id tag, name) of every scenario, and of every example of an outline (its name with the values).
    A scenario's id is its first own tag."""
    from behave.parser import parse_file
    out = []
    for path in sorted(features.glob("*.feature")):
        feature = parse_file(str(path))
        for scenario in feature.scenarios:
            if UNLISTED & set(feature.tags + scenario.tags):
                continue
            for one in getattr(scenario, "scenarios", None) or [scenario]:
                out.append((f"@{scenario.tags[0]}" if scenario.tags else "", one.name))
    return out


def uncovered() -> list[str]:
    """Scenarios (and examples) that no row selects alone and expects to fail."""
    found = scenarios()
    missing = []
    for tag, name in found:
        siblings = [n for t, n in found if t == tag]
        if not any(r.scenario == tag and r.example in name and sum(r.example in n for n in siblings) == 1
                   for r in ROWS):
            missing.append(f"{tag}: {name.strip()}")
    return missing


def markdown() -> str:
    from support.reference_backend.faults import descriptions
    lines = ["| fault (`--fault`) | what the broken backend does | scenario it fails, run alone | message printed |",
             "|---|---|---|---|"]
    for row in ROWS:
        run_with = f" (with `-D {' -D '.join(row.defines)}`)" if row.defines else ""
        example = f" ({row.example})" if row.example else ""
        lines.append(f"| `{row.fault}` | {descriptions()[row.fault]} | {row.scenario}{example}{run_with} | `{row.message}` |")
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:] == ["--run"]:
        for row in ROWS:
            start = time.monotonic()
            run = run_fault(row)
            print(f"{row.fault:32} {row.scenario + (' ' + row.example if row.example else ''):60} "
                  f"{'caught' if caught(row, run) else 'MISSED':7} {time.monotonic() - start:5.1f}s "
                  f"failing={run.failing}", flush=True)
    else:
        print(markdown())
