"""Protocol-checked load (support/load.py, support/load_results.py, features/load.feature): metrics from
transcripts without a socket, the results file and its merge, the runner's progress and time limit over
real sockets, then the @load feature against the reference backend, clean and with a fault."""
from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from support import load, load_results
from support.backend_process import BackendProcess
from support.config import load as load_settings
from support.html_report import ScenarioView, scenario_html
from support.protocol import CloseKind
from support.vocabulary import Dialect
from tests.behave_runner import ROOT, run_suite
from tests.conftest import conforming_text_reply

SECRET = "load-test-secret-of-at-least-32-bytes!!"


def test_samples_of_one_conversation(b):
    b.ready()                                   # t=0.1
    conforming_text_reply(b)                                     # request at 0.2, text at 0.5/0.6/0.7, flags at 1.0/1.1
    b.closed(1000, how=CloseKind.BY_SUITE)                        # t=1.2
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
    assert load_results.percentile(values, 50) == 50 and load_results.percentile(values, 95) == 95
    assert load_results.percentile(values, 99) == 99 and load_results.percentile(values, 100) == 100
    assert load_results.percentile([7.0], 95) == 7.0 and load_results.percentile([], 95) is None
    s = load_results.summarize([3.0, 1.0, 2.0])
    assert (s["count"], s["min"], s["p50"], s["max"], s["avg"]) == (3, 1.0, 2.0, 3.0, 2.0)


def test_every_metric_shows_k6s_avg_p90_p95_p99_and_max():
    s = load_results.summarize([float(v) for v in range(1, 101)])
    assert (s["avg"], s["p90"], s["p95"], s["p99"], s["max"]) == (50.5, 90.0, 95.0, 99.0, 100.0)
    lines = load_results.table(load_results.metrics({"time_to_first_text": [float(v) for v in range(1, 101)]}, 1.0))
    assert lines[0].split() == ["metric", "count", "avg", "p90", "p95", "p99", "max"]
    assert lines[1].split() == ["time_to_first_text", "100", "50", "ms", "90", "ms", "95", "ms", "99", "ms", "100", "ms"]


def test_share_within_counts_a_missing_value_as_a_miss():
    assert load.within([100.0, 900.0, None, 800.0], 800) == 2
    assert load.needed(95, 200) == 190 and load.needed(95, 20) == 19 and load.needed(100, 3) == 3


def test_metrics_and_table_name_metrics_as_k6_does(b):
    b.ready()
    conforming_text_reply(b)
    b.closed(1000, how=CloseKind.BY_SUITE)
    summary = load_results.metrics(load_results.combine([load.samples(b.tr)] * 4), wall_s=2.0)
    assert summary["time_to_first_text"]["count"] == 4 and summary["time_to_first_text"]["p95"] == 300.0
    assert summary["ws_msgs_received"] == {"count": 40, "rate": 20.0}
    text = "\n".join(load_results.table(summary))
    for name in ("ws_connecting", "ws_session_duration", "ws_msgs_received", "ws_msgs_sent", "time_to_first_text",
                 "inter_chunk_gap", "reply_duration"):
        assert name in text
    assert "time_to_first_audio" not in text                     # no samples: left out


def test_judging_drops_a_clean_transcript_and_keeps_a_broken_one(b, v2):
    b.ready()
    conforming_text_reply(b)
    b.closed(1000, how=CloseKind.BY_SUITE)

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


# -- the results file and the merge of sharded runs ------------------------------------------------

def _shard(first_text: list[float], broken: int, gap: list[float]) -> load_results.Results:
    return load_results.Results(customers=len(first_text), answered=len(first_text), broken=broken, unfinished=0,
                                wall_s=2.0, broken_rules={"session_id_constant": broken} if broken else {},
                                samples={"time_to_first_text": first_text, "inter_chunk_gap": gap,
                                         "ws_msgs_received": [10.0] * len(first_text)})


