"""The wire layer decodes each frame once; the transcript stores, attributes and indexes what it made.

These tests pin the behaviour, never a time: the wire's entries are exactly what a plain json.loads
decoder makes (decode, label, request, schema problems; orjson must never change a value), every
indexed query answers what a scan of the entries answers, on random transcripts (fixed seeds), and
the session's caps count what a frame costs to hold.
"""
from __future__ import annotations

import json
import random
import threading
from types import SimpleNamespace

import pytest

from support import rules
from support.protocol import CHAT_REQUEST, RequestTracker, build_chat_request, is_chat_request, request_fields
from support.link import Caps, Flooded
from support.schemas import MessageSchemas, SchemaProblem
from support.transcript import CLOSED, RAW, RECEIVED, SENT, Recorder, Transcript
from support.wire import Wire, held_size, settled_fields
from support.vocabulary import Dialect, available_dialects

KINDS_WEIGHTED = ["text_chunk"] * 6 + ["audio_chunk"] * 2 + [
    "working", "pong", "ready", "text_completed", "tts_completed", "tts_not_requested", "text_not_requested",
    "tts_started", "cancelled", "error", "tool_start", "tool_result", "db_operation_executed", "thinking_chunk",
    "model_in_use", "text_generation_completed", "tts_error", "tts_file_uploaded", "closing", "custom_event"]


class _Settings:
    customer_id, model, temperature, tts_provider, tts_voice, agent_profile = 1, "m", 0.1, "", "", ""


def random_frames(rng: random.Random, dialect: Dialect, n: int) -> list[tuple[str, object]]:
    """(direction, payload) in order: requests and control frames sent, events received (some broken)."""
    out: list[tuple[str, object]] = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.06:
            out.append((SENT, json.dumps(build_chat_request(_Settings, f"question {i}", speech=rng.random() < .5))))
            continue
        if roll < 0.09:
            out.append((SENT, json.dumps(dialect.client_frame(rng.choice(["ping", "cancel", "close_session"])))))
            continue
        if roll < 0.10:
            out.append((SENT, rng.choice(["not json", '{"odd": 1}', "[1, 2]"])))
            continue
        if roll < 0.13:
            out.append((RECEIVED, rng.choice(["not json {", b"\x00\x01binary", '{"no": "type"}', "[]",
                                              '{"type": "complete"}', '{"type": "brandNewEvent", "x": 1}',
                                              "[" * 3000 + "]" * 3000, "[" * 1100 + "]" * 1100,
                                              # where orjson and json could differ: json must decide
                                              '{"type": "text_chunk", "content": "a", "chunk_index": 18446744073709551617}',
                                              '{"type": "text_chunk", "content": "\\ud800", "chunk_index": 1}',
                                              '{"type": "pong", "timestamp": NaN}', '{"type": "pong", "timestamp": 1e400}',
                                              '{"type": "db_operation_executed", "content": {"user_message_id": '
                                              '1180591620717411303424, "ai_message_id": 2, "session_id": "c"}}',
                                              '{"type": "pong", "timestamp": 1.5, "session_id": "s"}'])))
            continue
        kind = rng.choice([k for k in KINDS_WEIGHTED if k in dialect.events])
        fields = {}
        spec = dialect.events[kind]
        for name in spec.fields:
            if rng.random() < 0.7:
                fields[name] = rng.choice(["x", "hello", 1, 2, True, None, {"a": 1}, "call_1"]) \
                    if name not in ("chunk_index",) else rng.choice([1, 2, 3, "3"])
        try:
            frame = dialect.encode(kind, **{k: v for k, v in fields.items() if v is not None})
        except (KeyError, TypeError, ValueError):
            frame = dialect.encode(kind)
        out.append((RECEIVED, json.dumps(frame)))
    return out


