"""Locust users that are chat customers: the suite's session helper and protocol rules on Locust's engine,
so a load test can grow past one machine (master and workers) and still check every conversation.

    pip install -r requirements-load.txt
    BACKEND_WS_URL=ws://localhost:8000/chat/ws JWT_SECRET=... locust -f locustfile.py --headless -u 300 -r 100 --run-time 30s

Each user repeats one conversation: its own connection (a valid token for customer_id), chat_prompt,
both completion flags, close; then every whole-transcript rule (support.rules.check). Each conversation
is ONE Locust request, `conversation`: it fails when the connection failed, the answer was incomplete,
a rule was broken ("[rule] message"), or it was still running when the run ended ("unfinished"), so
Locust's failure rate is the share of conversations that went wrong, and a hung backend fails the run.
The timings inside a conversation (ws_connecting, time_to_first_text, ...) are not requests: they are
printed as the @load table (avg, p90, p95, p99, max) when Locust quits, and --load-json FILE writes
them as a mergeable results file (support/load_results.py). Settings as in the suite: behave.ini, then
CHAT_SUITE_* and BACKEND_WS_URL / JWT_SECRET in the environment (support.config.load). --speech asks
for answers read aloud.

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
import sys
import time
from pathlib import Path

from gevent import monkey
from locust import User, between, events, task
from locust.exception import StopUser
from locust.runners import STATE_CLEANUP, STATE_STOPPED, STATE_STOPPING, WorkerRunner

from support import config, load, load_results
from support.session import run_blocking
from support.vocabulary import Dialect

if not monkey.is_module_patched("threading"):   # the design above depends on it
    raise RuntimeError("locustfile.py runs under Locust only (it relies on Locust's gevent monkey-patching)")

ENDING = (STATE_STOPPING, STATE_CLEANUP, STATE_STOPPED)   # the runner's states once the run is ending
DISTINCT_MESSAGES = 5   # per kind of failure: the rest are counted under one line, so the error table stays short
MASTER_KEY = "chat_suite_load"   # what a worker adds to its reports to the master: its conversations' results


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
CONVERSATION_LIMIT = SETTINGS.conversation_limit   # the longest a conversation may take


@events.init_command_line_parser.add_listener
def _options(parser):
    parser.add_argument("--speech", action="store_true", default=False, help="customers ask for answers read aloud")
    parser.add_argument("--load-json", default="", help="write the conversations' timings and findings to this "
                        "file (the @load results format; merge shards with python -m support.load_results merge)")


class _Failures:
    """Failure texts for Locust: the first few distinct messages per kind verbatim, then one shared line."""

    def __init__(self):
        self.seen: dict[str, set[str]] = {}

    def text(self, kind: str, message: str) -> str:
        seen = self.seen.setdefault(kind, set())
        if message in seen or len(seen) < DISTINCT_MESSAGES:
            seen.add(message)
            return message
        return f"{kind}: on a further conversation (the first {DISTINCT_MESSAGES} messages are listed separately)"


FAILURES = _Failures()


class _Collected:
    """The conversations this process has judged: kept for the table and --load-json on a lone process or the
    master; a worker hands its batch to the master with every report."""

    def __init__(self):
        self.customers: list[load.Customer] = []
        self.parts: list[load_results.Results] = []   # what the workers sent (master)
        self.started = time.monotonic()

    def batch(self, speech: bool) -> load_results.Results:
        part = load.LoadRun(self.customers, speech, {}, 0.0).results()
        self.customers = []
        return part

    def results(self, speech: bool) -> load_results.Results:
        merged = load_results.merge([*self.parts, self.batch(speech)])
        merged.wall_s, merged.shards = time.monotonic() - self.started, 1
        return merged


COLLECTED = _Collected()


def _speech(environment) -> bool:
    return bool(getattr(environment.parsed_options, "speech", False))


@events.test_start.add_listener
def _started(environment, **_kw):
    COLLECTED.started = time.monotonic()


@events.report_to_master.add_listener
def _to_master(client_id, data, **_kw):
    data[MASTER_KEY] = COLLECTED.batch(False).to_json()


@events.worker_report.add_listener
def _from_worker(client_id, data, **_kw):
    if MASTER_KEY in data:
        COLLECTED.parts.append(load_results.Results.from_json(data[MASTER_KEY]))


@events.quitting.add_listener
def _print_results(environment, **_kw):
    if isinstance(environment.runner, WorkerRunner):
        return
    results = COLLECTED.results(_speech(environment))
    if not results.customers:
        return
    print("\n".join(results.lines()), file=sys.stderr, flush=True)
    path = getattr(environment.parsed_options, "load_json", "")
    if path:
        load_results.write(Path(path), results)
        print(f"    load results: {path}", file=sys.stderr, flush=True)


class ChatCustomer(User):
    wait_time = between(0.5, 2.0)   # a customer reads the answer before asking again

    def conversation(self, customer: load.Customer, ms: float) -> None:
        """The conversation as one Locust request: failed when it failed, broke a rule or did not finish."""
        problem = customer.problem()
        kind = ("unfinished" if customer.unfinished else "failed" if customer.failure or customer.incomplete
                else f"[{customer.violations[0].rule}]" if customer.violations else "")
        failure = FAILURES.text(kind, f"{problem} (on {customer.name})") if problem else None
        events.request.fire(request_type="WS", name="conversation", response_time=ms,
                            response_length=int(customer.first("ws_msgs_received") or 0),
                            exception=ChatFailure(failure) if failure else None, context={})
        customer.session = None   # the results keep the numbers and findings, not the transcript
        COLLECTED.customers.append(customer)

    @task
    def converse(self):
        if self.environment.runner.state in ENDING:
            # Locust stops a user that was waiting between conversations, but gevent delivers that stop when
            # the user next runs: maybe here. A conversation begun now would be cut short and called unfinished.
            raise StopUser()
        number = next(NUMBERS)
        runner = self.environment.runner
        where = f" on worker {runner.worker_index}" if isinstance(runner, WorkerRunner) else ""
        started = time.monotonic()
        try:
            customer = run_blocking(load.one_customer(number, SETTINGS, DIALECT, _speech(self.environment), where),
                                    CONVERSATION_LIMIT, "the conversation")
        except TimeoutError as exc:
            self.conversation(self._unfinished(number, where, str(exc)), _ms_since(started))
            return
        except BaseException:   # Locust ended the run (GreenletExit) while the conversation was running
            why = "still running when the run ended (and --stop-timeout, if given, ran out)"
            self.conversation(self._unfinished(number, where, why), _ms_since(started))
            raise
        self.conversation(customer, customer.first("ws_session_duration") or _ms_since(started))

    @staticmethod
    def _unfinished(number: int, where: str, why: str) -> load.Customer:
        return load.stopped(load.Customer(number, f"customer {number}'s connection{where}", judged=True), why)


class ChatFailure(Exception):
    pass


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000.0
