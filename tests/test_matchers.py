"""support.matchers: real images, sound audio, and the rule matchers.

The media checkers are fed files that only look right (right magic bytes, wrong insides) and real ones.
"""
from __future__ import annotations

import base64
import io
import struct
import wave
import zlib
from pathlib import Path

import pytest
from hamcrest import assert_that, is_not
from mutagen.mp3 import MP3 as MP3File
from PIL import Image

from conftest import conforming_text_reply
from support import matchers
from support.matchers import audio_problem, image_result_problem, is_real_image, keeps_rule, keeps_rules
from support.reference_backend import media

PNG = media.png_image("a red bicycle")
# 0.31 s of a 440 Hz tone: `lame -t -b 32 --resample 24 -m m` (no Xing tag, like a streamed reply), 13 frames.
MP3 = (Path(__file__).parent / "data" / "tone.mp3").read_bytes()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def pillow_image(fmt: str, size=(32, 24)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, fmt)
    return out.getvalue()


def wav(pcm: bytes, rate: int = 24_000, width: int = 2) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()


def png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def png_declaring(width: int, height: int) -> bytes:
    """A PNG with sound chunks whose header declares the given size (its pixel data is far too short)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(b"\0" * 10))
            + png_chunk(b"IEND", b""))


def id3_tag(padding: int) -> bytes:
    """An empty ID3v2.4 tag: 10-byte header, size as a syncsafe integer, zero padding."""
    return b"ID3\x04\x00\x00" + bytes([0, 0, padding >> 7 & 0x7F, padding & 0x7F]) + b"\0" * padding


def corrupt_idat(png: bytes) -> bytes:
    """Flip one byte inside the IDAT chunk's data, so its CRC no longer matches."""
    at = png.index(b"IDAT") + 4 + 10
    return png[:at] + bytes([png[at] ^ 0xFF]) + png[at + 1:]


def garbage(n: int) -> bytes:
    """Fixed pseudo-random bytes (the same every run), with no 0xFF so no MPEG sync hides in them."""
    return bytes((i * 97 + 13) % 255 for i in range(n))


JPEG, GIF, WEBP = pillow_image("JPEG"), pillow_image("GIF"), pillow_image("WEBP")
TONE_WAV = wav(media.pcm_tone(0.05))


@pytest.mark.parametrize("result", [
    {"image_base64": b64(PNG)},
    {"b64_json": b64(PNG)},
    {"image": b64(JPEG)},
    {"data": b64(GIF)},
    {"image_base64": b64(WEBP)},
    {"image_base64": b64(pillow_image("PNG", (1, 10_000)))},          # the size limits are inclusive
    {"image_url": "https://cdn.example.com/bicycle.png"},             # URLs are accepted on their form
    {"url": "data:image/png;base64," + b64(PNG)},
    {"url": "data:image/jpeg;base64," + b64(JPEG)},
])
def test_real_images_are_accepted(result):
    assert image_result_problem(result) is None
    assert is_real_image().matches(result)


