"""The reference backend survives what clients throw at it (issue 10, item 11: hardening).

Over real sockets to the backend process: random bytes, random text, random JSON and chat
requests with every field replaced in turn by every wrong type. After each frame the
connection must still answer a ping; a connection closed with 1011, dropped, or left without a
pong counts as crashed, and so does any traceback in the backend's output. A long spoken prompt
must not starve another connection.
"""
from __future__ import annotations

import asyncio
import copy
import json
import random
import re
import time
from collections import Counter

import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from support.backend_process import BackendProcess

SECRET = "fuzz-test-secret-that-is-at-least-32-bytes-long"
SEED = 1011
MIN_FRAMES = 10_000
CONNECTIONS = 3          # fuzzed in parallel, each one frame at a time
WAIT = 5.0               # correctness timeout for every answer we wait for
PING = json.dumps({"type": "ping"})
CANCEL = json.dumps({"type": "cancel"})
TRACEBACK = "Traceback (most recent call last)"

# A valid request as protocol §3 shows it, plus every optional field the backend reads.
BASE_REQUEST = {
    "request_type": "text",
    "user_input": {"prompt": [{"type": "text", "text": "Say hello in 3 words"}], "chat_history": [],
                   "session_id": "", "message_id": 1},
    "user_settings": {"text": {"model": "gpt-4o-mini", "temperature": 0.1, "streaming": True},
                      "tts": {"tts_auto_execute": False, "provider": "openai", "voice": "alloy"},
                      "general": {"ai_agent_enabled": False, "ai_agent_profile": "default"}},
    "customer_id": 1,
}
FIELDS = [
    ("request_type",), ("user_input",), ("user_input", "prompt"), ("user_input", "prompt", 0),
    ("user_input", "prompt", 0, "type"), ("user_input", "prompt", 0, "text"), ("user_input", "chat_history"),
    ("user_input", "session_id"), ("user_input", "message_id"), ("user_settings",), ("user_settings", "text"),
    ("user_settings", "text", "model"), ("user_settings", "text", "temperature"), ("user_settings", "text", "streaming"),
    ("user_settings", "tts"), ("user_settings", "tts", "tts_auto_execute"), ("user_settings", "tts", "provider"),
    ("user_settings", "tts", "voice"), ("user_settings", "general"), ("user_settings", "general", "ai_agent_enabled"),
    ("user_settings", "general", "ai_agent_profile"), ("customer_id",),
]
WRONG_VALUES = [
    None, True, False, 0, 1, -1, 2**80, -(2**80), 2**63, 1.5, -0.0, 1e308, float("nan"), float("inf"),
    "NaN", "Infinity", "", "x", "\ud800 lone surrogate", "word " * 2000, [], [1, "two", None], {},
    {"a": {"b": {"c": [1, {"d": None}]}}}, [{"type": "text", "text": None}], [{"type": "image", "text": 7}],
]
DEAD = "dead"   # a close without a close frame, or no pong in time


def token(customer: int = 1) -> str:
    return jwt.encode({"id": customer, "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")


# One worker runs this module, so its one backend serves every test (with xdist each worker that ran a
# test of it started a backend of its own).
pytestmark = pytest.mark.xdist_group("reference-fuzz")


@pytest.fixture(scope="module")
def backend():
    with BackendProcess(secret=SECRET, chunk_delay=0.0, faults=None) as process:
        yield process


# -- what to send -----------------------------------------------------------------------------------
def dumps(value, rng: random.Random) -> str:
    """JSON text; lone surrogates go out as \\u escapes (a websocket text frame must be UTF-8)."""
    text = json.dumps(value, ensure_ascii=rng.random() < 0.5)
    try:
        text.encode()
    except UnicodeEncodeError:
        text = json.dumps(value)
    return text


def replaced(request: dict, path: tuple, value) -> dict:
    out = copy.deepcopy(request)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def field_cases() -> list[tuple[str, dict]]:
    """Every field of a request, in turn, set to every wrong value, for text and spoken requests."""
    variants = [BASE_REQUEST,
                replaced(BASE_REQUEST, ("user_settings", "tts", "tts_auto_execute"), True),
                replaced(BASE_REQUEST, ("request_type",), "tts"),
                replaced(replaced(BASE_REQUEST, ("request_type",), "tts"), ("user_input", "message_id"), 2**62)]
    return [(f"{'.'.join(map(str, path))}={value!r:.30}", replaced(base, path, value))
            for base in variants for path in FIELDS for value in WRONG_VALUES]


def random_string(rng: random.Random) -> str:
    pools = ["abc xyz", "ü€😀中文\u200b\u0000\t\n", "\ud800\udfff\udbff", '{}[]":,\\']
    pool = rng.choice(pools)
    return "".join(rng.choice(pool) for _ in range(rng.choice([0, 1, 5, 40, 300])))


def random_json(rng: random.Random, depth: int = 0):
    kind = rng.randrange(10 if depth < 5 else 7)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 7, 2**31, 2**63, -(2**80), 10**300, rng.randrange(-10**6, 10**6)])
    if kind == 3:
        return rng.choice([0.5, -1e-320, 1e308, float("nan"), float("-inf"), rng.uniform(-1e9, 1e9)])
    if kind in (4, 5, 6):
        return random_string(rng)
    if kind in (7, 8):
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["type", "request_type", "user_input", "prompt", "user_settings", "tts", "customer_id", "session_id",
            "message_id", random_string(rng)]
    out = {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randrange(5))}
    if out.get("type") in ("ping", "close_session"):
        del out["type"]   # a stray pong or close would only blur the count, not test anything
    return out


