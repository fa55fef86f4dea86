"""Tokens are never printed whole: a masking function for any text the suite shows, and a logging
filter that applies it to every record of the websockets loggers and the suite's own.

websockets logs the upgrade request at DEBUG (``> GET /chat/ws?token=…``, ``> Authorization: Bearer …``)
and the frames it reads, so a backend that echoes the token would print it too. Each token keeps
a recognisable start and its length (``redact``): ``eyJhbG…(159 chars)``.

A password in the backend's URL (``ws://user:password@host``, which websockets sends as Basic
authentication) is hidden whole: ``ws://user:***@host``.

Hook for code that prints frames (transcript, reports): ``support.secrets.mask(text) -> text``.
The bottom of the suite: it imports nothing of it, so anything may mask (settings included).
"""
from __future__ import annotations

import logging
import re

# A JWT, also a clipped one (a printer may cut it after the payload); JWT headers are JSON: "eyJ…".
JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)?")
TOKEN_PARAM = re.compile(r"(?i)([?&]token=|\"token\"\s*:\s*\")([^&\s\"'#]+)")
AUTH_HEADER = re.compile(r"(?i)(authorization\"?\s*[:=]\s*\"?(?:(?:bearer|basic)\s+)?)([^\s\"',}]+)")   # Bearer, Basic or bare
BASIC_AUTH = re.compile(r"(?i)(authorization\"?\s*[:=]\s*\"?basic\s+)([A-Za-z0-9+/=]+)")   # base64 of user:password
# A password in a URL's user info (ws://user:password@host/…): greedy up to the last @ before the path.
URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s/?#@:]*:)([^\s/?#\"'<>]*)(@)")
HIDDEN = "***"

# Where websockets logs (websockets.client / .server, set in websockets.protocol), asyncio (its
# errors may quote a URL) and the suite's modules. A logger's filters see only the records logged at
# that very logger, not its children's, so each is named.
LOGGERS = ("websockets", "websockets.client", "websockets.server", "asyncio", "support", "steps", "environment")


def redact(secret: str) -> str:
    """Show enough of a secret or token to recognise it, never the whole of it."""
    if not secret:
        return "(empty)"
    return f"{secret[:6]}…({len(secret)} chars)" if len(secret) > 6 else "…" * 3


def mask(text: str) -> str:
    """The text with every token cut to a recognisable start and its length, and any password in a URL
    replaced by ***; other text unchanged."""
    # Each pattern needs a word of its own ("eyJ", "://", "token", "authorization"): a text without it is
    # not searched (reports mask every frame they show; most hold none of them).
    low = text.lower()
    if "eyJ" in text:
        text = JWT.sub(lambda m: redact(m.group(0)), text)
    if "://" in text:
        text = URL_PASSWORD.sub(lambda m: m.group(1) + HIDDEN + m.group(3) if m.group(2) else m.group(0), text)
    if "token" in low:
        text = TOKEN_PARAM.sub(lambda m: m.group(1) + _redact_once(m.group(2)), text)
    if "authorization" in low:
        text = BASIC_AUTH.sub(lambda m: m.group(1) + HIDDEN, text)   # its start would spell the user and the password's
        text = AUTH_HEADER.sub(lambda m: m.group(1) + _redact_once(m.group(2)), text)
    return text


def _redact_once(value: str) -> str:
    return value if "…(" in value or value == HIDDEN else redact(value)   # already masked


class MaskTokens(logging.Filter):
    """Masks tokens in a record's message (with its args merged in) and in its exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logging's own error to report
            return True
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


_FILTER = MaskTokens()


def install_log_masking() -> None:
    """Put the filter on every logger that may see a token, and on the suite's loggers made so far. Idempotent."""
    names = set(LOGGERS) | {name for name in logging.root.manager.loggerDict
                            if name.split(".")[0] in ("websockets", "support", "steps")}
    for name in sorted(names):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
