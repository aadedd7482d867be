"""Files that come with a query: images for vision models, PDFs read into the prompt.

An :class:`Attachment` is checked and parsed when it is created, so a bad upload fails at
the door with an error that says what was wrong and what to do, and routing sees the real
cost of the file:

- images (PNG, JPEG, GIF, WebP): the header is read for the width and height (no decoding,
  no Pillow) and the pixel count is capped; they travel to the model as image blocks;
- PDFs: read with pypdf page by page, in a separate process (:mod:`pdf_worker`) that is
  killed at the deadline and whose memory is capped, a few at a time; the text (with
  ``--- page N ---`` markers) joins the prompt and counts towards the context window. A PDF
  without a text layer (a scan) keeps its bytes and travels as a file block, so only a model
  that reads PDFs can take it;
- UTF-8 text files: their text joins the prompt.

Every error about the file is an :class:`AttachmentError` (an
:class:`~smartroute_graph.core.errors.InputError`) whose ``http_status`` says how an HTTP API
should answer it (400, 413, 415 or 422); :class:`AttachmentBusyError` (503) says the PDF reader
was at capacity.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote_to_bytes

from pydantic import BaseModel, ConfigDict, Field

from smartroute_graph.core.errors import (
    AttachmentBusyError,
    AttachmentEncodingError,
    AttachmentError,
    AttachmentTooLargeError,
    ConfigError,
    CorruptAttachmentError,
    EmptyAttachmentError,
    EncryptedPDFError,
    InputError,
    UnsupportedAttachmentError,
)
from smartroute_graph.core.file_types import (
    describe_binary,
    image_mime,
    image_tokens,
    jpeg_size,
    png_size,
    webp_size,
)
from smartroute_graph.core.pdf_worker import SlotsBusyError, read_pages
from smartroute_graph.core.pricing import estimate_tokens

__all__ = [
    "MAX_ATTACHMENT_BYTES",
    "MAX_CONCURRENT_PDFS",
    "MAX_IMAGE_PIXELS",
    "MAX_PDF_MEMORY_BYTES",
    "MAX_PDF_PAGES",
    "MAX_PDF_SECONDS",
    "MAX_TEXT_CHARS",
    "Attachment",
    "AttachmentBusyError",
    "AttachmentEncodingError",
    "AttachmentError",
    "AttachmentKind",
    "AttachmentLimits",
    "AttachmentTooLargeError",
    "CorruptAttachmentError",
    "EmptyAttachmentError",
    "EncryptedPDFError",
    "UnsupportedAttachmentError",
]

AttachmentKind = Literal["image", "pdf", "text"]

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
MAX_PDF_PAGES = 300
# About 500k tokens: past what most models hold, yet the 1M-token models still take it.
# Longer text is cut here (with a note in the text) rather than rejected: the start of a
# long document still answers most questions about it, and the cut is stated, not silent.
MAX_TEXT_CHARS = 2_000_000
# Reading a PDF's text stops after this many seconds (the worker is killed, even inside a
# page), keeping the pages read.
MAX_PDF_SECONDS = 20.0
# Memory a PDF-reading process may take beyond the interpreter and pypdf (about 40 MB). Real
# 300-page documents need well under 100 MB; a decompression bomb needs gigabytes.
MAX_PDF_MEMORY_BYTES = 256 * 1024 * 1024
# PDFs read at once (process-wide, per limit value); more wait up to MAX_PDF_SECONDS.
MAX_CONCURRENT_PDFS = 2
# 40 megapixels: above any camera phone; providers downscale long before this anyway.
MAX_IMAGE_PIXELS = 40_000_000
# A PDF read natively is rendered page by page as images (plus any text): providers bill
# roughly 250-3,000 tokens a page; the high end keeps the context-window check safe.
_NATIVE_PDF_PAGE_TOKENS = 1_500


@dataclass(frozen=True)
class AttachmentLimits:
    """Limits applied when an attachment is created.

    Args:
        max_bytes: the largest file accepted (413 above it).
        max_pdf_pages: the most pages a PDF may have (413 above it).
        max_text_chars: extracted (or sent) text beyond this is cut, with a note saying so.
        max_image_pixels: width x height above this is refused (413).
        max_pdf_seconds: the whole of a PDF's text extraction stops after this long (the
            reading process is killed, inside a page if need be), keeping the pages read,
            with a note saying so; a PDF whose first page is not read in time is refused
            (413). Also the longest wait for a reading slot.
        max_pdf_memory_bytes: memory the reading process may take beyond the interpreter
            (Linux; ``RLIMIT_AS``): reading stops there as at the deadline. None: no cap.
        max_concurrent_pdfs: PDFs read at once in this process (each in its own worker);
            one that waits ``max_pdf_seconds`` for a slot is refused
            (:class:`AttachmentBusyError`, 503). Limits with the same value share the slots.
        pdf_in_process: read PDFs in this process instead (no process start, ~0.2 s saved a
            file): only for trusted files, since the deadline is then checked between
            content-stream operators and cannot interrupt the parsing of one huge page, and
            memory is not capped. Also the fallback where no process can be started.
    """

    max_bytes: int = MAX_ATTACHMENT_BYTES
    max_pdf_pages: int = MAX_PDF_PAGES
    max_text_chars: int = MAX_TEXT_CHARS
    max_image_pixels: int = MAX_IMAGE_PIXELS
    max_pdf_seconds: float = MAX_PDF_SECONDS
    max_pdf_memory_bytes: int | None = MAX_PDF_MEMORY_BYTES
    max_concurrent_pdfs: int = MAX_CONCURRENT_PDFS
    pdf_in_process: bool = False

    def __post_init__(self) -> None:
        if self.max_concurrent_pdfs < 1 or self.max_pdf_seconds <= 0:
            raise ConfigError(
                "AttachmentLimits: max_concurrent_pdfs must be at least 1 and "
                "max_pdf_seconds above 0"
            )


# Text may hold tabs, newlines, form feeds; other C0 controls mean a binary file.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_DATA_URL = re.compile(r"^data:([^,]*?),", re.IGNORECASE)


class Attachment(BaseModel):
    """One attached file, checked and parsed when created.

    Images travel to the model as image content blocks. A PDF's extracted ``text`` (page
    markers included) joins the prompt and counts towards the context window; its bytes are
    then dropped, which keeps graph state and traces small. A PDF with no text layer keeps
    its bytes and travels as a file block: it ``needs_pdfs``, so the policy picks a model
    that reads PDFs. ``note`` says what was noticed on the way (no text layer, text cut).

    Build one with :meth:`from_bytes`, :meth:`from_path` or :meth:`from_base64` (which also
    reads ``data:`` URLs); the constructor itself checks nothing.
    """

    model_config = ConfigDict(frozen=True)

    kind: AttachmentKind
    name: str = "attachment"
    mime_type: str
    data_base64: str | None = Field(default=None, repr=False)
    text: str | None = Field(default=None, repr=False)
    pages: int | None = None
    size_bytes: int = 0
    width: int | None = None
    height: int | None = None
    note: str | None = None

    @classmethod
    def from_bytes(
        cls, data: bytes, *, name: str = "attachment", limits: AttachmentLimits | None = None
    ) -> Attachment:
        """Sniff the type from the bytes (never from the name), check and parse the file.

        Raises:
            EmptyAttachmentError: no content.
            AttachmentTooLargeError: over ``limits`` (bytes, PDF pages, image pixels).
            UnsupportedAttachmentError: not an image, a PDF or UTF-8 text.
            CorruptAttachmentError: a damaged or truncated image or PDF.
            EncryptedPDFError: a PDF that needs a password.
        """
        limits = limits or AttachmentLimits()
        if not data:
            raise EmptyAttachmentError(
                f"attachment {name!r} is empty (0 bytes): upload the file again with its content"
            )
        _check_size(len(data), name, limits)
        mime = image_mime(data)
        if mime is not None:
            width, height = _image_size(data, mime, name)
            if width * height > limits.max_image_pixels:
                raise AttachmentTooLargeError(
                    f"image {name!r} is {width}x{height} pixels "
                    f"({width * height / 1e6:.1f} megapixels); the limit is "
                    f"{limits.max_image_pixels / 1e6:g} megapixels: scale it down and upload again"
                )
            return cls(
                kind="image",
                name=name,
                mime_type=mime,
                data_base64=base64.b64encode(data).decode("ascii"),
                size_bytes=len(data),
                width=width,
                height=height,
            )
        if data.startswith(b"%PDF-"):
            return _read_pdf(data, name, limits)
        text = _decode_text(data, name)
        if not text.strip():
            raise EmptyAttachmentError(
                f"attachment {name!r} contains only whitespace: upload a file with content"
            )
        text, note = _cap_text(text, limits.max_text_chars)
        guessed = mimetypes.guess_type(name)[0] or ""
        mime = guessed if guessed.startswith("text/") or guessed == "application/json" else ""
        return cls(
            kind="text",
            name=name,
            mime_type=mime or "text/plain",
            text=text,
            size_bytes=len(data),
            note=note,
        )

    @classmethod
    def from_path(cls, path: str | Path, *, limits: AttachmentLimits | None = None) -> Attachment:
        """Read a file from disk (see :meth:`from_bytes`); the size is checked before reading."""
        limits = limits or AttachmentLimits()
        file = Path(path)
        if not file.is_file():
            raise InputError(f"attachment {str(file)!r} does not exist or is not a file")
        try:
            _check_size(file.stat().st_size, file.name, limits)
            data = file.read_bytes()
        except OSError as exc:
            raise InputError(
                f"cannot read attachment {str(file)!r}: {exc.strerror or exc}; check the path "
                "and its permissions"
            ) from None
        return cls.from_bytes(data, name=file.name, limits=limits)

    @classmethod
    def from_base64(
        cls,
        data: str | bytes,
        *,
        name: str = "attachment",
        limits: AttachmentLimits | None = None,
    ) -> Attachment:
        """Decode base64 or a ``data:`` URL, then :meth:`from_bytes`.

        Base64 may be standard or URL-safe, padded or not, with line breaks; a ``data:`` URL
        (``data:image/png;base64,...``) is how HTTP and OpenAI-style clients send files. The type is
        sniffed from the bytes; a declared MIME type is not trusted.

        Raises:
            AttachmentEncodingError: not base64, a malformed data URL, or a web URL (the
                router does not fetch URLs).
            AttachmentTooLargeError: over the size limit (checked before decoding).
            and whatever :meth:`from_bytes` raises.
        """
        limits = limits or AttachmentLimits()
        raw = data.decode("ascii", errors="replace") if isinstance(data, bytes) else data
        raw = raw.strip()
        if raw.lower().startswith(("http://", "https://")):
            raise AttachmentEncodingError(
                f"attachment {name!r} is a web URL; the router does not fetch URLs: download "
                "the file and send its bytes as base64 or a data: URL"
            )
        is_base64 = True
        if raw[:5].lower() == "data:":
            match = _DATA_URL.match(raw)
            if match is None:
                raise AttachmentEncodingError(
                    f"attachment {name!r} is a malformed data URL (no comma): expected "
                    "'data:<type>;base64,<data>'"
                )
            params = [p.strip().lower() for p in match.group(1).split(";")]
            is_base64 = "base64" in params[1:]
            raw = raw[match.end() :]
        if not is_base64:
            # A data URL without ;base64 is percent-encoded text (RFC 2397).
            return cls.from_bytes(unquote_to_bytes(raw), name=name, limits=limits)
        payload = "".join(raw.split())
        # Check the size before decoding: a huge string should not cost a huge decode.
        _check_size(len(payload) * 3 // 4, name, limits)
        if "-" in payload or "_" in payload:
            payload = payload.replace("-", "+").replace("_", "/")
        payload += "=" * (-len(payload) % 4)
        try:
            decoded = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise AttachmentEncodingError(
                f"attachment {name!r} is not valid base64: send the file's bytes base64-encoded "
                "(RFC 4648), or as a data URL like 'data:application/pdf;base64,...'"
            ) from None
        return cls.from_bytes(decoded, name=name, limits=limits)

    @property
    def marker(self) -> str:
        """The line the classifier reads in place of the file (as in the training corpus)."""
        detail = self.kind if self.pages is None else f"{self.kind}, {self.pages} pages"
        return f"[attachment: {self.name} ({detail})]"

    @property
    def estimated_tokens(self) -> int:
        """Prompt tokens this file adds, for the context-window check and cost estimates.

        Text (a PDF's or a text file's): its token count with the marker line. An image: the
        high-detail tile formula OpenAI publishes (fit in 2048x2048, shortest side 768, then
        85 + 170 per 512-pixel tile; 85-1,445), 1,105 when the size is unknown. A PDF read
        natively: a conservative 1,500 a page.
        """
        if self.text is not None:
            return estimate_tokens(f"{self.marker}\n{self.text}")
        if self.kind == "image":
            return image_tokens(self.width, self.height)
        return _NATIVE_PDF_PAGE_TOKENS * (self.pages or 1)

    @property
    def needs_images(self) -> bool:
        """Whether the model must accept image input."""
        return self.kind == "image"

    @property
    def needs_pdfs(self) -> bool:
        """Whether the model must read a PDF natively (no text was extracted from it)."""
        return self.kind == "pdf" and not self.text

    def content_block(self) -> dict[str, Any]:
        """The LangChain standard content block that carries this file to a chat model."""
        if self.kind == "image":
            return {
                "type": "image",
                "base64": self.data_base64,
                "mime_type": self.mime_type,
            }
        if self.text is not None:
            return {"type": "text", "text": f"{self.marker}\n{self.text}"}
        return {
            "type": "file",
            "base64": self.data_base64,
            "mime_type": self.mime_type,
            "filename": self.name,
        }


def _check_size(size: int, name: str, limits: AttachmentLimits) -> None:
    if size <= limits.max_bytes:
        return
    mib = 1024 * 1024
    if limits.max_bytes >= mib and round(size / mib, 1) > round(limits.max_bytes / mib, 1):
        actual, limit = f"{size / mib:.1f} MB", f"{round(limits.max_bytes / mib, 1):g} MB"
    else:  # a small limit, or a file just over it: MB would round the two to the same figure
        actual, limit = f"{size:,} bytes", f"{limits.max_bytes:,} bytes"
    raise AttachmentTooLargeError(
        f"attachment {name!r} is {actual}; the limit is {limit}: send a smaller file "
        "(compress images, or split the PDF)"
    )


def _image_size(data: bytes, mime: str, name: str) -> tuple[int, int]:
    """Width and height from the header alone; a header that does not parse is corrupt."""
    size: tuple[int, int] | None = None
    if mime == "image/png":
        size = png_size(data)
    elif mime == "image/jpeg":
        size = jpeg_size(data)
    elif mime == "image/gif":
        size = struct.unpack("<HH", data[6:10]) if len(data) >= 10 else None
    elif mime == "image/webp":
        size = webp_size(data)
    if size is None or size[0] == 0 or size[1] == 0:
        kind = mime.removeprefix("image/").upper()
        raise CorruptAttachmentError(
            f"image {name!r} starts like a {kind} but its header is damaged or truncated "
            "(no valid width and height): export the image again and upload the new file"
        )
    return size


def _decode_text(data: bytes, name: str) -> str:
    """UTF-8 text (a BOM is dropped), or an error that names the binary type it found."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = None
    if text is not None and not _CONTROL.search(text[:65_536]):
        return text
    what, hint = describe_binary(data)
    raise UnsupportedAttachmentError(
        f"attachment {name!r} is {what}, which is not a supported type: {hint}"
    )