def mutated_request(rng: random.Random) -> dict:
    """A request with a few random fields set to random values: combinations field_cases misses."""
    out = copy.deepcopy(BASE_REQUEST)
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(FIELDS)
        try:
            out = replaced(out, path, random_json(rng, 3) if rng.random() < 0.5 else rng.choice(WRONG_VALUES))
        except (KeyError, IndexError, TypeError):
            pass   # an earlier change removed the parent
    return out


def fuzz_frames(rng: random.Random) -> list[tuple[str, str | bytes]]:
    """(label, frame) pairs: the label says which case a crash came from."""
    frames: list[tuple[str, str | bytes]] = [(label, dumps(case, rng)) for label, case in field_cases()]
    deep = [("[" * n + "]" * n) for n in (50, 900, 1100, 5000, 100_000)]
    deep += [('{"user_input":' * n + "{}" + "}" * n) for n in (50, 2000)]
    frames += [(f"nested {len(text) // 2} deep", text) for text in deep]
    frames += [("odd JSON", text) for text in ("1" * 5000, "-" + "9" * 4400, "1e999999", "NaN", '"\\ud800"', "[1,", "", " ")]
    while len(frames) < MIN_FRAMES + 200:
        pick = rng.random()
        if pick < 0.2:
            frames.append(("random bytes", rng.randbytes(rng.choice([0, 1, 16, 300, 4000]))))
        elif pick < 0.4:
            text = dumps(BASE_REQUEST, rng)
            cut = rng.randrange(len(text))
            text = rng.choice([text[:cut], text[:cut] + random_string(rng) + text[cut:], random_string(rng)])
            frames.append(("random text", text.encode(errors="replace").decode()))   # a text frame is UTF-8: no lone surrogates
        elif pick < 0.75:
            frames.append(("random JSON", dumps(random_json(rng), rng)))
        else:
            request = mutated_request(rng)
            frames.append((f"mutated request {dumps(request, rng)[:200]}", dumps(request, rng)))
    rng.shuffle(frames)
    return frames


# -- a fuzzing connection ---------------------------------------------------------------------------
class Prober:
    """Sends one frame, then a ping, and reads up to the pong; a reply that started is cancelled."""

    def __init__(self, url: str):
        self.url = f"{url}?token={token()}"
        self.ws = None
        self.sent = 0
        self.crashed: list[tuple[object, str]] = []   # (close code or DEAD, the frame that did it)
        self.closed = Counter()                       # every close, by code

    async def open(self) -> None:
        self.ws = await connect(self.url, max_size=None, open_timeout=WAIT, close_timeout=1, ping_interval=None)
        await self.ws.send(PING)        # the first frame authenticates (§1)
        await self.read_to_pong()

    async def read_to_pong(self) -> list[dict]:
        seen = []
        async with asyncio.timeout(WAIT):
            while True:
                raw = await self.ws.recv()
                frame = json.loads(raw) if isinstance(raw, str) else {"type": "(binary)"}
                seen.append(frame)
                if frame.get("type") == "pong":
                    return seen

    async def exchange(self, label: str, frame: str | bytes) -> list[dict]:
        self.sent += 1
        try:
            await self.ws.send(frame)
            await self.ws.send(PING)
            seen = await self.read_to_pong()
            if any(f.get("type") == "working" for f in seen):
                await self.ws.send(CANCEL)   # don't let valid-looking requests queue long replies
                await self.ws.send(PING)
                seen += await self.read_to_pong()
            return seen
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else DEAD
            self.closed[code] += 1
            if code == 1011 or code == DEAD:
                self.crashed.append((code, label))
        except TimeoutError:
            self.closed[DEAD] += 1
            self.crashed.append((DEAD, label))
        await self.ws.close()
        await self.open()
        return []

    async def run(self, frames: list[tuple[str, str | bytes]]) -> None:
        await self.open()
        for label, frame in frames:
            await self.exchange(label, frame)
        await self.ws.close()


