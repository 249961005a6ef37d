"""Duplicate detection: exact and near-exact copies, keeping the most trusted.

Key types:

- `DuplicateDetector`: items whose normalised text (case-folded, whitespace collapsed, NFKC)
  is equal are exact duplicates; near-duplicates are found among items that share their first or
  last eight words, by Jaccard similarity of word 3-shingles (default >= 0.85), unless the
  words they do not share include a number (``$49`` vs ``$59`` is a different fact, not a
  copy). In each cluster the most trusted item is kept (ties: the first in input order); the
  others are reported.

Conversation messages (items carrying a ``message``: history, current turn, tool results) are
never compared: "ok" twice in a chat is not poison.

Example:
    ```python
    a = ContextItem(content="Refunds take 5 days.", layer=Layer.KNOWLEDGE, id="a")
    b = ContextItem(content="refunds  take 5 days.", layer=Layer.KNOWLEDGE, id="b")
    DuplicateDetector().detect([a, b])
    # {1: [PoisonFinding("duplicates", "duplicate", "exact duplicate of a (normalised text)")]}
    ```
"""

from __future__ import annotations

import string
import threading
import unicodedata
from itertools import repeat
from typing import TYPE_CHECKING

from langchain_ctxorch.report import PoisonFinding

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime

    from langchain_ctxorch.items import ContextItem

__all__ = ["DuplicateDetector"]

_EDGE_WORDS = 8
_MEMO_SIZE = 4
_PUNCT = string.punctuation + "“”‘’«»…"


def _shingles(words: list[str]) -> set[tuple[str, ...]]:
    """Word 3-shingles (built by ``zip`` in C: no per-shingle slicing)."""
    if len(words) < 3:  # noqa: PLR2004
        return {tuple(words)}
    return set(zip(words, words[1:], words[2:], strict=False))


def _words(parts: Iterable[str]) -> list[str]:
    return list(filter(None, map(str.strip, parts, repeat(_PUNCT))))


class _Sig:
    __slots__ = ("_shingles", "_words", "edges", "norm")

    def __init__(self, text: str) -> None:
        if not text.isascii():
            text = unicodedata.normalize("NFKC", text)
        parts = text.casefold().split()
        self.norm = " ".join(parts)
        self._words: list[str] | None = None
        self._shingles: frozenset[tuple[str, ...]] | None = None
        self.edges: tuple[tuple[str, ...], ...] = ()
        if len(parts) >= 2 * _EDGE_WORDS:
            self.edges = (("h", *parts[:_EDGE_WORDS]), ("t", *parts[-_EDGE_WORDS:]))

    @property
    def words(self) -> list[str]:
        if self._words is None:
            self._words = _words(self.norm.split())
        return self._words

    @property
    def shingles(self) -> frozenset[tuple[str, ...]]:
        if self._shingles is None:
            self._shingles = frozenset(_shingles(self.words))
        return self._shingles


def _numbers_differ(a: _Sig, b: _Sig) -> bool:
    """True when the words the two texts do not share include a number ($49 vs $59)."""
    return any(any(ch.isdigit() for ch in w) for w in set(a.words) ^ set(b.words))


