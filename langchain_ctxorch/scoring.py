r"""Relevance tokenisation, BM25 scoring over a candidate pool, and utility.

Key pieces:

- `Tokenizer` / `DEFAULT_TOKENIZER`: lowercase Unicode word tokens (``\w+``), English stop words
  dropped, no stemming by default. Shared by the packer's relevance scoring and
  `BM25KnowledgeRetriever`, so a document ranks the same way in both.
- `bm25_scores`: BM25Okapi (the formula and IDF floor of ``rank_bm25.BM25Okapi``) of a query over
  a pool of texts, with token lists cached per text.
- `utility`: how valuable an item is, before dividing by its tokens.

The utility of an item is::

    utility = 2 ** (priority / 2) * TRUST_WEIGHT[trust] * recency * (0.02 + relevance**2)

where ``relevance`` is the item's own score, else its BM25 score over the pool divided by the best
score (with a query), else 0.5 (no query). History items add position-based recency: the newest
turn has ``recency = 1`` and the oldest ``0.25``; other items have ``recency = 1``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from langchain_ctxorch._cache import SHORT_KEY_CHARS, BoundedCache, text_key
from langchain_ctxorch.items import Trust

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "DEFAULT_TOKENIZER",
    "ENGLISH_STOP_WORDS",
    "TRUST_WEIGHT",
    "BM25Pool",
    "Tokenizer",
    "bm25_scores",
]

ENGLISH_STOP_WORDS: frozenset[str] = frozenset(
    """a about above after again against all am an and any are aren't as at be because been before
    being below between both but by can cannot could couldn't did didn't do does doesn't doing don't
    down during each few for from further had hadn't has hasn't have haven't having he he'd he'll
    he's her here here's hers herself him himself his how how's i i'd i'll i'm i've if in into is
    isn't it it's its itself let's me more most mustn't my myself no nor not of off on once only or
    other ought our ours ourselves out over own same shan't she she'd she'll she's should shouldn't
    so some such than that that's the their theirs them themselves then there there's these they
    they'd they'll they're they've this those through to too under until up very was wasn't we we'd
    we'll we're we've were weren't what what's when when's where where's which while who who's whom
    why why's with won't would wouldn't you you'd you'll you're you've your yours yourself
    yourselves s t d ll m o re ve y will just don should now""".split()
)
"""English stop words dropped by the default tokenizer (NLTK's list, apostrophes split off)."""

TRUST_WEIGHT: dict[Trust, float] = {
    Trust.SYSTEM: 1.0,
    Trust.VERIFIED: 1.0,
    Trust.INTERNAL: 0.9,
    Trust.EXTERNAL: 0.8,
    Trust.MODEL: 0.6,
}
"""Multiplier of an item's utility by trust."""

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Tokenizer:
    r"""Splits text into relevance terms: lowercase ``\w+`` words minus stop words.

    Args:
        stop_words: words to drop (English by default; pass ``frozenset()`` to keep all).
        stemmer: optional callable applied to each word (e.g. a Snowball stemmer's ``stemWords``
            per word); None by default.
        lowercase: lowercase the text first.
    """

    stop_words: frozenset[str] = ENGLISH_STOP_WORDS
    stemmer: Callable[[str], str] | None = None
    lowercase: bool = True

    def __call__(self, text: str) -> list[str]:
        """The terms of ``text``."""
        if self.lowercase:
            text = text.lower()
        stop = self.stop_words
        words = [w for w in _WORD.findall(text) if w not in stop]
        if self.stemmer is not None:
            stem = self.stemmer
            words = [stem(w) for w in words]
        return words

    def tokenize_many(self, texts: Iterable[str]) -> list[list[str]]:
        """The terms of each text."""
        return [self(t) for t in texts]


DEFAULT_TOKENIZER = Tokenizer()
"""The tokenizer used by the packer and `BM25KnowledgeRetriever` unless configured otherwise."""


@dataclass
class _TermStats:
    counts: dict[str, int]
    length: int


class TermCache:
    """A bounded, thread-safe cache of text -> term counts (used by the packer's BM25)."""

    def __init__(self, tokenizer: Tokenizer = DEFAULT_TOKENIZER, maxsize: int = 65536) -> None:
        """Cache the terms ``tokenizer`` finds, for at most ``maxsize`` texts."""
        self.tokenizer = tokenizer
        self._data: BoundedCache[str | bytes, _TermStats] = BoundedCache(maxsize)

    def stats(self, text: str) -> _TermStats:
        """Term counts and length of ``text`` (cached by the text)."""
        key = text if len(text) <= SHORT_KEY_CHARS else text_key(text)
        hit = self._data.get(key)
        if hit is not None:
            return hit
        terms = self.tokenizer(text)
        stats = _TermStats(dict(Counter(terms)), len(terms))
        self._data.put(key, stats, len(text))
        return stats


class BM25Pool:
    """BM25Okapi statistics of a pool of texts: score a query against each text, or any new text.

    Same formula as ``rank_bm25.BM25Okapi``: ``idf = log((N - df + 0.5) / (df + 0.5))``, and terms
    whose idf is negative get ``epsilon * mean(idf)`` instead.
    """

    def __init__(
        self,
        texts: Sequence[str],
        *,
        cache: TermCache | None = None,
        k1: float = 1.5,
        b: float = 0.75,
        epsilon: float = 0.25,
    ) -> None:
        """Compute document frequencies and lengths of ``texts`` (term lists are cached)."""
        self.cache = cache or TermCache()
        self.k1 = k1
        self.b = b
        self.stats = [self.cache.stats(t) for t in texts]
        n = len(self.stats)
        total_len = sum(s.length for s in self.stats)
        self.avgdl = total_len / n if total_len else 1.0
        df: Counter[str] = Counter()
        for s in self.stats:
            df.update(s.counts.keys())
        idf: dict[str, float] = {}
        idf_sum = 0.0
        negative: list[str] = []
        for term, freq in df.items():
            value = math.log(n - freq + 0.5) - math.log(freq + 0.5)
            idf[term] = value
            idf_sum += value
            if value < 0:
                negative.append(term)
        eps = epsilon * (idf_sum / len(idf)) if idf else 0.0
        for term in negative:
            idf[term] = eps
        self.idf = idf
        self._postings_cache: dict[str, list[tuple[int, float]]] | None = None

    def _norm(self, length: int) -> float:
        return self.k1 * (1 - self.b + self.b * length / self.avgdl)

    def _postings(self) -> dict[str, list[tuple[int, float]]]:
        """Map each term to [(doc index, tf * (k1 + 1) / (tf + norm))], built once per pool."""
        postings = self._postings_cache
        if postings is None:
            postings = {}
            k1p = self.k1 + 1
            for i, s in enumerate(self.stats):
                norm = self._norm(s.length)
                for term, tf in s.counts.items():
                    postings.setdefault(term, []).append((i, tf * k1p / (tf + norm)))
            self._postings_cache = postings
        return postings

    def scores(self, query_terms: Sequence[str]) -> list[float]:
        """The BM25 score of ``query_terms`` for each text of the pool."""
        scores = [0.0] * len(self.stats)
        if not query_terms:
            return scores
        postings = self._postings()
        for term in query_terms:
            w = self.idf.get(term)
            if w is None:
                continue
            for i, weight in postings.get(term, ()):
                scores[i] += w * weight
        return scores

    def score_text(self, query_terms: Sequence[str], text: str) -> float:
        """The BM25 score ``text`` would get as a document of this pool (stats unchanged)."""
        s = self.cache.stats(text)
        norm = self._norm(s.length)
        total = 0.0
        for term in query_terms:
            w = self.idf.get(term)
            tf = s.counts.get(term)
            if w is not None and tf:
                total += w * tf * (self.k1 + 1) / (tf + norm)
        return total


def bm25_scores(
    query: str,
    texts: Sequence[str],
    *,
    cache: TermCache | None = None,
    k1: float = 1.5,
    b: float = 0.75,
    epsilon: float = 0.25,
) -> list[float]:
    """BM25Okapi scores of ``query`` against each of ``texts`` (the pool is the corpus).

    Example:
        ```python
        bm25_scores("refund policy", ["Refunds take 5 days.", "Our refund policy is fair."])
        # [0.0, 0.46...]: the second text shares the query's terms
        ```
    """
    cache = cache or TermCache()
    terms = cache.tokenizer(query)
    if not terms or not texts:
        return [0.0] * len(texts)
    return BM25Pool(texts, cache=cache, k1=k1, b=b, epsilon=epsilon).scores(terms)


def utility(
    *,
    priority: int,
    trust: Trust,
    relevance: float,
    recency: float = 1.0,
) -> float:
    """The utility formula documented in the module docstring."""
    p = min(max(priority, -400), 400)  # 2**200 keeps the float finite
    return float((2.0 ** (p / 2.0)) * TRUST_WEIGHT[trust] * recency * (0.02 + relevance**2))
