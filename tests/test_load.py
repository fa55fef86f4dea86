"""Protocol-checked load (support/load.py, features/load.feature): metrics from transcripts without a
socket, then the @load feature against the reference backend, clean and with a fault."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import load
from tests.behave_runner import run_suite
from tests.conftest import conforming_text_reply


def test_samples_of_one_conversation(b):
    b.ready()                                   # t=0.1
    conforming_text_reply(b)                                     # request at 0.2, text at 0.5/0.6/0.7, flags at 1.0/1.1
    b.closed(1000, how="closed by suite")                        # t=1.2
    s = load.samples(b.tr)
    assert s["ws_connecting"] == [100.0]
    assert s["time_to_first_text"] == [300.0]
    assert s["inter_chunk_gap"] == [100.0, 100.0]
    assert s["reply_duration"] == [900.0]
    assert s["ws_session_duration"] == [1200.0]
    assert s["time_to_first_audio"] == []                        # no speech asked
    assert s["ws_msgs_received"] == [10] and s["ws_msgs_sent"] == [1]
    assert load.incomplete_answer(b.tr) is None


def test_first_audio_only_when_speech_was_asked(b):
    b.ready()
    conforming_text_reply(b, speech=True)                        # audio interleaved after the first text piece
    s = load.samples(b.tr)
    assert s["time_to_first_audio"] and s["time_to_first_audio"][0] > s["time_to_first_text"][0]


def test_an_unfinished_answer_has_no_reply_duration_and_says_why(b):
    b.ready()
    b.sent_request()
    b.recv("working", request_type="text")
    b.recv("text_chunk", text="Hel", chunk_index=1)
    assert load.samples(b.tr)["reply_duration"] == []
    assert "did not finish" in load.incomplete_answer(b.tr)


def test_percentiles_are_nearest_rank():
    values = list(range(1, 101))                                 # 1 … 100
    assert load.percentile(values, 50) == 50 and load.percentile(values, 95) == 95
    assert load.percentile(values, 99) == 99 and load.percentile(values, 100) == 100
    assert load.percentile([7.0], 95) == 7.0 and load.percentile([], 95) is None
    s = load.summarize([3.0, 1.0, 2.0])
    assert (s["count"], s["min"], s["p50"], s["max"], s["avg"]) == (3, 1.0, 2.0, 3.0, 2.0)


def test_share_within_counts_a_missing_value_as_a_miss():
    assert load.within([100.0, 900.0, None, 800.0], 800) == 2
    assert load.needed(95, 200) == 190 and load.needed(95, 20) == 19 and load.needed(100, 3) == 3


def test_metrics_and_table_name_metrics_as_k6_does(b):
    b.ready()
    conforming_text_reply(b)
    b.closed(1000, how="closed by suite")
    summary = load.metrics(load.merge([load.samples(b.tr)] * 4), wall_s=2.0)
    assert summary["time_to_first_text"]["count"] == 4 and summary["time_to_first_text"]["p95"] == 300.0
    assert summary["ws_msgs_received"] == {"count": 40, "rate": 20.0}
    text = "\n".join(load.table(summary))
    for name in ("ws_connecting", "ws_session_duration", "ws_msgs_received", "ws_msgs_sent", "time_to_first_text",
                 "inter_chunk_gap", "reply_duration"):
        assert name in text
    assert "time_to_first_audio" not in text                     # no samples: left out


def test_judging_drops_a_clean_transcript_and_keeps_a_broken_one(b, v2):
    b.ready()
    conforming_text_reply(b)
    b.closed(1000, how="closed by suite")

    class Held:   # what judge reads of a Session: its transcript
        transcript = b.tr

    clean = load.judge(load.Customer(1, "customer 1's connection", session=Held()))
    assert clean.clean and clean.session is None and clean.samples["time_to_first_text"] == [300.0]

    from tests.conftest import TranscriptBuilder
    bad = TranscriptBuilder(v2, name="customer 2's connection")
    bad.ready()
    conforming_text_reply(bad, chunk_index=True)
    bad.recv("text_chunk", text="late", chunk_index=9)           # after text_completed: a broken rule
    Held.transcript = bad.tr
    broken = load.judge(load.Customer(2, "customer 2's connection", session=Held()))
    assert broken.violations and broken.session is not None


def test_a_setting_overrides_the_scenarios_number_only_when_given():
    class S:
        load_customers, load_percentile = 0, 101.0
    assert load.chosen(S, "load_customers", 200) == (200, "")
    S.load_customers = 50
    assert load.chosen(S, "load_customers", 200)[0] == 50
    with pytest.raises(AssertionError, match="load_percentile"):
        load.chosen(S, "load_percentile", 95)


# -- the feature, against the reference backend (small numbers: a shared 2-core machine) ------------

GENEROUS = ("load_customers=50", "load_first_text_ms=5000", "load_first_audio_ms=10000", "scenario_budget=300")


def _load_reports(run) -> list[dict]:
    return [json.loads(p.read_text()) for p in Path(run.reports).rglob("*.load.json")]


def test_the_load_feature_passes_against_the_reference_backend():
    run = run_suite(*GENEROUS, tags="@load", timeout=400)
    assert run.returncode == 0, run.output[-4000:]
    assert "2 scenarios passed, 0 failed" in run.output, run.summary
    assert "time_to_first_text" in run.output and "p95" in run.output
    reports = _load_reports(run)
    assert len(reports) == 2 and all(r["customers"] == 50 and not r["failed"] and not r["violations"] for r in reports)
    assert {"ws_connecting", "ws_session_duration", "ws_msgs_received", "ws_msgs_sent", "time_to_first_text",
            "inter_chunk_gap", "reply_duration", "time_to_first_audio"} <= set(reports[0]["metrics"])


def test_a_default_run_leaves_load_out_and_tags_select_it():
    plain = run_suite(args=("features/load.feature",))          # behave.ini default_tags: not @load
    assert "0 scenarios passed, 0 failed, 2 skipped" in plain.output, plain.summary
    chosen = run_suite(tags="@load", args=("--dry-run",))         # --tags replaces default_tags
    assert "2 untested" in chosen.output, chosen.summary


@pytest.mark.parametrize("fault, rule", [("chunk_index_gap", "[chunk_index_sequence]"),
                                         ("session_id_changes", "[session_id_constant]")])
def test_a_broken_rule_under_load_fails_naming_a_customers_connection(fault, rule):
    run = run_suite("load_customers=20", "load_first_text_ms=5000", f"reference_faults={fault}",
                    tags="@load_text", timeout=300)
    assert run.returncode != 0 and "200 customers chat at the same time" in run.failing, run.output[-3000:]
    assert "20 of 20 conversations broke the protocol" in run.output, run.output[-3000:]
    assert rule in run.output and "broken on customer 1's connection" in run.output, run.output[-3000:]
    assert _load_reports(run)[0]["broken_rules"]
