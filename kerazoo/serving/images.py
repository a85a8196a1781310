"""Image dimensions from the file header, so that an encoded image can be refused before anything decodes it.

A 585 KB PNG can declare 20,000 x 20,000 pixels; the model's ``decode_png`` would allocate 1.6 GB for it. The
server reads the width and height that PNG, JPEG, GIF and BMP files declare (a few bytes, no decoding) and refuses
strings whose pixel count exceeds ``max_image_pixels`` with INVALID_ARGUMENT. Strings that are not one of these
formats pass unchanged (the model decides what they are).
"""

from __future__ import annotations

import struct

import numpy as np

from kerazoo.serving.errors import invalid_argument

DEFAULT_MAX_IMAGE_PIXELS = 4096 * 4096  # 16.8 megapixels: a phone photo passes, a decompression bomb does not

# JPEG start-of-frame markers (baseline, progressive, lossless ...): C0-CF except DHT (C4), JPG (C8), DAC (CC).
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_SCAN_LIMIT = 1 << 20  # bytes of segments walked before giving up on finding the frame header


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) declared by a PNG, JPEG, GIF or BMP header; None for other data or a truncated header."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24 and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    if data.startswith((b"GIF87a", b"GIF89a")) and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data.startswith(b"BM") and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return abs(width), abs(height)  # a negative height marks a top-down bitmap
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    position, end = 2, min(len(data), _JPEG_SCAN_LIMIT)
    while position + 4 <= end:
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            position += 2
            continue
        (length,) = struct.unpack(">H", data[position + 2:position + 4])
        if marker in _JPEG_FRAMES:
            if position + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[position + 5:position + 9])
            return width, height
        if length < 2:
            return None
        position += 2 + length
    return None


def check_image_pixels(array: np.ndarray, max_pixels: int, where: str) -> None:
    """Raise INVALID_ARGUMENT if a string in ``array`` is an image declaring more than ``max_pixels`` pixels."""
    for value in array.ravel():
        if not isinstance(value, bytes):
            continue
        size = image_size(value)
        if size is not None and size[0] * size[1] > max_pixels:
            raise invalid_argument(f"{where}: the image is {size[0]}x{size[1]} = {size[0] * size[1]} pixels, over "
                                   f"the server's limit of {max_pixels} (--max-image-pixels)")
