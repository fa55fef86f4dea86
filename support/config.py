"""Every setting of the suite, read once and validated.

``Settings`` holds every default, once; nothing else restates them (behave.ini included).
Precedence, lowest first: built-in default < behave.ini [behave.userdata] < environment
variable < ``behave -D key=value``. The command line wins because it is the most deliberate.
Each key's environment variable is ``CHAT_SUITE_<KEY>``; a few keys also answer to the names
backend teams already use (BACKEND_WS_URL, JWT_SECRET, MY_AUTH_TOKEN, JWT_ALGORITHM).

The bottom of the suite: it imports nothing of it but ``support.secrets``. A value that names
something above it is checked where that is loaded: the dialect by ``Dialect.load``, fault names
where the reference backend starts.
"""
from __future__ import annotations

import difflib
import math
import os
import sqlite3
import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Mapping
from urllib.parse import urlparse

import jwt
from jwt.algorithms import requires_cryptography

from support.secrets import mask, redact

ENV_PREFIX = "CHAT_SUITE_"
ALIASES = {  # key -> extra environment names, first found wins (after CHAT_SUITE_<KEY>)
    "ws_url": ("BACKEND_WS_URL",),
    "jwt_secret": ("JWT_SECRET", "MY_AUTH_TOKEN"),
    "jwt_algorithm": ("JWT_ALGORITHM",),
}
ALLOWED_EXTRA = {"RUN_MANUAL_TESTS"}   # read from the environment by gating; harmless as a key, so not a typo
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}
# Every wait the suite makes comes from one of these; each must end (finite) and within a day.
# Where the bundled backend is tested, silence is proved sooner: it answers within milliseconds.
# (A live backend keeps the documented defaults.) Only for settings given nowhere.
REFERENCE_DEFAULTS = {"quiet_window": 0.2}
DURATIONS = ("timeout", "error_timeout", "connect_timeout", "quiet_window", "scenario_budget", "explore_budget")
MAX_SECONDS = 86400.0
# One process holds a socket per load customer; past this, shard the run over processes (README).
MAX_LOAD_CUSTOMERS = 1_000_000


class ConfigError(ValueError):
    """A setting has a value the suite cannot use; the message names the key and where it came from."""


