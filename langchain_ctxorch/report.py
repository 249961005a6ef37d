"""The report of one packing: what happened to every candidate, and why.

Key types:

- `Decision`: one per candidate: ``included``, ``truncated``, ``dropped`` or ``quarantined``.
- `PoisonFinding` and `Quarantined`: plain records of what a poison filter found; produced by
  ``langchain_ctxorch.poison``, consumed by the packer (the core never imports ``poison``).
- `LayerUsage`: tokens used and allowed per layer.
- `ContextReport`: the whole account, with ``to_dict()`` and a readable ``str()`` table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from langchain_ctxorch.items import ContextItem, Layer

if TYPE_CHECKING:
    from collections.abc import Iterator

    from langchain_ctxorch.pricing import ContextCost, ModelPrice

__all__ = [
    "Action",
    "ContextReport",
    "Decision",
    "FindingKind",
    "LayerUsage",
    "PoisonFinding",
    "Quarantined",
]

Action = Literal["included", "truncated", "dropped", "quarantined"]
"""What happened to a candidate."""

FindingKind = Literal[
    "injection", "expired", "superseded", "contradicted", "duplicate", "irrelevant", "unverified"
]
"""The kinds of poison a filter reports."""

_ID_WIDTH = 22

ACTIONS: tuple[Action, ...] = ("included", "truncated", "dropped", "quarantined")


class Decision(NamedTuple):
    """What happened to one candidate.

    ``tokens`` is what the item costs in the window (for dropped and quarantined items: what it
    would have cost, uncut).
    """

    item_id: str
    """The candidate's id."""
    layer: Layer
    """The candidate's layer."""
    action: Action
    """``included``, ``truncated`` (included, cut to fit), ``dropped`` or ``quarantined``."""
    reason: str
    """Why, in words."""
    tokens: int
    """Tokens of the item as rendered (or as it would have been)."""


