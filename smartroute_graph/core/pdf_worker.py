"""Read a PDF's text page by page, within a deadline, a character cap and a memory cap.

:mod:`smartroute_graph.core.attachments` runs this file as a separate process (``python -P
pdf_worker.py``): pypdf is pure Python, so a hostile PDF (a few KB of compressed content that
inflates to millions of operators) can hold a thread for minutes and take gigabytes while one
page's content stream is parsed, and nothing inside the process can interrupt that parse. A
child process can be killed at the deadline, its memory is capped (``RLIMIT_AS``) and given
back when it ends, whatever pypdf did.

Only the standard library and pypdf are imported here, so the file runs as a script without
importing the package. Protocol: one JSON header line on standard input (``max_pages``,
``max_chars``, ``seconds``, ``max_memory``), then the PDF's bytes; one JSON object per line on
standard output, flushed as each is known (so the pages read before a kill are kept):

- ``{"pages": N}`` once the file is open, or ``{"error": kind, "pages"?: N}`` with kind
  ``corrupt``, ``encrypted``, ``needs_crypto``, ``no_pages`` or ``too_many_pages``;
- ``{"page": n, "text": ..., "failed": bool, "cut": bool}`` per page read (``cut``: the page's
  text stopped at the character cap);
- ``{"stop": why, "page": n}`` when reading stopped before page ``n`` was finished: why is
  ``deadline``, ``chars`` or ``memory``;
- ``{"done": true}`` at the end.

:func:`extract` is the same reading in-process (the fallback where no process can be started):
there the deadline is checked between content-stream operators, so it cannot interrupt the
parsing of one huge content stream, and memory is not capped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["SlotsBusyError", "extract", "main", "read_pages", "slot"]

Emit = Callable[[dict[str, Any]], None]


class _Stop(BaseException):
    """Raised from pypdf's visitor callbacks to leave a page early.

    A BaseException, so the ``except Exception`` blocks inside pypdf let it through.
    """

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def extract(
    data: bytes,
    *,
    max_pages: int,
    max_chars: int,
    seconds: float,
    emit: Emit,
) -> None:
    """Open the PDF and emit its pages' text (see the module docstring for the messages)."""
    deadline = time.monotonic() + seconds
    import io

    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    # pypdf logs a warning per oddity; a hostile file can have millions of them.
    logging.getLogger("pypdf").setLevel(logging.CRITICAL)
    # Given back when memory runs out, so the message that says so can still be written.
    reserve = bytearray(1 << 20)
    out_of_memory = False
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except DependencyError:
                emit({"error": "needs_crypto"})
                return
            if not opened:  # PasswordType.NOT_DECRYPTED is 0
                emit({"error": "encrypted"})
                return
        count = len(reader.pages)
    except FileNotDecryptedError:
        emit({"error": "encrypted"})
        return
    except MemoryError:
        out_of_memory = True
    # pypdf signals damage with many exception types (PdfReadError, PdfStreamError, KeyError,
    # ValueError, RecursionError, ...); each means the same thing to the user.
    except Exception:
        emit({"error": "corrupt"})
        return
    if out_of_memory:  # outside the except block: the exception's frames are freed now
        reserve.clear()
        emit({"stop": "memory", "page": 1})
        return
    if count == 0:
        emit({"error": "no_pages"})
        return
    if count > max_pages:
        emit({"error": "too_many_pages", "pages": count})
        return
    emit({"pages": count})

    used = 0  # characters sent so far, page markers included (as the caller joins them)
    for number in range(1, count + 1):
        if time.monotonic() > deadline:
            emit({"stop": "deadline", "page": number})
            return
        outcome = _page_text(reader.pages[number - 1], deadline, max_chars - used)
        if outcome == "memory":
            reserve.clear()
        if isinstance(outcome, str):
            emit({"stop": outcome, "page": number})
            return
        text, failed, cut = outcome
        emit({"page": number, "text": text, "failed": failed, "cut": cut})
        used += len(text) + len(f"--- page {number} ---\n") + 1
        if cut or used > max_chars:
            if number < count:
                emit({"stop": "chars", "page": number + 1})
            return


def _page_text(page: Any, deadline: float, budget: int) -> tuple[str, bool, bool] | str:
    """``(text, failed, cut)`` of one page, or why reading stopped in it.

    The reason is ``deadline`` or ``memory``. ``cut``: the text passed ``budget`` characters and the
    page was left there.
    """
    fragments: list[str] = []
    seen = 0

    def before_operator(*_: Any) -> None:
        if time.monotonic() > deadline:
            raise _Stop("deadline")

    def on_text(text: Any, *_: Any) -> None:
        nonlocal seen
        if isinstance(text, str):
            fragments.append(text)
            seen += len(text)
            if seen > budget:
                raise _Stop("chars")

    failed = cut = out_of_memory = False
    text: str | None = ""
    try:
        text = page.extract_text(visitor_operand_before=before_operator, visitor_text=on_text)
    except _Stop as stop:
        if stop.why == "deadline":
            return "deadline"
        text, cut = "".join(fragments), True
    except MemoryError:
        out_of_memory = True
    except Exception:  # one damaged page should not lose the others
        failed = True
    if out_of_memory:  # returned outside the except block, so the parse is freed first
        return "memory"
    return (text or "").strip(), failed, cut


def _limit_memory(extra_bytes: int) -> None:
    """Cap this process's address space at what it uses now plus ``extra_bytes``."""
    try:
        import resource
    except ImportError:  # Windows: no rlimits; the deadline still holds
        return
    try:
        with open("/proc/self/statm") as statm:
            current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        current = 256 * 1024 * 1024  # not Linux: a generous guess at the interpreter's share
    limit = current + extra_bytes
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    # A platform that refuses it (macOS does for RLIMIT_AS): the deadline still holds.
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


