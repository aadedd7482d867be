"""Attachments: parsing at creation, limits, clear errors, and their effect on routing."""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import Field

from smartroute_graph import SmartRouter
from smartroute_graph.core.attachments import (
    MAX_ATTACHMENT_BYTES,
    MAX_PDF_PAGES,
    Attachment,
    AttachmentEncodingError,
    AttachmentError,
    AttachmentLimits,
    AttachmentTooLargeError,
    CorruptAttachmentError,
    EmptyAttachmentError,
    EncryptedPDFError,
    UnsupportedAttachmentError,
)
from smartroute_graph.core.catalog import preset_catalog
from smartroute_graph.core.errors import InputError, SmartRouteError
from smartroute_graph.core.pricing import estimate_output_tokens, estimate_tokens
from smartroute_graph.testing import FakeChatModel
from tests.support.classifiers import StubClassifier
from tests.support.pdfs import (
    encrypted_pdf,
    gif,
    jpeg_header,
    long_text,
    png,
    png_header,
    scanned_pdf,
    text_pdf,
    webp_header,
)

PASSWORD_MESSAGE = "is password-protected: remove the password and upload again"
# pypdf patched in a test reaches only PDFs read in this process (the default is a worker
# process; tests/unit/test_pdf_limits.py covers it).
IN_PROCESS = AttachmentLimits(pdf_in_process=True)