def plain_entries(dialect: Dialect, frames) -> list[tuple]:
    """What a plain decoder makes: every frame parsed by json.loads, labelled, attributed and checked
    against its schema (jsonschema alone) as it arrived (the code of support/recorder.py of issue 12)."""
    schemas = MessageSchemas.for_dialect(dialect)
    tracker = RequestTracker()
    out = []
    for seq, (direction, payload) in enumerate(frames, 1):
        data, parse_error, problems, label = None, None, [], ""
        if direction == RECEIVED:
            if isinstance(payload, bytes):
                kind, fields, parse_error, label = "malformed", {}, "binary frame from the server", "(binary)"
            else:
                try:
                    data = json.loads(payload)
                except (ValueError, RecursionError) as exc:
                    kind, fields, parse_error, label = "malformed", {}, f"not JSON: {exc}", "(not JSON)"
                else:
                    kind, fields = dialect.decode(data)
                    try:
                        problems = schemas.problems(kind, data)
                    except RecursionError:
                        problems = [SchemaProblem.of("the frame is nested too deeply to check against its schema", True)]
                    label = dialect.label(data)
                    parse_error = None if kind != "malformed" else "JSON without a type field"
        else:
            try:
                data = json.loads(payload)
            except ValueError:
                data = None
            control = dialect.client_kind(data)
            if control:
                kind, fields = control, {}
            elif is_chat_request(data):
                kind, fields = CHAT_REQUEST, request_fields(data)
            else:
                kind, fields = RAW, {}
            label = kind
        request = tracker.attribute(direction == SENT, direction == RECEIVED, kind, SimpleNamespace(fields=fields))
        out.append((seq, direction, kind, payload, data, parse_error, fields, label, request,
                    [(str(p), p.required) for p in problems]))
    return out


def as_tuple(e) -> tuple:
    return (e.seq, e.direction, e.kind, e.raw, e.data, e.parse_error, e.fields, e.label, e.request,
            [(str(p), p.required) for p in e.schema_problems])


def record(dialect: Dialect, frames, rng: random.Random | None = None) -> Transcript:
    """Frames fed as the live session feeds them; with rng, queries are asked at random moments in between."""
    tr = Transcript("recorded")
    recorder = Recorder(tr, dialect)
    for i, (direction, payload) in enumerate(frames):
        if direction == RECEIVED:
            recorder.received(payload, t=i / 10)
        else:
            recorder.sent(payload, t=i / 10)
        if rng is not None and rng.random() < 0.05:
            rng.choice([lambda: tr.first("text_chunk"), tr.last_request, tr.received, lambda: tr.of_kind("error")])()
    return tr


@pytest.mark.parametrize("dialect_name", available_dialects())
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_wire_gives_the_entries_a_plain_json_decoder_gives(dialect_name, seed):
    dialect = Dialect.load(dialect_name)
    rng = random.Random(seed)
    frames = random_frames(rng, dialect, 400)
    recorded = record(dialect, frames, rng)
    expected = plain_entries(dialect, frames)
    assert [as_tuple(e) for e in recorded.entries] == expected
    assert repr([as_tuple(e) for e in recorded.entries]) == repr(expected)   # the same types: 2**70 stays an int


