"""A stop "while it is read aloud" is sent while the answer's audio arrives, and the bundled backend obeys it (§8)."""
from __future__ import annotations

import json
from pathlib import Path

from tests.behave_runner import run_suite


def kinds_around_the_stop(reports: str) -> tuple[list[str], list[str]]:
    """(kinds of request 1 received before the cancel was sent, kinds received after it)."""
    [path] = Path(reports, "latest").resolve().glob("*/stopping-an-answer-that-is-being-read-aloud*.json")
    entries = json.loads(path.read_text())["connections"]["my connection"]
    cancel = next(e["seq"] for e in entries if e["direction"] == "sent" and e["kind"] == "cancel")
    mine = [e for e in entries if e["direction"] == "received" and e["request"] == 1]
    return [e["kind"] for e in mine if e["seq"] < cancel], [e["kind"] for e in mine if e["seq"] > cancel]


def test_the_stop_lands_in_the_audio_even_when_the_text_takes_longer_than_a_wait():
    # ~370 text chunks 4 ms apart come before any audio: longer than timeout=1, yet the frames keep coming
    run = run_suite("timeout=1", "reference_chunk_delay=0.004", tags="@stop_speech")
    assert run.returncode == 0 and "1 scenario passed" in run.output, run.output[-3000:]
    before, after = kinds_around_the_stop(run.reports)
    assert "audio_chunk" in before and "tts_completed" not in before, before[-5:]
    # The stop is recorded as sent before it is written, and audio the backend sent before it read the
    # stop is still on its way: on a loaded machine, chunks 4 ms apart land after the stop's entry. What
    # the backend owes begins with its confirmation: nothing of the answer but the two flags after it.
    confirmed = after.index("cancelled") if "cancelled" in after else len(after)
    assert set(after[:confirmed]) <= {"audio_chunk"}, after
    assert after[confirmed:confirmed + 3] == ["cancelled", "text_completed", "tts_completed"], after
    assert "audio_chunk" not in after[confirmed:] and "db_operation_executed" not in after, after
