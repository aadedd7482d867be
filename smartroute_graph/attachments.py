"""Files that come with a query: images for vision models, PDFs read into the prompt."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from smartroute_graph.errors import InputError

__all__ = ["MAX_ATTACHMENT_BYTES", "Attachment", "AttachmentKind"]

AttachmentKind = Literal["image", "pdf", "text"]

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024

_IMAGE_MAGIC: dict[bytes, str] = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


class Attachment(BaseModel):
    """One attached file.

    Images travel to the model as image content blocks. A PDF's extracted ``text`` joins the
    prompt (and counts towards the context window); without extracted text the PDF travels
    as a file block and needs a model that reads PDFs.
    """

    model_config = ConfigDict(frozen=True)

    kind: AttachmentKind
    name: str = "attachment"
    mime_type: str
    data_base64: str | None = Field(default=None, repr=False)
    text: str | None = Field(default=None, repr=False)
    pages: int | None = None
    size_bytes: int = 0

    @classmethod
    def from_bytes(cls, data: bytes, *, name: str = "attachment") -> Attachment:
        """Sniff the type from the bytes and build the attachment (images, PDFs, UTF-8 text)."""
        if not data:
            raise InputError(f"attachment {name!r} is empty: upload a file with content")
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise InputError(
                f"attachment {name!r} is {len(data) / 1e6:.1f} MB; the limit is "
                f"{MAX_ATTACHMENT_BYTES / 1e6:.0f} MB: send a smaller file"
            )
        encoded = base64.b64encode(data).decode("ascii")
        for magic, mime in _IMAGE_MAGIC.items():
            if data.startswith(magic):
                return cls(
                    kind="image",
                    name=name,
                    mime_type=mime,
                    data_base64=encoded,
                    size_bytes=len(data),
                )
        if data[:12].startswith(b"RIFF") and data[8:12] == b"WEBP":
            return cls(
                kind="image",
                name=name,
                mime_type="image/webp",
                data_base64=encoded,
                size_bytes=len(data),
            )
        if data.startswith(b"%PDF-"):
            return cls(
                kind="pdf",
                name=name,
                mime_type="application/pdf",
                data_base64=encoded,
                size_bytes=len(data),
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(
                f"attachment {name!r} is not a supported type: send a PNG, JPEG, GIF or WebP "
                "image, a PDF, or UTF-8 text"
            ) from None
        return cls(kind="text", name=name, mime_type="text/plain", text=text, size_bytes=len(data))

    @classmethod
    def from_path(cls, path: str | Path) -> Attachment:
        """Read a file from disk (see :meth:`from_bytes`)."""
        file = Path(path)
        if not file.is_file():
            raise InputError(f"attachment {str(file)!r} does not exist or is not a file")
        return cls.from_bytes(file.read_bytes(), name=file.name)

    @property
    def marker(self) -> str:
        """The line the classifier reads in place of the file (as in the training corpus)."""
        detail = self.kind if self.pages is None else f"{self.kind}, {self.pages} pages"
        return f"[attachment: {self.name} ({detail})]"

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