class RecordingChatModel(FakeChatModel):
    """A FakeChatModel that keeps the messages of every call (sync, async and streaming)."""

    received: list[list[BaseMessage]] = Field(default_factory=list)

    def script(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> str | AIMessage:
        self.received.append(list(messages))
        return super().script(messages, kwargs)


def recording_models(names: list[str]) -> dict[str, RecordingChatModel]:
    return {n: RecordingChatModel(responses=[f"answer from {n}"], model_name=n) for n in names}


def only_call(models: dict[str, RecordingChatModel]) -> tuple[str, list[BaseMessage]]:
    called = {name: m.received for name, m in models.items() if m.received}
    assert len(called) == 1, f"expected one model call, got {called.keys()}"
    ((name, calls),) = called.items()
    assert len(calls) == 1
    return name, calls[0]


def blocks_of(message: BaseMessage) -> list[dict[str, Any]]:
    assert isinstance(message.content, list)
    return [b for b in message.content if isinstance(b, dict)]


# -- PDFs with text -------------------------------------------------------------------------


def test_pdf_text_is_extracted_page_by_page() -> None:
    data = text_pdf(["Revenue grew 12% (in Q3).\nCosts fell.", "", "Outlook: stable \\ calm"])
    att = Attachment.from_bytes(data, name="q3.pdf")

    assert (att.kind, att.mime_type, att.pages, att.size_bytes) == (
        "pdf",
        "application/pdf",
        3,
        len(data),
    )
    assert att.text == (
        "--- page 1 ---\nRevenue grew 12% (in Q3).\nCosts fell.\n"
        "--- page 2 ---\n(no text on this page)\n"
        "--- page 3 ---\nOutlook: stable \\ calm"
    )
    assert att.note == "page 2 of 3 had no text layer (scanned?)"
    assert not att.needs_pdfs and not att.needs_images
    # The bytes are dropped once the text is out: state and traces stay small.
    assert att.data_base64 is None
    assert att.marker == "[attachment: q3.pdf (pdf, 3 pages)]"
    assert att.content_block() == {"type": "text", "text": f"{att.marker}\n{att.text}"}


def test_pdf_from_path_and_base64_and_data_url(tmp_path: Path) -> None:
    data = text_pdf(["first page", "second page"])
    file = tmp_path / "notes.pdf"
    file.write_bytes(data)
    encoded = base64.b64encode(data).decode()

    from_path = Attachment.from_path(file)
    from_b64 = Attachment.from_base64(encoded, name="notes.pdf")
    from_url = Attachment.from_base64(f"data:application/pdf;base64,{encoded}", name="notes.pdf")

    assert from_path == from_b64 == from_url
    assert from_path.name == "notes.pdf" and from_path.pages == 2
    assert "--- page 2 ---\nsecond page" in (from_path.text or "")


def test_long_text_is_cut_with_a_note_in_the_text() -> None:
    data = text_pdf([long_text(300) for _ in range(10)])
    att = Attachment.from_bytes(data, name="long.pdf", limits=AttachmentLimits(max_text_chars=5000))

    assert att.text is not None
    body, _, tail = att.text.partition("\n\n[smartroute: ")
    assert len(body) == 5000
    assert body.startswith("--- page 1 ---") and "--- page 10 ---" not in body
    assert tail.startswith("text cut at 5,000 characters, in page ")
    assert tail.endswith(": split the PDF to send the rest]")
    assert att.note is not None and "were left out" in att.note
    assert att.pages == 10

    # Text files get the same cap.
    text = Attachment.from_bytes(
        b"abc " * 5000, name="a.txt", limits=AttachmentLimits(max_text_chars=100)
    )
    assert text.text is not None and text.text.startswith("abc abc")
    assert text.note == "text cut to the first 100 of 20,000 characters"
    assert text.text.endswith("send the rest separately]")

    # Under the cap nothing is cut or noted.
    short = Attachment.from_bytes(data, name="long.pdf")
    assert short.note is None and "[smartroute:" not in (short.text or "")


def test_empty_user_password_is_tried_first() -> None:
    # "Opens without a password, restricted permissions": common, and readable.
    data = encrypted_pdf(["open to all readers"], user_password="", algorithm="RC4-128")
    att = Attachment.from_bytes(data, name="restricted.pdf")
    assert att.text == "--- page 1 ---\nopen to all readers"


def test_empty_user_password_aes() -> None:
    pytest.importorskip("cryptography")
    data = encrypted_pdf(["aes but open"], user_password="", algorithm="AES-256")
    assert Attachment.from_bytes(data, name="aes.pdf").text == "--- page 1 ---\naes but open"


# -- routing with PDFs ----------------------------------------------------------------------


def sixty_k_token_pdf() -> Attachment:
    att = Attachment.from_bytes(text_pdf([long_text(900) for _ in range(50)]), name="annual.pdf")
    assert 55_000 < estimate_tokens(att.text or "") < 70_000
    return att


def test_long_pdf_routes_to_a_model_whose_context_fits() -> None:
    att = sixty_k_token_pdf()
    decision = SmartRouter.from_preset("openrouter").route(
        {"query": "summarise", "attachments": [att]}
    )
    spec = preset_catalog("openrouter")[decision.model]
    assert decision.estimated_input_tokens >= estimate_tokens(att.text or "")
    assert decision.model != "qwen-2.5-72b"
    assert (
        decision.estimated_input_tokens + estimate_output_tokens(spec, decision.complexity)
        <= spec.context_window
    )


def test_long_pdf_moves_off_a_32k_model_that_the_table_picks() -> None:
    # coding/moderate is qwen-2.5-72b (32k context) in the openrouter table.
    router = SmartRouter.from_preset("openrouter", classifier=StubClassifier("coding", "moderate"))
    short = Attachment.from_bytes(text_pdf(["def f(): pass"]), name="code.pdf")
    assert router.route({"query": "review this", "attachments": [short]}).model == "qwen-2.5-72b"

    decision = router.route({"query": "review this", "attachments": [sixty_k_token_pdf()]})
    assert decision.table_model == "qwen-2.5-72b"
    assert decision.model != "qwen-2.5-72b"
    assert preset_catalog("openrouter")[decision.model].context_window >= 128_000
    assert "context window" in decision.reason


def test_pdf_text_reaches_the_model() -> None:
    models = recording_models(["gpt-4.1-nano", "gpt-4.1", "o4-mini"])
    router = SmartRouter.from_preset("openai", models=models)
    att = Attachment.from_bytes(text_pdf(["alpha beta", "gamma"]), name="r.pdf")

    answer = router.invoke({"query": "summarise the report", "attachments": [att]})

    name, messages = only_call(models)
    assert answer.text == f"answer from {name}"
    assert blocks_of(messages[-1]) == [
        {"type": "text", "text": "summarise the report"},
        {
            "type": "text",
            "text": "[attachment: r.pdf (pdf, 2 pages)]\n--- page 1 ---\nalpha beta\n"
            "--- page 2 ---\ngamma",
        },
    ]


# -- scanned PDFs ---------------------------------------------------------------------------


def test_scanned_pdf_travels_as_a_file_and_needs_a_pdf_model() -> None:
    data = scanned_pdf(pages=2)
    att = Attachment.from_bytes(data, name="scan.pdf")

    assert att.kind == "pdf" and att.pages == 2 and att.text is None
    assert att.needs_pdfs
    assert att.note is not None and att.note.startswith("no text layer")
    assert base64.b64decode(att.data_base64 or "") == data
    assert att.content_block() == {
        "type": "file",
        "base64": att.data_base64,
        "mime_type": "application/pdf",
        "filename": "scan.pdf",
    }

    # chat/simple is mistral-small, which cannot read PDFs; the policy moves to one that can.
    router = SmartRouter.from_preset("openrouter", classifier=StubClassifier("chat", "simple"))
    decision = router.route({"query": "what does this say", "attachments": [att]})
    assert decision.table_model == "mistral-small"
    assert preset_catalog("openrouter")[decision.model].supports_pdfs
    assert "does not read PDFs" in decision.reason


def test_scanned_pdf_reaches_the_model_as_a_file_block() -> None:
    models = recording_models(["gpt-4.1-nano", "gpt-4.1", "o4-mini"])
    router = SmartRouter.from_preset("openai", models=models)
    att = Attachment.from_bytes(scanned_pdf(), name="scan.pdf")
    router.invoke({"query": "read this", "attachments": [att]})
    _, messages = only_call(models)
    assert [b["type"] for b in blocks_of(messages[-1])] == ["text", "file"]
    assert blocks_of(messages[-1])[1]["base64"] == att.data_base64


# -- bad PDFs -------------------------------------------------------------------------------


def test_password_protected_pdf() -> None:
    with pytest.raises(EncryptedPDFError) as info:
        Attachment.from_bytes(encrypted_pdf(["secret"]), name="locked.pdf")
    assert str(info.value) == f"the PDF 'locked.pdf' {PASSWORD_MESSAGE}"
    assert info.value.http_status == 422


def test_password_protected_aes_pdf() -> None:
    pytest.importorskip("cryptography")
    data = encrypted_pdf(["secret"], algorithm="AES-256")
    with pytest.raises(EncryptedPDFError, match=PASSWORD_MESSAGE):
        Attachment.from_bytes(data, name="locked.pdf")


def test_aes_pdf_without_cryptography_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    def no_aes(self: PdfReader, password: str) -> None:
        raise DependencyError("cryptography>=3.1 is required for AES algorithm")

    monkeypatch.setattr(PdfReader, "decrypt", no_aes)
    # In-process reading, so the patch reaches pypdf (a worker process has its own).
    with pytest.raises(EncryptedPDFError, match=r"pip install 'pypdf\[crypto\]'"):
        Attachment.from_bytes(
            encrypted_pdf(["x"], user_password=""), name="a.pdf", limits=IN_PROCESS
        )


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(text_pdf(["some text here"])[:300], id="truncated"),
        pytest.param(text_pdf(["some text here"])[:-40], id="cut-before-eof"),
        pytest.param(b"%PDF-1.7\n" + bytes(range(256)) * 20, id="garbage"),
        pytest.param(b"%PDF-", id="header-only"),
    ],
)
def test_corrupt_pdf(data: bytes) -> None:
    with pytest.raises(CorruptAttachmentError) as info:
        Attachment.from_bytes(data, name="broken.pdf")
    assert str(info.value) == (
        "the PDF 'broken.pdf' is damaged or truncated and cannot be read: if the upload was cut "
        "off, upload it again; otherwise re-save or print it to a new PDF"
    )
    assert info.value.http_status == 422


