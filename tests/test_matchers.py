"""support.matchers: real images, sound audio, and the rule matchers."""
from __future__ import annotations

import base64
import struct

import pytest
from hamcrest import assert_that, is_not

from conftest import conforming_text_reply
from support import matchers
from support.matchers import audio_problem, image_result_problem, is_real_image, keeps_rule, keeps_rules
from support.reference_backend import media

PNG = media.png_image("a red bicycle")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def corrupt_idat(png: bytes) -> bytes:
    """Flip one byte inside the IDAT chunk's data, so its CRC no longer matches."""
    at = png.index(b"IDAT") + 4 + 10
    return png[:at] + bytes([png[at] ^ 0xFF]) + png[at + 1:]


@pytest.mark.parametrize("result", [
    {"image_base64": b64(PNG)},
    {"b64_json": b64(PNG)},
    {"image_url": "https://cdn.example.com/bicycle.png"},
    {"url": "data:image/png;base64," + b64(PNG)},
    {"image_base64": b64(b"\xff\xd8\xff\xe0" + b"\x00" * 16)},   # JPEG: known magic is enough
])
def test_real_images_are_accepted(result):
    assert image_result_problem(result) is None
    assert is_real_image().matches(result)


@pytest.mark.parametrize("result, why", [
    ({"image_base64": "!!! not base64 !!!"}, "not base64"),
    ({"image_base64": b64(b"just some text, not an image")}, "no known image format"),
    ({"image_base64": b64(corrupt_idat(PNG))}, "bad CRC"),
    ({"image_base64": b64(PNG[:-12])}, "IEND last"),                          # IEND chunk cut off
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


def test_png_whose_idat_does_not_inflate():
    def chunk(tag, data):
        import zlib
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", PNG[16:29]) + chunk(b"IDAT", b"not zlib") + chunk(b"IEND", b"")
    assert "does not inflate" in matchers.png_problem(png)


def test_image_mismatch_description_names_the_problem():
    matcher = is_real_image()
    with pytest.raises(AssertionError, match="no known image format"):
        assert_that({"image_base64": b64(b"plain bytes")}, matcher)


def test_audio_pcm_tone_is_sound():
    tone = media.pcm_tone(0.05)
    assert audio_problem([tone[:100], tone[100:]], "pcm_24000") is None


@pytest.mark.parametrize("chunks, fmt, why", [
    ([b"\x00\x00" * 500], "pcm_24000", "silence"),
    ([media.pcm_tone(0.01) + b"\x01"], "pcm_24000", "not a whole number of samples"),
    ([], "pcm_24000", "no audio bytes"),
    ([b"\x00\x01\x02\x03"], "mp3", "no ID3 tag or frame sync"),
])
def test_audio_problems(chunks, fmt, why):
    problem = audio_problem(chunks, fmt)
    assert problem is not None and why in problem


@pytest.mark.parametrize("data", [b"ID3\x03\x00", b"\xff\xfb\x90\x00"])
def test_mp3_starts(data):
    assert audio_problem([data], "mp3") is None


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
