"""What the HTML report shows of a transcript, as pure functions: mark categories, safe wire
text (secrets masked, long strings clipped), latency figures and capped lanes. No HTML here.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from support.secrets import mask  # noqa: F401 - the report's masking is the suite's one masking
from support.protocol import SPEECH_FLAGS, TEXT_FLAGS
from support.transcript import CLOSED, RECEIVED, SENT, Transcript
from support.transcript_view import clip as transcript_clip
from support.transcript_view import to_json

CATEGORIES = {
    "control": ("ready", "pong", "working", "closing", "cancelled", "custom_event"),
    "text": ("text_chunk", "thinking_chunk", "text_completed", "text_not_requested", "text_generation_completed",
             "db_operation_executed", "model_in_use"),
    "speech": ("tts_started", "audio_chunk", "tts_generation_completed", "tts_completed", "tts_not_requested",
               "tts_file_uploaded"),
    "tools": ("tool_start", "tool_result"),
    "errors": ("error", "tts_error", "malformed", "unknown", "removed"),
}
_CATEGORY_OF = {kind: cat for cat, kinds in CATEGORIES.items() for kind in kinds}

CLIP = 120              # longest string value shown in a tooltip
TOOLTIP_LIMIT = 600     # longest tooltip as a whole
DEPTH_LIMIT = 8         # nesting shown in a tooltip; deeper values are summarised
ITEMS_LIMIT = 50        # members of one object or array shown in a tooltip
LANE_LIMIT = 2000       # marks drawn per lane; a flooding backend gets the first and last halves
FLAGGED_LIMIT = 2000    # rule-breaking marks drawn beyond those, per lane


def category(direction: str, kind: str, expected: bool = False) -> str:
    """The mark's family: sent, closes, control, text, speech, tools, errors, or expected (an error a
    step asked for: drawn apart from the errors that fail a scenario)."""
    if direction == SENT:
        return "sent"
    if direction == CLOSED:
        return "closes"
    found = _CATEGORY_OF.get(kind, "control")
    return "expected" if expected and found == "errors" else found


def clip(text: str, width: int = CLIP) -> str:
    """The suite's one clip (support.transcript.clip), with the tooltip's width by default."""
    return transcript_clip(text, width)


def _clip_values(value: Any, depth: int = DEPTH_LIMIT, items: int = ITEMS_LIMIT) -> Any:
    """The value with long strings clipped, deep nesting and long containers summarised; iterative,
    so a frame nested 100,000 deep cannot exhaust the stack."""
    def leaf(v: Any, level: int) -> Any:
        if isinstance(v, str):
            return clip(v)
        if isinstance(v, (dict, list)) and level >= depth:
            return f"…({type(v).__name__} of {len(v)}, nested deeper than {depth})"
        if isinstance(v, dict):
            return {}
        if isinstance(v, list):
            return []
        return v

    root = leaf(value, 0)
    todo = [(value, root, 0)] if isinstance(root, (dict, list)) else []
    while todo:
        source, target, level = todo.pop()
        pairs = list(source.items()) if isinstance(source, dict) else list(enumerate(source))
        for key, child in pairs[:items]:
            made = leaf(child, level + 1)
            if isinstance(target, dict):
                target[clip(str(key))] = made
            else:
                target.append(made)
            if isinstance(made, (dict, list)):
                todo.append((child, made, level + 1))
        if len(pairs) > items:
            more = f"…({len(pairs) - items} more)"
            if isinstance(target, dict):
                target["…"] = more
            else:
                target.append(more)
    return root


def wire_text(raw: Any) -> str:
    """A frame as a tooltip may show it: masked, each long string clipped with its length noted."""
    if raw is None:
        return ""
    text = raw if isinstance(raw, str) else repr(raw)
    text = mask(text)
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):   # not JSON, or nested past the parser's stack
        return clip(text)
    if not isinstance(parsed, (dict, list)):
        return clip(text)
    return clip(json.dumps(_clip_values(parsed), ensure_ascii=False), TOOLTIP_LIMIT)


@dataclass
class Mark:
    seq: int
    t: float
    direction: str
    kind: str
    label: str
    category: str
    text: str                 # the tooltip: masked, clipped wire text
    request: int | None = None


@dataclass
class Lane:
    name: str
    marks: list[Mark] = field(default_factory=list)
    omitted: int = 0          # marks left out to cap the size
    omitted_flagged: int = 0  # of them, marks that break a rule (past FLAGGED_LIMIT)


def entries_of(transcript: Transcript) -> list[dict]:
    """The transcript as plain dicts (its JSON form), plus the close detail a CLOSED entry carries."""
    rows = to_json(transcript)
    for row, entry in zip(rows, transcript.entries):
        if entry.direction == CLOSED:
            row["detail"] = str(entry.fields.get("detail", ""))
    return rows


def lane(name: str, entries: Iterable[dict], keep: Iterable[int] = (), limit: int = LANE_LIMIT,
         flagged_limit: int = FLAGGED_LIMIT) -> Lane:
    """One connection's marks; beyond `limit` only the first and last halves are drawn, and of the
    `keep` seqs between them (rule breakers) at most `flagged_limit`: the page stays small."""
    rows = list(entries)
    total, keep = len(rows), set(keep)
    omitted_flagged = 0
    if total > limit:
        half = limit // 2
        middle = [r for r in rows[half:-half] if r.get("seq") in keep]
        omitted_flagged = max(0, len(middle) - flagged_limit)
        rows = rows[:half] + middle[:flagged_limit] + rows[-half:]
    out = Lane(name, omitted=total - len(rows), omitted_flagged=omitted_flagged)
    for row in rows:
        direction, kind = row.get("direction", RECEIVED), row.get("kind", "")
        text = row.get("detail") if direction == CLOSED else row.get("raw")
        out.marks.append(Mark(seq=int(row.get("seq", 0)), t=float(row.get("t", 0.0)), direction=direction,
                              kind=kind, label=str(row.get("label") or kind),
                              category=category(direction, kind, bool(row.get("expected"))),
                              text=wire_text(text), request=row.get("request")))
    return out


def lanes(transcripts: Iterable[Transcript], keep: dict[str, set[int]] | None = None,
          limit: int = LANE_LIMIT) -> list[Lane]:
    keep = keep or {}
    unknown = keep.get("", set())   # violations whose connection is not known
    return [lane(tr.name, entries_of(tr), keep.get(tr.name, set()) | unknown, limit) for tr in transcripts]


# -- latency figures ------------------------------------------------------------------------------

@dataclass
class Latency:
    connect: float | None = None       # connection attempt → first websocket_ready
    first_text: float | None = None    # first request sent → its first text chunk
    first_audio: float | None = None   # first request sent → its first audio chunk
    whole_reply: float | None = None   # first request sent → both completion flags


def latency(entries: Iterable[dict]) -> Latency:
    """The figures a product owner asks about, from one connection's entries (JSON form)."""
    rows = list(entries)
    out = Latency()
    ready = next((r for r in rows if r["direction"] == RECEIVED and r["kind"] == "ready"), None)
    if ready:
        out.connect = ready["t"]
    request = next((r for r in rows if r["direction"] == SENT and r["kind"] == "chat_request"), None)
    if request is None:
        return out
    after = [r for r in rows if r["direction"] == RECEIVED and r["seq"] > request["seq"]
             and r.get("request") in (None, request.get("request"))]

    def since_sent(*kinds: str) -> float | None:
        hit = next((r for r in after if r["kind"] in kinds), None)
        return None if hit is None else round(hit["t"] - request["t"], 4)

    out.first_text = since_sent("text_chunk")
    out.first_audio = since_sent("audio_chunk")
    text_flag, speech_flag = since_sent(*TEXT_FLAGS), since_sent(*SPEECH_FLAGS)
    if text_flag is not None and speech_flag is not None:
        out.whole_reply = max(text_flag, speech_flag)
    return out


# -- violations, read defensively ------------------------------------------------------------------

@dataclass
class Broken:
    connection: str | None
    rule: str
    seq: int | None
    message: str
    context: str = ""
    severity: str = "violation"


def broken_from(items: Iterable[Any]) -> list[Broken]:
    """Violations as (connection, Violation) pairs, bare Violations or dicts, normalised."""
    out = []
    for item in items or ():
        conn = None
        if isinstance(item, (tuple, list)) and len(item) == 2:
            conn, item = item
            conn = getattr(conn, "name", conn)
        get = item.get if isinstance(item, dict) else (lambda key, default=None: getattr(item, key, default))
        conn = conn if conn is not None else get("connection")
        rule = get("rule")
        if rule is None:
            continue
        seq = get("seq")
        out.append(Broken(conn if conn is None else str(conn), str(rule), seq if isinstance(seq, int) else None,
                          str(get("message", "")), str(get("context", "") or ""), str(get("severity", "violation"))))
    return out