class SlotsBusyError(Exception):
    """Every extraction slot stayed taken for the whole wait."""


_slots: dict[int, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()
# Set once a worker process could not be started (no interpreter to run, a sandbox without
# fork): later PDFs are read in-process without trying again.
_no_process: str | None = None
_log = logging.getLogger("smartroute_graph.core.attachments")


def slot(limit: int) -> threading.BoundedSemaphore:
    """The semaphore shared by every extraction with the same concurrency limit."""
    with _slots_lock:
        semaphore = _slots.get(limit)
        if semaphore is None:
            semaphore = _slots[limit] = threading.BoundedSemaphore(limit)
        return semaphore


def read_pages(
    data: bytes,
    *,
    max_pages: int,
    max_chars: int,
    seconds: float,
    max_memory: int | None,
    concurrency: int,
    in_process: bool = False,
) -> list[dict[str, Any]]:
    """Read ``data``'s pages within ``seconds`` and return the messages (see the module docstring).

    ``seconds`` bounds the whole extraction. The last message is an ``error``, a ``stop`` or
    ``done``: a worker killed at the deadline or dead on its own ends with a ``stop`` (``deadline``
    or ``crash``) at the first page it did not finish.

    At most ``concurrency`` extractions run at once (per limit value, process-wide); one that
    waits ``seconds`` for a slot raises :class:`SlotsBusyError`.
    """
    held = slot(concurrency)
    if not held.acquire(timeout=seconds):
        raise SlotsBusyError(f"{concurrency} PDFs were being read for {seconds:g} s")
    try:
        if not in_process and _no_process is None:
            messages = _in_worker(data, max_pages, max_chars, seconds, max_memory)
            if messages is not None:
                return messages
        out: list[dict[str, Any]] = []
        extract(data, max_pages=max_pages, max_chars=max_chars, seconds=seconds, emit=out.append)
        out.append({"done": True})
        return out
    finally:
        held.release()


def _check_interpreter() -> None:
    """Raise OSError unless ``sys.executable`` is a Python interpreter to run the worker with.

    A frozen app's or an embedding server's (uWSGI) executable would start itself again.
    """
    name = os.path.basename(sys.executable or "").lower()
    if not sys.executable or getattr(sys, "frozen", False):
        raise OSError("no Python interpreter to run (a frozen app, or sys.executable empty)")
    if not name.startswith(("python", "pypy")):
        raise OSError(f"sys.executable ({name}) does not look like a Python interpreter")


def _in_worker(
    data: bytes, max_pages: int, max_chars: int, seconds: float, max_memory: int | None
) -> list[dict[str, Any]] | None:
    """The messages of a worker process; None when no worker could run (read in-process)."""
    global _no_process
    # The worker stops itself a little before the deadline, so it can say where it was;
    # it is killed at the deadline whatever it is doing.
    header = {
        "max_pages": max_pages,
        "max_chars": max_chars,
        "seconds": seconds - min(0.5, 0.1 * seconds),
        "max_memory": max_memory,
    }
    try:
        _check_interpreter()
        # -P: the package's own folder must not shadow the standard library on sys.path.
        process = subprocess.Popen(
            [sys.executable, "-P", os.path.abspath(__file__)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except OSError as exc:
        _no_process = str(exc)
        _log.warning(
            "cannot start a process to read PDFs (%s): reading them in-process, where the "
            "deadline cannot interrupt a page and memory is not capped",
            exc,
        )
        return None
    stdin = json.dumps(header).encode() + b"\n" + data
    killed = False
    try:
        output, _ = process.communicate(stdin, timeout=max(0.0, seconds))
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        killed = True
    except BaseException:
        process.kill()
        process.wait()
        raise
    messages: list[dict[str, Any]] = []
    for line in output.split(b"\n"):
        try:
            message = json.loads(line)
        except ValueError:  # a line cut off by the kill, or the end
            continue
        if isinstance(message, dict):
            messages.append(message)
    last = messages[-1] if messages else {}
    if not killed and not messages and process.returncode != 0:
        # It died before saying anything: the interpreter cannot run the worker (pypdf
        # missing there, the file not on disk). Read in-process from now on.
        _no_process = f"the PDF worker exited with status {process.returncode}"
        _log.warning("%s before reading anything: reading PDFs in-process", _no_process)
        return None
    if not ({"done", "error"} & last.keys()):
        pages = [m["page"] for m in messages if "text" in m]
        stop = [m for m in messages if "stop" in m]
        if not stop:
            why = "deadline" if killed else "crash"
            messages.append({"stop": why, "page": (max(pages) + 1) if pages else 1})
    return messages


def main() -> int:
    """Run as a process: read the header and the PDF from standard input, write messages."""
    started = time.monotonic()
    settings = json.loads(sys.stdin.buffer.readline())
    data = sys.stdin.buffer.read()
    out = sys.stdout

    def emit(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    # pypdf is imported before the cap, so the cap is what reading the file itself may take.
    import pypdf  # noqa: F401

    if settings.get("max_memory"):
        _limit_memory(int(settings["max_memory"]))
    extract(
        data,
        max_pages=int(settings["max_pages"]),
        max_chars=int(settings["max_chars"]),
        # The caller's clock started before this process did.
        seconds=float(settings["seconds"]) - (time.monotonic() - started),
        emit=emit,
    )
    emit({"done": True})
    return 0


if __name__ == "__main__":
    sys.exit(main())
