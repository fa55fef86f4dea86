"""What exploration generates, without a socket: paths, one change at one path, the wire text, the
request schema's strategy, and the sweep."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings

from support import config, protocol
from support.explore import strategies
from support.explore.cases import (BINARY, DEEP, MISSING, NOT_JSON, REQUEST, UNKNOWN_FIELD, VALID, WRONG_TYPE, Case,
                                   Deep, changed, dumps, get, group_path, json_type, paths)
from support.protocol import build_chat_request
from support.schemas import MessageSchemas
from support.vocabulary import Dialect

SETTINGS = config.load({}, {}, environ={})
V2 = Dialect.load("v2")
FAST = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


def test_paths_are_json_pointers_parents_first():
    assert paths({"a/b": {"c~d": [1, {"e": 2}]}}) == ["/a~1b", "/a~1b/c~0d", "/a~1b/c~0d/0", "/a~1b/c~0d/1",
                                                       "/a~1b/c~0d/1/e"]


def test_pointers_are_rfc_6901_array_positions_and_escapes_included():
    frame = {"content": [{"text": "hi"}], "a/b": 1, "m~n": 2}
    assert get(frame, "/content/0/text") == "hi" and get(frame, "/a~1b") == 1 and get(frame, "/m~0n") == 2
    assert protocol.with_value(frame, "/content/0/text", "yo")["content"] == [{"text": "yo"}]
    assert protocol.without(frame, "/a~1b") == {"content": [{"text": "hi"}], "m~n": 2}
    assert frame["a/b"] == 1   # the original is left alone


def test_one_change_at_one_path():
    frame = {"a": {"b": [1, 2]}, "c": "x"}
    assert changed(frame, "/a/b/1", WRONG_TYPE, "2") == {"a": {"b": [1, "2"]}, "c": "x"}
    assert changed(frame, "/c", MISSING) == {"a": {"b": [1, 2]}}
    assert changed(frame, "/a", UNKNOWN_FIELD, ("x_new", None)) == {"a": {"b": [1, 2], "x_new": None}, "c": "x"}
    assert changed(frame, "", WRONG_TYPE, []) == []
    assert frame == {"a": {"b": [1, 2]}, "c": "x"}   # the original is left alone


def test_deep_nesting_is_written_without_recursion():
    text = dumps({"a": Deep(100_000)})
    assert text.startswith('{"a":[[[') and text.count("[") == 100_000 and text.endswith("]]]}")


def test_lone_surrogates_go_on_the_wire_as_escapes():
    assert dumps({"t": "\ud83d"}) == '{"t":"\\ud83d"}'


def test_findings_group_array_positions_together():
    assert group_path("/user_input/prompt/2/text") == group_path("/user_input/prompt/0/text")
    assert group_path("/user_settings/text") != group_path("/user_settings/tts")


def test_from_schema_refuses_a_keyword_it_does_not_know():
    with pytest.raises(ValueError, match="oneOf"):
        strategies.from_schema({"oneOf": [{"type": "string"}]})
    with pytest.raises(ValueError, match="closed"):
        strategies.from_schema({"type": "object", "properties": {}})


@pytest.mark.parametrize("dialect", ["v2", "legacy"])
def test_every_valid_request_fits_the_request_schema(dialect):
    d = Dialect.load(dialect)
    schemas = MessageSchemas.for_dialect(d)

    @FAST
    @given(strategies.from_schema(strategies.generation_schema(d, SETTINGS.customer_id)))
    def fits(frame):
        assert schemas.problems("chat_request", frame) == []
        assert frame["customer_id"] == SETTINGS.customer_id and frame["request_type"] == "text"
        assert all(part["text"].strip() for part in frame["user_input"]["prompt"])
    fits()


@FAST
@given(strategies.cases(SETTINGS, V2))
def test_a_generated_frame_has_at_most_one_change_and_says_where(case):
    if case.family in (NOT_JSON, BINARY):
        assert isinstance(case.wire, (str, bytes))
        return
    if case.change != DEEP:   # (a 100,000-deep value is valid JSON that json.loads cannot read back)
        json.loads(case.wire)
    if case.family == REQUEST and case.change not in (VALID, MISSING, UNKNOWN_FIELD):
        assert get(case.frame, case.path) == case.value
    if case.change == MISSING:
        *parent, last = case.path.split("/")
        holder = get(case.frame, "/".join(parent))
        assert last not in holder if isinstance(holder, dict) else True


def test_the_sweep_changes_every_field_of_the_request_one_at_a_time():
    base = build_chat_request(SETTINGS, SETTINGS.chat_prompt)
    swept = [c for c in strategies.sweep(SETTINGS, V2) if c.family == REQUEST and c.path]
    assert {(c.path, c.change) for c in swept} == {(p, ch) for p in paths(base) for ch in (WRONG_TYPE, "null", MISSING)}
    for case in swept:
        assert _differences(base, case.frame) == [case.path], case.describe()
        if case.change == WRONG_TYPE:
            assert json_type(case.value) != json_type(get(base, case.path))


def _differences(a, b, path=""):
    """The pointers where two JSON values differ, as high up as they do."""
    if type(a) is not type(b) or not isinstance(a, (dict, list)):
        return [] if a == b and type(a) is type(b) else [path]
    if isinstance(a, list):
        if len(a) == len(b) + 1:   # one item removed: where
            i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), len(b))
            return [f"{path}/{i}"] if a[:i] + a[i + 1:] == b else [path]
        if len(a) != len(b):
            return [path]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f"{path}/{i}")]
    keys = set(a) | set(b)
    out = []
    for k in sorted(keys):
        if k not in a or k not in b:
            out.append(f"{path}/{k}")
        else:
            out += _differences(a[k], b[k], f"{path}/{k}")
    return out


def test_a_case_describes_itself_for_a_bug_ticket():
    case = Case(REQUEST, {"a": 0}, "/a", WRONG_TYPE, 0)
    assert case.describe() == "/a = 0 (wrong type)"
    assert Case(REQUEST, {}, "/a", MISSING).describe() == "/a left out"
    assert Case(REQUEST, {"a": Deep(1000)}, "/a", DEEP, Deep(1000)).shown_value() == "(an array nested 1000 deep)"


def test_bad_requests_are_built_by_pointer_from_a_valid_one():
    assert "prompt" not in protocol.request_without(SETTINGS, protocol.PROMPT)["user_input"]
    assert protocol.request_with(SETTINGS, protocol.CUSTOMER, "abc")["customer_id"] == "abc"
    assert "customer_id" not in protocol.request_without(SETTINGS, protocol.CUSTOMER)
    big = protocol.oversized_request(SETTINGS, 1)
    assert len(big) > 2**20 and json.loads(big)["user_input"]["prompt"][0]["text"] == "x" * 2**20
