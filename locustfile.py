"""Locust users that are chat customers: the suite's session helper and protocol rules on Locust's engine,
so a load test can grow past one machine (master and workers) and still check every conversation.

    pip install -r requirements-load.txt
    BACKEND_WS_URL=ws://localhost:8000/chat/ws JWT_SECRET=... locust -f locustfile.py --headless -u 300 -r 100 --run-time 30s

Each user repeats one conversation: its own connection (a valid token for customer_id), chat_prompt,
both completion flags, close; then every whole-transcript rule (support.rules.check). Timings are
Locust request events named like the @load scenario's metrics; a broken rule is a Locust failure
named "protocol [rule]" carrying the rule's message, and a connection failure or incomplete answer
is a failure of "conversation". Settings as in the suite: behave.ini, then CHAT_SUITE_* and
BACKEND_WS_URL / JWT_SECRET in the environment (support.config.load). --speech asks for answers read aloud.

gevent and asyncio: importing locust monkey-patches the standard library (gevent.monkey.patch_all)
before this file is read. The session helper's background "thread" is therefore a greenlet, and its
event loop selects through gevent's hub (GeventSelector). A user waiting for a conversation
(run_coroutine_threadsafe(...).result()) waits on a patched lock and yields to the hub, so the loop
and every user share one OS thread cooperatively: nothing blocks, and no gevent object is woken
from a foreign OS thread (which gevent does not support). The alternative, the loop in a real OS
thread, would need every wait bridged through gevent's thread-safe async watchers, for no gain
under the GIL; to use more cores, run more Locust processes (--processes, or workers).
"""
from __future__ import annotations

import configparser
import itertools
from pathlib import Path

from gevent import monkey
from locust import User, between, events, task
from locust.runners import WorkerRunner

from support import config, load
from support.session import run_blocking
from support.vocabulary import Dialect

if not monkey.is_module_patched("threading"):   # the design above depends on it
    raise RuntimeError("locustfile.py runs under Locust only (it relies on Locust's gevent monkey-patching)")

TIMINGS = ("ws_connecting", "time_to_first_text", "time_to_first_audio", "inter_chunk_gap", "reply_duration",
           "ws_session_duration")
DISTINCT_MESSAGES = 5   # per failure name: the rest are counted under one line, so the error table stays short


def _settings() -> config.Settings:
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(Path(__file__).with_name("behave.ini"))
    userdata = dict(ini["behave.userdata"]) if ini.has_section("behave.userdata") else {}
    try:
        return config.load(userdata, {})
    except config.ConfigError as exc:
        raise SystemExit(f"configuration error: {exc}") from None


SETTINGS = _settings()
DIALECT = Dialect.load(SETTINGS.dialect)
NUMBERS = itertools.count(1)
# Longest a conversation may take: the handshake, the ready wait, the answer wait, the close.
CONVERSATION_LIMIT = SETTINGS.connect_timeout + 3 * SETTINGS.timeout + 10


@events.init_command_line_parser.add_listener
def _options(parser):
    parser.add_argument("--speech", action="store_true", default=False, help="customers ask for answers read aloud")


class _Failures:
    """Failure texts for Locust: the first few distinct messages per name verbatim, then one shared line."""

    def __init__(self):
        self.seen: dict[str, set[str]] = {}

    def text(self, name: str, message: str) -> str:
        seen = self.seen.setdefault(name, set())
        if message in seen or len(seen) < DISTINCT_MESSAGES:
            seen.add(message)
            return message
        return f"{name}: a further message (the first {DISTINCT_MESSAGES} are listed separately)"


FAILURES = _Failures()


class ChatFailure(Exception):
    pass


class ChatCustomer(User):
    wait_time = between(0.5, 2.0)   # a customer reads the answer before asking again

    def fire(self, name: str, ms: float, length: int = 0, failure: str | None = None) -> None:
        events.request.fire(request_type="WS", name=name, response_time=ms, response_length=length,
                            exception=ChatFailure(FAILURES.text(name, failure)) if failure else None, context={})

    @task
    def converse(self):
        speech = bool(getattr(self.environment.parsed_options, "speech", False))
        number = next(NUMBERS)
        runner = self.environment.runner
        where = f" on worker {runner.worker_index}" if isinstance(runner, WorkerRunner) else ""
        try:
            customer = run_blocking(load.one_customer(number, SETTINGS, DIALECT, speech, where),
                                    CONVERSATION_LIMIT, "the conversation")
        except TimeoutError as exc:
            self.fire("conversation", CONVERSATION_LIMIT * 1000, failure=f"customer {number}'s connection{where}: {exc}")
            return
        for name in TIMINGS:
            for ms in customer.samples.get(name, []):
                self.fire(name, ms)
        problem = customer.failure or customer.incomplete
        self.fire("conversation", customer.first("ws_session_duration") or 0.0,
                  int(customer.first("ws_msgs_received") or 0),
                  failure=problem.splitlines()[0] if problem else None)
        for v in customer.violations:
            self.fire(f"protocol [{v.rule}]", 0.0, failure=f"[{v.rule}] {v.message} (on {customer.name})")
