"""support.secrets: tokens are masked in text the suite prints and in every log record websockets writes."""
from __future__ import annotations

import base64
import io
import json
import logging

import pytest

from support.config import Settings
from support.tokens import mint
from support.transcript_view import brief, dump, to_json

SETTINGS = Settings(jwt_secret="secrets-test-secret-0123456789abcdef")
JWT = mint(SETTINGS)
SIGNATURE = JWT.rsplit(".", 1)[1]


@pytest.mark.parametrize("text", [
    f"> GET /chat/ws?token={JWT} HTTP/1.1",
    f"> GET /chat/ws?mode=proactive&token={JWT}&user_id=1 HTTP/1.1",
    f"> Authorization: Bearer {JWT}",
    "> Authorization: Bearer opaque-secret-value-123456",
    "ws://host/chat/ws?token=opaque-secret-value-123456",
    f'< TEXT \'{{"type": "error", "message": "bad token {JWT}"}}\' [300 bytes]',
    f"clipped by a printer {JWT[:70]}…",
])
def test_mask_never_leaves_a_token_whole(text):
    from support import secrets
    masked = secrets.mask(text)
    assert JWT not in masked and SIGNATURE not in masked and "opaque-secret-value-123456" not in masked
    assert "…(" in masked   # recognisable: the start and the length stay


def test_mask_keeps_a_recognisable_prefix_and_ordinary_text():
    from support import secrets
    assert secrets.mask(f"token={JWT}") == f"token={JWT[:6]}…({len(JWT)} chars)"
    text = '{"type": "text_chunk", "content": "Hello there, token of thanks", "chunk_index": 1}'
    assert secrets.mask(text) == text


def record_through(logger_name: str, msg: str, *args) -> str:
    """What a handler on the root logger writes for one record logged at logger_name."""
    from support import secrets
    secrets.install_log_masking()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logger = logging.getLogger(logger_name)
    old = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug(msg, *args)
    finally:
        logger.setLevel(old)
        root.removeHandler(handler)
        root.setLevel(old_level)
    return out.getvalue()


@pytest.mark.parametrize("logger_name", ["websockets.client", "websockets.server", "websockets", "asyncio", "support"])
def test_log_records_of_websockets_and_the_suite_are_masked_in_message_and_args(logger_name):
    written = record_through(logger_name, "> GET %s HTTP/1.1", f"/chat/ws?token={JWT}")
    written += record_through(logger_name, "> %s: %s", "Authorization", f"Bearer {JWT}")
    assert JWT[:6] in written and SIGNATURE not in written


def test_the_filter_masks_an_exception_text_too():
    from support import secrets
    record = logging.LogRecord("websockets.client", logging.ERROR, __file__, 1, "failed", None, None)
    try:
        raise ValueError(f"bad uri ws://h/chat/ws?token={JWT}")
    except ValueError:
        import sys
        record.exc_info = sys.exc_info()
    assert secrets.MaskTokens().filter(record) is True
    assert SIGNATURE not in logging.Formatter().format(record)


def test_importing_the_session_installs_the_masking():
    import support.session  # noqa: F401
    from support import secrets
    assert any(isinstance(f, secrets.MaskTokens) for f in logging.getLogger("websockets.client").filters)


def test_a_token_the_backend_echoes_is_masked_where_the_suite_prints_or_writes_it(b):
    from support import rules
    token = mint(Settings())
    b.ready()
    echoed = b.recv_frame({"type": "debug_echo", "content": f"you sent ?token={token}"})
    b.recv_frame({"type": "text_chunk", "content": 7, "note": token})
    shown = "\n".join([dump(b.tr), brief(echoed), *(str(v) for v in rules.check(b.tr, strict=True))])
    written = json.dumps(to_json(b.tr))
    assert token not in shown and token not in written
    assert token[:6] in written   # masked, not dropped: the frame is still recognisable


PASSWORD = "hunter2-url-password"
BASIC = base64.b64encode(f"u:{PASSWORD}".encode()).decode()   # how websockets sends it


@pytest.mark.parametrize("text, shown", [
    (f"ws://u:{PASSWORD}@127.0.0.1:8000/chat/ws", "ws://u:***@127.0.0.1:8000/chat/ws"),
    (f"ws_url='wss://u:{PASSWORD}@[::1]:99999'", "ws_url='wss://u:***@[::1]:99999'"),
    (f"ws://u:{PASSWORD}@with@at@host/chat/ws?token=x", "ws://u:***@host/chat/ws?token=…"),
    (f"> Authorization: Basic {BASIC}", "> Authorization: Basic ***"),
    ("ws://user@host/chat/ws and http://host/a@b", "ws://user@host/chat/ws and http://host/a@b"),
    ("ws_url='ws://localhost:99999', email='a@b'", "ws_url='ws://localhost:99999', email='a@b'"),   # a port is no password
])
def test_a_password_in_a_url_is_hidden_whole(text, shown):
    from support import secrets
    assert secrets.mask(text).startswith(shown.removesuffix("…"))
    assert PASSWORD not in secrets.mask(text) and BASIC[4:] not in secrets.mask(text)


def no_password_anywhere(run, *folders) -> None:
    from pathlib import Path
    texts = [run.output] + [p.read_text(errors="replace") for f in folders for p in Path(f).rglob("*") if p.is_file()]
    assert [t for t in texts if PASSWORD in t or BASIC in t] == [], "the URL's password was printed or written"
    assert "u:***@" in run.output, run.output[-3000:]   # the URL is still shown, without its password


@pytest.mark.parametrize("make_url", [lambda port: f"ws://u:{PASSWORD}@127.0.0.1:{port}/chat/ws",
                                      lambda port: f"ws://u:{PASSWORD}@127.0.0.1:99999/chat/ws"],
                         ids=["unreachable", "configuration-error"])
def test_a_run_that_cannot_start_never_prints_the_urls_password(make_url, unused_port):
    from tests.behave_runner import run_behave
    run = run_behave("--tags=@chat", env={"RUN_MANUAL_TESTS": "1", "BACKEND_WS_URL": make_url(unused_port)},
                     timeout=120)
    assert run.returncode != 0
    no_password_anywhere(run, run.reports)


def test_a_failing_live_run_at_debug_level_never_prints_or_writes_the_urls_password(tmp_path):
    from support.backend_process import BackendProcess
    from tests.behave_runner import run_behave
    secret = "url-password-run-secret-of-at-least-32-bytes"
    with BackendProcess(secret=secret, faults=["no_text_completed"], chunk_delay=0.001) as backend:
        url = backend.url.replace("ws://", f"ws://u:{PASSWORD}@")
        run = run_behave("--tags=@chat", "-D", "timeout=2", "--logging-level=DEBUG", "-f", "json", "-o",
                         str(tmp_path / "behave.json"), "-f", "plain", "--junit", "--junit-directory",
                         str(tmp_path / "junit"), env={"RUN_MANUAL_TESTS": "1", "BACKEND_WS_URL": url,
                                                       "JWT_SECRET": secret}, timeout=120)
    assert run.returncode != 0 and "waiting for text_completed" in run.output, run.output[-3000:]
    assert "websockets.client" in run.output   # the DEBUG log (with the upgrade's headers) was printed
    no_password_anywhere(run, run.reports, tmp_path)
