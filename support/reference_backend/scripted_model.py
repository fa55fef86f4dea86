"""A deterministic stand-in for a language model: the reply is derived from the prompt."""
from __future__ import annotations

import random
import re

IMAGE_WORDS = re.compile(r"\b(image|picture|draw|drawing|photo|illustration|paint)\b", re.IGNORECASE)
SEARCH_WORDS = re.compile(r"\b(search|look up|latest|weather|news)\b", re.IGNORECASE)
LONG_WORDS = re.compile(r"\b(long|story|essay|detailed)\b", re.IGNORECASE)

READ_CHARS = 2000       # only the prompt's start is read: a 2 MB prompt costs no more than a short one
MAX_REPLY_CHARS = 8000  # a reply is never longer, whatever the prompt

_FILLER = ("The keeper climbed the stairs as the evening light faded over the water. "
           "Each step echoed in the tower, and the lamp waited at the top, patient and bright. ")


def reply_for(prompt: str) -> str:
    """Short prompts get a short answer; prompts asking for something long get ~370 words: long by length,
    not by delay, so a stop lands mid-answer (mid-text, or mid-speech: the audio follows the text) even when
    chunks follow each other within a millisecond, and short enough that reaching its audio takes not long."""
    head = prompt[:READ_CHARS]
    words = head.split()   # a 2 MB prompt is answered like any other, without echoing it
    topic = " ".join(w[:40] for w in words[:8]) if words else "nothing"
    if LONG_WORDS.search(head):
        return (f"Here is a long answer to: {topic}. " + _FILLER * 12)[:MAX_REPLY_CHARS]
    return f"Hello there, friend! You asked: {topic}."


def wants_image(prompt: str) -> bool:
    return bool(IMAGE_WORDS.search(prompt[:READ_CHARS]))


def wants_search(prompt: str) -> bool:
    return bool(SEARCH_WORDS.search(prompt[:READ_CHARS]))


def chunk(text: str, rng: random.Random | None = None) -> list[str]:
    """Split into word-sized chunks (or random sizes when an rng is given); joined they give text back."""
    if rng is None:
        return re.findall(r"\S+\s*|\s+", text)
    out, i = [], 0
    while i < len(text):
        size = rng.randint(1, 12)
        out.append(text[i:i + size])
        i += size
    return out
