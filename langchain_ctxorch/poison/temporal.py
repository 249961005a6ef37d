"""Temporal and consistency detectors: expired, superseded and contradicted facts.

Key types:

- `TemporalDetector`: quarantines items whose ``expires_at`` has passed, and resolves items
  sharing a ``fact_key``: trust decides first and time second (time = ``valid_from``, else
  ``created_at``; an item with neither is the oldest). The newest item among those of the highest
  trust wins; older items of equal trust are ``superseded``; a lower-trust item that disagrees
  with the winner is ``contradicted`` (even when newer; the detail names both ids), and one that
  agrees (same normalised content) is a ``duplicate``. Equal trust and equal time with different
  content is a clash: the first in input order is kept and the others are ``contradicted``.

The conversation's own turns are never judged.

Example:
    ```python
    from datetime import datetime, timezone

    old = ContextItem(
        content="Pro: $39",
        layer=Layer.KNOWLEDGE,
        id="v1",
        fact_key="price:pro",
        valid_from=datetime(2025, 1, 1, tzinfo=timezone.utc),
    )
    new = ContextItem(
        content="Pro: $49",
        layer=Layer.KNOWLEDGE,
        id="v2",
        fact_key="price:pro",
        valid_from=datetime(2026, 1, 1, tzinfo=timezone.utc),
    )
    TemporalDetector().detect([old, new], now=datetime(2026, 6, 1, tzinfo=timezone.utc))
    # {0: [PoisonFinding("temporal", "superseded", "superseded by v2 (valid from 2026-01-01...)")]}
    ```
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from langchain_ctxorch.poison._common import is_conversation_turn, item_time, normalise_text
from langchain_ctxorch.report import PoisonFinding

if TYPE_CHECKING:
    from collections.abc import Sequence

    from langchain_ctxorch.items import ContextItem
    from langchain_ctxorch.report import FindingKind

__all__ = ["TemporalDetector"]

_EPOCH = datetime(1, 1, 1, tzinfo=timezone.utc)


def _when(item: ContextItem) -> str:
    t = item_time(item)
    return "no date" if t is None else t.isoformat()


class TemporalDetector:
    """Expired, superseded and contradicted facts (see the module docstring for the rules).

    Args:
        expired: report items whose ``expires_at`` is at or before ``now``.
        consistency: resolve items that share a ``fact_key``.

    Example:
        ```python
        PoisonFilter(detectors=[TemporalDetector()]).filter(items, now=now)
        ```
    """

    name = "temporal"

    def __init__(self, *, expired: bool = True, consistency: bool = True) -> None:
        """Create the detector; both checks are on by default."""
        self.expired = expired
        self.consistency = consistency

    def detect(
        self,
        items: Sequence[ContextItem],
        *,
        query: str | None = None,  # noqa: ARG002 - part of the Detector protocol
        now: datetime | None = None,
    ) -> dict[int, list[PoisonFinding]]:
        """Findings by input position."""
        now = now or datetime.now(timezone.utc)
        out: dict[int, list[PoisonFinding]] = {}
        live: dict[str, list[int]] = {}
        for i, item in enumerate(items):
            if is_conversation_turn(item):
                continue
            if self.expired and item.expires_at is not None and item.expires_at <= now:
                detail = f"expired at {item.expires_at.isoformat()} (now {now.isoformat()})"
                out[i] = [PoisonFinding(self.name, "expired", detail, 1.0)]
                continue
            if self.consistency and item.fact_key is not None:
                live.setdefault(item.fact_key, []).append(i)
        for key, positions in live.items():
            if len(positions) > 1:
                self._resolve(items, key, positions, out)
        return out

    def _resolve(
        self,
        items: Sequence[ContextItem],
        key: str,
        positions: list[int],
        out: dict[int, list[PoisonFinding]],
    ) -> None:
        def rank(i: int) -> tuple[int, datetime, int]:
            item = items[i]
            return (int(item.trust), item_time(item) or _EPOCH, -i)

        winner_pos = max(positions, key=rank)
        winner = items[winner_pos]
        winner_text = normalise_text(winner.content)
        winner_time = item_time(winner) or _EPOCH
        for i in positions:
            if i == winner_pos:
                continue
            item = items[i]
            same = normalise_text(item.content) == winner_text
            t = item_time(item) or _EPOCH
            kind: FindingKind
            if item.trust == winner.trust and t < winner_time:
                kind = "superseded"
                detail = (
                    f"fact {key!r}: superseded by {winner.id} ({_when(winner)}; this item "
                    f"{item.id}: {_when(item)})"
                )
                score = 1.0
            elif same:
                kind = "duplicate"
                detail = f"fact {key!r}: same content as {winner.id}, which is kept (trust/newer)"
                score = 1.0
            elif item.trust < winner.trust:
                kind = "contradicted"
                detail = (
                    f"fact {key!r}: {item.id} ({item.trust.name}, {_when(item)}) contradicts "
                    f"{winner.id} ({winner.trust.name}, {_when(winner)}); the higher-trust "
                    f"{winner.id} is kept"
                )
                score = 0.9
            else:
                kind = "contradicted"
                detail = (
                    f"fact {key!r}: {item.id} and {winner.id} have equal trust and validity "
                    f"({_when(item)}) but differ; {winner.id} (first in input order) is kept"
                )
                score = 0.6
            out.setdefault(i, []).append(PoisonFinding(self.name, kind, detail, score))