def test_pdf_without_pages() -> None:
    with pytest.raises(CorruptAttachmentError, match="has no pages"):
        Attachment.from_bytes(text_pdf([]), name="none.pdf")


def test_unreadable_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    from pypdf import PageObject

    real = PageObject.extract_text

    def flaky(self: PageObject, *args: Any, **kwargs: Any) -> str:
        text = real(self, *args, **kwargs)
        if text == "two":
            raise KeyError("/Font")
        return text

    monkeypatch.setattr(PageObject, "extract_text", flaky)
    att = Attachment.from_bytes(text_pdf(["one", "two", "three"]), name="p.pdf", limits=IN_PROCESS)
    assert "--- page 2 ---\n(this page could not be read)" in (att.text or "")
    assert att.note == "page 2 of 3 could not be read"

    def broken(self: PageObject, *args: Any, **kwargs: Any) -> str:
        raise KeyError("/Font")

    monkeypatch.setattr(PageObject, "extract_text", broken)
    with pytest.raises(CorruptAttachmentError):
        Attachment.from_bytes(text_pdf(["one", "two"]), name="p.pdf", limits=IN_PROCESS)


def test_pdf_page_limit() -> None:
    assert MAX_PDF_PAGES == 300
    at_limit = Attachment.from_bytes(text_pdf(["p"] * 300), name="ok.pdf")
    assert at_limit.pages == 300
    with pytest.raises(AttachmentTooLargeError) as info:
        Attachment.from_bytes(text_pdf(["p"] * 301), name="book.pdf")
    assert str(info.value) == (
        "the PDF 'book.pdf' has 301 pages; the limit is 300: split it and send the part you need"
    )
    assert info.value.http_status == 413
    with pytest.raises(AttachmentTooLargeError, match="has 3 pages; the limit is 2"):
        Attachment.from_bytes(
            text_pdf(["a", "b", "c"]), name="x.pdf", limits=AttachmentLimits(max_pdf_pages=2)
        )


