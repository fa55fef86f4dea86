"""One scenario's world: its settings, its connections by name, and the verbs steps use.

Steps stay one sentence long by calling these; every wait here has a timeout and names what
it awaited.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from support.config import Settings
from support.session import Session
from support.tokens import mint
from support.transcript import SPEECH_FLAGS, TEXT_FLAGS, Transcript
from support.vocabulary import Dialect

ME = "my connection"


@dataclass
class World:
    settings: Settings
    dialect: Dialect
    sessions: dict[str, Session] = field(default_factory=dict)
    notes: dict = field(default_factory=dict)   # what a scenario remembers between steps (e.g. a chat id)

    # -- connections ---------------------------------------------------------------------------
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

    async def close_all(self) -> None:
        for session in self.sessions.values():
            await session.close()

    def close_all_now(self) -> None:
        for session in self.sessions.values():
            session.close_now()

    # -- requests ------------------------------------------------------------------------------
    async def ask(self, prompt: str, *, session: Session | None = None, **kw) -> int:
        session = session or self.me
        entry = await session.send_request(prompt, **kw)
        return entry.request

    async def wait_finished(self, request: int, session: Session | None = None, timeout: float | None = None) -> None:
        """Both completion flags (or a refusal) for the request (protocol.md §4 dual completion)."""
        session = session or self.me
        await session.wait_for(lambda tr: tr.request_finished(request),
                               f"request {request} to finish (a text flag: {' or '.join(TEXT_FLAGS)}; "
                               f"and a speech flag: {' or '.join(SPEECH_FLAGS)})", timeout)

    async def wait_event(self, kind: str, *, request: int | None = None, after: int = 0,
                         session: Session | None = None, timeout: float | None = None):
        session = session or self.me
        what = f"{self.wire_name(kind)}" + (f" of request {request}" if request else "")
        return await session.wait_for(lambda tr: tr.first(kind, after=after, request=request), what, timeout)

    async def ping(self, session: Session | None = None):
        """Send a ping and wait for the pong that answers it."""
        session = session or self.me
        sent = await session.send_control("ping")
        return await session.wait_for(lambda tr: tr.first("pong", after=sent.seq),
                                      f"pong answering the ping sent at t={sent.t:.3f} s")

    def wire_name(self, kind: str) -> str:
        spec = self.dialect.events.get(kind)
        return spec.wire_type + "".join(f"({v})" for k, v in spec.match.items() if k != "type") if spec else kind
