"""support.config: precedence, conversion and the messages for bad values. Never reads os.environ."""
from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from support.config import ConfigError, Settings, load
from support.secrets import redact

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_with_nothing_set():
    s = load({}, {}, environ={})
    assert s == Settings()
    assert s.ws_url == "ws://localhost:8000/chat/ws" and s.dialect == "v2" and s.timeout == 20.0


@pytest.mark.parametrize("userdata, environ, defines, expected", [
    ({}, {}, {}, "v2"),
    ({"dialect": "legacy"}, {}, {}, "legacy"),                                   # behave.ini beats default
    ({"dialect": "v2"}, {"CHAT_SUITE_DIALECT": "legacy"}, {}, "legacy"),         # environment beats behave.ini
    ({"dialect": "v2"}, {"CHAT_SUITE_DIALECT": "v2"}, {"dialect": "legacy"}, "legacy"),  # -D beats environment
    ({"dialect": "legacy"}, {"CHAT_SUITE_DIALECT": "legacy"}, {"dialect": "v2"}, "v2"),
])
def test_precedence(userdata, environ, defines, expected):
    assert load(userdata, defines, environ=environ).dialect == expected


def test_backend_ws_url_alias():
    url = "wss://chat.example.com/chat/ws"
    assert load({"ws_url": "ws://ini:1/chat/ws"}, environ={"BACKEND_WS_URL": url}).ws_url == url


def test_prefixed_variable_beats_alias():
    s = load(environ={"CHAT_SUITE_WS_URL": "ws://prefixed:1/ws", "BACKEND_WS_URL": "ws://alias:2/ws"})
    assert s.ws_url == "ws://prefixed:1/ws"


@pytest.mark.parametrize("environ, expected", [
    ({"MY_AUTH_TOKEN": "backend-name"}, "backend-name"),
    ({"JWT_SECRET": "first-alias", "MY_AUTH_TOKEN": "second-alias"}, "first-alias"),
    ({"CHAT_SUITE_JWT_SECRET": "own", "JWT_SECRET": "first-alias", "MY_AUTH_TOKEN": "x"}, "own"),
])
def test_jwt_secret_aliases(environ, expected):
    assert load(environ=environ).jwt_secret == expected


def test_define_beats_alias():
    assert load(defines={"jwt_secret": "cli"}, environ={"MY_AUTH_TOKEN": "env"}).jwt_secret == "cli"


@pytest.mark.parametrize("key, raw, expected", [
    ("customer_id", "42", 42),
    ("timeout", "2.5", 2.5),
    ("quiet_window", "3", 3.0),
    ("strict_events", "yes", True),
    ("strict_events", "On", True),
    ("require_tool_results", "false", False),
    ("require_tool_results", "0", False),
    ("min_text_chunks", "5", 5),
    ("chat_prompt", "Tell me a joke", "Tell me a joke"),
])
def test_type_conversion(key, raw, expected):
    value = getattr(load({key: raw}, environ={}), key)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("kw, words", [
    ({"defines": {"ws_url": "http://localhost:8000/chat/ws"}}, ["ws_url", "not a ws:// or wss:// URL"]),
    ({"userdata": {"ws_url": "ws://"}}, ["ws_url", "not a ws:// or wss:// URL"]),
    ({"defines": {"no_such_key": "1"}}, ["unknown setting 'no_such_key' given with -D", "known settings:", "ws_url"]),
    ({"userdata": {"timeout": "soon"}}, ["timeout='soon'", "from behave.ini", "not valid"]),
    ({"environ": {"CHAT_SUITE_TIMEOUT": "-1"}}, ["timeout='-1'", "environment CHAT_SUITE_TIMEOUT", "must not be negative"]),
    ({"defines": {"quiet_window": "0"}}, ["quiet_window=0.0", "must be a positive number of seconds"]),
    ({"defines": {"customer_id": "one"}}, ["customer_id='one'", "-D customer_id"]),
    ({"defines": {"strict_events": "maybe"}}, ["strict_events='maybe'", "expected true/false"]),
    ({"defines": {"backend": "cloud"}}, ["backend='cloud'", "'reference'", "'live'"]),
    ({"defines": {"token_transport": "cookie"}}, ["token_transport='cookie'"]),
])
def test_bad_values_give_config_errors_that_say_why(kw, words):
    kw.setdefault("environ", {})
    with pytest.raises(ConfigError) as info:
        load(**kw)
    for word in words:
        assert word in str(info.value)


def test_run_manual_tests_define_is_allowed():
    assert load(defines={"RUN_MANUAL_TESTS": "1"}, environ={}) == Settings()


def test_run_manual_tests_define_is_allowed_when_behave_merged_it_into_userdata():
    assert load({"RUN_MANUAL_TESTS": "1"}, {"RUN_MANUAL_TESTS": "1"}, environ={}) == Settings()


