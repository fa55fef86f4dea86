"""PyHamcrest matchers over transcripts and payloads, for steps that read better with assert_that."""
from __future__ import annotations

import base64
import binascii
import struct
import zlib
from typing import Iterable

from hamcrest.core.base_matcher import BaseMatcher

from support import rules
from support.transcript import Transcript

# Rule groups: the rules a scenario about one capability applies in its own step.
RULE_GROUPS: dict[str, list[str]] = {
    "connection": ["ready_first", "session_id_constant", "frames_are_json", "frames_match_schema",
                   "removed_events_absent"],
    "text": ["working_before_content", "chunk_index_sequence", "text_matches_full_response",
             "one_completion_flag_each", "no_text_after_text_completed", "db_record_well_formed"],
    "speech": ["tts_started_before_audio", "audio_is_base64", "text_before_tts_completed", "speech_not_refused",
               "tts_error_then_completed", "upload_after_tts_completed", "audio_chunk_count_matches",
               "one_completion_flag_each"],
    "tool": ["tool_start_has_name", "tool_result_after_call", "tool_events_within_request", "working_before_content"],
    "cancel": ["nothing_after_cancelled", "cancelled_not_stored", "one_completion_flag_each"],
}


class KeepsRules(BaseMatcher):
    def __init__(self, names: Iterable[str] | None, strict: bool = False):
        self.names = list(names) if names is not None else None
        self.strict = strict
        self.found: list[rules.Violation] = []

    def _matches(self, item: Transcript) -> bool:
        self.found = rules.violations_only(rules.check(item, self.names, strict=self.strict))
        return not self.found

    def describe_to(self, description) -> None:
        which = ", ".join(self.names) if self.names is not None else "every whole-transcript rule"
        description.append_text(f"a transcript that keeps {which}")

    def describe_mismatch(self, item: Transcript, description) -> None:
        description.append_text("\n" + rules.explain(self.found, item))


def keeps_rules(*groups: str, strict: bool = False) -> KeepsRules:
    """Keeps the rules of the named groups (connection rules always), or all rules when none named."""
    if not groups:
        return KeepsRules(None, strict)
    names = list(dict.fromkeys(RULE_GROUPS["connection"] + [n for g in groups for n in RULE_GROUPS[g]]))
    return KeepsRules(names, strict)


def keeps_rule(name: str) -> KeepsRules:
    return KeepsRules([name])


# -- payloads ---------------------------------------------------------------------------------

IMAGE_MAGIC = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"GIF8": "GIF", b"RIFF": "WebP"}


def image_kind(data: bytes) -> str | None:
    return next((name for magic, name in IMAGE_MAGIC.items() if data.startswith(magic)), None)


def png_problem(data: bytes) -> str | None:
    """Walk a PNG's chunks checking every CRC and that IDAT inflates; None when it is sound."""
    pos, seen = 8, []
    while pos + 8 <= len(data):
        length, tag = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc = data[pos + 8 + length:pos + 12 + length]
        if len(crc) != 4 or struct.unpack(">I", crc)[0] != zlib.crc32(tag + body) & 0xFFFFFFFF:
            return f"chunk {tag!r} has a bad CRC or is truncated"
        seen.append((tag, body))
        pos += 12 + length
    tags = [t for t, _ in seen]
    if not tags or tags[0] != b"IHDR" or tags[-1] != b"IEND":
        return f"chunks are {tags[:5]}…, expected IHDR first and IEND last"
    try:
        zlib.decompress(b"".join(b for t, b in seen if t == b"IDAT"))
    except zlib.error as exc:
        return f"image data does not inflate: {exc}"
    return None


class IsRealImage(BaseMatcher):
    """A tool result that holds a real image: inline base64 bytes of a known format, or an image URL."""

    def __init__(self):
        self.problem = ""

    def _matches(self, result) -> bool:
        self.problem = image_result_problem(result) or ""
        return not self.problem

    def describe_to(self, description) -> None:
        description.append_text("a tool result carrying a real image (PNG/JPEG/GIF/WebP bytes, or an image URL)")

    def describe_mismatch(self, item, description) -> None:
        description.append_text(f"{self.problem}; the result was {str(item)[:200]!r}")


def image_result_problem(result) -> str | None:
    if not isinstance(result, dict):
        return f"the result is a {type(result).__name__}, not an object"
    for key in ("image_url", "url"):
        url = result.get(key)
        if isinstance(url, str) and url.startswith(("http://", "https://", "data:image/")):
            return None
    encoded = next((result[k] for k in ("image_base64", "b64_json", "image", "data") if isinstance(result.get(k), str)),
                   None)
    if encoded is None:
        return "no image_url and no base64 image field (image_base64, b64_json, image, data)"
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        return f"the image field is not base64 ({exc})"
    kind = image_kind(data)
    if kind is None:
        return f"the decoded bytes are no known image format (they start {data[:8]!r})"
    return png_problem(data) if kind == "PNG" else None


def is_real_image() -> IsRealImage:
    return IsRealImage()


def audio_problem(chunks: list[bytes], fmt: str | None) -> str | None:
    """Is the decoded audio sound? PCM: whole 16-bit samples, not silence. MP3: frame sync or ID3."""
    data = b"".join(chunks)
    if not data:
        return "no audio bytes at all"
    fmt = (fmt or "").lower()
    if fmt.startswith("pcm"):
        if len(data) % 2:
            return f"{len(data)} bytes of 16-bit PCM is not a whole number of samples"
        samples = struct.unpack(f"<{len(data) // 2}h", data)
        if max(abs(s) for s in samples) < 64:
            return "the PCM audio is silence"
        return None
    if fmt.startswith("mp3"):
        return None if data[:3] == b"ID3" or (data[0] == 0xFF and data[1] & 0xE0 == 0xE0) else \
            f"the MP3 audio has no ID3 tag or frame sync (starts {data[:4]!r})"
    return None   # other formats: non-empty valid base64 is what the contract promises
