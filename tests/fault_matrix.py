"""The fault matrix: each fault of the reference backend, the scenario that catches it, the message.

Used by tests/test_fault_matrix.py (run the suite against each fault, expect the failure) and
rendered into the README (`python -m tests.fault_matrix` prints the table).
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from tests.behave_runner import Run, run_suite

MATRIX_TIMEOUT = 3.0   # seconds per wait in matrix runs: stalls are caught fast


@dataclass(frozen=True)
class Row:
    fault: str
    tags: str            # behave --tags expression that selects the catching scenario(s)
    scenario: str        # the tag of a scenario that must fail (its id: titles may be reworded freely)
    message: str         # the failure output must contain this
    defines: tuple = ()  # extra -D settings the catching run needs
    example: str = ""    # for a Scenario Outline: the example (its table value) that must fail


ROWS = [
    Row("no_ready", "@chat", "@streamed_answer", "waiting for websocket_ready"),
    Row("session_id_changes", "@chat", "@streamed_answer", "[session_id_constant]"),
    Row("stall_after_accept", "@chat", "@streamed_answer", "waiting for websocket_ready"),
    Row("late_working", "@chat", "@streamed_answer", "[working_before_content]"),
    Row("chunk_index_gap", "@chat", "@streamed_answer", "[chunk_index_sequence]"),
    Row("duplicate_chunk", "@chat", "@streamed_answer", "a repeated chunk"),
    Row("full_response_mismatch", "@chat", "@streamed_answer", "[text_matches_full_response]"),
    Row("no_text_completed", "@chat", "@streamed_answer", "waiting for text_completed"),
    Row("double_text_completed", "@chat", "@streamed_answer", "[one_completion_flag_each]"),
    Row("text_after_completed", "@chat", "@streamed_answer", "[no_text_after_text_completed]"),
    Row("removed_event", "@chat", "@streamed_answer", "[removed_events_absent]"),
    Row("malformed_frame", "@chat", "@streamed_answer", "[frames_are_json]"),
    Row("unknown_event", "@chat", "@streamed_answer", "[known_events]", ("strict_events=true",)),
    Row("chunk_index_as_text", "@chat", "@streamed_answer", "[frames_match_schema]"),
    Row("stall_mid_reply", "@chat", "@streamed_answer", "waiting for text_completed"),
    Row("drop_mid_reply", "@chat", "@streamed_answer", "connection dropped while waiting"),
    Row("no_tts_completed", "@tts", "@spoken_answer", "waiting for request 1 to finish"),
    Row("tts_not_requested_with_speech", "@tts", "@spoken_answer", "[speech_not_refused]"),
    Row("audio_not_base64", "@tts", "@spoken_answer", "[audio_is_base64]"),
    Row("audio_before_tts_started", "@tts", "@spoken_answer", "[tts_started_before_audio]"),
    Row("tts_error_without_completed", "@tts", "@spoken_answer", "[tts_error_then_completed]"),
    Row("audio_count_mismatch", "@tts", "@spoken_answer", "[audio_chunk_count_matches]"),
    Row("tool_result_before_call", "@tools", "@tool_call", "[tool_result_after_call]"),
    Row("tool_result_unknown_call", "@tools", "@tool_call", "no tool_start with that id"),
    Row("double_tool_result", "@tools", "@tool_call", "a second tool_result"),
    Row("tool_after_text_completed", "@tools", "@tool_call", "[tool_events_within_request]"),
    Row("tool_without_result", "@tools", "@tool_call", "[tool_calls_have_results]"),
    Row("history_id_not_reused", "@session", "@same_chat", "expected the same chat"),
    Row("unknown_chat_silent", "@session", "@unknown_chat", "no error with stage 'database'"),
    Row("cancel_ignored", "@cancel", "@stop_streaming", "ran to its end without cancelled"),
    Row("stream_after_cancelled", "@cancel", "@stop_streaming", "[nothing_after_cancelled]"),
    Row("close_after_cancel", "@cancel", "@stop_streaming", "close code 1011"),
    Row("store_cancelled", "@cancel", "@stop_streaming", "[cancelled_not_stored]"),
    Row("accept_expired", "@auth", "@bad_token", "expected a refusal", example="an expired token"),
    Row("accept_alg_none", "@auth", "@bad_token", "expected a refusal", example="an unsigned token"),
    Row("accept_missing_id", "@auth", "@bad_token", "expected a refusal", example="a token that names no customer"),
    Row("modes_without_token", "@auth", "@bad_token_in_mode", "expected a refusal", example="no token"),
    Row("cross_tenant", "@tenants", "@cross_chat", "Bob's question was stored in Alice's chat"),
    Row("invalid_json_kills", "@errors", "@garbled", "close code 1011"),
    Row("no_prompt_silent", "@errors", "@no_text", "waiting for error"),
    Row("blank_prompt_served", "@errors", "@blank_text", "waiting for error answering"),
    Row("customer_id_unchecked", "@errors", "@impossible_customer", "waiting for error answering"),
    Row("pong_blocked_while_streaming", "@errors", "@responsive", "after the answer finished"),
    Row("close_session_ignored", "@errors", "@end_conversation", "waiting for closing"),
]


def run_fault(row: Row) -> Run:
    return run_suite(f"reference_faults={row.fault}", f"timeout={MATRIX_TIMEOUT}", f"error_timeout={MATRIX_TIMEOUT}",
                     *row.defines, tags=row.tags, scenario_tags=True)


def caught(row: Row, run: Run) -> bool:
    """The row's scenario (and example) failed, and the output names the broken promise."""
    return run.returncode != 0 and row.message in run.output and any(
        row.scenario in tags and row.example in name for name, tags in run.failing_tagged)


def markdown() -> str:
    from support.reference_backend.faults import descriptions
    lines = ["| fault (`--fault`) | what the broken backend does | caught by (tag: scenario) | message printed |",
             "|---|---|---|---|"]
    for row in ROWS:
        run_with = f" (with `-D {' -D '.join(row.defines)}`)" if row.defines else ""
        example = f" ({row.example})" if row.example else ""
        lines.append(f"| `{row.fault}` | {descriptions()[row.fault]} | {row.tags}{run_with}: {row.scenario}{example} | `{row.message}` |")
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:] == ["--run"]:
        for row in ROWS:
            start = time.monotonic()
            run = run_fault(row)
            print(f"{row.fault:32} {'caught' if caught(row, run) else 'MISSED':7} {time.monotonic() - start:5.1f}s "
                  f"failing={run.failing}", flush=True)
    else:
        print(markdown())