def unknown_setting_message(userdata, defines) -> str:
    with pytest.raises(ConfigError) as info:
        load(userdata, defines, environ={})
    return str(info.value)


def test_typo_in_behave_ini_is_an_error_naming_the_nearest_key():
    message = unknown_setting_message({"timout": "5", "dialect": "v2"}, {})
    assert message == "unknown setting 'timout' in behave.ini [behave.userdata]; did you mean 'timeout'?"


def test_typo_given_with_d_names_the_nearest_key():
    message = unknown_setting_message({}, {"dialekt": "legacy"})
    assert message == "unknown setting 'dialekt' given with -D; did you mean 'dialect'?"


def test_d_typo_merged_into_userdata_is_reported_as_d_not_behave_ini():
    # behave copies -D defines into userdata, so load sees the key in both
    message = unknown_setting_message({"dialect": "v2", "ws_ulr": "ws://x:1/ws"}, {"ws_ulr": "ws://x:1/ws"})
    assert message == "unknown setting 'ws_ulr' given with -D; did you mean 'ws_url'?"


def test_typo_in_both_places_names_each_origin():
    message = unknown_setting_message({"timout": "5", "modle": "x"}, {"modle": "x"})
    assert "'modle' given with -D; did you mean 'model'?" in message
    assert "'timout' in behave.ini [behave.userdata]; did you mean 'timeout'?" in message


def test_unknown_key_with_no_near_match_lists_the_known_settings():
    message = unknown_setting_message({"zzzz": "1"}, {})
    assert "unknown setting 'zzzz' in behave.ini" in message and "did you mean" not in message
    assert "known settings: agent_profile, backend," in message


def test_the_shipped_behave_ini_restates_no_default():
    # Settings is the one source of defaults; behave.ini only says where they live and how to override.
    import configparser
    text = (ROOT / "behave.ini").read_text()
    ini = configparser.ConfigParser()
    ini.read_string(text)
    userdata = dict(ini["behave.userdata"])
    restated = {key: raw for key, raw in userdata.items() if getattr(load({key: raw}, environ={}), key)
                == getattr(Settings(), key)}
    assert not restated, f"behave.ini restates defaults of support/config.py: {restated}"
    assert "support/config.py" in text and "CHAT_SUITE_<KEY>" in text and "-D key=value" in text