@pytest.mark.parametrize("seed", range(6))
def test_indexed_queries_agree_with_scans(seed):
    dialect = Dialect.load("v2" if seed % 2 else "legacy")
    rng = random.Random(100 + seed)
    frames = random_frames(rng, dialect, 300)
    tr = record(dialect, frames, rng)
    if seed % 3 == 0:
        Recorder(Transcript(), dialect)   # another recorder does not disturb this transcript
        Recorder(tr, dialect).closed("closed by backend", "x", t=99.0)
    entries = tr.entries
    received = [e for e in entries if e.direction == RECEIVED]
    assert tr.received() == received
    assert tr.sent() == [e for e in entries if e.direction == SENT]
    for kind in (CHAT_REQUEST, "ping", "cancel", RAW):
        assert tr.sent(kind) == [e for e in entries if e.direction == SENT and e.kind == kind]
    assert tr.requests() == [e for e in entries if e.direction == SENT and e.kind == CHAT_REQUEST]
    closes = [e for e in entries if e.direction == CLOSED]
    assert tr.closed() == (closes[0] if closes else None)
    kinds = sorted({e.kind for e in received}) + ["never_sent"]
    requests = [None] + list(range(0, tr.last_request() + 2))
    for _ in range(300):
        chosen = tuple(rng.sample(kinds, rng.choice([1, 1, 2, 3])))
        after = rng.choice([0, rng.randrange(0, len(entries) + 2)])
        request = rng.choice(requests)
        scan = [e for e in received if e.kind in chosen and e.seq > after and (request is None or e.request == request)]
        assert tr.of_kind(*chosen, after=after, request=request) == scan, (chosen, after, request)
        assert tr.first(*chosen, after=after, request=request) == (scan[0] if scan else None)
    for number in requests[1:]:
        assert tr.events_of_request(number) == [e for e in received if e.request == number]
        assert tr.reply_text(number) == "".join(str(e.fields.get("text", "")) for e in received
                                                if e.kind == "text_chunk" and e.request == number)
    assert len(tr) == len(entries) == len(frames) + bool(closes)


def test_a_frame_that_fits_is_never_worded_and_one_that_does_not_is_worded_once(v2, monkeypatch):
    tr = Transcript()
    recorder = Recorder(tr, v2)
    checked = []
    problems = recorder.wire.schemas.problems
    monkeypatch.setattr(recorder.wire.schemas, "problems", lambda *a: checked.append(a[0]) or problems(*a))
    for i in range(50):
        recorder.received(json.dumps(v2.encode("text_chunk", text=f"w{i}", chunk_index=i + 1)), t=i / 100)
    off = recorder.received('{"type": "text_chunk", "content": 5, "chunk_index": 51}', t=1.0)
    assert tr.first("text_chunk").fields == {"text": "w0", "chunk_index": 1}
    assert checked == [] and tr.off_schema() == [off]     # the fast check judged them; nothing worded yet
    found = rules.check(tr, ["frames_match_schema"])
    assert checked == ["text_chunk"] and [v.seq for v in found] == [off.seq]
    rules.check(tr, ["frames_match_schema"])
    assert checked == ["text_chunk"]                      # worded once


def test_stamps_are_the_arrival_stamps_not_the_decoding_time(v2):
    tr = Transcript()
    recorder = Recorder(tr, v2)
    recorder.received('{"type": "pong"}', t=1.25)
    recorder.received('{"type": "pong"}')                 # no stamp given: stamped now, on arrival
    stamped = tr.now()
    assert [e.t for e in tr.entries][0] == 1.25 and tr.entries[1].t <= stamped


def test_requests_are_numbered_as_they_are_sent(v2):
    tr = Transcript()
    recorder = Recorder(tr, v2)
    recorder.received(json.dumps(v2.encode("ready", session_id="s")))
    first = recorder.sent(json.dumps(build_chat_request(_Settings, "one")))
    second = recorder.sent(json.dumps(build_chat_request(_Settings, "two")))
    assert (first.seq, first.request, second.seq, second.request) == (2, 1, 3, 2)
    recorder.received(json.dumps(v2.encode("working")))
    assert tr.first("working").request == 1 and tr.last_request() == 2 and not tr.request_finished(1)


def test_the_caps_stop_a_flood_on_the_receive_path():
    caps = Caps(max_frames=3, max_bytes=None)
    for _ in range(3):
        caps.count('{"type": "pong"}')
    with pytest.raises(Flooded):
        caps.count('{"type": "pong"}')
    caps = Caps(max_frames=None, max_bytes=40)
    caps.count('{"type": "pong"}')
    with pytest.raises(Flooded):
        caps.count('{"type": "pong", "pad": "' + "x" * 30 + '"}')


