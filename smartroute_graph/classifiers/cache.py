"""The classifiers' one decision cache: least-recently-used, thread-safe, keyed by text.

Keys are a 16-byte digest of the text, so a long prompt is not kept alive by the cache.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Generic, TypeVar

__all__ = ["DecisionCache", "text_key"]

V = TypeVar("V")


def text_key(text: str) -> bytes:
    """The cache key of ``text`` (lone surrogates allowed: they never reach a model)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class DecisionCache(Generic[V]):
    """Values by text, the least recently used dropped beyond ``size`` (0: keeps nothing).

    Args:
        size: how many texts to remember.
    """

    def __init__(self, size: int) -> None:
        self.size = max(0, size)
        self._items: OrderedDict[bytes, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str) -> V | None:
        """The value stored for ``text``, or None."""
        if not self.size:
            return None
        key = text_key(text)
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, text: str, value: V) -> None:
        """Remember ``value`` for ``text``."""
        if not self.size:
            return
        key = text_key(text)
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
