"""PDF text extraction under hostile input: a whole-extraction deadline that interrupts a page,
a character cap that stops reading early, a memory cap, and a cap on concurrent extractions.

The bombs are real files (tests/support/pdfs.py): a few KB of compressed content that
pypdf spends seconds and hundreds of MB on. Time bounds are generous (a 1 s limit must end
within 5 s); without the worker process the same files take 8-50 s on a 2-core machine.
"""

from __future__ import annotations

import sys
import threading
import time
import zlib
from typing import Any

import pytest

import smartroute_graph.core.pdf_worker as pdf_worker
from smartroute_graph.core.attachments import (
    Attachment,
    AttachmentBusyError,
    AttachmentLimits,
    AttachmentTooLargeError,
)
from smartroute_graph.core.errors import ConfigError
from smartroute_graph.core.pdf_worker import read_pages, slot
from tests.support.pdfs import (
    bomb_content,
    compressed_pdf,
    text_content,
    text_pdf,
)

# One page of 830,000 text operators, within pypdf's own parsing budget per content stream:
# about 50 s of CPU to read on a 2-core machine.
BOMB = bomb_content(5_000_000)


def read(data: bytes, **limits: Any) -> tuple[Attachment, float]:
    started = time.monotonic()
    attachment = Attachment.from_bytes(data, name="bomb.pdf", limits=AttachmentLimits(**limits))
    return attachment, time.monotonic() - started


def test_a_few_kb_that_inflate_to_megabytes_are_refused_at_the_deadline() -> None:
    data = compressed_pdf([BOMB])
    assert len(data) < 20_000 and len(zlib.compress(BOMB, 9)) * 500 < len(BOMB)
    started = time.monotonic()
    with pytest.raises(AttachmentTooLargeError) as info:
        Attachment.from_bytes(data, name="bomb.pdf", limits=AttachmentLimits(max_pdf_seconds=1))
    assert time.monotonic() - started < 5
    assert str(info.value).startswith(
        "the PDF 'bomb.pdf' could not be read within the 1 s time limit (not even its first page)"
    )
    assert info.value.http_status == 413


def test_300_pages_of_inflated_content_keep_the_pages_read_before_the_deadline() -> None:
    data = compressed_pdf([text_content("the introduction"), *[BOMB] * 299])
    attachment, elapsed = read(data, max_pdf_seconds=1)
    assert elapsed < 5
    assert attachment.pages == 300
    assert attachment.note == (
        "text extraction stopped at the 1 s time limit, in page 2 of 300; pages 2-300 were left out"
    )
    text = attachment.text or ""
    assert text.startswith("--- page 1 ---\nthe introduction")
    assert "--- page 2 ---" not in text
    assert text.endswith("pages 2-300 were left out: split the PDF to send the rest]")


def test_a_scan_with_a_slow_page_still_travels_as_a_file() -> None:
    # Two drawing-only pages (a scan's shape), then one that draws 3 MB of lines (~6 s).
    drawing = bomb_content(3_000_000, op=b"0 0 m 1 1 l S\n")
    data = compressed_pdf([b"0.2 g 72 600 300 120 re f", b"0.2 g 72 600 300 120 re f", drawing])
    attachment, elapsed = read(data, max_pdf_seconds=1)
    assert elapsed < 5
    assert attachment.needs_pdfs and attachment.data_base64 is not None
    assert attachment.pages == 3


def test_the_character_cap_stops_reading_inside_a_page() -> None:
    # The page's text is 670,000 characters; reading stops soon after 10,000.
    data = compressed_pdf([bomb_content(2_000_000)])
    messages = read_pages(
        data,
        max_pages=10,
        max_chars=10_000,
        seconds=60,
        max_memory=None,
        concurrency=2,
    )
    pages = [m for m in messages if "text" in m]
    assert len(pages) == 1 and pages[0]["cut"] is True
    assert 10_000 < len(pages[0]["text"]) < 20_000

    attachment, _ = read(data, max_text_chars=10_000)
    body, _, tail = (attachment.text or "").partition("\n\n[smartroute: ")
    assert len(body) == 10_000
    assert tail == (
        "text cut at 10,000 characters, in the last page: split the PDF to send the rest]"
    )