def test_the_caps_count_what_a_frame_of_tiny_objects_costs_once_parsed():
    """A frame's characters undercount it: 3 MiB of [{},{},…] is a million dicts once parsed."""
    tiny = "[" + ",".join(["{}"] * 2**20) + "]"
    assert held_size(tiny) > 64 * 2**20 > 20 * len(tiny)
    with pytest.raises(Flooded, match="past the cap"):
        Caps(max_frames=None, max_bytes=64 * 2**20).count(tiny)
    text = '{"type": "audio_chunk", "content": "' + "QUJD" * 2**18 + '"}'   # 1 MiB of base64: no parts
    assert held_size(text) < len(text) + 1000
    assert held_size(b"\x00" * 10000) == 10000


def test_a_reader_thread_and_a_querying_thread_see_one_consistent_transcript(v2):
    tr = Transcript()
    recorder = Recorder(tr, v2)
    frames = [json.dumps(v2.encode("text_chunk", text=str(i), chunk_index=i + 1)) for i in range(20000)]
    done = threading.Event()

    def reader():
        for i, frame in enumerate(frames):
            recorder.received(frame, t=float(i))
            if i == 5000:
                recorder.sent(json.dumps(build_chat_request(_Settings, "q")), t=float(i))
        done.set()

    thread = threading.Thread(target=reader)
    thread.start()
    seen = 0
    while not done.is_set() or seen < len(frames):
        got = tr.of_kind("text_chunk")
        assert [e.fields["text"] for e in got] == [str(i) for i in range(len(got))]
        assert len(got) >= seen
        seen = len(got)
        tr.first("text_chunk", after=rng_after(seen))
    thread.join()
    entries = tr.entries
    assert [e.seq for e in entries] == list(range(1, len(frames) + 2))
    assert [e.request for e in entries[5002:5010]] == [1] * 8 and entries[5001].kind == CHAT_REQUEST


def test_judges_on_two_threads_while_frames_arrive_list_each_misfit_once(v2):
    """Transcript.settled settles each entry once and collects the misfits once, however many judges ask
    at the same time while the reader adds (every third frame here is off its schema)."""
    tr = Transcript()
    recorder = Recorder(tr, v2)
    frames = [json.dumps(v2.encode("text_chunk", text=str(i), chunk_index=i + 1 if i % 3 else "one"))
              for i in range(6000)]
    done = threading.Event()
    seen_wrong: list = []   # what a judge saw amiss (an assert inside a thread would not fail the test)

    def reader():
        for i, frame in enumerate(frames):
            recorder.received(frame, t=float(i))
        done.set()

    def judge():
        while not done.is_set():
            off = tr.off_schema()
            if [e.seq for e in off] != sorted({e.seq for e in off}) or any(
                    e.fields["chunk_index"] != "one" for e in off):
                seen_wrong.append([e.seq for e in off])

    threads = [threading.Thread(target=reader), threading.Thread(target=judge), threading.Thread(target=judge)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not seen_wrong, seen_wrong[:1]
    assert [e.seq for e in tr.off_schema()] == list(range(1, 6001, 3))
    assert all(f is not None for f in map(settled_fields, tr.settled()))


def rng_after(seen: int) -> int:
    return max(0, seen - 7)


@pytest.mark.parametrize("dialect_name", available_dialects())
def test_the_label_is_the_dialects_label(dialect_name):
    dialect = Dialect.load(dialect_name)
    recorder = Recorder(Transcript(), dialect)
    frames = [dialect.encode(kind) for kind in dialect.events]
    frames += [{"type": t} for t in dialect.removed_types] + [{"type": "brandNew"}, {"no": "type"}, [1], {"type": 3}]
    for frame in frames:
        assert recorder.wire.received(json.dumps(frame), 0.0).label == dialect.label(frame), frame


def test_entry_data_is_parsed_again_when_not_kept(v2):
    tr = Transcript()
    recorder = Recorder(tr, v2)
    small = {"type": "text_chunk", "content": "hi", "chunk_index": 1}
    large = {"type": "text_chunk", "content": "x" * 5000, "chunk_index": 2}
    recorder.received(json.dumps(small))
    recorder.received(json.dumps(large))
    assert [e.data for e in tr.entries] == [small, large]