def test_two_sharded_files_merge_into_one_p95_over_all_samples(tmp_path):
    fast = [float(v) for v in range(1, 101)]                    # shard A: 1 … 100 ms, p95 95
    slow = [float(v) for v in range(1000, 1020)]                # shard B: 20 slow customers, p95 1,018
    a = load_results.write(tmp_path / "a.load.json", _shard(fast, 0, [1.0, 2.0]))
    b = load_results.write(tmp_path / "b.load.json", _shard(slow, 3, [5.0]))
    out = tmp_path / "merged.load.json"
    done = subprocess.run([sys.executable, "-m", "support.load_results", "merge", str(a), str(b), "-o", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    union = load_results.percentile(fast + slow, 95)
    assert union == 1013.0                                       # neither shard's p95, nor their mean
    merged = json.loads(out.read_text())
    assert merged["metrics"]["time_to_first_text"]["p95"] == union
    assert merged["customers"] == 120 and merged["broken"] == 3 and merged["broken_rules"] == {"session_id_constant": 3}
    assert merged["shards"] == 2 and sorted(merged["samples"]["time_to_first_text"]) == fast + slow
    assert merged["metrics"]["ws_msgs_received"] == {"count": 1200, "rate": 600.0}   # shards ran at the same time
    assert "load: 120 customers in 2 shards" in done.stdout and "1,013 ms" in done.stdout, done.stdout
    assert load_results.read(out).summary() == merged["metrics"]   # a merged file merges again


def test_merge_refuses_a_file_without_raw_samples(tmp_path):
    old = tmp_path / "old.load.json"
    old.write_text(json.dumps({"customers": 3, "metrics": {}}))
    done = subprocess.run([sys.executable, "-m", "support.load_results", "merge", str(old)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "raw samples" in done.stderr and "Traceback" not in done.stderr


def test_the_html_report_shows_the_actual_count_percentiles_and_broken_share(tmp_path):
    transcript = tmp_path / "200-customers-chat-at-the-same-time.json"
    load_results.write(transcript.with_name(transcript.stem + ".load.json"),
                       _shard([float(v) for v in range(1, 51)], 50, [1.0]))
    view = ScenarioView("Many customers", "Scenario", "200 customers chat at the same time", ["load"], "failed", 1.0,
                        [], message="50 of 50 conversations broke the protocol", transcripts_path=str(transcript))
    page = scenario_html(view, 1)
    summary = page[page.index("<summary>"):page.index("</summary>")]
    assert "load: 50 customers" in summary and "50 of 50 broke a protocol rule (100.0%)" in summary
    body = page[page.index("</summary>"):page.index("Why it failed")]   # before the folded message
    for head in ("avg", "p90", "p95", "p99", "max"):
        assert f"<th>{head}</th>" in body
    assert "<td>time_to_first_text</td><td>50</td>" in body and "[session_id_constant] on 50" in body


# -- the runner, over real sockets -----------------------------------------------------------------

def _run(url: str, count: int, **kw) -> tuple[load.LoadRun, list[str]]:
    settings = load_settings({}, {"ws_url": url, "jwt_secret": SECRET, "timeout": "30"}, environ={})
    lines: list[str] = []
    run = asyncio.run(load.run_customers(settings, Dialect.load(settings.dialect), count, progress=lines.append, **kw))
    return run, lines


def test_progress_is_printed_while_the_run_goes_on():
    with BackendProcess(secret=SECRET, chunk_delay=0.25) as backend:   # ten pieces: about 2.5 s an answer
        run, lines = _run(backend.url, 5)
    assert not run.failed() and not run.broken()
    assert len(lines) >= 3, lines                                # at least one a second, and the last
    assert lines[0].startswith("load ") and "5 of 5 conversations started, 0 finished, 0 broken, 0 failed" in lines[0]
    assert "5 finished, 0 broken, 0 failed; p95 time_to_first_text" in lines[-1] and not lines[-1].endswith(" -")


def test_a_conversation_still_running_when_the_run_ends_counts_as_failed_unfinished():
    with BackendProcess(secret=SECRET, faults=["stall_mid_reply"]) as backend:
        run, lines = _run(backend.url, 4, limit_s=1.5)
    assert len(run.failed()) == 4 and all(c.unfinished for c in run.customers)
    assert run.customers[0].failure.startswith("unfinished: still running when the load run ended")
    assert not run.broken()                                      # stopped by the suite: no flag was owed yet
    results = run.results()
    assert (results.unfinished, results.answered) == (4, 0) and "4 unfinished" in results.head()
    assert "4 finished, 0 broken, 4 failed" in lines[-1]


# -- the feature, against the reference backend (small numbers: a shared 2-core machine) ------------

GENEROUS = ("load_customers=50", "load_first_text_ms=5000", "load_first_audio_ms=10000", "scenario_budget=300")


def _load_reports(run) -> list[dict]:
    return [json.loads(p.read_text()) for p in Path(run.reports).rglob("*.load.json")]


def test_the_load_feature_passes_against_the_reference_backend():
    run = run_suite(*GENEROUS, tags="@load", timeout=400)
    assert run.returncode == 0, run.output[-4000:]
    assert "2 scenarios passed, 0 failed" in run.output, run.summary
    assert "time_to_first_text" in run.output and "p95" in run.output
    assert "50 of 50 conversations started, 50 finished, 0 broken, 0 failed; p95 time_to_first_text" in run.output
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
    # the conversations explained are those whose transcripts were kept: the first to finish broken
    assert rule in run.output and re.search(r"broken on customer \d+'s connection", run.output), run.output[-3000:]
    assert _load_reports(run)[0]["broken_rules"]


def test_the_load_run_stops_within_the_scenario_budget_and_counts_the_rest_unfinished():
    run = run_suite("load_customers=5", "reference_faults=stall_mid_reply", "timeout=120", "scenario_budget=6",
                    tags="@load_text", timeout=120)
    assert run.returncode != 0 and "watchdog" not in run.output, run.output[-3000:]
    assert "5 of 5 customers did not get a complete answer" in run.output, run.output[-3000:]
    assert "unfinished: still running when the load run ended at its time limit of 4.8 s" in run.output
    report = _load_reports(run)[0]
    assert report["unfinished"] == 5 and len(report["failed"]) == 5
