"""A stop that comes after both completion flags finds nothing running, in the bundled backend too (§8).

Exploration found this under jitter: a speech-only request had sent text_not_requested and tts_completed
while the backend still uploaded the audio and stored the record; a stop then was answered with cancelled
and a second pair of flags. The jitter here makes the backend linger after the flags every time.
"""
from __future__ import annotations

import dataclasses

from support import config, rules, verdicts
from support.backend_process import BackendProcess
from support.session import Session, run_blocking
from support.tokens import mint
from support.vocabulary import Dialect


def test_a_stop_after_both_flags_gets_no_answer_and_no_second_flag():
    settings = config.load({}, {"backend": "reference", "timeout": "10"}, environ={})
    with BackendProcess(secret=settings.jwt_secret, chunk_delay=0.001, extra_args=["--jitter", "0.03"]) as backend:
        settings = dataclasses.replace(settings, ws_url=backend.url)
        session = Session(settings, Dialect.load(settings.dialect), "stop after the flags", token=mint(settings, "valid"))

        async def conversation():
            await session.open()
            asked = await session.send_request(settings.chat_prompt)
            await session.wait_for(lambda t: t.request_finished(asked.request), "the answer")
            answer = verdicts.answer_id_of(session.transcript, asked.request)
            for request_type, extra in (("tts", {"message_id": answer}), ("text", {})):
                sent = await session.send_request(settings.tts_prompt, speech=True, request_type=request_type, **extra)
                await session.wait_for(lambda t: t.request_finished(sent.request), "both flags")
                cancel = await session.send_control("cancel")   # the flags are out: nothing runs for the client
                pong = await session.ping()
                answered = [e.kind for e in session.transcript.received() if cancel.seq < e.seq < pong.seq]
                assert "cancelled" not in answered, answered
            await session.quiet(0.5)
            await session.close()

        run_blocking(conversation(), 60)
    broken = verdicts.violations_only(rules.check(session.transcript))
    assert broken == [], verdicts.explain(broken, session.transcript)