def _cap_text(text: str, max_chars: int) -> tuple[str, str | None]:
    if len(text) <= max_chars:
        return text, None
    note = f"text cut to the first {max_chars:,} of {len(text):,} characters"
    return text[:max_chars] + _cut_line(note + ": send the rest separately"), note


def _cut_line(what: str) -> str:
    return f"\n\n[smartroute: {what}]"


def _page_list(pages: list[int], total: int) -> str:
    shown = ", ".join(str(p) for p in pages[:10])
    more = f" and {len(pages) - 10} more" if len(pages) > 10 else ""
    return f"page{'s' if len(pages) > 1 else ''} {shown}{more} of {total}"


def _read_pdf(data: bytes, name: str, limits: AttachmentLimits) -> Attachment:
    """Extract the PDF's text within the limits (see :mod:`pdf_worker`), or refuse it."""
    try:
        messages = read_pages(
            data,
            max_pages=limits.max_pdf_pages,
            max_chars=limits.max_text_chars,
            seconds=limits.max_pdf_seconds,
            max_memory=limits.max_pdf_memory_bytes,
            concurrency=limits.max_concurrent_pdfs,
            in_process=limits.pdf_in_process,
        )
    except SlotsBusyError:
        raise AttachmentBusyError(
            f"{limits.max_concurrent_pdfs} PDFs are being read already and none finished "
            f"within {limits.max_pdf_seconds:g} s, so {name!r} was not read: try again shortly"
        ) from None
    corrupt = (
        f"the PDF {name!r} is damaged or truncated and cannot be read: if the upload was "
        "cut off, upload it again; otherwise re-save or print it to a new PDF"
    )
    opened = next((m for m in messages if "pages" in m or "error" in m), {})
    error = opened.get("error")
    if error == "needs_crypto":
        raise EncryptedPDFError(
            f"the PDF {name!r} is AES-encrypted and reading it needs the 'cryptography' "
            "package: install it (pip install 'pypdf[crypto]'), or remove the "
            "encryption and upload again"
        )
    if error == "encrypted":
        raise EncryptedPDFError(
            f"the PDF {name!r} is password-protected: remove the password and upload again"
        )
    if error == "no_pages":
        raise CorruptAttachmentError(f"the PDF {name!r} has no pages: upload a PDF with content")
    if error == "too_many_pages":
        raise AttachmentTooLargeError(
            f"the PDF {name!r} has {opened['pages']} pages; the limit is "
            f"{limits.max_pdf_pages}: split it and send the part you need"
        )
    stop = next((m["stop"] for m in messages if "stop" in m), None)
    pages = [m for m in messages if "text" in m]
    if error is not None or (stop == "crash" and not pages):
        raise CorruptAttachmentError(corrupt)
    if stop in ("deadline", "memory") and not pages:
        raise AttachmentTooLargeError(
            f"the PDF {name!r} could not be read within {_pdf_limit(stop, limits)}"
            f"{' (not even its first page)' if 'pages' in opened else ''}: its pages hold far "
            "more content than their text needs (or the file is built to exhaust readers); "
            "send its text instead"
        )
    count = int(opened["pages"])
    return _pdf_attachment(data, name, limits, count, pages, stop)


