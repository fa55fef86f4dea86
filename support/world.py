"""One scenario's world: its settings, its connections by name, and the verbs steps use.

Steps stay one sentence long by calling these; every wait here has a timeout and names what
it awaited. What a wait found is judged by support/verdicts. Two jobs, two classes:
``Connections`` opens, names and turns away connections; ``World`` asks, waits and checks on them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from support import backend_process
from support.config import Settings
from support.matchers import KeepsRules, assert_keeps
from support.protocol import CHAT_MODE, SPEECH_FLAGS, TEXT_FLAGS
from support.session import Session, WaitTimeout, probe
from support.tokens import mint
from support.transcript import Entry, Transcript
from support.verdicts import (closed_after, finished_too_soon, not_answered_in_full, not_cancelled, request_refused,
                               work_done)
from support.vocabulary import Dialect
from support.transcript_view import dump

ME = "my connection"


@dataclass
class Connections:
    """A scenario's connections by name: opening them (with a token of a kind), being turned away, reconnecting."""

    settings: Settings
    dialect: Dialect
    backend: Any = None    # support.backend_process.BackendProcess when the suite runs the bundled backend
    sessions: dict[str, Session] = field(default_factory=dict)

    async def connect(self, name: str = ME, *, token_kind: str = "valid", customer_id: int | None = None,
                      transport: str | None = None, mode: str | None = None, strict: bool = True,
                      learn_session_id: bool = True) -> Session:
        token = mint(self.settings, token_kind, customer_id)
        session = Session(self.settings, self.dialect, name, token=token, transport=transport, mode=mode)
        self.sessions[name] = session
        return await session.open(learn_session_id=learn_session_id, strict=strict)

    def session(self, name: str = ME) -> Session:
        if name not in self.sessions:
            raise AssertionError(f"no connection named {name!r} was opened in this scenario "
                                 f"(open ones: {', '.join(self.sessions) or 'none'})")
        return self.sessions[name]

    @property
    def me(self) -> Session:
        return self.session(ME)

    @property
    def transcript(self) -> Transcript:
        return self.me.transcript

    def last_request(self, name: str = ME) -> int:
        return self.session(name).transcript.last_request()

    def transcripts(self) -> list[Transcript]:
        return [s.transcript for s in self.sessions.values()]

    def close_all_now(self) -> None:
        for session in self.sessions.values():
            session.close_now()

    async def reconnect(self) -> Session:
        """Keep the old connection's record under another name and open a new one as mine."""
        old = self.sessions.pop(ME)
        await old.close()
        old.name = old.transcript.name = f"{ME} (before reconnecting, #{len(self.sessions) + 1})"
        self.sessions[old.name] = old
        return await self.connect()

    async def restart_assistant(self) -> None:
        """Close my connection and restart the backend keeping its storage (the bundled one, or
        restart_command), then wait until it answers again."""
        await self.me.close()
        backend_process.restart(self.settings, self.backend, probe)

    # -- being turned away --------------------------------------------------------------------------
    async def try_to_connect(self, token_kind: str, mode: str | None = None) -> Session:
        """Connect with a token that may be refused, then try to chat (a refusal is recorded, not raised)."""
        session = await self.connect(token_kind=token_kind, mode=mode, strict=False, learn_session_id=False)
        await self.try_to_chat(session)
        return session

    async def try_to_chat(self, session: Session) -> None:
        """On a connection that may be refused: ping and ask, then wait for a close or for any work."""
        if session.is_closed:
            return
        await session.send_control("ping")
        if session.mode == CHAT_MODE:   # other modes speak another protocol: the first frame is enough to decide
            await session.send_request(self.settings.chat_prompt)
        try:
            await session.wait_for(lambda tr: tr.closed() or work_done(tr), "the connection to be refused")
        except WaitTimeout:
            pass   # the refusal step reports that it stayed open

    async def try_to_enter(self, mode: str) -> Session:
        """Connect in another mode with a valid token, send a first frame, and listen for a refusal (§2)."""
        session = await self.connect(mode=mode, strict=False, learn_session_id=False)
        if session.is_closed:
            return session
        await session.send_control("ping")   # a backend that authenticates on the first frame decides now
        try:
            await session.wait_for(lambda tr: tr.received() or tr.closed(), f"a first frame in {mode} mode")
        except WaitTimeout:
            return session   # the admission step reports that nothing arrived
        await session.quiet()
        return session