def readme_settings_table() -> list[tuple[list[str], str]]:
    """(keys, default cell) of each row of README's table of settings."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("| key | default | environment | what it is |")
    rows = readme[start:readme.index("\n\n", start)].splitlines()[2:]
    return [(re.findall(r"`(\w+)`", cells[0]), cells[1]) for cells in (row.strip("|").split(" | ") for row in rows)]


def test_readme_lists_every_setting_with_the_default_settings_has():
    # README restates the defaults for readers; they must be Settings' (the one source), read as a setting.
    listed, compared = set(), []
    for keys, cell in readme_settings_table():
        listed.update(keys)
        values = [""] * len(keys) if cell.strip() == "empty" else re.findall(r"`([^`]*)`", cell)
        if len(values) == len(keys):   # cells in words ("a development secret") are not compared
            compared += [(key, value) for key, value in zip(keys, values)]
    wrong = {key: value for key, value in compared if getattr(load({key: value}, environ={}), key)
             != getattr(Settings(), key)}
    assert not wrong, f"README's settings table states defaults that are not Settings': {wrong}"
    assert len(compared) > 30
    missing = [f.name for f in fields(Settings) if f.name not in listed and not f.name.startswith("reference_")]
    assert not missing, f"settings README's table does not list: {missing}"


DURATIONS = ("timeout", "error_timeout", "connect_timeout", "quiet_window", "scenario_budget")


@pytest.mark.parametrize("key", DURATIONS)
@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "Infinity", "1e9", "86401"])
def test_durations_must_be_finite_and_below_a_day(key, raw):
    with pytest.raises(ConfigError) as info:
        load(defines={key: raw}, environ={})
    assert f"{key}=" in str(info.value) and "seconds" in str(info.value)


@pytest.mark.parametrize("key", DURATIONS)
def test_a_day_is_still_a_valid_duration(key):
    assert getattr(load(defines={key: "86400"}, environ={}), key) == 86400.0


@pytest.mark.parametrize("key, raw", [("temperature", "nan"), ("reference_chunk_delay", "inf"),
                                      ("reference_jitter", "nan")])
def test_other_numbers_must_be_finite(key, raw):
    with pytest.raises(ConfigError, match=key):
        load(defines={key: raw}, environ={})


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "HS999", "none", "hs256", ""])
def test_an_algorithm_the_suite_cannot_sign_with_is_a_config_error(algorithm):
    with pytest.raises(ConfigError) as info:
        load(defines={"jwt_algorithm": algorithm}, environ={})
    assert "jwt_algorithm" in str(info.value)


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_hmac_algorithms_are_accepted(algorithm):
    assert load(defines={"jwt_algorithm": algorithm}, environ={}).jwt_algorithm == algorithm


@pytest.mark.parametrize("environ", [{"JWT_SECRET": ""}, {"MY_AUTH_TOKEN": ""}, {"CHAT_SUITE_JWT_SECRET": ""}])
def test_an_empty_secret_is_a_config_error(environ):
    with pytest.raises(ConfigError, match="jwt_secret"):
        load(environ=environ)


@pytest.mark.parametrize("url, words", [
    ("ws://localhost:99999/chat/ws", ["port", "1 to 65535"]),
    ("ws://localhost:0/chat/ws", ["port", "1 to 65535"]),
    ("ws://localhost:abc/chat/ws", ["port"]),
    ("ws://localhost:8000/chat/ws#fragment", ["fragment"]),
    ("ws://[::1/chat/ws", ["not a valid URL", "Invalid IPv6 URL"]),
])
def test_a_url_the_suite_cannot_dial_is_a_config_error(url, words):
    with pytest.raises(ConfigError) as info:
        load(environ={"BACKEND_WS_URL": url})
    assert "ws_url" in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_the_secret_never_appears_in_a_config_error():
    secret = "a-secret-that-must-not-be-printed-123"
    with pytest.raises(ConfigError) as info:
        load(defines={"jwt_secret": secret, "jwt_algorithm": "RS256"}, environ={})
    assert secret not in str(info.value)


def test_redacted_settings_hide_the_secret():
    secret = "super-secret-value-123"
    shown = load(defines={"jwt_secret": secret}, environ={}).redacted()
    assert secret not in str(shown) and shown["jwt_secret"] == redact(secret)


def test_names_of_things_above_the_settings_are_plain_strings_checked_where_they_are_loaded():
    # The dialect by Dialect.load (tests/test_vocabulary.py), fault names where the backend starts.
    s = load({}, {"dialect": "klingon", "reference_faults": "chunk_index_gpa, no_ready"}, environ={})
    assert (s.dialect, s.reference_faults) == ("klingon", "chunk_index_gpa, no_ready")


def test_the_settings_import_nothing_above_them():
    code = "import sys, support.config; print(sorted(m for m in sys.modules if m.startswith('support')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['support', 'support.config', 'support.secrets']"


REFERENCE = {"backend": "reference"}


@pytest.mark.parametrize("make_path, words", [
    (lambda tmp: tmp / "no" / "such" / "x.db", ["does not exist", "existing folder"]),
    (lambda tmp: tmp, ["is a folder"]),
    (lambda tmp: (tmp / "garbage.db").write_text("not sqlite" * 100) and tmp / "garbage.db", ["file is not a database"]),
], ids=["no-folder", "a-folder", "not-sqlite"])
def test_a_reference_db_the_backend_cannot_open_is_a_config_error(tmp_path, make_path, words):
    path = str(make_path(tmp_path))
    with pytest.raises(ConfigError) as info:
        load({}, {**REFERENCE, "reference_db": path}, environ={})
    assert f"reference_db={path!r}" in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_a_reference_db_that_is_new_or_sqlite_is_accepted_and_left_untouched(tmp_path):
    new = tmp_path / "new.db"
    assert load({}, {**REFERENCE, "reference_db": str(new)}, environ={}).reference_db == str(new)
    assert not new.exists()   # checking does not create it
    import sqlite3
    sqlite3.connect(new).execute("CREATE TABLE t (x)").connection.close()
    load({}, {**REFERENCE, "reference_db": str(new)}, environ={})
    assert load({}, {"reference_db": "/no/such/dir/x.db"}, environ={})   # ignored against a live backend


@pytest.mark.parametrize("key, raw, words", [
    ("load_customers", "1000000000", ["load_customers=1000000000", "shard"]),
    ("load_customers", "-1", ["load_customers=-1"]),
    ("load_percentile", "101", ["a percentage from 0 to 100"]),
    ("load_connecting", "0", ["a positive number of handshakes"]),
])
def test_load_numbers_are_checked_at_start(key, raw, words):
    with pytest.raises(ConfigError) as info:
        load({}, {key: raw}, environ={})
    for word in words:
        assert word in str(info.value)
    assert load({}, {"load_customers": "1000"}, environ={}).load_customers == 1000


@pytest.mark.parametrize("mb, cap", [("1e-9", 1), ("0.0000001", 1), ("1", 2**20), ("256", 256 * 2**20)])
def test_a_tiny_transcript_cap_is_one_byte_not_no_cap(mb, cap):
    from support.session import Session
    from support.vocabulary import Dialect
    settings = load({}, {"max_transcript_mb": mb}, environ={})
    assert settings.transcript_byte_cap == cap
    assert Session(settings, Dialect.load(settings.dialect)).link.caps.max_bytes == cap   # 0 would mean no cap at all
