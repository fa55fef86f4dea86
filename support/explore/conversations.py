"""Generated conversations: a Hypothesis state machine whose steps are what a customer does (ask, ask to
hear the answer, stop, check the connection, read an earlier answer aloud, reconnect and go on in the
same chat, ask again while an answer streams), and whose invariants are the protocol's promises:

- after every step, every whole-conversation rule holds on every connection so far;
- every request is finished or refused (each step waits for its own, within the timeouts);
- a stopped answer leaves nothing stored (rule cancelled_not_stored).

A failure shrinks to the shortest sequence of steps and is printed as those steps, in plain words.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from hypothesis import seed as hseed, strategies as st
from hypothesis.errors import HypothesisException
from hypothesis.stateful import RuleBasedStateMachine, get_state_machine_test, invariant, precondition, rule

from support import rules, verdicts
from support.explore.engine import Budget
from support.session import Session, SessionError, run_blocking
from support.tokens import mint


class BrokenPromise(AssertionError):
    """A conversation broke a promise: the message says which ("the promise: what happened"); `kind` groups it
    (the rule broken, else the promise)."""

    def __init__(self, message: str, kind: str | None = None):
        super().__init__(message)
        self.kind = kind or re.sub(r"\d+", "N", message.split(":", 1)[0])


@dataclass
class ConversationFailure:
    steps: list[str]
    message: str
    transcript: object = None


@dataclass
class Conversations:
    """What the generated conversations found: per kind of failure, the shortest sequence that shows it."""

    seed: int
    runs: int = 0
    steps: int = 0
    failures: dict[str, ConversationFailure] = field(default_factory=dict)
    out_of_time: bool = False

    def add(self, steps: list[str], broken: BrokenPromise, transcript) -> None:
        known = self.failures.get(broken.kind)
        if known is None or len(steps) < len(known.steps):
            self.failures[broken.kind] = ConversationFailure(list(steps), str(broken), transcript)

    def report(self) -> str:
        lines = [f"{len(self.failures)} kind(s) of broken promise in {self.runs} generated conversations "
                 f"({self.steps} steps, seed {self.seed}); each shown by its shortest conversation:"]
        for i, failure in enumerate(self.failures.values(), start=1):
            lines += ["", f"{i}. {failure.message.splitlines()[0]}"]
            lines += [f"   {'When' if j == 0 else 'And'} {step}" for j, step in enumerate(failure.steps)]
            lines += [f"   {line}" for line in failure.message.splitlines()[1:12]]
        return "\n".join(lines)


def _kept(problem: str | None, promise: str) -> None:
    if problem is not None:
        raise BrokenPromise(f"{promise}: {problem}")


class Customer:
    """One generated conversation's connections and what it remembers (its chat, its stored answers), and the
    waits of what a customer does: each judged by support/verdicts, a broken promise raised."""

    def __init__(self, settings, dialect, token: str):
        self.settings, self.dialect, self.token = settings, dialect, token
        self.sessions: list[Session] = []
        self.session: Session | None = None
        self.chat_id: str | None = None
        self.answer_ids: list[int] = []

    async def connect(self) -> Session:
        session = Session(self.settings, self.dialect, f"conversation connection {len(self.sessions) + 1}",
                          token=self.token)
        self.sessions.append(session)
        self.session = await session.open()
        return self.session

    async def send(self, prompt: str, **kw):
        return await self.session.send_request(prompt, chat_id=self.chat_id, **kw)

    async def finished(self, n: int, what: str) -> None:
        await self.session.wait_for(lambda t: t.request_finished(n), what, self.settings.timeout)

    async def ask(self, prompt: str, **kw) -> int:
        n = (await self.send(prompt, **kw)).request
        await self.finished(n, f"request {n} to finish")
        return n

    async def answered(self, n: int) -> None:
        _kept(verdicts.not_answered_in_full(self.session.transcript, n), "answered in full")
        tr = self.session.transcript
        self.chat_id = verdicts.chat_id_of(tr, n) or self.chat_id
        answer = verdicts.answer_id_of(tr, n)
        if answer is not None:
            self.answer_ids.append(answer)

    async def streaming(self, n: int) -> None:
        await self.session.wait_for(lambda t: len(t.of_kind("text_chunk", request=n)) >= 2 or t.request_finished(n),
                                    f"request {n} to stream", self.settings.timeout)

    def confirmed(self, n: int, cancel) -> None:
        _kept(verdicts.not_cancelled(self.session.transcript, n, cancel), "a stop is confirmed")

    async def stop_idle(self) -> None:
        cancel = await self.session.send_control("cancel")
        pong = await self.session.ping()
        answered = verdicts.answers_to(self.session.transcript, cancel, until=pong.seq)
        if answered:
            raise BrokenPromise(f"a stop with nothing running changes nothing: it was answered with "
                                f"{answered[0].label} #{answered[0].seq}")

    async def read_aloud(self, answer) -> None:
        n = await self.ask(self.settings.tts_prompt, speech=True, request_type="tts", message_id=answer)
        _kept(verdicts.not_spoken_only(self.session.transcript, n), "an earlier answer read aloud is spoken and not written")

    async def reconnect_in_chat(self) -> None:
        chat = self.chat_id
        await self.session.close()
        await self.connect()
        n = await self.ask(self.settings.chat_prompt)
        await self.answered(n)
        _kept(verdicts.other_chat(verdicts.chat_id_of(self.session.transcript, n), chat),
              "a chat continues on a new connection")

    def rules_broken(self, final: bool) -> None:
        for session in self.sessions:
            broken = verdicts.violations_only(rules.check(session.transcript, final=final,
                                                       strict=self.settings.strict_events))
            if broken:
                raise BrokenPromise(verdicts.explain(broken, session.transcript), kind=broken[0].rule)


def machine(settings, dialect, found: Conversations, budget: Budget) -> type[RuleBasedStateMachine]:
    """The state machine class for these settings; every failure it meets is recorded in `found`.
    Past the budget every step does nothing, so Hypothesis ends at once."""
    token = mint(settings, "valid")
    limit = settings.conversation_limit

    def blocking(coro):
        if budget.over():
            coro.close()
            return None
        return budget.run(lambda: run_blocking(coro, limit, "a step of a generated conversation"))

    class Conversation(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.steps: list[str] = []
            self.me = Customer(settings, dialect, token)
            blocking(self.me.connect())
            found.runs += 0 if budget.over() else 1

        def _step(self, sentence: str, action) -> None:
            if budget.over() or self.me.session is None:
                return
            self.steps.append(sentence)
            found.steps += 1
            self._judged(lambda: blocking(action()))

        def _judged(self, check) -> None:
            try:
                check()
            except BrokenPromise as broken:
                found.add(self.steps, broken, self.me.session.transcript)
                raise
            except (SessionError, TimeoutError) as exc:
                broken = BrokenPromise(str(exc))
                found.add(self.steps, broken, self.me.session.transcript)
                raise broken from None

        # -- what a customer does -------------------------------------------------------------------
        @rule(speech=st.booleans())
        def ask(self, speech):
            async def go():
                await self.me.answered(await self.me.ask(settings.chat_prompt, speech=speech))
            self._step("I ask a question and want to hear the answer" if speech else "I ask a question", go)

        @rule(speech=st.booleans())
        def stop(self, speech):
            async def go():
                entry = await self.me.send(settings.long_prompt, speech=speech)
                await self.me.streaming(entry.request)
                cancel = await self.me.session.send_control("cancel")
                await self.me.finished(entry.request, f"the stopped request {entry.request} to finish")
                self.me.confirmed(entry.request, cancel)
            self._step("I ask for a long answer read aloud and stop it" if speech else
                       "I ask for a long answer and stop it", go)

        @rule()
        def stop_idle(self):
            self._step("I stop the answer although nothing is running", self.me.stop_idle)

        @rule()
        def check_connection(self):
            self._step("I check that the connection responds", lambda: self.me.session.ping())

        @precondition(lambda self: self.me.answer_ids)
        @rule(data=st.data())
        def read_aloud(self, data):
            answer = data.draw(st.sampled_from(self.me.answer_ids))
            self._step("I ask for an earlier answer to be read aloud", lambda: self.me.read_aloud(answer))

        @precondition(lambda self: self.me.chat_id)
        @rule()
        def reconnect(self):
            self._step("I reconnect and ask another question in the same chat", self.me.reconnect_in_chat)

        @rule()
        def ask_while_streaming(self):
            async def go():
                long = await self.me.send(settings.long_prompt)
                await self.me.streaming(long.request)
                second = await self.me.send(settings.chat_prompt)
                cancel = await self.me.session.send_control("cancel")   # stops the long one; the second waits (§3)
                await self.me.finished(second.request, f"the second request {second.request} to finish")
                self.me.confirmed(long.request, cancel)
                await self.me.answered(second.request)
            self._step("I ask again while an answer streams, and stop the first", go)

        # -- the promises ---------------------------------------------------------------------------
        @invariant()
        def keeps_the_protocol(self):
            if not budget.over():
                self._judged(lambda: self.me.rules_broken(final=False))

        def teardown(self):
            for session in self.me.sessions:
                session.close_now()
            if not budget.over():   # every request finished or refused, and the final rules
                self._judged(lambda: self.me.rules_broken(final=True))

    return Conversation


def explore_conversations(settings, dialect, hypothesis_settings, seed_value: int) -> Conversations:
    """Run the generated conversations; failures are in the result (and shrunk by Hypothesis)."""
    found = Conversations(seed_value)
    budget = Budget(settings)
    Conversation = machine(settings, dialect, found, budget)
    test = hseed(seed_value)(get_state_machine_test(Conversation, settings=hypothesis_settings))
    try:
        test()
    except (BrokenPromise, HypothesisException):
        pass   # recorded in `found`, shortest first (past the budget Hypothesis may call a failure flaky)
    budget.raise_if_stopped()
    found.out_of_time = budget.out_of_time
    return found