@dataclass(frozen=True)
class Settings:
    backend: str = "live"                # "live" (a running backend) or "reference" (start the bundled one)
    ws_url: str = "ws://localhost:8000/chat/ws"
    jwt_secret: str = "reference-backend-dev-secret-change-me"
    jwt_algorithm: str = "HS256"
    token_transport: str = "query"       # "query" (?token=) or "header" (Authorization: Bearer)
    customer_id: int = 1
    other_customer_id: int = 2
    email: str = "acceptance@example.com"
    dialect: str = "v2"                  # checked where it is loaded (Dialect.load)
    strict_events: bool = False          # fail on unknown event types instead of reporting them
    timeout: float = 20.0                # seconds: any single wait
    error_timeout: float = 5.0           # seconds: a wait for an error answer (errors come fast or not at all)
    connect_timeout: float = 5.0
    quiet_window: float = 1.0            # seconds of silence that prove "nothing more arrives" (reference: see load)
    scenario_budget: float = 120.0       # seconds: the watchdog ends a scenario that takes longer
    model: str = "gpt-4o-mini"
    temperature: float = 0.1
    chat_prompt: str = "Say hello in 3 words"
    tts_prompt: str = "Say hello in 3 words"
    tools_prompt: str = "Generate an image of a red bicycle"
    long_prompt: str = "Write a long story about a lighthouse keeper"
    agent_profile: str = ""
    tts_provider: str = ""
    tts_voice: str = ""
    min_text_chunks: int = 2             # "streams in several chunks"
    require_tool_results: bool = True
    tool_name: str = "generate_image"    # the tool tools_prompt makes the backend call; "any" accepts any tool
    proactive_query: str = "user_id={customer_id}&session_id={uuid}"   # what ?mode=proactive needs besides the token
    max_message_bytes: str = ""          # a frame size limit the backend declares (bytes); empty: none declared
    reports_dir: str = "reports"
    max_frames: int = 100_000            # frames one connection may send before the scenario fails as flooded
    max_transcript_mb: float = 256.0     # megabytes one connection may send before the same
    restart_command: str = ""            # live only: how to restart your backend (chat history scenario)
    require_backend: bool = False        # fail the run (not skip it) when no backend was asked for; on when CI is set
    # Reference backend only (ignored against a live backend).
    reference_chunk_delay: float = 0.001    # the bundled backend streams fast: a run takes seconds, not minutes
    reference_auth_at: str = "first_frame"
    reference_faults: str = ""           # comma-separated fault names, checked where the backend starts (--list-faults)
    reference_jitter: float = 0.0        # random extra delay per frame, seconds
    reference_random_chunks: bool = False
    reference_db: str = ""
    # Load scenarios (@load): 0 keeps the number the scenario states; any other value overrides it.
    load_customers: int = 0
    load_first_text_ms: float = 0.0
    load_first_audio_ms: float = 0.0
    load_percentile: float = 0.0
    load_connecting: int = 50            # handshakes in flight at once: a listen backlog is finite
    # Exploration (@explore): generated requests and conversations (support/explore/).
    explore_examples: int = 100          # generated requests per run (and a tenth as many conversations)
    explore_seed: str = ""               # empty: a fresh seed, printed; a number repeats a run exactly
    explore_budget: float = 60.0         # seconds of generating per scenario; past it, what was found is reported
    explore_connections: int = 8         # generated requests in flight at once, each on its own connection
    explore_database: str = ""           # Hypothesis's example database; empty: <run folder>/hypothesis

    @property
    def is_reference(self) -> bool:
        return self.backend == "reference"

    @property
    def message_limit(self) -> int | None:
        return int(self.max_message_bytes) if self.max_message_bytes else None

    @property
    def conversation_limit(self) -> float:
        """Seconds one whole conversation may take at worst: the handshake, three waits, and closing (10 s)."""
        return self.connect_timeout + 3 * self.timeout + 10

    @property
    def transcript_byte_cap(self) -> int:
        """max_transcript_mb in bytes, at least 1: a tiny cap must not round to 0, which means "no cap"."""
        return max(1, math.ceil(self.max_transcript_mb * 2**20))

    def redacted(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["jwt_secret"] = redact(self.jwt_secret)
        return out


def is_image_tool(tool_name: str) -> bool:
    """Does the tool make pictures (generate_image, create_image, …)? Its result must then be a real image."""
    return "image" in tool_name.lower()


def _convert(key: str, raw: str, default, origin: str):
    try:
        if isinstance(default, bool):
            low = str(raw).strip().lower()
            if low in TRUE:
                return True
            if low in FALSE:
                return False
            raise ValueError("expected true/false")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            value = float(raw)
            if not math.isfinite(value):   # nan and inf parse as floats, but no wait or delay can use them
                raise ValueError("must be a finite number" + (" of seconds" if key in DURATIONS else ""))
            if value < 0:
                raise ValueError("must not be negative")
            return value
    except ValueError as exc:
        raise ConfigError(f"setting {key}={raw!r} (from {origin}) is not valid: {exc}") from None
    return str(raw)


def load(userdata: Mapping[str, str] | None = None, defines: Mapping[str, str] | None = None,
         environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from behave.ini userdata, the environment and -D defines."""
    userdata = dict(userdata or {})
    defines = dict(defines or {})
    environ = os.environ if environ is None else environ
    known = {f.name: f for f in fields(Settings)}
    _reject_unknown(userdata, defines, sorted(known))
    values = {}
    for name, f in known.items():
        default = f.default
        raw, origin = None, None
        if name in userdata:
            raw, origin = userdata[name], "behave.ini"
        for env_name in (ENV_PREFIX + name.upper(), *ALIASES.get(name, ())):
            if env_name in environ:
                raw, origin = environ[env_name], f"environment {env_name}"
                break
        if name in defines:
            raw, origin = defines[name], f"-D {name}"
        values[name] = default if raw is None else _convert(name, raw, default, origin)
        if raw is None and name in REFERENCE_DEFAULTS and values.get("backend") == "reference":
            values[name] = REFERENCE_DEFAULTS[name]
    settings = Settings(**values)
    _validate(settings)
    return settings


def _reject_unknown(userdata: Mapping[str, str], defines: Mapping[str, str], known: list[str]) -> None:
    """A key no setting has is a typo; say where it was given and the nearest known key."""
    # behave merges -D defines into userdata, so a key that is also in defines came from -D.
    given = [(key, "given with -D") for key in sorted(defines)]
    given += [(key, "in behave.ini [behave.userdata]") for key in sorted(set(userdata) - set(defines))]
    problems = []
    for key, origin in given:
        if key in known or key in ALLOWED_EXTRA:
            continue
        near = difflib.get_close_matches(key.lower(), known, n=1)
        hint = f"did you mean {near[0]!r}?" if near else f"known settings: {', '.join(known)}"
        problems.append(f"unknown setting {key!r} {origin}; {hint}")
    if problems:
        raise ConfigError("; ".join(problems))


def _validate(s: Settings) -> None:
    if s.max_message_bytes and (not s.max_message_bytes.isdigit() or int(s.max_message_bytes) <= 0):
        raise ConfigError(f"max_message_bytes={s.max_message_bytes!r}: a positive number of bytes, or empty for no limit")
    if not s.tool_name.strip():
        raise ConfigError("tool_name is empty: name the tool tools_prompt triggers, or 'any'")
    if s.explore_examples <= 0 or s.explore_connections <= 0:
        raise ConfigError(f"explore_examples={s.explore_examples!r}, explore_connections={s.explore_connections!r}: "
                          "positive numbers")
    if s.explore_seed and not s.explore_seed.isdigit():
        raise ConfigError(f"explore_seed={s.explore_seed!r}: a whole number (the one a run printed), or empty")
    if s.max_frames <= 0:
        raise ConfigError(f"max_frames={s.max_frames!r}: a positive number of frames")
    if not 0 < s.max_transcript_mb < float("inf"):
        raise ConfigError(f"max_transcript_mb={s.max_transcript_mb!r}: a positive number of megabytes")
    for name in DURATIONS:
        value = getattr(s, name)
        if not 0 < value <= MAX_SECONDS:
            raise ConfigError(f"{name}={value!r}: must be a positive number of seconds, at most {MAX_SECONDS:g} (24 h)")
    if s.backend not in ("live", "reference"):
        raise ConfigError(f"backend={s.backend!r}: use 'reference' (bundled backend) or 'live' (your backend)")
    if s.token_transport not in ("query", "header"):
        raise ConfigError(f"token_transport={s.token_transport!r}: use 'query' or 'header'")
    _validate_url(s.ws_url)
    _validate_signing(s)
    if s.reference_auth_at not in ("first_frame", "handshake"):
        raise ConfigError(f"reference_auth_at={s.reference_auth_at!r}: use 'first_frame' or 'handshake'")
    if s.is_reference and s.reference_db:
        _validate_db(s.reference_db)
    _validate_load(s)


def _validate_db(path: str) -> None:
    """The bundled backend keeps chat history in this SQLite file: it must be one, or creatable."""
    where = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path) or not os.path.isdir(where):
        problem = "is a folder" if os.path.isdir(path) else f"its folder {where!r} does not exist"
        raise ConfigError(f"reference_db={path!r}: {problem}; name a SQLite file in an existing folder, "
                          "or leave it empty for a temporary one")
    if not os.path.exists(path):
        if not os.access(where, os.W_OK):
            raise ConfigError(f"reference_db={path!r}: the folder {where!r} is not writable")
        return
    try:   # read-only: checking must not change the file
        db = sqlite3.connect(Path(os.path.abspath(path)).as_uri() + "?mode=ro", uri=True)
        try:
            db.execute("PRAGMA schema_version")
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise ConfigError(f"reference_db={path!r} cannot be used: {exc}") from None


def _validate_load(s: Settings) -> None:
    """Checked at start, not when the load step runs: a bad number then would waste a run (or all its memory)."""
    limit, why = MAX_LOAD_CUSTOMERS, "one run holds at most that many"
    try:
        import resource
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]   # the soft limit may still be raised up to it
        if hard != resource.RLIM_INFINITY and hard < limit:
            limit, why = hard, f"this process may never open more than {hard} files (ulimit -Hn)"
    except (ImportError, OSError, ValueError):
        pass   # no such limit here (Windows)
    if not 0 <= s.load_customers <= limit:
        raise ConfigError(f"load_customers={s.load_customers}: from 0 (the scenario's number) to {limit}: each "
                          f"customer holds a socket and {why}; shard bigger runs over processes (README)")
    if not 0 <= s.load_percentile <= 100:
        raise ConfigError(f"load_percentile={s.load_percentile:g}: a percentage from 0 to 100 (0 keeps the scenario's)")
    if s.load_connecting <= 0:
        raise ConfigError(f"load_connecting={s.load_connecting}: a positive number of handshakes at once")


def _validate_url(ws_url: str) -> None:
    shown = mask(ws_url)   # a password in the URL is never shown
    try:
        url = urlparse(ws_url)
        host = url.hostname
    except ValueError as exc:   # "Invalid IPv6 URL": an unclosed [
        raise ConfigError(f"ws_url={shown!r} is not a valid URL ({exc})") from None
    if url.scheme not in ("ws", "wss") or not host:
        raise ConfigError(f"ws_url={shown!r} is not a ws:// or wss:// URL")
    try:
        port = url.port
    except ValueError as exc:   # "Port out of range", "could not be cast to integer"
        raise ConfigError(f"ws_url={shown!r}: the port is not valid ({exc}); use 1 to 65535") from None
    if port == 0:   # websockets would quietly dial the scheme's default port instead
        raise ConfigError(f"ws_url={shown!r}: port 0 is not a port to connect to; use 1 to 65535")
    if url.fragment or ws_url.endswith("#"):
        raise ConfigError(f"ws_url={shown!r}: a WebSocket URL has no #fragment; remove it")


def _validate_signing(s: Settings) -> None:
    """Sign one token now, so a secret or algorithm the suite cannot use stops the run before any scenario."""
    if not s.jwt_secret:
        raise ConfigError("jwt_secret is empty: set JWT_SECRET (or MY_AUTH_TOKEN) to the backend's signing secret")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # a short secret is said once, as a notice (tokens.secret_notice)
            jwt.encode({"probe": True}, s.jwt_secret, algorithm=s.jwt_algorithm)
    except (NotImplementedError, jwt.PyJWTError, ValueError, TypeError) as exc:
        if s.jwt_algorithm in requires_cryptography:
            why = "an asymmetric algorithm: jwt_secret would have to be a PEM private key (and cryptography installed)"
        elif s.jwt_algorithm == "none":
            why = "the suite signs its tokens; unsigned ones are only its alg_none test"
        else:
            why = f"PyJWT says: {str(exc).replace(s.jwt_secret, redact(s.jwt_secret))}"
        raise ConfigError(f"jwt_algorithm={s.jwt_algorithm!r} cannot sign with jwt_secret ({why}); a shared secret "
                          f"signs with HS256, HS384 or HS512 — use the backend's algorithm") from None