def tracebacks(output: list[str]) -> list[str]:
    """The last line of each traceback in the backend's output: the exception."""
    found, inside = [], False
    for line in output:
        if TRACEBACK in line:
            inside = True
        elif inside and re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b", line):
            found.append(line[:200])
            inside = False
    return found + (["(unterminated traceback)"] if inside else [])


async def ask(url: str, request: dict, *, until, timeout: float = WAIT) -> list[dict]:
    """Open a connection, send request, read until until(frames) holds (or fail after timeout)."""
    async with connect(f"{url}?token={token()}", max_size=None, open_timeout=WAIT, close_timeout=1) as ws:
        await ws.send(json.dumps(request))
        seen: list[dict] = []
        try:
            async with asyncio.timeout(timeout):
                while not until(seen):
                    seen.append(json.loads(await ws.recv()))
        except TimeoutError:
            pytest.fail(f"no answer within {timeout} s; got {[f.get('type') for f in seen]}")
        return seen


def types(frames: list[dict]) -> list[str]:
    return [f.get("type") for f in frames]


def finished(frames: list[dict]) -> bool:
    """Both completion flags (§4 dual completion), or an error with no work begun."""
    kinds = types(frames)
    if "error" in kinds and "working" not in kinds:
        return True
    text_flag = "text_completed" in kinds or "text_not_requested" in kinds
    speech_flag = "tts_completed" in kinds or "tts_not_requested" in kinds
    return text_flag and speech_flag


# -- the tests -------------------------------------------------------------------------------------
def test_no_frame_crashes_a_connection(backend):
    frames = fuzz_frames(random.Random(SEED))
    probers = [Prober(backend.url) for _ in range(CONNECTIONS)]

    async def fuzz():
        await asyncio.gather(*(p.run(frames[i::CONNECTIONS]) for i, p in enumerate(probers)))
        # afterwards a valid request is served in full
        return await ask(backend.url, BASE_REQUEST, until=lambda seen: "tts_not_requested" in types(seen))

    started = time.monotonic()
    reply = asyncio.run(fuzz())
    sent = sum(p.sent for p in probers)
    crashed = [c for p in probers for c in p.crashed]
    closes = sum((p.closed for p in probers), Counter())
    errors = tracebacks(backend.output)
    print(f"\nfuzz: {sent} frames over {CONNECTIONS} connections in {time.monotonic() - started:.1f} s; "
          f"crashed connections {len(crashed)}; closes {dict(closes)}; tracebacks {len(errors)}: "
          f"{Counter(errors).most_common()}")
    assert sent >= MIN_FRAMES
    assert not crashed, f"{len(crashed)} crashed connections, for instance {crashed[:12]}"
    assert not errors, f"{len(errors)} tracebacks in the backend's output: {Counter(errors).most_common(8)}"
    kinds = types(reply)
    assert kinds[0] == "websocket_ready" and "working" in kinds and "error" not in kinds, kinds
    assert kinds.index("working") < kinds.index("text_completed") < len(kinds), kinds
    assert kinds[-1] == "tts_not_requested", kinds


