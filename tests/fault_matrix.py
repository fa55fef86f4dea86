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
    scenario: str        # a failing scenario's name must contain this
    message: str         # the failure output must contain this
    defines: tuple = ()  # extra -D settings the catching run needs


ROWS = [
    Row("no_ready", "@chat", "A question gets a complete answer", "waiting for websocket_ready"),
    Row("session_id_changes", "@chat", "A question gets a complete answer", "[session_id_constant]"),
    Row("stall_after_accept", "@chat", "A question gets a complete answer", "waiting for websocket_ready"),
    Row("late_working", "@chat", "A question gets a complete answer", "[working_before_content]"),
    Row("chunk_index_gap", "@chat", "A question gets a complete answer", "[chunk_index_sequence]"),
    Row("duplicate_chunk", "@chat", "A question gets a complete answer", "a repeated chunk"),
    Row("full_response_mismatch", "@chat", "A question gets a complete answer", "[text_matches_full_response]"),
    Row("no_text_completed", "@chat", "A question gets a complete answer", "waiting for text_completed"),
    Row("double_text_completed", "@chat", "A question gets a complete answer", "[one_completion_flag_each]"),
    Row("text_after_completed", "@chat", "A question gets a complete answer", "[no_text_after_text_completed]"),
    Row("removed_event", "@chat", "A question gets a complete answer", "[removed_events_absent]"),
    Row("malformed_frame", "@chat", "A question gets a complete answer", "[frames_are_json]"),
    Row("unknown_event", "@chat", "A question gets a complete answer", "[known_events]", ("strict_events=true",)),
    Row("chunk_index_as_text", "@chat", "A question gets a complete answer", "[frames_match_schema]"),
    Row("stall_mid_reply", "@chat", "A question gets a complete answer", "waiting for text_completed"),
    Row("drop_mid_reply", "@chat", "A question gets a complete answer", "connection dropped while waiting"),
    Row("no_tts_completed", "@tts", "An answer is written and spoken", "waiting for request 1 to finish"),
    Row("tts_not_requested_with_speech", "@tts", "An answer is written and spoken", "[speech_not_refused]"),
    Row("audio_not_base64", "@tts", "An answer is written and spoken", "[audio_is_base64]"),
    Row("audio_before_tts_started", "@tts", "An answer is written and spoken", "[tts_started_before_audio]"),
    Row("tts_error_without_completed", "@tts", "An answer is written and spoken", "[tts_error_then_completed]"),
    Row("audio_count_mismatch", "@tts", "An answer is written and spoken", "[audio_chunk_count_matches]"),
    Row("tool_result_before_call", "@tools", "calls its tool", "[tool_result_after_call]"),
    Row("tool_result_unknown_call", "@tools", "calls its tool", "no tool_start with that id"),
    Row("double_tool_result", "@tools", "calls its tool", "a second tool_result"),
    Row("tool_after_text_completed", "@tools", "calls its tool", "[tool_events_within_request]"),
    Row("tool_without_result", "@tools", "calls its tool", "[tool_calls_have_results]"),
    Row("history_id_not_reused", "@session", "continue", "expected the same chat"),
    Row("unknown_chat_silent", "@session", "unknown chat", "no error with stage 'database'"),
    Row("cancel_ignored", "@cancel", "Stopping a long answer", "ran to its end without cancelled"),
    Row("stream_after_cancelled", "@cancel", "Stopping a long answer", "[nothing_after_cancelled]"),
    Row("close_after_cancel", "@cancel", "Stopping a long answer", "close code 1011"),
    Row("store_cancelled", "@cancel", "Stopping a long answer", "[cancelled_not_stored]"),
    Row("accept_expired", "@auth", "an expired token is turned away", "expected a refusal"),
    Row("accept_alg_none", "@auth", "an unsigned token is turned away", "expected a refusal"),
    Row("accept_missing_id", "@auth", "a token without a customer id is turned away", "expected a refusal"),
    Row("modes_without_token", "@auth", "mode also turns away no token", "expected a refusal"),
    Row("cross_tenant", "@tenants", "Customer B cannot write into customer A's chat", "customer B was not refused"),
    Row("invalid_json_kills", "@errors", "A message that is not JSON", "close code 1011"),
    Row("no_prompt_silent", "@errors", "A question without a prompt", "waiting for error"),
    Row("blank_prompt_served", "@errors", "A question with a blank prompt", "waiting for error answering"),
    Row("customer_id_unchecked", "@errors", "customer number is a word is refused", "waiting for error answering"),
    Row("pong_blocked_while_streaming", "@errors", "A ping is answered while an answer streams",
        "after the answer finished"),
    Row("close_session_ignored", "@errors", "Closing the session", "waiting for closing"),
]


def run_fault(row: Row) -> Run:
    return run_suite(f"reference_faults={row.fault}", f"timeout={MATRIX_TIMEOUT}", f"error_timeout={MATRIX_TIMEOUT}",
                     "quiet_window=0.5",
                     "reference_chunk_delay=0.01", *row.defines, tags=row.tags)


def markdown() -> str:
    from support.reference_backend.faults import FAULTS
    lines = ["| fault (`--fault`) | what the broken backend does | caught by (tag: scenario) | message printed |",
             "|---|---|---|---|"]
    for row in ROWS:
        run_with = f" (with `-D {' -D '.join(row.defines)}`)" if row.defines else ""
        lines.append(f"| `{row.fault}` | {FAULTS[row.fault]} | {row.tags}{run_with}: {row.scenario}… | `{row.message}` |")
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:] == ["--run"]:
        for row in ROWS:
            start = time.monotonic()
            run = run_fault(row)
            caught = run.returncode != 0 and row.message in run.output
            print(f"{row.fault:32} {'caught' if caught else 'MISSED':7} {time.monotonic() - start:5.1f}s "
                  f"failing={run.failing}", flush=True)
    else:
        print(markdown())
