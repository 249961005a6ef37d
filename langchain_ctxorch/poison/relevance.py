"""Relevance floor (opt-in): quarantine candidates that have nothing to do with the query.

Key types:

- `RelevanceDetector`: an item below ``min_relevance`` is ``irrelevant``. An item's own
  ``relevance`` is used when set; otherwise, with a query, its BM25 score over the candidate pool
  (`langchain_ctxorch.scoring.bm25_scores`) divided by the best score. Without a query and without
  an own score nothing is judged. Conversation turns, pinned items and instructions are never
  judged.

Example:
    ```python
    detector = RelevanceDetector(min_relevance=0.1)
    PoisonFilter(detectors=[detector]).filter(items, query="refund policy")
    ```
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from langchain_ctxorch.items import Layer
from langchain_ctxorch.poison._common import is_conversation_turn
from langchain_ctxorch.report import PoisonFinding
from langchain_ctxorch.scoring import TermCache, bm25_scores

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from langchain_ctxorch.items import ContextItem

__all__ = ["RelevanceDetector"]


class RelevanceDetector:
    """Quarantines items whose relevance is below a floor.

    Args:
        min_relevance: the floor in [0, 1] (default 0.05).
        layers: which layers are judged (default knowledge and memory).

    Raises:
        ValueError: when ``min_relevance`` is not a finite number in [0, 1].
    """

    name = "relevance"

    def __init__(
        self,
        min_relevance: float = 0.05,
        *,
        layers: frozenset[Layer] = frozenset({Layer.KNOWLEDGE, Layer.MEMORY}),
    ) -> None:
        """Create the detector."""
        if not (isinstance(min_relevance, (int, float)) and math.isfinite(min_relevance)) or not (
            0.0 <= min_relevance <= 1.0
        ):
            msg = f"min_relevance must be a finite number in [0, 1], got {min_relevance!r}"
            raise ValueError(msg)
        self.min_relevance = float(min_relevance)
        self.layers = frozenset(layers)
        self._terms = TermCache()

    def detect(
        self,
        items: Sequence[ContextItem],
        *,
        query: str | None = None,
        now: datetime | None = None,  # noqa: ARG002 - part of the Detector protocol
    ) -> dict[int, list[PoisonFinding]]:
        """Findings by input position."""
        judged = [
            i
            for i, item in enumerate(items)
            if item.layer in self.layers
            and not item.pinned
            and item.layer is not Layer.INSTRUCTIONS
            and not is_conversation_turn(item)
        ]
        scores: dict[int, tuple[float, str]] = {}
        unscored = [i for i in judged if items[i].relevance is None]
        for i in judged:
            rel = items[i].relevance
            if rel is not None:
                scores[i] = (rel, "its own relevance")
        if query and unscored:
            raw = bm25_scores(query, [items[i].content for i in unscored], cache=self._terms)
            best = max(raw)
            if best > 0:  # a pool BM25 cannot separate (e.g. tiny) is not judged at all
                for i, value in zip(unscored, raw, strict=True):
                    scores[i] = (value / best, "BM25 against the query")
        out: dict[int, list[PoisonFinding]] = {}
        for i, (rel, how) in scores.items():
            if rel < self.min_relevance:
                detail = f"relevance {rel:.3f} ({how}) is below the floor {self.min_relevance}"
                out[i] = [PoisonFinding(self.name, "irrelevant", detail, 1.0 - rel)]
        return out