# Wrong types the protocol answers with an error (stage validation; authorization for another customer).
REFUSED = [
    (("request_type",), 7), (("request_type",), ["text"]), (("request_type",), "bogus"),
    (("user_input",), "Say hello"), (("user_input",), [1]), (("user_input",), 3),
    (("user_input", "prompt"), 42), (("user_input", "prompt"), {"text": "hi"}), (("user_input", "prompt"), [3]),
    (("user_input", "prompt"), [{"type": "text", "text": 5}]), (("user_input", "prompt", 0, "type"), None),
    (("user_input", "chat_history"), "earlier"), (("user_input", "chat_history"), {"a": 1}),
    (("user_input", "session_id"), 2**80), (("user_input", "session_id"), ["chat"]), (("user_input", "session_id"), {}),
    (("user_input", "session_id"), "c" * 5000), (("user_input", "session_id"), "\ud800"),
    (("user_input", "message_id"), "12"), (("user_input", "message_id"), -3), (("user_input", "message_id"), 2**80),
    (("user_input", "message_id"), 1.5), (("user_input", "message_id"), True),
    (("user_settings",), "fast"), (("user_settings",), [1]), (("user_settings", "text"), 0.5),
    (("user_settings", "tts"), "on"), (("user_settings", "tts"), [True]), (("user_settings", "general"), 1),
    (("user_settings", "tts", "tts_auto_execute"), "yes"), (("user_settings", "tts", "tts_auto_execute"), {}),
    (("user_settings", "general", "ai_agent_enabled"), [True]), (("user_settings", "text", "temperature"), "hot"),
    (("customer_id",), "abc"), (("customer_id",), -1), (("customer_id",), 2**80), (("customer_id",), [1]),
    (("customer_id",), 1.5), (("customer_id",), False),
]


@pytest.mark.parametrize("path,value", REFUSED, ids=[f"{'.'.join(map(str, p))}={v!r:.20}" for p, v in REFUSED])
def test_a_wrong_type_gets_an_error_and_no_work(backend, path, value):
    request = replaced(BASE_REQUEST, path, value)
    seen = asyncio.run(ask(backend.url, request, until=lambda s: "error" in types(s) or "working" in types(s)))
    error = seen[-1]
    assert error.get("type") == "error", f"work began for {path}={value!r}: {types(seen)}"
    assert error.get("stage") in ("validation", "authorization"), error
    assert len(error.get("content", "")) < 300, "the message must not echo a long value"


SPOKEN = "lighthouse keeper " * 60_000    # ~1 MB


@pytest.mark.parametrize("kind", ["text with speech", "speech only, no stored message"])
def test_a_1_mb_spoken_prompt_does_not_starve_another_connection(backend, kind):
    request = replaced(BASE_REQUEST, ("user_input", "prompt"), [{"type": "text", "text": SPOKEN}])
    request = replaced(request, ("user_settings", "tts", "tts_auto_execute"), True)
    del request["user_input"]["message_id"]
    if kind.startswith("speech only"):
        request["request_type"] = "tts"

    async def both():
        async with connect(f"{backend.url}?token={token()}", open_timeout=WAIT, close_timeout=1) as other:
            await other.send(PING)
            async with asyncio.timeout(WAIT):
                while json.loads(await other.recv()).get("type") != "pong":
                    pass
            spoken = asyncio.create_task(ask(backend.url, request, until=finished, timeout=3 * WAIT))
            pongs = 0
            while not spoken.done():
                await other.send(PING)
                try:
                    async with asyncio.timeout(WAIT):
                        while json.loads(await other.recv()).get("type") != "pong":
                            pass
                except TimeoutError:
                    spoken.cancel()
                    pytest.fail(f"another connection's ping got no pong within {WAIT} s while the spoken prompt ran")
                pongs += 1
                await asyncio.sleep(0.05)
            return await spoken, pongs

    seen, pongs = asyncio.run(both())
    kinds = types(seen)
    assert finished(seen), kinds
    assert pongs >= 1
    size = sum(len(json.dumps(f)) for f in seen)
    assert size < 4 * len(SPOKEN), f"{size} bytes of answer to a {len(SPOKEN)}-byte prompt: the speech is not bounded"


def test_a_flood_of_requests_is_bounded_and_the_connection_lives_on(backend):
    """One request runs and at most MAX_QUEUED wait; the rest are refused, the ping still answered."""
    request = replaced(BASE_REQUEST, ("user_input", "prompt"), "Write a long story about a lighthouse keeper")

    async def flood():
        async with connect(f"{backend.url}?token={token()}", open_timeout=WAIT, close_timeout=1) as ws:
            for _ in range(60):
                await ws.send(json.dumps(request))
            await ws.send(PING)
            seen = []
            async with asyncio.timeout(WAIT):
                while not seen or seen[-1].get("type") != "pong":
                    seen.append(json.loads(await ws.recv()))
            return seen

    seen = asyncio.run(flood())
    refused = [f for f in seen if f.get("type") == "error" and "waiting" in f.get("content", "")]
    assert refused and all(f["stage"] == "validation" for f in refused), types(seen)