# -- size, empty, unsupported ---------------------------------------------------------------


def test_size_limit_bytes_path_and_base64(tmp_path: Path) -> None:
    assert MAX_ATTACHMENT_BYTES == 20 * 1024 * 1024
    with pytest.raises(AttachmentTooLargeError) as info:
        Attachment.from_bytes(b"a" * (MAX_ATTACHMENT_BYTES + 1), name="big.txt")
    assert str(info.value) == (
        "attachment 'big.txt' is 20,971,521 bytes; the limit is 20,971,520 bytes: send a "
        "smaller file (compress images, or split the PDF)"
    )
    assert info.value.http_status == 413

    # From disk the size is checked before the file is read (a sparse file reads as zeros).
    huge = tmp_path / "huge.bin"
    with huge.open("wb") as f:
        f.truncate(25 * 1024 * 1024)
    with pytest.raises(
        AttachmentTooLargeError, match=r"'huge\.bin' is 25\.0 MB; the limit is 20 MB"
    ):
        Attachment.from_path(huge)

    # Base64 is checked before decoding.
    small = AttachmentLimits(max_bytes=1000)
    with pytest.raises(AttachmentTooLargeError, match="is 1,050 bytes; the limit is 1,000 bytes"):
        Attachment.from_base64("A" * 1400, limits=small)
    assert Attachment.from_base64(base64.b64encode(b"x" * 999), limits=small).kind == "text"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: Attachment.from_bytes(b"", name="x.pdf"), id="bytes"),
        pytest.param(lambda: Attachment.from_base64("", name="x.pdf"), id="base64"),
        pytest.param(
            lambda: Attachment.from_base64("data:application/pdf;base64,", name="x.pdf"),
            id="data-url",
        ),
    ],
)
def test_empty_uploads(make: Callable[[], Attachment]) -> None:
    with pytest.raises(EmptyAttachmentError) as info:
        make()
    assert str(info.value) == (
        "attachment 'x.pdf' is empty (0 bytes): upload the file again with its content"
    )
    assert info.value.http_status == 400


