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
from support.protocol import SPEECH_FLAGS, TEXT_FLAGS, TRAILING_KINDS
from support.session import Session, SessionError, run_blocking
from support.tokens import mint


class BrokenPromise(AssertionError):
    """A conversation broke a promise: the message says which ("the promise: what happened")."""


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

    def add(self, steps: list[str], message: str, transcript) -> None:
        rule = re.search(r"^\[(\w+)\]", message, re.MULTILINE)   # a broken rule is its kind; else the promise
        kind = rule.group(1) if rule else re.sub(r"\d+", "N", message.split(":", 1)[0])
        known = self.failures.get(kind)
        if known is None or len(steps) < len(known.steps):
            self.failures[kind] = ConversationFailure(list(steps), message, transcript)

    def report(self) -> str:
        lines = [f"{len(self.failures)} kind(s) of broken promise in {self.runs} generated conversations "
                 f"({self.steps} steps, seed {self.seed}); each shown by its shortest conversation:"]
        for i, failure in enumerate(self.failures.values(), start=1):
            lines += ["", f"{i}. {failure.message.splitlines()[0]}"]
            lines += [f"   {'When' if j == 0 else 'And'} {step}" for j, step in enumerate(failure.steps)]
            lines += [f"   {line}" for line in failure.message.splitlines()[1:12]]
        return "\n".join(lines)


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
            self.sessions: list[Session] = []
            self.chat_id: str | None = None
            self.answer_ids: list[int] = []
            self.session = blocking(self._connect())
            found.runs += 0 if budget.over() else 1

        # -- plumbing --------------------------------------------------------------------------
        async def _connect(self) -> Session:
            session = Session(settings, dialect, f"conversation connection {len(self.sessions) + 1}", token=token)
            self.sessions.append(session)
            return await session.open()

        def _step(self, sentence: str, action) -> None:
            if budget.over() or self.session is None:
                return
            self.steps.append(sentence)
            found.steps += 1
            try:
                blocking(action())
            except (BrokenPromise, SessionError, TimeoutError) as exc:
                self._fail(str(exc))

        def _fail(self, message: str) -> None:
            found.add(self.steps, message, self.session.transcript)
            raise BrokenPromise(message)

        async def _ask(self, prompt: str, **kw) -> int:
            entry = await self.session.send_request(prompt, chat_id=self.chat_id, **kw)
            await self.session.wait_for(lambda t: t.request_finished(entry.request),
                                        f"request {entry.request} to finish", settings.timeout)
            return entry.request

        def _remember(self, n: int) -> None:
            tr = self.session.transcript
            self.chat_id = verdicts.chat_id_of(tr, n) or self.chat_id
            answer = verdicts.answer_id_of(tr, n)
            if answer is not None:
                self.answer_ids.append(answer)

        async def _answered(self, n: int) -> None:
            why = verdicts.not_answered_in_full(self.session.transcript, n)
            if why:
                raise BrokenPromise(f"answered in full: {why}")
            self._remember(n)

        def _confirmed(self, n: int, cancel) -> None:
            tr = self.session.transcript
            if tr.first("cancelled", request=n):
                return
            flags = tr.of_kind(*TEXT_FLAGS, *SPEECH_FLAGS, request=n)
            if flags and flags[-1].seq < cancel.seq:
                return   # it had finished before the stop went out: nothing was left to stop
            raise BrokenPromise(f"a stop is confirmed: request {n} ran to its end without cancelled")

        async def _streaming(self, n: int) -> None:
            await self.session.wait_for(lambda t: len(t.of_kind("text_chunk", request=n)) >= 2 or t.request_finished(n),
                                        f"request {n} to stream", settings.timeout)

        # -- what a customer does -------------------------------------------------------------------
        @rule(speech=st.booleans())
        def ask(self, speech):
            async def go():
                await self._answered(await self._ask(settings.chat_prompt, speech=speech))
            self._step("I ask a question and want to hear the answer" if speech else "I ask a question", go)

        @rule(speech=st.booleans())
        def stop(self, speech):
            async def go():
                entry = await self.session.send_request(settings.long_prompt, chat_id=self.chat_id, speech=speech)
                await self._streaming(entry.request)
                cancel = await self.session.send_control("cancel")
                await self.session.wait_for(lambda t: t.request_finished(entry.request),
                                            f"the stopped request {entry.request} to finish", settings.timeout)
                self._confirmed(entry.request, cancel)
            self._step("I ask for a long answer read aloud and stop it" if speech else
                       "I ask for a long answer and stop it", go)

        @rule()
        def stop_idle(self):
            async def go():
                cancel = await self.session.send_control("cancel")
                pong = await self.session.ping()
                # what trails a finished request (its upload, its record, §5) is not an answer to the stop
                answered = [e for e in self.session.transcript.received()
                            if cancel.seq < e.seq < pong.seq and e.kind not in TRAILING_KINDS]
                if answered:
                    raise BrokenPromise(f"a stop with nothing running changes nothing: it was answered with "
                                        f"{answered[0].label} #{answered[0].seq}")
            self._step("I stop the answer although nothing is running", go)

        @rule()
        def check_connection(self):
            self._step("I check that the connection responds", self.session.ping)

        @precondition(lambda self: self.answer_ids)
        @rule(data=st.data())
        def read_aloud(self, data):
            answer = data.draw(st.sampled_from(self.answer_ids))

            async def go():
                n = await self._ask(settings.tts_prompt, speech=True, request_type="tts", message_id=answer)
                tr = self.session.transcript
                if not tr.of_kind("audio_chunk", request=n) or tr.of_kind("text_chunk", request=n):
                    raise BrokenPromise(f"an earlier answer read aloud is spoken and not written: request {n} got "
                                        f"{len(tr.of_kind('audio_chunk', request=n))} audio and "
                                        f"{len(tr.of_kind('text_chunk', request=n))} text pieces")
            self._step("I ask for an earlier answer to be read aloud", go)

        @precondition(lambda self: self.chat_id)
        @rule()
        def reconnect(self):
            chat = self.chat_id

            async def go():
                await self.session.close()
                self.session = await self._connect()
                n = await self._ask(settings.chat_prompt)
                await self._answered(n)
                stored = verdicts.chat_id_of(self.session.transcript, n)
                if stored != chat:
                    raise BrokenPromise(f"a chat continues on a new connection: stored in chat {stored!r}, "
                                        f"expected {chat!r}")
            self._step("I reconnect and ask another question in the same chat", go)

        @rule()
        def ask_while_streaming(self):
            async def go():
                long = await self.session.send_request(settings.long_prompt, chat_id=self.chat_id)
                await self._streaming(long.request)
                second = await self.session.send_request(settings.chat_prompt, chat_id=self.chat_id)
                cancel = await self.session.send_control("cancel")   # stops the long one; the second waits (§3)
                await self.session.wait_for(lambda t: t.request_finished(second.request),
                                            f"the second request {second.request} to finish", settings.timeout)
                self._confirmed(long.request, cancel)
                await self._answered(second.request)
            self._step("I ask again while an answer streams, and stop the first", go)

        # -- the promises ---------------------------------------------------------------------------
        @invariant()
        def keeps_the_protocol(self):
            if budget.over():
                return
            for session in self.sessions:
                broken = verdicts.violations_only(rules.check(session.transcript, final=False,
                                                           strict=settings.strict_events))
                if broken:
                    self._fail(verdicts.explain(broken, session.transcript))

        def teardown(self):
            for session in self.sessions:
                session.close_now()
            if budget.over():
                return
            for session in self.sessions:   # every request finished or refused, and the final rules
                broken = verdicts.violations_only(rules.check(session.transcript, strict=settings.strict_events))
                if broken:
                    self._fail(verdicts.explain(broken, session.transcript))

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
