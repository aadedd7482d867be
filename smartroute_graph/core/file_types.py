"""What kind of file a byte string is.

Image types and their sizes come from the header alone, and the common unsupported types are named
so the error can say what to do.
"""

from __future__ import annotations

import math
import struct
import zlib

__all__ = [
    "SUPPORTED_HINT",
    "describe_binary",
    "image_mime",
    "image_tokens",
    "jpeg_size",
    "png_size",
    "webp_size",
]

SUPPORTED_HINT = "send a PDF, a PNG, JPEG, GIF or WebP image, or UTF-8 text"

_IMAGE_MAGIC: dict[bytes, str] = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}

_CONVERT_IMAGE = "convert it to PNG or JPEG and upload again"
_EXPORT_PDF = "export it to PDF (or paste its text) and upload again"
# Recognised only to name them in the error: a user who sent a .docx learns what to do.
_UNSUPPORTED_MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (
        b"PK\x03\x04",
        "a ZIP archive (Word, Excel and PowerPoint files are ZIP archives too)",
        "unpack it, or export documents to PDF, and upload the files one by one",
    ),
    (b"PK\x05\x06", "an empty ZIP archive", SUPPORTED_HINT),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "a legacy Office document (.doc, .xls, .ppt)",
        _EXPORT_PDF,
    ),
    (b"MZ", "a Windows executable", SUPPORTED_HINT),
    (b"\x7fELF", "an ELF executable", SUPPORTED_HINT),
    (b"\xcf\xfa\xed\xfe", "a Mach-O executable", SUPPORTED_HINT),
    (b"\xca\xfe\xba\xbe", "a Mach-O or Java class file", SUPPORTED_HINT),
    (b"\x1f\x8b", "a gzip archive", "decompress it and upload the files inside"),
    (b"BZh", "a bzip2 archive", "decompress it and upload the files inside"),
    (b"\xfd7zXZ\x00", "an xz archive", "decompress it and upload the files inside"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "unpack it and upload the files inside"),
    (b"Rar!\x1a\x07", "a RAR archive", "unpack it and upload the files inside"),
    (b"SQLite format 3\x00", "an SQLite database", "export the data as text (CSV) instead"),
    (b"II*\x00", "a TIFF image", _CONVERT_IMAGE),
    (b"MM\x00*", "a TIFF image", _CONVERT_IMAGE),
    (b"BM", "a BMP image", _CONVERT_IMAGE),
    (b"\x00\x00\x01\x00", "an ICO icon", _CONVERT_IMAGE),
    (b"OggS", "an Ogg audio or video file", SUPPORTED_HINT),
    (b"ID3", "an MP3 audio file", SUPPORTED_HINT),
    (b"fLaC", "a FLAC audio file", SUPPORTED_HINT),
)
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis")
# JPEG start-of-frame markers carry the size; C4 (DHT), C8 (reserved), CC (DAC) do not.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def image_tokens(width: int | None, height: int | None) -> int:
    """Input tokens an image costs at OpenAI's high detail (a typical photo when unknown)."""
    if not width or not height:
        return 85 + 170 * 6  # a typical 4:3 photo: 2 x 3 tiles
    scale = min(1.0, 2048 / max(width, height))
    w, h = width * scale, height * scale
    scale = min(1.0, 768 / min(w, h))
    w, h = w * scale, h * scale
    return 85 + 170 * math.ceil(w / 512) * math.ceil(h / 512)


def image_mime(data: bytes) -> str | None:
    """The image type ``data`` starts with (PNG, JPEG, GIF, WebP), or None."""
    for magic, mime in _IMAGE_MAGIC.items():
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG header whose CRC checks out, or None."""
    # IHDR must come first; its CRC catches a damaged header at the cost of 13 bytes.
    if len(data) < 33 or data[12:16] != b"IHDR":
        return None
    if zlib.crc32(data[12:29]) != struct.unpack(">I", data[29:33])[0]:
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a JPEG's first start-of-frame marker, or None."""
    # Walk the marker segments up to the first start-of-frame (usually within a few KB).
    i = 2
    end = len(data)
    while i + 4 <= end:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            return None
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if length < 2:
            return None
        if marker in _JPEG_SOF:
            if i + 9 > end:
                return None
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None


def webp_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a WebP header (lossy, lossless or extended), or None."""
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return width, height
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None


def describe_binary(data: bytes) -> tuple[str, str]:
    """What an unsupported file is and what to do with it, for the error message."""
    for magic, what, hint in _UNSUPPORTED_MAGIC:
        if data.startswith(magic):
            return what, hint
    if data[4:8] == b"ftyp":
        if data[8:12] in _HEIF_BRANDS:
            return "a HEIC/AVIF image", _CONVERT_IMAGE
        return "a video file (MP4/MOV)", SUPPORTED_HINT
    if data[:4] == b"RIFF":
        return "a RIFF audio or video file (WAV/AVI)", SUPPORTED_HINT
    return "a binary file of unknown type", SUPPORTED_HINT