def test_whitespace_text_is_empty() -> None:
    with pytest.raises(EmptyAttachmentError, match="only whitespace"):
        Attachment.from_bytes(b" \n\t\n", name="blank.txt")


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "what", "hint"),
    [
        (_zip(), "a ZIP archive (Word, Excel and PowerPoint", "export documents to PDF"),
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 50, "a Windows executable", "send a"),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 50, "an ELF executable", "send a PDF"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "a HEIC/AVIF image", "convert it to PNG"),
        (b"II*\x00\x08\x00\x00\x00", "a TIFF image", "convert it to PNG or JPEG"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 40, "a legacy Office", "export it to PDF"),
        (b"\xff\xfe\x00\x81binary", "a binary file of unknown type", "UTF-8 text"),
    ],
)
def test_unsupported_types_say_what_they_are(data: bytes, what: str, hint: str) -> None:
    with pytest.raises(UnsupportedAttachmentError) as info:
        Attachment.from_bytes(data, name="upload.bin")
    message = str(info.value)
    assert message.startswith(f"attachment 'upload.bin' is {what}")
    assert "which is not a supported type: " in message and hint in message
    assert info.value.http_status == 415


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (AttachmentTooLargeError, 413),
        (CorruptAttachmentError, 422),
        (EncryptedPDFError, 422),
        (UnsupportedAttachmentError, 415),
        (EmptyAttachmentError, 400),
        (AttachmentEncodingError, 400),
    ],
)
def test_every_error_is_an_input_error(cls: type[AttachmentError], status: int) -> None:
    assert issubclass(cls, AttachmentError)
    assert issubclass(cls, InputError) and issubclass(cls, SmartRouteError)
    assert cls.http_status == status


def test_text_files() -> None:
    att = Attachment.from_bytes("\ufeffcafé menu: 3 €\n".encode(), name="menu.txt")
    assert (att.kind, att.mime_type, att.text) == ("text", "text/plain", "café menu: 3 €\n")
    assert att.content_block() == {
        "type": "text",
        "text": "[attachment: menu.txt (text)]\ncafé menu: 3 €\n",
    }
    # Control characters mean binary even when the bytes happen to be valid UTF-8.
    with pytest.raises(UnsupportedAttachmentError):
        Attachment.from_bytes(b"abc\x00\x01\x02def", name="x.dat")


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist or is not a file"):
        Attachment.from_path(tmp_path / "nope.pdf")
    with pytest.raises(InputError, match="does not exist or is not a file"):
        Attachment.from_path(tmp_path)


# -- images ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "mime", "size"),
    [
        (png(3, 2), "image/png", (3, 2)),
        (jpeg_header(640, 480), "image/jpeg", (640, 480)),
        (jpeg_header(1200, 801, progressive=True), "image/jpeg", (1200, 801)),
        (gif(5, 7), "image/gif", (5, 7)),
        (webp_header(300, 200), "image/webp", (300, 200)),
    ],
)
def test_image_header_gives_the_size(data: bytes, mime: str, size: tuple[int, int]) -> None:
    att = Attachment.from_bytes(data, name="pic")
    assert (att.kind, att.mime_type, (att.width, att.height)) == ("image", mime, size)
    assert att.needs_images
    assert att.content_block() == {
        "type": "image",
        "base64": base64.b64encode(data).decode(),
        "mime_type": mime,
    }


def test_image_pixel_limit() -> None:
    # 8000 x 5000 is exactly 40 megapixels: allowed; one row more is not.
    assert Attachment.from_bytes(png_header(8000, 5000), name="ok.png").width == 8000
    with pytest.raises(AttachmentTooLargeError) as info:
        Attachment.from_bytes(png_header(8000, 5001), name="huge.png")
    assert str(info.value) == (
        "image 'huge.png' is 8000x5001 pixels (40.0 megapixels); the limit is 40 megapixels: "
        "scale it down and upload again"
    )
    assert info.value.http_status == 413
    with pytest.raises(AttachmentTooLargeError, match=r"limit is 0\.0001 megapixels"):
        Attachment.from_bytes(
            png(20, 20), name="x.png", limits=AttachmentLimits(max_image_pixels=100)
        )


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, id="png-zero-header"),
        pytest.param(png(4, 4)[:20], id="png-truncated"),
        pytest.param(png(4, 4)[:16] + b"\x00\x00\x00\x09" + png(4, 4)[20:], id="png-bad-crc"),
        pytest.param(jpeg_header(10, 10)[:22], id="jpeg-no-frame"),
        pytest.param(b"\xff\xd8\xff\xe0\x00", id="jpeg-truncated"),
        pytest.param(b"GIF89a\x00\x00\x00\x00", id="gif-zero-size"),
        pytest.param(b"RIFF\x10\x00\x00\x00WEBPVP8 ", id="webp-truncated"),
    ],
)
def test_damaged_image_headers(data: bytes) -> None:
    with pytest.raises(CorruptAttachmentError) as info:
        Attachment.from_bytes(data, name="pic")
    assert "but its header is damaged or truncated" in str(info.value)
    assert "export the image again" in str(info.value)


