"""Real media bytes: a PCM tone for speech and a PNG for the image tool (standard library only)."""
from __future__ import annotations

import functools
import hashlib
import math
import struct
import zlib

SAMPLE_RATE = 24_000


def pcm_tone(duration_s: float, frequency: float = 440.0, amplitude: float = 0.3) -> bytes:
    """16-bit little-endian mono PCM at 24 kHz ("pcm_24000"), a sine tone."""
    n = max(1, int(SAMPLE_RATE * duration_s))
    if float(frequency).is_integer():   # a whole number of cycles per second: repeat one computed second
        second = _one_second(frequency, amplitude)
        return (second * (n // SAMPLE_RATE + 1))[:2 * n]
    return _samples(n, frequency, amplitude)


@functools.lru_cache(maxsize=8)
def _one_second(frequency: float, amplitude: float) -> bytes:
    return _samples(SAMPLE_RATE, frequency, amplitude)


def _samples(n: int, frequency: float, amplitude: float) -> bytes:
    peak = int(32767 * amplitude)
    return b"".join(struct.pack("<h", int(peak * math.sin(2 * math.pi * frequency * i / SAMPLE_RATE)))
                    for i in range(n))


def png_image(prompt: str, width: int = 64, height: int = 64) -> bytes:
    """A valid RGB PNG whose colours are derived from the prompt: a gradient over a base colour."""
    r0, g0, b0 = hashlib.sha256(prompt.encode()).digest()[:3]
    rows = []
    for y in range(height):
        row = bytearray([0])  # filter type 0 (none)
        for x in range(width):
            row += bytes(((r0 + x * 3) % 256, (g0 + y * 3) % 256, (b0 + (x + y)) % 256))
        rows.append(bytes(row))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows)))
            + chunk(b"IEND", b""))