@dataclass(frozen=True)
class PoisonFinding:
    """One thing a poison detector found in an item.

    Example:
        ```python
        PoisonFinding("injection", "injection", "override: 'ignore previous instructions'", 0.95)
        ```
    """

    detector: str
    """Name of the detector that produced the finding."""
    kind: FindingKind
    """The kind of poison."""
    detail: str
    """Human-readable explanation, naming other item ids where relevant."""
    score: float = 1.0
    """Confidence in [0, 1]."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "detector": self.detector,
            "kind": self.kind,
            "detail": self.detail,
            "score": self.score,
        }


@dataclass(frozen=True)
class Quarantined:
    """An item kept out of the window, with every finding against it."""

    item: ContextItem
    """The quarantined item, unchanged."""
    findings: tuple[PoisonFinding, ...]
    """Why it was quarantined (at least one finding)."""

    @property
    def reason(self) -> str:
        """The findings in one line."""
        return "; ".join(f"{f.kind} ({f.detector}): {f.detail}" for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the item's id, layer, source and the findings)."""
        return {
            "item_id": self.item.id,
            "layer": self.item.layer.value,
            "source": self.item.source,
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass(frozen=True)
class LayerUsage:
    """Tokens a layer uses in the window and the limit it was packed under."""

    used: int
    """Tokens of the layer's content (message framing is counted under ``overhead``)."""
    limit: int | None
    """The layer's hard cap in tokens, or None."""
    candidates: int
    """How many candidates the layer had."""
    included: int
    """How many of them are in the window (cut ones included)."""


@dataclass(frozen=True)
class ContextReport:
    """The account of one packing: budget, usage and a decision for every candidate.

    Invariant: ``len(decisions)`` equals the number of candidates (items plus quarantined
    records), each id appears once, and ``used <= budget``.
    """

    budget: int
    """Tokens available to the window (``max_tokens - reserve_output``)."""
    used: int
    """Tokens of the rendered messages, by the packer's counter."""
    layers: dict[Layer, LayerUsage]
    """Usage per layer."""
    decisions: list[Decision]
    """One decision per candidate, in candidate order (quarantined records last)."""
    quarantined: list[Quarantined] = field(default_factory=list)
    """The quarantined candidates with their findings."""
    prefix_hash: str = ""
    """Hash of the stable prefix (the instructions); unchanged while the instructions are."""
    prefix_tokens: int = 0
    """Tokens of the stable prefix (the instructions): the part provider prompt caches can reuse."""
    overhead: int = 0
    """Tokens of message framing, section headers and spotlight markers."""
    max_tokens: int = 0
    """The policy's ``max_tokens``."""
    reserve_output: int = 0
    """Tokens reserved for the answer."""
    counter: str = ""
    """Which counter measured the window."""
    exact: bool = True
    """False when the counter only approximates the target model's tokenizer."""
    notes: list[str] = field(default_factory=list)
    """Remarks for the reader (e.g. a source that was unavailable)."""

    def counts(self) -> dict[Action, int]:
        """How many candidates got each action."""
        out: dict[Action, int] = dict.fromkeys(ACTIONS, 0)
        for d in self.decisions:
            out[d.action] += 1
        return out

    def by_action(self, action: Action) -> list[Decision]:
        """The decisions with ``action``."""
        return [d for d in self.decisions if d.action == action]

    def decision(self, item_id: str) -> Decision:
        """The decision for ``item_id``.

        Raises:
            KeyError: no candidate has that id.
        """
        for d in self.decisions:
            if d.item_id == item_id:
                return d
        msg = f"no decision for item id {item_id!r}"
        raise KeyError(msg)

    def __iter__(self) -> Iterator[Decision]:
        """Iterate over the decisions."""
        return iter(self.decisions)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the whole report (serialisable by LangGraph checkpointers)."""
        return {
            "budget": self.budget,
            "used": self.used,
            "max_tokens": self.max_tokens,
            "reserve_output": self.reserve_output,
            "overhead": self.overhead,
            "counter": self.counter,
            "exact": self.exact,
            "prefix_hash": self.prefix_hash,
            "prefix_tokens": self.prefix_tokens,
            "counts": dict(self.counts()),
            "layers": {
                layer.value: {
                    "used": u.used,
                    "limit": u.limit,
                    "candidates": u.candidates,
                    "included": u.included,
                }
                for layer, u in self.layers.items()
            },
            "decisions": [
                {
                    "item_id": d.item_id,
                    "layer": d.layer.value,
                    "action": d.action,
                    "reason": d.reason,
                    "tokens": d.tokens,
                }
                for d in self.decisions
            ],
            "quarantined": [q.to_dict() for q in self.quarantined],
            "notes": list(self.notes),
        }

    def cost(self, prices: ModelPrice | str | None = None) -> ContextCost:
        """What this window costs per call: per layer, and with the prefix served from cache.

        Args:
            prices: a ``ModelPrice``, a model name in ``pricing.DEFAULT_PRICES`` (e.g.
                ``"gpt-4o-mini"``, ``"openai:gpt-4.1"``), or None for ``gpt-4o``. Built-in
                prices are list prices with a date; check your provider.

        Returns:
            A ``ContextCost``: per-layer USD per call, uncached and with the cache-eligible
            instruction prefix at the cached price; ``print()`` it for a table.

        Raises:
            KeyError: a model name without a price (the message lists the known ones).

        Example:
            ```python
            cost = packed.report.cost("gpt-4o-mini")
            cost.layers[Layer.KNOWLEDGE].usd, cost.cache_eligible_share
            ```
        """
        from langchain_ctxorch.pricing import context_cost  # noqa: PLC0415 - keep core light

        return context_cost(self, prices)

    def __str__(self) -> str:
        """A readable table: per-layer usage, then every decision."""
        counts = self.counts()
        approx = "" if self.exact else ", approximate for this model"
        lines = [
            (
                f"Context window: {self.used}/{self.budget} tokens"
                f" (max_tokens={self.max_tokens}, reserve_output={self.reserve_output},"
                f" overhead={self.overhead}, counter={self.counter}{approx})"
            ),
            "  " + ", ".join(f"{a}: {n}" for a, n in counts.items()),
            "",
            f"{'layer':<13}{'used':>8}{'limit':>8}{'items':>8}{'of':>6}",
        ]
        for layer, u in self.layers.items():
            limit = "-" if u.limit is None else str(u.limit)
            lines.append(f"{layer.value:<13}{u.used:>8}{limit:>8}{u.included:>8}{u.candidates:>6}")
        lines += ["", f"{'action':<12}{'layer':<13}{'tokens':>7}  {'id':<24}reason"]
        for d in self.decisions:
            item_id = d.item_id if len(d.item_id) <= _ID_WIDTH else d.item_id[: _ID_WIDTH - 1] + "…"
            lines.append(f"{d.action:<12}{d.layer.value:<13}{d.tokens:>7}  {item_id:<24}{d.reason}")
        for note in self.notes:
            lines.append(f"note: {note}")
        return "\n".join(lines)
