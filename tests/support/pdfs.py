"""Real files built in memory for attachment tests: PDFs with a text layer, scanned-style PDFs,
encrypted PDFs, and small images. Pure Python (pypdf only for encryption), deterministic.

Server and integration tests import these too (``from tests.support.pdfs import ...``).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence

__all__ = [
    "bomb_content",
    "compressed_pdf",
    "encrypted_pdf",
    "gif",
    "jpeg_header",
    "long_text",
    "png",
    "png_header",
    "scanned_pdf",
    "text_content",
    "text_pdf",
    "webp_header",
]

_PROSE = (
    "the quarterly report reviews revenue margins and operating costs across every region "
    "while the audit committee notes that supplier contracts were renegotiated in spring "
    "and customer retention improved after the support team adopted a shared ticket queue "
    "although shipping delays in the northern warehouse reduced on time delivery for weeks"
)
_WORDS = _PROSE.split(" ")


def long_text(words: int, *, line_words: int = 14) -> str:
    """Deterministic prose of ``words`` words, ``line_words`` to a line (about 1.1 tokens a
    word with :func:`smartroute_graph.core.pricing.estimate_tokens`)."""
    out = [_WORDS[(i * 7 + i // len(_WORDS)) % len(_WORDS)] for i in range(words)]
    lines = [" ".join(out[i : i + line_words]) for i in range(0, words, line_words)]
    return "\n".join(lines)


def _escape(line: str) -> bytes:
    # PDF literal strings: backslash, parentheses are special; Latin-1 covers WinAnsi text.
    raw = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return raw.encode("latin-1", errors="replace")


def _assemble(objects: list[bytes]) -> bytes:
    """A PDF file from object bodies numbered 1..n (object 1 is the catalog), with a correct
    cross-reference table so strict readers accept it."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n" % (len(objects) + 1))
    out.write(b"0000000000 65535 f \n")
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def _stream(content: bytes) -> bytes:
    return b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"


def _pdf(page_contents: Sequence[bytes], *, with_font: bool) -> bytes:
    n = len(page_contents)
    # 1 catalog, 2 pages, 3 font, then (page, content) pairs.
    kids = b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(n))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % n,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    resources = b"<< /Font << /F1 3 0 R >> >>" if with_font else b"<< >>"
    for i, content in enumerate(page_contents):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources "
            + resources
            + b" /Contents %d 0 R >>" % (5 + 2 * i)
        )
        objects.append(_stream(content))
    return _assemble(objects)


def text_pdf(pages: Sequence[str]) -> bytes:
    """A PDF with one page per item of ``pages``, each line of it a line of Helvetica text."""
    return _pdf([text_content(text) for text in pages], with_font=True)


def text_content(text: str) -> bytes:
    """The content stream :func:`text_pdf` draws ``text`` with (for :func:`compressed_pdf`)."""
    ops = [b"BT /F1 11 Tf 14 TL 72 750 Td"]
    for index, line in enumerate(text.split("\n")):
        ops.append((b"" if index == 0 else b"T* ") + b"(" + _escape(line) + b") Tj")
    ops.append(b"ET")
    return b"\n".join(ops)


def bomb_content(inflated_bytes: int, *, op: bytes = b"(A) '\n") -> bytes:
    """A content stream of about ``inflated_bytes``: one tiny operator repeated (the default
    shows one letter on a new line). Compressed, 2 MB of it is about 3.5 KB, and pypdf takes
    seconds and hundreds of MB to parse and walk it: a decompression bomb for text readers.
    ``op=b"0 0 m 1 1 l S\n"`` draws lines instead (no text: a "scan" that is slow to read)."""
    body = b"BT /F1 11 Tf 14 TL 72 750 Td\n" if op.rstrip().endswith((b"'", b"Tj")) else b""
    return body + op * (inflated_bytes // len(op)) + (b"ET" if body else b"")


def compressed_pdf(pages: Sequence[bytes]) -> bytes:
    """A PDF whose pages draw the given content streams, FlateDecode-compressed. Identical
    contents share one stream object, so 300 pages of a bomb cost the file one copy."""
    streams: dict[bytes, int] = {}
    for content in pages:
        streams.setdefault(content, len(streams))
    n = len(pages)
    first_stream = 4 + n  # 1 catalog, 2 pages, 3 font, then the pages, then the streams
    kids = b" ".join(b"%d 0 R" % (4 + i) for i in range(n))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % n,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    for content in pages:
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources "
            b"<< /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (first_stream + streams[content])
        )
    for content in streams:
        packed = zlib.compress(content, 9)
        objects.append(
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed)
            + packed
            + b"\nendstream"
        )
    return _assemble(objects)


def scanned_pdf(pages: int = 2) -> bytes:
    """A PDF whose pages carry only drawing (as a scan carries only an image): no text layer."""
    drawing = b"0.2 0.2 0.2 rg 72 600 300 120 re f 72 560 m 500 560 l S"
    return _pdf([drawing] * pages, with_font=False)


def encrypted_pdf(
    pages: Sequence[str],
    *,
    user_password: str = "secret",
    owner_password: str | None = "owner",
    algorithm: str = "RC4-128",
) -> bytes:
    """:func:`text_pdf` encrypted with pypdf. An empty ``user_password`` gives the common
    "opens without a password, restricted permissions" kind."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf(pages))))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int = 2, height: int = 2, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A complete, decodable RGB PNG of one colour."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = b"\x00" + bytes(rgb) * width  # filter byte 0 (none), then the pixels
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(row * height))
        + _chunk(b"IEND", b"")
    )


def png_header(width: int, height: int) -> bytes:
    """Signature, IHDR and IEND only: declares any size without the pixel data (enough for a
    header check; what a decompression bomb looks like to one)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IEND", b"")


def jpeg_header(width: int, height: int, *, progressive: bool = False) -> bytes:
    """SOI, a JFIF APP0 segment, a DQT-sized filler segment, SOF0 (or SOF2) and EOI: the
    markers a header check walks. Not decodable (no scan data)."""
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    comment = b"made for a test"
    sof = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return (
        b"\xff\xd8"
        + b"\xff\xe0"
        + struct.pack(">H", len(app0) + 2)
        + app0
        + b"\xff\xfe"
        + struct.pack(">H", len(comment) + 2)
        + comment
        + (b"\xff\xc2" if progressive else b"\xff\xc0")
        + struct.pack(">H", len(sof) + 2)
        + sof
        + b"\xff\xd9"
    )


def gif(width: int = 1, height: int = 1) -> bytes:
    """A GIF89a with a two-colour palette and one image of ``width`` x ``height``."""
    header = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0)
    palette = b"\x00\x00\x00\xff\xff\xff"
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
    # LZW minimum code size 2; one data sub-block (clear, pixel 0, end); block terminator.
    return header + palette + image + b"\x02\x02\x44\x01\x00" + b"\x3b"


def webp_header(width: int, height: int) -> bytes:
    """A RIFF/WEBP container with a VP8X chunk declaring the canvas size."""
    vp8x = (
        b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    )
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    return b"RIFF" + struct.pack("<I", len(body)) + body