def test_the_character_cap_stops_reading_before_the_next_page() -> None:
    data = text_pdf(["a" * 600, "b" * 600, "c" * 600, "d" * 600])
    messages = read_pages(
        data, max_pages=10, max_chars=1000, seconds=60, max_memory=None, concurrency=2
    )
    # Page 2 crosses the cap: pages 3 and 4 are never read.
    assert [m["page"] for m in messages if "text" in m] == [1, 2]
    attachment, _ = read(data, max_text_chars=1000)
    assert attachment.note == (
        "text cut at 1,000 characters, in page 2 of 4; pages 3-4 were left out"
    )


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is enforced on Linux")
def test_the_memory_cap_stops_a_page_that_needs_too_much() -> None:
    with pytest.raises(AttachmentTooLargeError, match="within the 64 MiB memory limit"):
        read(compressed_pdf([bomb_content(2_000_000)]), max_pdf_memory_bytes=64 * 2**20)
    # The same cap leaves room for an ordinary document.
    attachment, _ = read(text_pdf(["page one", "page two"]), max_pdf_memory_bytes=64 * 2**20)
    assert attachment.text == "--- page 1 ---\npage one\n--- page 2 ---\npage two"


def test_in_process_reading_checks_the_deadline_between_operators() -> None:
    # No worker: the deadline cannot interrupt the parsing of a page's content stream, but
    # it stops the page's operators once that is done (and the pages after it).
    data = compressed_pdf([text_content("first"), bomb_content(2_000_000), text_content("last")])
    attachment, elapsed = read(data, max_pdf_seconds=0.5, pdf_in_process=True)
    assert elapsed < 30  # parsing 2 MB of operators: ~2.5 s on a 2-core machine
    assert attachment.note is not None
    assert attachment.note.startswith("text extraction stopped at the 0.5 s time limit, in page 2")


def test_a_busy_reader_answers_503_after_waiting_the_deadline() -> None:
    limits = AttachmentLimits(max_concurrent_pdfs=1, max_pdf_seconds=0.3)
    data = text_pdf(["hello"])
    # Another request holds the only slot.
    with slot(1), pytest.raises(AttachmentBusyError) as info:
        Attachment.from_bytes(data, name="q.pdf", limits=limits)
    assert info.value.http_status == 503
    assert "1 PDFs are being read already" in str(info.value)
    # Once the slot is free it reads (a generous limit: a loaded machine starts workers slowly).
    roomy = AttachmentLimits(max_concurrent_pdfs=1, max_pdf_seconds=30)
    assert Attachment.from_bytes(data, name="q.pdf", limits=roomy).text == "--- page 1 ---\nhello"


def test_no_more_extractions_run_at_once_than_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    running = peak = 0
    lock = threading.Lock()

    def slow_extract(data: bytes, **kwargs: Any) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.2)
        with lock:
            running -= 1
        kwargs["emit"]({"pages": 1})
        kwargs["emit"]({"page": 1, "text": "ok", "failed": False, "cut": False})

    monkeypatch.setattr(pdf_worker, "extract", slow_extract)
    limits = AttachmentLimits(max_concurrent_pdfs=2, pdf_in_process=True, max_pdf_seconds=30)
    results: list[str | None] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(
                Attachment.from_bytes(text_pdf(["x"]), name="x.pdf", limits=limits).text
            )
        )
        for _ in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["--- page 1 ---\nok"] * 5
    assert peak <= 2


def test_without_a_worker_process_pdfs_are_read_in_process(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for executable in ("", "/usr/bin/uwsgi"):  # none, or one that is not Python
        monkeypatch.setattr(pdf_worker, "_no_process", None)
        monkeypatch.setattr(pdf_worker.sys, "executable", executable)
        attachment, _ = read(text_pdf(["still read"]))
        assert attachment.text == "--- page 1 ---\nstill read"
        assert "cannot start a process to read PDFs" in caplog.text


def test_lone_surrogates_in_extracted_text_are_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    from pypdf import PageObject

    monkeypatch.setattr(PageObject, "extract_text", lambda self, *a, **k: "broken \ud800 map")
    attachment, _ = read(text_pdf(["x"]), pdf_in_process=True)
    assert attachment.text == "--- page 1 ---\nbroken \ufffd map"


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ConfigError, match="max_concurrent_pdfs"):
        AttachmentLimits(max_concurrent_pdfs=0)