def test_image_data_url() -> None:
    data = png(2, 2)
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    att = Attachment.from_base64(url, name="shot.png")
    assert (att.kind, att.width, att.height, att.name) == ("image", 2, 2, "shot.png")
    assert base64.b64decode(att.data_base64 or "") == data


def test_base64_variants_and_errors() -> None:
    data = png(2, 1)
    standard = base64.b64encode(data).decode()
    wrapped = "\n".join(standard[i : i + 20] for i in range(0, len(standard), 20))
    urlsafe = base64.urlsafe_b64encode(data).decode().rstrip("=")
    for encoded in (standard, wrapped, urlsafe, standard.encode()):
        assert Attachment.from_base64(encoded).width == 2
    # A data URL without ;base64 is percent-encoded text.
    text = Attachment.from_base64("data:text/plain,hello%20world", name="t.txt")
    assert text.text == "hello world"

    with pytest.raises(AttachmentEncodingError, match="is not valid base64"):
        Attachment.from_base64("this is *not* base64!", name="a")
    with pytest.raises(AttachmentEncodingError, match="malformed data URL"):
        Attachment.from_base64("data:image/png;base64", name="a")
    with pytest.raises(AttachmentEncodingError, match="does not fetch URLs") as info:
        Attachment.from_base64("https://example.com/cat.png", name="a")
    assert info.value.http_status == 400


def test_image_reaches_the_model_as_an_image_block() -> None:
    models = recording_models(["gpt-4.1-nano", "gpt-4.1", "o4-mini"])
    router = SmartRouter.from_preset("openai", models=models)
    data = png(2, 2)
    url = "data:image/png;base64," + base64.b64encode(data).decode()

    answer = router.invoke(
        {"query": "what colour is this?", "attachments": [Attachment.from_base64(url)]}
    )

    name, messages = only_call(models)
    assert answer.response_metadata["smartroute"]["model"] == name
    assert blocks_of(messages[-1]) == [
        {"type": "text", "text": "what colour is this?"},
        {"type": "image", "base64": base64.b64encode(data).decode(), "mime_type": "image/png"},
    ]


def test_image_moves_routing_to_a_vision_model() -> None:
    # coding/moderate is qwen-2.5-72b, which takes no images.
    router = SmartRouter.from_preset("openrouter", classifier=StubClassifier("coding", "moderate"))
    att = Attachment.from_bytes(png(8, 8), name="error.png")
    decision = router.route({"query": "fix the error in this screenshot", "attachments": [att]})
    assert decision.table_model == "qwen-2.5-72b"
    assert preset_catalog("openrouter")[decision.model].supports_images
    assert "does not accept images" in decision.reason


# -- token estimates ------------------------------------------------------------------------


def test_estimated_tokens() -> None:
    pdf = Attachment.from_bytes(text_pdf([long_text(200), long_text(200)]), name="a.pdf")
    assert pdf.estimated_tokens == estimate_tokens(f"{pdf.marker}\n{pdf.text}")
    assert pdf.estimated_tokens > 2 * estimate_tokens(long_text(200))
    # A scan read natively: per page, conservatively.
    assert Attachment.from_bytes(scanned_pdf(pages=3), name="s.pdf").estimated_tokens == 4_500
    # Images: OpenAI's high-detail tiles (85 + 170 per 512-pixel tile after resizing).
    assert Attachment.from_bytes(png(2, 2)).estimated_tokens == 255
    assert Attachment.from_bytes(png_header(1024, 1024)).estimated_tokens == 765
    assert Attachment.from_bytes(png_header(2048, 4096)).estimated_tokens == 1_105
    unknown = Attachment(kind="image", mime_type="image/png", data_base64="")
    assert unknown.estimated_tokens == 1_105
