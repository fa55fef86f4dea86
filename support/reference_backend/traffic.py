"""One connection's frames through its faults: events out (encoded in the dialect), client frames in.

With no fault an event goes out as the dialect spells it and a client frame comes in untouched; each
fault may drop, change, add, stall or close (see faults.py), and sees only its FaultContext.
"""
from __future__ import annotations

import asyncio
import json
import random
import uuid

from websockets.asyncio.server import ServerConnection

from support.reference_backend.faults import Abort, Close, Fault, FaultContext, Out, Raw, Stall
from support.vocabulary import Dialect

SUBTYPE_IN_CONTENT = {"model_in_use"}   # production keeps these custom events' subtype in content.type (§4)


class Traffic:
    def __init__(self, ws: ServerConnection, dialect: Dialect, faults: list[Fault], context: FaultContext,
                 jitter: float, rng: random.Random):
        self.ws = ws
        self.d = dialect
        self.faults = faults
        self.context = context
        self.jitter = jitter               # up to this many extra seconds per event, at random
        self.rng = rng
        self.session_id = str(uuid.uuid4())

    async def emit(self, kind: str, **fields) -> None:
        await self.send([Out(kind, fields)])

    async def send(self, actions: list) -> None:
        """Send events, after every fault's filter had its say (drop, change, add, stall, close)."""
        for f in self.faults:
            actions = [done for a in actions for done in (f.outgoing(self.context, a) if isinstance(a, Out) else [a])]
        for action in actions:
            if isinstance(action, Out):
                await self.send_event(action.kind, dict(action.fields))
            elif isinstance(action, Raw):
                await self.ws.send(action.text)
            elif isinstance(action, Close):
                await self.ws.close(action.code, action.reason)
            elif isinstance(action, (Stall, Abort)):
                if isinstance(action, Abort):
                    self.ws.transport.abort()
                await asyncio.Event().wait()

    async def send_event(self, kind: str, fields: dict) -> None:
        if self.jitter:
            await asyncio.sleep(self.rng.uniform(0, self.jitter))
        known = self.d.events[kind].fields
        if "session_id" in known and "session_id" not in fields:
            fields["session_id"] = self.session_id
        # A dialect may lack a field (legacy tool events carry no display_text): leave it out.
        fields = {name: value for name, value in fields.items() if name in known}
        form = 1 if kind in SUBTYPE_IN_CONTENT and self.d.events[kind].also_match else 0
        await self.ws.send(json.dumps(self.d.encode(kind, form, **fields)))

    async def filtered(self, value):
        """An incoming frame after every fault's filter: None when a fault swallowed it (and answered)."""
        for f in self.faults:
            value, answers = f.incoming(self.context, value)
            if answers:
                await self.send(answers)
            if value is None:
                return None
        return value