class Waiting(Connections):
    """Waiting for what a connection receives: every wait has a timeout and names what it awaited."""

    def wire_name(self, kind: str) -> str:
        spec = self.dialect.events.get(kind)
        return spec.wire_name if spec else kind

    def _fail_on(self, problem: str | None, session: Session) -> None:
        assert problem is None, f"{problem}:\n{dump(session.transcript)}"

    async def wait_finished(self, request: int, session: Session | None = None, timeout: float | None = None) -> None:
        """Both completion flags (or a refusal) for the request (protocol.md §4 dual completion)."""
        await (session or self.me).wait_for(lambda tr: tr.request_finished(request),
                                            f"request {request} to finish (a text flag: {' or '.join(TEXT_FLAGS)}; "
                                            f"and a speech flag: {' or '.join(SPEECH_FLAGS)})", timeout)

    async def finished_reply(self, session: Session | None = None) -> int:
        """Wait until the last request of the connection has finished; return its number."""
        session = session or self.me
        n = session.transcript.last_request()
        await self.wait_finished(n, session)
        return n

    async def wait_answer_or_close(self, request: int, session: Session | None = None):
        """A request that may be refused: wait until it finished (or was refused), or the connection closed."""
        session = session or self.me
        return await session.wait_for(lambda tr: tr.request_finished(request) or tr.closed(),
                                      f"an answer to request {request} of {session.name}, or a close")

    async def wait_answer_error_or_close(self, sent: Entry):
        """A frame that may be served or refused: its answer, an error after it, or a close."""
        return await self.me.wait_for(lambda tr: tr.request_finished(sent.request) or tr.first("error", after=sent.seq)
                                      or tr.closed(), f"an answer to the {len(sent.raw)}-byte question, an error or a close")

    async def wait_event(self, kind: str, *, request: int | None = None, after: int = 0,
                         session: Session | None = None, timeout: float | None = None):
        what = f"{self.wire_name(kind)}" + (f" of request {request}" if request else "")
        return await (session or self.me).wait_for(lambda tr: tr.first(kind, after=after, request=request), what, timeout)

    async def wait_error(self, *, after: int, session: Session | None = None):
        """The error answering something sent at #after, within error_timeout: errors come fast or not at all (§9).
        The error is one a step asked for, so the whole-conversation check accepts it."""
        session = session or self.me
        error = await session.wait_for(lambda tr: tr.first("error", after=after),
                                       f"{self.wire_name('error')} answering event #{after}", self.settings.error_timeout)
        return session.transcript.expect(error)

    def accept_errors(self, *, after: int, session: Session | None = None) -> None:
        """Errors after #after are an answer the scenario allows (e.g. to a binary frame), not a failure."""
        session = session or self.me
        for error in session.transcript.of_kind("error", after=after):
            session.transcript.expect(error)

    async def ping(self, session: Session | None = None, allow_close: bool = False):
        """Send a ping and wait for the pong that answers it (None if allow_close and the connection ended)."""
        session = session or self.me
        if allow_close and session.is_closed:
            return None
        return await session.ping(allow_close=allow_close)

    async def wait_streaming(self, request: int, chunks: int = 2, kind: str = "text_chunk") -> None:
        """Wait until a reply has visibly started: a few chunks of the kind (text, or audio for a reply read
        aloud), so a stop lands mid-stream."""
        session = self.me
        await self.wait_progressing(lambda tr: len(tr.of_kind(kind, request=request)) >= chunks
                                    or tr.request_finished(request),
                                    f"{chunks} {self.wire_name(kind)} of request {request} (the reply to be streaming)",
                                    session)
        self._fail_on(finished_too_soon(session.transcript, request), session)

    async def wait_progressing(self, predicate, what: str, session: Session):
        """Wait for predicate while frames keep arriving: `timeout` bounds each silence, not the whole wait
        (the audio of a long answer read aloud may follow all of its text)."""
        while True:
            seen = len(session.transcript)
            found = await session.wait_for(lambda tr: predicate(tr) or len(tr) > seen, what)
            if predicate(session.transcript):
                return found

    async def wait_cancelled(self, request: int):
        """The cancelled event of a request, in time (error_timeout); fails at once if the request finished
        without one."""
        found = await self.me.wait_for(lambda tr: tr.first("cancelled", request=request) or tr.request_finished(request),
                                       f"cancelled for request {request}", self.settings.error_timeout)
        self._fail_on(not_cancelled(self.transcript, request), self.me)
        return found


