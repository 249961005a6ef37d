"""Unverified memories: text an LLM wrote (``Trust.MODEL``) that was never grounded.

Key types:

- `UnverifiedDetector`: a ``Trust.MODEL`` item is grounded when ``metadata["grounded"]`` is true
  or ``metadata["evidence"]`` is non-empty (the keys are configurable, or pass your own
  ``is_grounded`` predicate); ungrounded ones are ``unverified``. On by default.

Example:
    ```python
    memo = ContextItem(content="User is vegan.", layer=Layer.MEMORY, trust=Trust.MODEL, id="m")
    UnverifiedDetector().detect([memo])
    # {0: [PoisonFinding("unverified", "unverified", "Trust.MODEL item m has no grounding ...")]}
    ```
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from langchain_ctxorch.items import Trust
from langchain_ctxorch.poison._common import is_conversation_turn
from langchain_ctxorch.report import PoisonFinding

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime

    from langchain_ctxorch.items import ContextItem

__all__ = ["UnverifiedDetector"]


class UnverifiedDetector:
    """Quarantines ``Trust.MODEL`` items without grounding.

    Args:
        grounded_key: metadata key whose truthy value marks an item as grounded.
        evidence_key: metadata key whose non-empty value (sources, quotes) grounds an item.
        is_grounded: a predicate replacing both keys.
    """

    name = "unverified"

    def __init__(
        self,
        *,
        grounded_key: str = "grounded",
        evidence_key: str = "evidence",
        is_grounded: Callable[[ContextItem], bool] | None = None,
    ) -> None:
        """Create the detector."""
        self.grounded_key = grounded_key
        self.evidence_key = evidence_key
        self.is_grounded = is_grounded

    def _grounded(self, item: ContextItem) -> bool:
        if self.is_grounded is not None:
            return bool(self.is_grounded(item))
        meta = item.metadata
        return bool(meta.get(self.grounded_key)) or bool(meta.get(self.evidence_key))

    def detect(
        self,
        items: Sequence[ContextItem],
        *,
        query: str | None = None,  # noqa: ARG002 - part of the Detector protocol
        now: datetime | None = None,  # noqa: ARG002 - part of the Detector protocol
    ) -> dict[int, list[PoisonFinding]]:
        """Findings by input position."""
        out: dict[int, list[PoisonFinding]] = {}
        for i, item in enumerate(items):
            if (
                item.trust is Trust.MODEL
                and not is_conversation_turn(item)
                and not self._grounded(item)
            ):
                detail = (
                    f"Trust.MODEL item {item.id} has no grounding (set metadata"
                    f"[{self.grounded_key!r}]=True or a non-empty [{self.evidence_key!r}])"
                )
                out[i] = [PoisonFinding(self.name, "unverified", detail, 0.8)]
        return out
