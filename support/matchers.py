"""PyHamcrest matchers over transcripts and payloads, for steps that read better with assert_that."""
from __future__ import annotations

import base64
import binascii
import io
import re
import struct
import wave
from typing import Iterable

from hamcrest.core.base_matcher import BaseMatcher
from mutagen import MutagenError
from mutagen.mp3 import MP3
from PIL import Image, UnidentifiedImageError

from support import rules, verdicts
from support.transcript import Transcript

# Order rules: what a scenario's "… arrives in the right order" step checks, by capability. Other rules
# (counts, encodings, full text, storage) belong to steps that say them, and all to the closing check.
RULE_GROUPS: dict[str, list[str]] = {
    "connection": ["ready_first"],
    "text": ["working_before_content", "chunk_index_sequence", "no_text_after_text_completed"],
    "speech": ["tts_started_before_audio", "text_before_tts_completed", "tts_error_then_completed",
               "upload_after_tts_completed"],
    "tool": ["working_before_content", "tool_events_within_request"],
}


class KeepsRules(BaseMatcher):
    def __init__(self, names: Iterable[str] | None, strict: bool = False, what: str = ""):
        self.names = list(names) if names is not None else None
        self.strict = strict
        self.what = what or (", ".join(self.names) if self.names is not None else "every whole-transcript rule")
        self.found: list[rules.Violation] = []

    def _matches(self, item: Transcript) -> bool:
        self.found = verdicts.violations_only(rules.check(item, self.names, strict=self.strict))
        return not self.found

    def describe_to(self, description) -> None:
        description.append_text(f"a transcript that keeps {self.what}")

    def describe_mismatch(self, item: Transcript, description) -> None:
        description.append_text("\n" + verdicts.explain(self.found, item))


def keeps_rules(*groups: str, strict: bool = False) -> KeepsRules:
    """Keeps the order rules of the named groups (the connection's always), or all rules when none named."""
    if not groups:
        return KeepsRules(None, strict)
    names = list(dict.fromkeys(RULE_GROUPS["connection"] + [n for g in groups for n in RULE_GROUPS[g]]))
    return KeepsRules(names, strict, what=f"the connection and {' and '.join(groups)} rules")


def keeps_rule(*names: str) -> KeepsRules:
    return KeepsRules(names)


def assert_keeps(transcript: Transcript, matcher: KeepsRules) -> None:
    """As assert_that(transcript, matcher), but the failure (verdicts.rules_broken) carries the violations."""
    if not matcher.matches(transcript):
        raise verdicts.rules_broken(transcript, matcher.found, matcher.what)


_HAMCREST = re.compile(r"\A(?P<reason>.*?)\nExpected: (?P<expected>.*?)\n     but: (?P<but>.*)\Z", re.DOTALL)


def finding_first(message: str) -> str:
    """A PyHamcrest failure ("Expected: <what the matcher wants>\n     but: <the finding>") with the finding
    first, so JUnit's and Allure's one-line message is the finding; other messages are returned as they are."""
    parts = _HAMCREST.match(message)
    if not parts:
        return message
    reason, expected, but = (parts.group(k).strip() for k in ("reason", "expected", "but"))
    return f"{reason + ': ' if reason else ''}{but}\n(expected {expected})"


# -- payloads ---------------------------------------------------------------------------------
# Media are decoded with real parsers (Pillow, wave, mutagen): bytes that only start right are not enough.

IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "WEBP")   # what a chat client can show inline
MAX_SIDE = 10_000                                 # px; larger is no picture a chat tool returns


def image_kind(data: bytes) -> str | None:
    """The Pillow format name ("PNG", "JPEG", "GIF", "WEBP") the header announces, or None; decodes nothing."""
    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as img:
            return img.format
    except Exception:   # Pillow raises many kinds on bytes that are no image
        return None


def image_problem(data: bytes, formats: Iterable[str] = IMAGE_FORMATS) -> str | None:
    """Do the bytes decode in full as an image of one of the formats, of plausible size? None when they do."""
    formats = tuple(formats)
    names = "/".join(formats)
    kind = "image"   # until the header names the format
    try:
        with Image.open(io.BytesIO(data), formats=formats) as img:
            kind, (width, height) = f"{img.format} image", img.size
            if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
                return f"the {kind} is {width}x{height} px; each side should be 1 to {MAX_SIDE} px"
            img.verify()    # checksums (PNG CRCs); verify() leaves the image unusable, hence a second open
        with Image.open(io.BytesIO(data), formats=formats) as img:
            img.load()      # decodes every pixel, so truncated or garbled data fails here
    except UnidentifiedImageError:
        return f"the decoded bytes do not open as a {names} image (they start {data[:8]!r})"
    except Image.DecompressionBombError as exc:   # raised by open() before we see the size
        return f"the image declares an absurd size: {exc}"
    except Exception as exc:   # Pillow reports corrupt data as OSError, SyntaxError, ValueError, EOFError, ...
        return f"the {kind} does not decode: {type(exc).__name__}: {exc}"
    return None


