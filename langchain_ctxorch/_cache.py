"""A small bounded, thread-safe cache shared by the counters, scorers and the packer.

Bounded twice: by entries and by a total weight (characters of the texts it keeps alive), so a
long-running server that sees many large documents cannot grow without limit. Eviction is
first-in-first-out; reads take no lock.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

K = TypeVar("K")
V = TypeVar("V")

SHORT_KEY_CHARS = 2048
"""Texts up to this length are their own cache key; longer ones are keyed by a digest."""


def text_key(text: str) -> str | bytes:
    """A cache key for ``text``: the text itself when short, else its 20-byte BLAKE2b digest."""
    if len(text) <= SHORT_KEY_CHARS:
        return text
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=20).digest()


class BoundedCache(Generic[K, V]):
    """A dict bounded by ``max_entries`` and by the sum of the weights of its entries."""

    __slots__ = ("_data", "_lock", "_weights", "lookup", "max_entries", "max_weight", "weight")

    def __init__(self, max_entries: int, max_weight: int = 1 << 25) -> None:
        """Create an empty cache (``max_entries <= 0`` disables it)."""
        self.max_entries = max_entries
        self.max_weight = max_weight
        self.weight = 0
        self._data: OrderedDict[K, V] = OrderedDict()  # popitem(last=False) evicts in O(1)
        self._weights: dict[K, int] = {}
        self._lock = threading.Lock()
        self.lookup: Callable[[K], V | None] = self._data.get
        """Same as `get`, without the method call (for hot loops)."""

    def get(self, key: K) -> V | None:
        """The cached value, or None."""
        return self._data.get(key)

    def put(self, key: K, value: V, weight: int = 1) -> None:
        """Store ``value``, evicting the oldest entries while over either bound."""
        if self.max_entries <= 0 or weight > self.max_weight:
            return
        with self._lock:
            data, weights = self._data, self._weights
            if key in data:
                data[key] = value
                return
            while data and (
                len(data) >= self.max_entries or self.weight + weight > self.max_weight
            ):
                oldest, _ = data.popitem(last=False)
                self.weight -= weights.pop(oldest, 0)
            data[key] = value
            weights[key] = weight
            self.weight += weight

    def put_many(self, keys: Iterable[K], values: Iterable[V], weights: Iterable[int]) -> None:
        """`put` each key with its value and weight (three parallel sequences), locking once."""
        if self.max_entries <= 0:
            return
        max_entries, max_weight = self.max_entries, self.max_weight
        with self._lock:
            data, kept = self._data, self._weights
            total = self.weight
            for key, value, weight in zip(keys, values, weights, strict=True):
                if weight > max_weight:
                    continue
                if key in data:
                    data[key] = value
                    continue
                while data and (len(data) >= max_entries or total + weight > max_weight):
                    oldest, _ = data.popitem(last=False)
                    total -= kept.pop(oldest, 0)
                data[key] = value
                kept[key] = weight
                total += weight
            self.weight = total

    def clear(self) -> None:
        """Empty the cache."""
        with self._lock:
            self._data.clear()
            self._weights.clear()
            self.weight = 0

    def __len__(self) -> int:
        """Number of entries."""
        return len(self._data)
