"""Named ways a chat backend breaks. `--fault NAME` (repeatable) switches one on.

Each is a realistic bug a backend team could ship; the fault matrix in tests/ proves the suite
catches every one. The description says what the broken backend does.
"""
from __future__ import annotations

FAULTS: dict[str, str] = {
    # connecting and session (§1)
    "no_ready": "never sends websocket_ready",
    "session_id_changes": "stamps a different session_id on events after the first text chunk",
    "stall_after_accept": "accepts the upgrade, then says nothing at all",
    # text reply (§4)
    "late_working": "sends working after the first text chunk",
    "chunk_index_gap": "skips a chunk_index (1, 2, 4, …)",
    "duplicate_chunk": "sends the second text chunk twice",
    "full_response_mismatch": "full_response differs from the streamed text",
    "no_text_completed": "never sends text_completed",
    "double_text_completed": "sends text_completed twice",
    "text_after_completed": "sends a text chunk after text_completed",
    "removed_event": "still sends the removed event 'complete'",
    "malformed_frame": "sends a frame that is not JSON in the middle of a reply",
    "unknown_event": "sends an event type the protocol does not define (caught when strict_events is on)",
    "chunk_index_as_text": "sends chunk_index as a string (\"1\") instead of a number",
    "stall_mid_reply": "stops sending in the middle of a reply, connection left open",
    "drop_mid_reply": "drops the connection in the middle of a reply",
    # speech (§5)
    "no_tts_completed": "never sends tts_completed when speech was asked for",
    "tts_not_requested_with_speech": "answers tts_not_requested although speech was asked for",
    "audio_not_base64": "sends audio chunks that are not base64",
    "audio_before_tts_started": "sends the first audio chunk before tts_started",
    "tts_error_without_completed": "sends tts_error and never tts_completed",
    "audio_count_mismatch": "reports an audio_chunk_count that differs from the chunks sent",
    # tools (§6)
    "tool_result_before_call": "sends the tool result before its tool_start",
    "tool_result_unknown_call": "answers with a tool result whose call_id no call had",
    "double_tool_result": "sends two results for one call",
    "tool_after_text_completed": "sends the tool events after text_completed",
    "tool_without_result": "calls the tool and never sends its result",
    # chat history (§7)
    "history_id_not_reused": "starts a new chat for every request, ignoring the id sent back",
    "unknown_chat_silent": "accepts an unknown chat-history id without a database error",
    # cancellation (§8)
    "cancel_ignored": "ignores cancel: no cancelled, the reply streams to its end",
    "stream_after_cancelled": "sends cancelled but keeps streaming text",
    "close_after_cancel": "closes the socket after a cancel",
    "store_cancelled": "stores the cancelled request (db_operation_executed)",
    # authentication and tenants (§2)
    "accept_expired": "accepts expired tokens",
    "accept_alg_none": "accepts unsigned tokens (alg: none)",
    "accept_missing_id": "accepts tokens without the id claim (as customer 0)",
    "modes_without_token": "lets ?mode=proactive and ?mode=realtime connect without a valid token",
    "cross_tenant": "trusts customer_id and chat ids from the payload instead of the token",
    # errors and closing (§9)
    "invalid_json_kills": "closes the connection (1011) on a frame that is not JSON",
    "no_prompt_silent": "says nothing to a request without a prompt",
    "blank_prompt_served": "answers a blank prompt with an empty reply and no error (as production does)",
    "customer_id_unchecked": "serves any customer_id in the payload (\"abc\", -1) as the token's customer, no error",
    "pong_blocked_while_streaming": "answers ping only after the running reply has finished",
    "close_session_ignored": "ignores close_session",
}


def validate(names: list[str]) -> set[str]:
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        raise SystemExit(f"unknown fault(s): {', '.join(unknown)}; known: {', '.join(sorted(FAULTS))}")
    return set(names)
