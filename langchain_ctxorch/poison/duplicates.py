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
import unicodedata
from itertools import repeat
from typing import TYPE_CHECKING

from langchain_ctxorch._cache import BoundedCache, text_key
from langchain_ctxorch.report import PoisonFinding

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime

    from langchain_ctxorch.items import ContextItem

__all__ = ["DuplicateDetector"]

_EDGE_WORDS = 8
_SLICE = 96  # characters read at each end of a long text for its first/last words
_MEMO_SIZE = 4
_MAX_REPRESENTATIVES = 8
_PUNCT = string.punctuation + "“”‘’«»…"


def _shingles(words: list[str]) -> frozenset[int]:
    """Hashes of the word 3-shingles (``zip`` and ``hash`` run in C; no tuple is kept)."""
    if len(words) < 3:  # noqa: PLR2004
        return frozenset((hash(tuple(words)),))
    return frozenset(map(hash, zip(words, words[1:], words[2:], strict=False)))


def _words(parts: Iterable[str]) -> list[str]:
    return list(filter(None, map(str.strip, parts, repeat(_PUNCT))))


class _Sig:
    """What duplicate detection needs of one text, computed lazily.

    ``key`` groups texts that *may* be equal once normalised: their first and last eight words
    (or the normalised text itself when it has fewer than 16 words). For a long text those words
    come from its first and last few hundred characters, so the whole text is split and joined
    (``norm``) only when another text shares its key or it is compared as a near-duplicate.
    """

    __slots__ = ("_norm", "_shingles", "_words", "edges", "key", "low")

    def __init__(self, text: str) -> None:
        if not text.isascii():
            text = unicodedata.normalize("NFKC", text)
        low = self.low = text.casefold()
        self._norm: str | None = None
        self._words: list[str] | None = None
        self._shingles: frozenset[int] | None = None
        self.edges: tuple[tuple[str, ...], ...] = ()
        head: list[str] = []
        tail: list[str] = []
        if len(low) > 2 * _SLICE:
            head = low[:_SLICE].split()
            tail = low[-_SLICE:].split()
        if len(head) > _EDGE_WORDS and len(tail) > _EDGE_WORDS:
            # the slices do not overlap and each holds a word more than needed (the cut one)
            self.edges = (("h", *head[:_EDGE_WORDS]), ("t", *tail[-_EDGE_WORDS:]))
            self.key: tuple[str, ...] = (*self.edges[0], *self.edges[1])
            return
        parts = low.split()
        self._norm = " ".join(parts)
        if len(parts) >= 2 * _EDGE_WORDS:
            self.edges = (("h", *parts[:_EDGE_WORDS]), ("t", *parts[-_EDGE_WORDS:]))
            self.key = (*self.edges[0], *self.edges[1])
        else:
            self.key = ("n", self._norm)

    @property
    def norm(self) -> str:
        """Case-folded text with whitespace runs collapsed (NFKC first when not ASCII)."""
        if self._norm is None:
            self._norm = " ".join(self.low.split())
        return self._norm

    @property
    def words(self) -> list[str]:
        if self._words is None:
            self._words = _words(self.low.split())
        return self._words

    @property
    def shingles(self) -> frozenset[int]:
        if self._shingles is None:
            self._shingles = _shingles(self.words)
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
        self._cache: BoundedCache[str | bytes, _Sig] = BoundedCache(cache_size)
        self._memo: BoundedCache[tuple[object, ...], dict[int, list[PoisonFinding]]] = BoundedCache(
            _MEMO_SIZE if cache_size > 0 else 0
        )

    def _sigs(self, texts: list[str]) -> list[_Sig]:
        """Signatures of ``texts`` (cached; new ones are stored under one lock)."""
        cache = self._cache
        sigs: list[_Sig] = []
        for text in texts:
            key = text_key(text)
            sig = cache.get(key)
            if sig is None:
                sig = _Sig(text)
                cache.put(key, sig, len(text))
            sigs.append(sig)
        return sigs

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
        self._memo.put(key, {i: list(found) for i, found in out.items()}, 1)
        return out

    def _detect(self, items: Sequence[ContextItem]) -> dict[int, list[PoisonFinding]]:
        positions = [i for i, item in enumerate(items) if item.message is None]
        if len(positions) < 2:  # noqa: PLR2004
            return {}
        parent = {i: i for i in positions}
        how: dict[tuple[int, int], str] = {}
        why_of: dict[int, str] = {}  # the first reason each item was joined for

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
                why_of.setdefault(a, why)
                why_of.setdefault(b, why)

        sigs = dict(zip(positions, self._sigs([items[i].content for i in positions]), strict=True))
        buckets: dict[tuple[str, ...], list[int]] = {}
        for i in positions:
            buckets.setdefault(sigs[i].key, []).append(i)
        copy_of: dict[int, int] = {}
        for members in buckets.values():
            if len(members) > 1:
                seen: dict[str, int] = {}
                for i in members:
                    first = seen.setdefault(sigs[i].norm, i)
                    if first != i:
                        copy_of[i] = first
        edges: dict[tuple[str, ...], list[int]] = {}
        for i in positions:
            sig = sigs[i]
            first = copy_of.get(i, i)
            if first != i:
                union(first, i, "exact duplicate (normalised text)")
                continue
            if self.near:
                for edge in sig.edges:
                    edges.setdefault(edge, []).append(i)
        if self.near:
            # Within a group sharing first/last words, each item is compared with at most
            # `_MAX_REPRESENTATIVES` earlier ones that matched nothing: pages sharing a header or
            # footer but not their bodies stay linear instead of costing every pair.
            for group in edges.values():
                reps: list[int] = []
                for b in group:
                    matched = False
                    for a in reps:
                        if find(a) == find(b):
                            matched = True
                            break
                        sa, sb = sigs[a].shingles, sigs[b].shingles
                        small, large = sorted((len(sa), len(sb)))
                        if small < self.threshold * large:  # Jaccard <= small / large
                            continue
                        shared = len(sa & sb)
                        sim = shared / (len(sa) + len(sb) - shared)
                        if sim >= self.threshold and not _numbers_differ(sigs[a], sigs[b]):
                            union(a, b, f"near-duplicate (shingle similarity {sim:.2f})")
                            matched = True
                            break
                    if not matched and len(reps) < _MAX_REPRESENTATIVES:
                        reps.append(b)
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
                why = how.get(pair) or why_of.get(i, "duplicate")
                detail = f"{why} of {items[keep].id} (kept: most trusted, then first)"
                out[i] = [PoisonFinding(self.name, "duplicate", detail, 1.0)]
        return out
