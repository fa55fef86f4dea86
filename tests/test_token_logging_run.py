"""No complete JWT reaches the terminal, even at --logging-level=DEBUG where websockets logs the upgrade
request (its ?token= and Authorization header) and the frames."""
from __future__ import annotations

import re

import pytest

from tests.behave_runner import run_suite

# A whole token: header, payload and a signature long enough to be the real one.
WHOLE_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{20,}")
# A failing scenario makes behave print the log it captured (capture_log = true in behave.ini).
FAILING = ("reference_faults=no_text_completed", "timeout=2")


@pytest.mark.parametrize("transport, capture", [("query", ()), ("header", ()), ("query", ("--no-logcapture",))],
                         ids=["query-token-captured-log", "header-token-captured-log", "query-token-no-logcapture"])
def test_debug_logging_never_prints_a_whole_token(transport, capture):
    run = run_suite(*FAILING, f"token_transport={transport}", tags="@chat",
                    args=("--logging-level=DEBUG", *capture), timeout=120)
    assert run.returncode != 0 and "waiting for text_completed" in run.output, run.output[-3000:]
    if not capture:
        assert "websockets.client" in run.output, "the captured DEBUG log was not printed: nothing was tested"
    leaked = WHOLE_JWT.findall(run.output)
    assert not leaked, f"whole tokens printed: {[t[:20] + '…' for t in leaked]}"
