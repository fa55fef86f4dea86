"""A bad setting stops a behave run with one line `configuration error: ...`, a non-zero exit and no
traceback, however deep in the run the value would otherwise have broken something."""
from __future__ import annotations

import pytest

from tests.behave_runner import run_behave

LIVE = {"RUN_MANUAL_TESTS": "1"}
REFERENCE = ("-D", "backend=reference", "--tags=@chat")


@pytest.mark.parametrize("args, env, key", [
    (REFERENCE + ("-D", "jwt_algorithm=RS256"), {}, "jwt_algorithm"),
    (REFERENCE + ("-D", "jwt_algorithm=HS999"), {}, "jwt_algorithm"),
    (REFERENCE, {"JWT_SECRET": ""}, "jwt_secret"),
    ((), {**LIVE, "BACKEND_WS_URL": "ws://localhost:99999/chat/ws"}, "ws_url"),
    ((), {**LIVE, "BACKEND_WS_URL": "ws://localhost:0/chat/ws"}, "ws_url"),
    ((), {**LIVE, "BACKEND_WS_URL": "ws://localhost:8000/chat/ws#fragment"}, "ws_url"),
    (REFERENCE + ("-D", "scenario_budget=nan"), {}, "scenario_budget"),
    (REFERENCE + ("-D", "scenario_budget=inf"), {}, "scenario_budget"),
    (("-D", "connect_timeout=nan"), LIVE, "connect_timeout"),
    (REFERENCE + ("-D", "timeout=inf"), {}, "timeout"),
    (REFERENCE + ("-D", "reference_db=/no/such/dir/x.db"), {}, "reference_db"),
    (("-D", "ws_url=ws://[::1/chat/ws"), LIVE, "ws_url"),
    (REFERENCE + ("-D", "load_customers=1000000000"), {}, "load_customers"),
    (("-D", "dialect=nonsense"), {}, "dialect='nonsense': available dialects are legacy, v2"),
], ids=["rs256-with-hmac-secret", "hs999", "empty-secret", "port-99999", "port-0", "fragment",
        "budget-nan", "budget-inf", "connect-timeout-nan", "timeout-inf", "db-folder-missing", "unclosed-ipv6",
        "a-billion-customers", "no-such-dialect"])
def test_a_bad_setting_is_one_configuration_error_line(args, env, key):
    run = run_behave(*args, env=env, timeout=120)
    lines = [line for line in run.output.splitlines() if line.startswith("configuration error:")]
    assert run.returncode != 0, run.output[-3000:]
    assert "Traceback" not in run.output, run.output[-3000:]
    assert len(lines) == 1, run.output[-3000:]
    assert key in lines[0]
    assert run.output.strip().splitlines() == lines   # stopped before the first scenario: that line, nothing else
