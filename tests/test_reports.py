"""Reports: one folder per run, never overwritten; an unwritable folder is a configuration error at
start; every written or printed field is clipped with its full length noted (issue: hardening, item 8)."""
from __future__ import annotations

import json


from support import report, rules, transcript_file
from support.transcript import Recorder
from support.transcript import Transcript
from support.vocabulary import Dialect
from support.transcript_view import dump, flow
from tests.behave_runner import run_behave


def test_each_run_gets_its_own_folder_and_latest_points_at_the_newest(tmp_path):
    first = report.open_run_folder(str(tmp_path))
    second = report.open_run_folder(str(tmp_path))
    assert first != second and first.is_dir() and second.is_dir()
    report.point_latest_at(first)
    report.point_latest_at(second)
    assert (tmp_path / "latest").resolve() == second.resolve()


def test_an_unwritable_reports_folder_stops_the_run_at_start_with_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    run = run_behave("-D", "backend=reference", "-D", f"reports_dir={blocker}/reports", "--tags=@chat")
    assert run.returncode != 0
    assert f"configuration error: reports_dir='{blocker}/reports' cannot be written" in run.output, run.output[-2000:]
    assert "HOOK-ERROR" not in run.output and "Traceback" not in run.output
    assert run.output.strip().splitlines() == [line for line in run.output.splitlines() if "configuration error" in line]


def test_a_huge_field_is_clipped_where_it_is_written_and_printed(tmp_path):
    dialect = Dialect.load("v2")
    tr = Transcript("my connection")
    recorder = Recorder(tr, dialect)
    big_id = "s" * 3_000_000
    for _ in range(5):
        recorder.received(json.dumps({"type": "websocket_ready", "content": "Backend ready", "session_id": big_id}))
    recorder.received(json.dumps({"type": "e" * 1_000_000}))
    checked = [(tr, rules.check(tr))]
    path = transcript_file.write_json(transcript_file.transcript_path(tmp_path, "f", "s"), "f", "s", "passed", checked)
    assert path.stat().st_size < 8 * transcript_file.RAW_LIMIT, "five 3 MB frames are written clipped"
    saved = json.loads(path.read_text())["connections"]["my connection"]
    assert saved[0]["raw_length"] == len(tr.entries[0].raw) and len(saved[0]["raw"]) == transcript_file.RAW_LIMIT
    printed = "\n".join([dump(tr), flow(tr), *report.notices(checked)])
    assert len(printed) < 5000 and "…(1000000 chars)" in printed


def test_every_scenario_name_gets_its_own_transcript_file(tmp_path):
    """Names that differ only in punctuation or case, or are not Latin, all became scenario/scenario.json."""
    names = ["Stop!", "Stop?", "stop", "Stop", "停止回答", "取消回答", "Остановить ответ", "!!!", "", "x" * 300]
    paths = {transcript_file.transcript_path(tmp_path, feature, name) for feature in ("Chat", "Чат") for name in names}
    assert len(paths) == 2 * len(names)
    assert all(len(p.name) < 120 for p in paths)
    assert transcript_file.transcript_path(tmp_path, "Chat", "Stop!") == transcript_file.transcript_path(tmp_path, "Chat", "Stop!")
    assert transcript_file.transcript_path(tmp_path, "Chat", "停止回答").name.startswith("停止回答-")   # still readable