def _pdf_limit(stop: str, limits: AttachmentLimits) -> str:
    if stop == "memory" and limits.max_pdf_memory_bytes is not None:
        return f"the {limits.max_pdf_memory_bytes / 2**20:g} MiB memory limit"
    return f"the {limits.max_pdf_seconds:g} s time limit"


def _pdf_attachment(
    data: bytes,
    name: str,
    limits: AttachmentLimits,
    count: int,
    pages: list[dict[str, Any]],
    stop: str | None,
) -> Attachment:
    """The attachment from the pages read (``pages``: the worker's page messages, in order)."""
    parts: list[str] = []
    used = 0
    blank: list[int] = []
    failed: list[int] = []
    cut_at: int | None = None
    for page in pages:
        number = int(page["page"])
        page_text = _clean_text(str(page["text"]))
        if page.get("failed"):
            failed.append(number)
        elif not page_text:
            blank.append(number)
        body = page_text or (
            "(this page could not be read)" if number in failed else "(no text on this page)"
        )
        part = f"--- page {number} ---\n{body}"
        if used + len(part) > limits.max_text_chars or page.get("cut"):
            parts.append(part[: max(0, limits.max_text_chars - used)])
            cut_at = number
            break
        parts.append(part)
        used += len(part) + 1
    if cut_at is None and used > limits.max_text_chars and len(pages) < count:
        cut_at = len(pages)  # the cap fell between this page and the next
    read = len(pages)  # pages looked at
    if read and len(failed) == read:
        raise CorruptAttachmentError(
            f"the PDF {name!r} is damaged or truncated and cannot be read: if the upload was "
            "cut off, upload it again; otherwise re-save or print it to a new PDF"
        )
    stopped_at = read + 1 if stop in ("deadline", "memory", "crash") and cut_at is None else None
    notes: list[str] = []
    if cut_at is None and len(blank) + len(failed) == read:
        # No text layer (in any page read): a scan. Keep the bytes for a model that reads
        # PDFs itself.
        return Attachment(
            kind="pdf",
            name=name,
            mime_type="application/pdf",
            data_base64=base64.b64encode(data).decode("ascii"),
            pages=count,
            size_bytes=len(data),
            note=(
                "no text layer (a scanned or image-only PDF): it goes to the model as a PDF "
                "file, so only a model that reads PDFs can answer"
            ),
        )
    if blank:
        notes.append(f"{_page_list(blank, count)} had no text layer (scanned?)")
    if failed:
        notes.append(f"{_page_list(failed, count)} could not be read")
    text = "\n".join(parts)
    if cut_at is not None:
        cut = (
            f"text cut at {limits.max_text_chars:,} characters, in page {cut_at} of {count}; "
            f"pages {cut_at + 1}-{count} were left out"
            if cut_at < count
            else f"text cut at {limits.max_text_chars:,} characters, in the last page"
        )
        notes.append(cut)
        text += _cut_line(cut + ": split the PDF to send the rest")
    if stopped_at is not None:
        assert stop is not None
        why = (
            f"reading page {stopped_at} failed"
            if stop == "crash"
            else f"text extraction stopped at {_pdf_limit(stop, limits)}, in page {stopped_at}"
        )
        left = f"pages {stopped_at}-{count} were" if stopped_at < count else "it was"
        stopped = f"{why} of {count}; {left} left out"
        notes.append(stopped)
        text += _cut_line(stopped + ": split the PDF to send the rest")
    return Attachment(
        kind="pdf",
        name=name,
        mime_type="application/pdf",
        text=text,
        pages=count,
        size_bytes=len(data),
        note="; ".join(notes) or None,
    )


_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _clean_text(text: str) -> str:
    """Text with lone surrogates replaced by U+FFFD.

    pypdf makes lone surrogates from broken font maps; they cannot be encoded, so a provider call or
    a JSON body with them would fail.
    """
    return _LONE_SURROGATE.sub("\ufffd", text)
