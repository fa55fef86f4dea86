"""A transcript as people read it: one line per entry, the lines around an event, the flow, the JSON file.

Built only for what is printed (a failure's context, a timeout's message, a report), never on the
receive path. Every line is masked: a backend that echoes the token must not get it printed.
"""
from __future__ import annotations

from support.protocol import CHAT_REQUEST
from support.secrets import mask
from support.transcript import Transcript
from support.wire import CLOSED, RAW, RECEIVED, SENT, Entry

_ARROWS = {RECEIVED: "<-", SENT: "->", CLOSED: "xx"}


def clip(text: str, width: int) -> str:
    """At most `width` characters; a clipped text says how long it was."""
    if len(text) <= width:
        return text
    note = f"…({len(text)} chars)"
    return text[: max(width - len(note), 1)] + note


def brief(e: Entry) -> str:
    """One line: seq, time, direction, wire name and what matters of the frame."""
    return mask(f"#{e.seq:<3} t={e.t:7.3f}s {_ARROWS[e.direction]} {clip(e.label or e.kind, 80)}{_detail(e)}")


def _detail(e: Entry) -> str:
    f, kind = e.fields, e.kind
    if kind in ("text_chunk", "thinking_chunk"):
        idx = f" [{f['chunk_index']}]" if "chunk_index" in f else ""
        return f"{idx} {clip(repr(f.get('text')), 40)}"
    if kind in ("tool_start", "tool_result"):
        return f" {clip(str(f.get('tool_name')), 60)} call_id={clip(str(f.get('call_id')), 60)}"
    if kind == "audio_chunk":
        audio = f.get("audio")
        return f" ({len(audio) if isinstance(audio, str) else type(audio).__name__} base64 chars)"
    if kind == "error":
        return f" stage={f.get('stage')} {clip(repr(f.get('message')), 60)}"
    if kind == CHAT_REQUEST:
        return f" {clip(repr(f.get('prompt')), 50)}" + (" +speech" if f.get("speech") else "") + (
            " +agent" if f.get("agent") else "") + (f" chat={f['chat_id']}" if f.get("chat_id") else "")
    if e.direction == CLOSED:
        return f": {clip(str(f.get('detail')), 200)}"
    if kind in ("malformed", "unknown", "removed", RAW):
        return f" {clip(repr(e.raw), 60)}"
    return ""


def around(tr: Transcript, seq: int, before: int = 3, after: int = 3) -> str:
    """The lines of the entries around one (marked >>): a slice, so explaining many events stays linear."""
    idx = min(max(seq - 1, 0), len(tr) - 1)
    shown = tr.span(idx - before, idx + after + 1)
    return "\n".join(f"  {'>>' if e.seq == seq else '  '} {brief(e)}" for e in shown)


def dump(tr: Transcript, limit: int = 60) -> str:
    """Every entry's line, or the first and last limit/2 of a longer transcript."""
    entries = tr.entries
    if not entries:
        return "  (nothing received)"
    shown = entries if len(entries) <= limit else entries[: limit // 2] + entries[-limit // 2:]
    lines = [f"     {brief(e)}" for e in shown]
    if len(entries) > limit:
        lines.insert(limit // 2, f"     … {len(entries) - limit} entries not shown …")
    return "\n".join(lines)


def flow(tr: Transcript) -> str:
    """One line in the old suite's style: websocketReady → working → text → … (received only).

    Runs of one event, or of an alternating pair (text → audio), are folded: "(a → b) ×5".
    """
    labels = []
    for e in tr.received():
        label = clip(e.label or e.kind, 80)
        if e.kind == "tool_start":
            label = _with_detail(label, str(e.fields.get("tool_name")))
        elif e.kind == "tool_result":
            label = _with_detail(label, "error" if e.fields.get("is_error") else "success")
        labels.append(label)
    return " → ".join(_fold(labels))


def to_json(tr: Transcript, raw_limit: int | None = None) -> list[dict]:
    """Every entry as JSON; with raw_limit, a longer frame is clipped and its length kept (raw_length)."""
    out = []
    for e in tr.entries:
        raw = e.raw if isinstance(e.raw, (str, type(None))) else repr(e.raw)
        raw = mask(raw) if raw else raw   # a backend that echoes the token must not get it written to disk
        item = {"seq": e.seq, "t": round(e.t, 4), "direction": e.direction, "kind": e.kind,
                "label": clip(e.label, 200), "request": e.request, "raw": raw,
                "parse_error": clip(e.parse_error, 300) if e.parse_error else None}
        if raw_limit is not None and raw is not None and len(raw) > raw_limit:
            item["raw"], item["raw_length"] = raw[:raw_limit], len(raw)
        if e.direction == CLOSED:
            item["close"] = {k: e.fields.get(k) for k in ("how", "detail", "code", "reason", "status")}
        if e.expected:
            item["expected"] = True
        out.append(item)
    return out


def _fold(labels: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(labels):
        for width in (1, 2):
            unit = labels[i:i + width]
            repeats = 1
            while labels[i + repeats * width:i + (repeats + 1) * width] == unit:
                repeats += 1
            if len(unit) == width and repeats > 1:
                out.append(f"{unit[0]} ×{repeats}" if width == 1 else f"({' → '.join(unit)}) ×{repeats}")
                i += repeats * width
                break
        else:
            out.append(labels[i])
            i += 1
    return out


def _with_detail(label: str, detail: str) -> str:
    if label.endswith(")"):
        return f"{label[:-1]}: {detail})"
    return f"{label}({detail})"


def unknown_names_hint(tr: Transcript, dialect: str) -> str:
    """Suggest another dialect only when unknown names are most of a short stream (not a flood)."""
    received = tr.received()
    unknown = [e.label for e in received if e.kind == "unknown"]
    if not unknown or len(received) > 1000 or len(unknown) * 2 < len(received):
        return ""
    names = sorted({clip(label, 60) for label in unknown})
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    return (f". Event types this dialect ({dialect}) does not know arrived: {shown}; "
            f"if the backend speaks another dialect, run with -D dialect=NAME (see README, Dialects)")