def png_problem(data: bytes) -> str | None:
    """None when the bytes are a whole, decodable PNG."""
    return image_problem(data, ("PNG",))


class IsRealImage(BaseMatcher):
    """A tool result that holds a real image: inline base64 bytes that decode as an image, or an image URL."""

    def __init__(self):
        self.problem = ""

    def _matches(self, result) -> bool:
        self.problem = image_result_problem(result) or ""
        return not self.problem

    def describe_to(self, description) -> None:
        description.append_text("a tool result carrying a real image (PNG/JPEG/GIF/WebP bytes that decode, "
                                "or an http(s) image URL)")

    def describe_mismatch(self, item, description) -> None:
        description.append_text(f"{self.problem}; the result was {str(item)[:200]!r}")


def image_result_problem(result) -> str | None:
    if not isinstance(result, dict):
        return f"the result is a {type(result).__name__}, not an object"
    for key in ("image_url", "url"):
        url = result.get(key)
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            return None   # accepted on its form: the suite does not fetch
        if isinstance(url, str) and url.startswith("data:image/"):
            return data_url_problem(url)
    encoded = next((result[k] for k in ("image_base64", "b64_json", "image", "data") if isinstance(result.get(k), str)),
                   None)
    if encoded is None:
        return "no image_url and no base64 image field (image_base64, b64_json, image, data)"
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        return f"the image field is not base64 ({exc})"
    return image_problem(data)


def data_url_problem(url: str) -> str | None:
    """A data:image/...;base64, URL whose bytes decode as an image."""
    header, comma, payload = url.partition(",")
    if not comma or not header.lower().endswith(";base64"):
        return f"the data URL is not base64-encoded (it starts {url[:40]!r})"
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        return f"the data URL's payload is not base64 ({exc})"
    problem = image_problem(data)
    return f"in the data URL: {problem}" if problem else None


def is_real_image() -> IsRealImage:
    return IsRealImage()


def audio_problem(chunks: list[bytes], fmt: str | None) -> str | None:
    """Does the audio decode as its declared format? None when it does.

    WAV: a valid container with frames. PCM (pcm, pcm_<rate>): whole 16-bit samples, not silence, or a
    WAV container. MP3: MPEG frames from the start. Other formats: non-empty is all the protocol promises.
    """
    data = b"".join(chunks)
    if not data:
        return "no audio bytes at all"
    fmt = (fmt or "").lower()
    is_wav = data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    if fmt.startswith("wav") or (fmt.startswith("pcm") and is_wav):
        rate = fmt.split("_")[1] if fmt.startswith("pcm_") else ""
        return wav_problem(data, int(rate) if rate.isdigit() else None)
    if fmt.startswith("pcm"):
        return pcm_problem(data)
    if fmt.startswith("mp3"):
        return mp3_problem(data)
    return None


def pcm_problem(data: bytes, what: str = "PCM") -> str | None:
    """Raw 16-bit little-endian PCM: whole samples, and louder than silence."""
    if len(data) % 2:
        return f"{len(data)} bytes of 16-bit PCM is not a whole number of samples"
    samples = struct.unpack(f"<{len(data) // 2}h", data)
    if max(abs(s) for s in samples) < 64:
        return f"the {what} audio is silence"
    return None


def wav_problem(data: bytes, rate: int | None = None) -> str | None:
    """A WAV container the standard wave module reads, with audio frames (at the declared rate, if any)."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            channels, width, framerate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            # Read what is there: streamed WAVs often declare an unknown (maximal) data size.
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError, struct.error) as exc:
        return f"the audio does not decode as WAV: {str(exc) or type(exc).__name__}"
    count = len(frames) // (channels * width)
    if count == 0:
        return f"the WAV audio has no frames ({len(data)} bytes, all header)"
    if rate is not None and framerate != rate:
        return f"the WAV audio is {framerate} Hz, but tts_started declared {rate} Hz"
    return pcm_problem(frames[:count * channels * width], "WAV") if width == 2 else None


def mp3_problem(data: bytes) -> str | None:
    """MPEG audio frames that mutagen parses, starting right after any ID3v2 tags."""
    try:
        info = MP3(io.BytesIO(data)).info
    except MutagenError as exc:
        return f"the MP3 audio has no valid MPEG frames ({exc}; it starts {data[:4]!r})"
    start = _after_id3(data)
    first = getattr(info, "frame_offset", start)   # where mutagen found the first frame (undocumented)
    if first != start:
        return f"the MP3 audio does not start with an MPEG frame ({first - start} other bytes come first)"
    if info.length <= 0:
        return "the MP3 audio has no duration"
    return None


def _after_id3(data: bytes) -> int:
    """Offset just past any ID3v2 tags at the start (their size is a 28-bit 'syncsafe' integer)."""
    pos = 0
    while data[pos:pos + 3] == b"ID3" and len(data) >= pos + 10:
        size = sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(data[pos + 6:pos + 10]))
        pos += 10 + size + (10 if data[pos + 5] & 0x10 else 0)   # flag 0x10: a 10-byte footer follows
    return pos