@pytest.mark.parametrize("result, why", [
    ({"image_base64": "!!! not base64 !!!"}, "not base64"),
    ({"image_base64": b64(b"just some text, not an image")}, "do not open as a PNG/JPEG/GIF/WEBP image"),
    ({"image_base64": b64(TONE_WAV)}, "do not open as"),                           # RIFF, like WebP, but a WAV
    ({"image_base64": b64(b"\xff\xd8\xff" + garbage(200))}, "do not open as"),      # JPEG magic + garbage
    ({"image_base64": b64(b"\xff\xd8\xff\xe0" + b"\x00" * 16)}, "do not open as"),   # JPEG magic, nothing else
    ({"image_base64": b64(PNG[:8] + garbage(200))}, "do not open as"),              # PNG magic + garbage
    ({"image_base64": b64(corrupt_idat(PNG))}, "bad header checksum in b'IDAT'"),
    ({"image_base64": b64(PNG[:-12])}, "PNG image does not decode"),                # IEND chunk cut off
    ({"image_base64": b64(PNG[:len(PNG) // 2])}, "PNG image does not decode"),     # truncated in IDAT
    ({"image_base64": b64(GIF[:len(GIF) - 8])}, "GIF image does not decode"),
    ({"image_base64": b64(png_declaring(0, 0))}, "do not open as"),                 # Pillow refuses 0x0
    ({"image_base64": b64(png_declaring(10_001, 10))}, "is 10001x10 px; each side should be 1 to 10000 px"),
    ({"image_base64": b64(png_declaring(100_000, 100_000))}, "absurd size"),
    ({"url": "data:image/png;base64," + b64(corrupt_idat(PNG))}, "in the data URL: the PNG image does not decode"),
    ({"url": "data:image/png;base64,!!!"}, "payload is not base64"),
    ({"url": "data:image/svg+xml,<svg/>"}, "data URL is not base64-encoded"),
    ({"image_url": "ftp://example.com/a.png"}, "no image_url and no base64 image field"),
    ({"caption": "a picture"}, "no image_url and no base64 image field"),
    ("a string result", "not an object"),
])
def test_fake_images_are_rejected(result, why):
    problem = image_result_problem(result)
    assert problem is not None and why in problem
    assert not is_real_image().matches(result)


def test_corrupted_png_really_differs_only_in_one_byte():
    bad = corrupt_idat(PNG)
    assert len(bad) == len(PNG) and sum(x != y for x, y in zip(bad, PNG)) == 1


def test_png_declaring_a_modest_size_fails_on_its_data_not_its_size():
    # so the size cases above are caught by the size check, not by something else
    assert "does not decode" in matchers.png_problem(png_declaring(64, 64))
    assert matchers.image_kind(png_declaring(64, 64)) == "PNG"


def test_png_whose_idat_does_not_inflate():
    png = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", PNG[16:29]) + png_chunk(b"IDAT", b"not zlib") + png_chunk(b"IEND", b"")
    assert "does not decode" in matchers.png_problem(png)
    assert matchers.png_problem(PNG) is None


def test_png_problem_refuses_other_formats():
    assert "do not open as a PNG image" in matchers.png_problem(JPEG)


@pytest.mark.parametrize("data, kind", [(PNG, "PNG"), (JPEG, "JPEG"), (GIF, "GIF"), (WEBP, "WEBP"),
                                        (TONE_WAV, None), (b"", None)],
                         ids=["png", "jpeg", "gif", "webp", "wav", "empty"])
def test_image_kind(data, kind):
    assert matchers.image_kind(data) == kind


def test_image_mismatch_description_names_the_problem():
    matcher = is_real_image()
    with pytest.raises(AssertionError, match="do not open as a PNG/JPEG/GIF/WEBP image"):
        assert_that({"image_base64": b64(b"plain bytes")}, matcher)


def test_audio_pcm_tone_is_sound():
    tone = media.pcm_tone(0.05)
    assert audio_problem([tone[:100], tone[100:]], "pcm_24000") is None


def streamed(wav_bytes: bytes) -> bytes:
    """The WAV as a streaming writer sends it: RIFF and data sizes unknown, so 0xFFFFFFFF."""
    out = bytearray(wav_bytes)
    out[4:8] = out[40:44] = b"\xff\xff\xff\xff"
    return bytes(out)


@pytest.mark.parametrize("chunks, fmt", [
    ([MP3[:100], MP3[100:]], "mp3"),
    ([MP3], "mp3_44100_128"),                        # provider-style format names
    ([id3_tag(300) + MP3], "mp3"),                   # an ID3v2 tag before the frames
    ([MP3[:200]], "mp3"),                            # two frames: the fewest mutagen syncs to
    ([TONE_WAV[:50], TONE_WAV[50:]], "wav"),
    ([streamed(TONE_WAV)], "wav"),
    ([TONE_WAV], "pcm"),                             # "pcm" that is really a WAV file
    ([TONE_WAV], "pcm_24000"),
    ([wav(b"\x80\xc0" * 200, width=1)], "wav"),       # 8-bit: decodes; no silence test
    ([b"OggS\x00"], "opus"),                         # other formats: non-empty is all that is promised
    ([b"\x01"], None),
])
def test_audio_that_decodes_is_accepted(chunks, fmt):
    assert audio_problem(chunks, fmt) is None


@pytest.mark.parametrize("chunks, fmt, why", [
    ([b"\x00\x00" * 500], "pcm_24000", "the PCM audio is silence"),
    ([media.pcm_tone(0.01) + b"\x01"], "pcm_24000", "not a whole number of samples"),
    ([], "pcm_24000", "no audio bytes"),
    ([], "opus", "no audio bytes"),
    ([b"\x00\x01\x02\x03"], "mp3", "no valid MPEG frames"),
    ([b"\xff\xfb\x90\x00" + garbage(3000)], "mp3", "no valid MPEG frames"),        # frame sync + garbage
    ([id3_tag(50) + garbage(3000)], "mp3", "no valid MPEG frames"),                # ID3 header + garbage
    ([TONE_WAV], "mp3", "no valid MPEG frames"),
    ([MP3[:96]], "mp3", "no valid MPEG frames"),                                   # one lone frame
    ([garbage(100) + MP3], "mp3", "does not start with an MPEG frame (100 other bytes come first)"),
    ([wav(b"")], "wav", "the WAV audio has no frames"),
    ([wav(b"")], "pcm", "the WAV audio has no frames"),
    ([wav(b"\x00\x00" * 500)], "wav", "the WAV audio is silence"),
    ([wav(media.pcm_tone(0.05), rate=16_000)], "pcm_24000", "16000 Hz, but tts_started declared 24000 Hz"),
    ([TONE_WAV[:30]], "wav", "does not decode as WAV: EOFError"),
    ([MP3], "wav", "does not decode as WAV: file does not start with RIFF id"),
    ([media.pcm_tone(0.05)], "wav", "does not decode as WAV"),
])
def test_audio_problems(chunks, fmt, why):
    problem = audio_problem(chunks, fmt)
    assert problem is not None and why in problem


def test_mp3_fixture_is_a_real_stream():
    info = MP3File(io.BytesIO(MP3)).info
    assert info.sample_rate == 24_000 and 0.25 < info.length < 0.4 and not info.sketchy


def test_keeps_rules_matcher(b):
    b.ready()
    conforming_text_reply(b, speech=True)
    assert_that(b.tr, keeps_rules("text", "speech"))
    assert_that(b.tr, keeps_rules())


def test_keeps_rule_matcher_explains_the_violation(b):
    b.ready()
    b.sent_request()
    b.recv("text_chunk", text="Hi", chunk_index=1)
    b.recv("working", request_type="text")
    b.recv("text_completed")
    b.recv("tts_not_requested")
    assert_that(b.tr, is_not(keeps_rule("working_before_content")))
    with pytest.raises(AssertionError, match=r"\[working_before_content\] at event #3"):
        assert_that(b.tr, keeps_rules("text"))


def test_rule_groups_name_registered_rules():
    from support.rules import RULES
    assert {n for group in matchers.RULE_GROUPS.values() for n in group} <= set(RULES)