@dataclass
class World(Waiting):
    """What a scenario remembers between steps, and the verbs of a conversation: ask, wait, stop, check."""

    provoked: Entry | None = None        # the frame a bad-input step sent; its answer is awaited after it
    ping_sent: Entry | None = None       # the ping sent while an answer streams
    stopped: list[int] = field(default_factory=list)   # requests the scenario cancelled
    chat_id: str | None = None           # the chat the first answer was stored in
    chat_id_again: str | None = None     # the chat a later answer was stored in
    answer_id: int | None = None         # the stored answer's message id (speech-only requests read it)

    # -- sending ---------------------------------------------------------------------------------
    async def ask(self, prompt: str, *, session: Session | None = None, **kw) -> int:
        session = session or self.me
        entry = await session.send_request(prompt, **kw)
        return entry.request

    async def provoke(self, frame: dict | str | bytes) -> Entry:
        """Send a frame the backend may refuse (a request as JSON; text or bytes as they are), kept as `provoked`."""
        me = self.me
        self.provoked = await (me.send_raw(frame) if isinstance(frame, (str, bytes)) else me.send_json(frame))
        return self.provoked

    # -- checking ----------------------------------------------------------------------------------
    async def assert_answered_in_full(self, request: int | None = None, session: Session | None = None) -> None:
        """The one "answered in full" check: both completion flags, text_completed, and a non-empty reply."""
        session = session or self.me
        n = request or session.transcript.last_request()
        await self.wait_finished(n, session)
        self._fail_on(not_answered_in_full(session.transcript, n), session)

    async def assert_answered_unless_refused(self, sent: Entry) -> None:
        """A frame refused with an error (allowed) or a close (judged by the step) needs no answer; else a full one."""
        tr = self.transcript
        if tr.closed() is None and tr.first("error", after=sent.seq) is not None:
            self.accept_errors(after=sent.seq)
        elif tr.closed() is None:
            await self.assert_answered_in_full(sent.request)

    async def assert_reply_keeps(self, matcher: KeepsRules) -> int:
        """Wait until the last reply finished, then check the matcher's rules on my connection; its number."""
        n = await self.finished_reply()
        assert_keeps(self.transcript, matcher)
        return n

    def assert_refused(self, session: Session | None = None, who: str = "the question") -> None:
        """The last request was refused with no work done (§2); its refusal error is one the step asked for."""
        session = session or self.me
        tr = session.transcript
        refused, what = request_refused(tr, tr.last_request())
        assert refused, f"{who} was not refused ({what}):\n{dump(tr)}"
        self.accept_errors(after=tr.requests()[-1].seq, session=session)

    async def assert_keeps_working(self, after: Entry, session: Session | None = None) -> None:
        """After a frame the backend may refuse (§9): the connection is open, a ping gets its pong and a next
        question is answered in full. An error answering the frame is allowed."""
        session = session or self.me
        await self.ping(session, allow_close=True)
        self._fail_on(closed_after(session.transcript, after), session)
        self.accept_errors(after=after.seq, session=session)   # the pong came after any answer to the frame
        await self.assert_answered_in_full(await self.ask(self.settings.chat_prompt, session=session), session)

    # -- streaming and stopping ---------------------------------------------------------------------
    async def stop_if_running(self, request: int) -> None:
        """Cancel the request if it still runs, and wait until it finished."""
        if not self.transcript.request_finished(request):
            await self.me.send_control("cancel")
        await self.wait_finished(request)

    async def ask_and_stop(self, prompt: str, **kw) -> int:
        request = await self.ask(prompt, **kw)
        await self.wait_streaming(request)
        await self.me.send_control("cancel")
        await self.wait_cancelled(request)
        await self.wait_finished(request)
        return request
