"""Store URLs: the one reading of a SQLite URL that every store shares."""

from __future__ import annotations

__all__ = ["SQLITE_PREFIX", "sqlite_path"]

SQLITE_PREFIX = "sqlite:///"


def sqlite_path(url: str) -> str | None:
    """The file path a SQLite URL (``sqlite:///PATH``) or a bare path names.

    ``None`` when ``url`` has another scheme (the caller says which it takes). The path may be
    empty or ``:memory:``; whether that is allowed is the caller's rule.
    """
    if url.startswith(SQLITE_PREFIX):
        return url[len(SQLITE_PREFIX) :]
    return None if "://" in url else url