class DuplicateDetector:
    """Exact and near-exact duplicates among non-conversation items.

    Args:
        near: also look for near-duplicates (not only equal normalised text).
        threshold: Jaccard similarity of word 3-shingles at or above which two texts are
            near-duplicates (0 < threshold <= 1; default 0.85).
        cache_size: how many text signatures to keep between calls.

    Raises:
        ValueError: when ``threshold`` is not in (0, 1].

    Example:
        ```python
        PoisonFilter(detectors=[DuplicateDetector(threshold=0.85)])
        ```
    """

    name = "duplicates"

    def __init__(
        self, *, near: bool = True, threshold: float = 0.85, cache_size: int = 16384
    ) -> None:
        """Create the detector."""
        if not 0.0 < threshold <= 1.0:
            msg = f"threshold must be in (0, 1], got {threshold!r}; the default is 0.85"
            raise ValueError(msg)
        self.near = near
        self.threshold = threshold
        self._cache_size = cache_size
        self._cache: dict[str, _Sig] = {}
        self._lock = threading.Lock()
        self._memo: dict[tuple[object, ...], dict[int, list[PoisonFinding]]] = {}

    def _sig(self, text: str) -> _Sig:
        hit = self._cache.get(text)
        if hit is not None:
            return hit
        sig = _Sig(text)
        if self._cache_size > 0:
            with self._lock:
                while len(self._cache) >= self._cache_size:
                    try:
                        del self._cache[next(iter(self._cache))]
                    except (StopIteration, KeyError, RuntimeError):  # pragma: no cover - race
                        break
                self._cache[text] = sig
        return sig

    def detect(
        self,
        items: Sequence[ContextItem],
        *,
        query: str | None = None,  # noqa: ARG002 - part of the Detector protocol
        now: datetime | None = None,  # noqa: ARG002 - part of the Detector protocol
    ) -> dict[int, list[PoisonFinding]]:
        """Findings by input position (the last few results are memoised by their input)."""
        key = tuple((it.id, it.content, int(it.trust), it.message is None) for it in items)
        hit = self._memo.get(key)
        if hit is not None:
            return {i: list(found) for i, found in hit.items()}
        out = self._detect(items)
        if self._cache_size > 0:
            with self._lock:
                while len(self._memo) >= _MEMO_SIZE:
                    del self._memo[next(iter(self._memo))]
                self._memo[key] = {i: list(found) for i, found in out.items()}
        return out

    def _detect(self, items: Sequence[ContextItem]) -> dict[int, list[PoisonFinding]]:
        positions = [i for i, item in enumerate(items) if item.message is None]
        if len(positions) < 2:  # noqa: PLR2004
            return {}
        parent = {i: i for i in positions}
        how: dict[tuple[int, int], str] = {}

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        def union(a: int, b: int, why: str) -> None:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
                how[(min(a, b), max(a, b))] = why

        sigs = {i: self._sig(items[i].content) for i in positions}
        exact: dict[str, int] = {}
        edges: dict[tuple[str, ...], list[int]] = {}
        for i in positions:
            sig = sigs[i]
            first = exact.setdefault(sig.norm, i)
            if first != i:
                union(first, i, "exact duplicate (normalised text)")
                continue
            if self.near:
                for edge in sig.edges:
                    edges.setdefault(edge, []).append(i)
        if self.near:
            for group in edges.values():
                for a_index, a in enumerate(group):
                    for b in group[a_index + 1 :]:
                        if find(a) == find(b):
                            continue
                        sa, sb = sigs[a].shingles, sigs[b].shingles
                        small, large = sorted((len(sa), len(sb)))
                        if small < self.threshold * large:  # Jaccard <= small / large
                            continue
                        sim = len(sa & sb) / len(sa | sb)
                        if sim >= self.threshold and not _numbers_differ(sigs[a], sigs[b]):
                            union(a, b, f"near-duplicate (shingle similarity {sim:.2f})")
        clusters: dict[int, list[int]] = {}
        for i in positions:
            clusters.setdefault(find(i), []).append(i)
        out: dict[int, list[PoisonFinding]] = {}
        for members in clusters.values():
            if len(members) < 2:  # noqa: PLR2004
                continue
            keep = max(members, key=lambda i: (int(items[i].trust), -i))
            for i in members:
                if i == keep:
                    continue
                pair = (min(i, keep), max(i, keep))
                why = how.get(pair) or next(
                    (w for (a, b), w in how.items() if i in (a, b)), "duplicate"
                )
                detail = f"{why} of {items[keep].id} (kept: most trusted, then first)"
                out[i] = [PoisonFinding(self.name, "duplicate", detail, 1.0)]
        return out
