"""Token budgets: the whole window and each layer's share of it.

Key types:

- `LayerBudget`: ``min_tokens`` reserved for a layer, a hard ``max_tokens`` cap and a soft
  ``max_share`` of the window.
- `BudgetPolicy`: the window (``max_tokens``), the tokens kept for the answer
  (``reserve_output``), per-layer budgets and the knowledge ordering strategy.

Default layer budgets (override any of them with ``layers=``):

| layer         | min_tokens | max_tokens | max_share |
|---------------|-----------:|-----------:|----------:|
| INSTRUCTIONS  | 0          | None       | None      |
| KNOWLEDGE     | 0          | None       | 0.5       |
| MEMORY        | 0          | None       | 0.5       |
| TASK          | 0          | None       | None      |

``max_share`` is a *soft* share: the first fill pass keeps each layer within it, then whatever the
window still has flows to any layer whose hard ``max_tokens`` allows it, so an over-supplied
window is always filled. ``min_tokens`` is reserved before anything else is filled.

Example:
    ```python
    policy = BudgetPolicy(
        8000,
        reserve_output=1000,
        layers={Layer.KNOWLEDGE: LayerBudget(min_tokens=1500, max_share=0.6)},
    )
    policy.available  # 7000
    ```
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from langchain_ctxorch.items import Layer, ensure_instance

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["DEFAULT_LAYER_BUDGETS", "BudgetPolicy", "KnowledgeOrder", "LayerBudget"]

KnowledgeOrder = Literal["relevance", "edges"]
"""How knowledge items are ordered in the window.

``"relevance"``: most relevant first. ``"edges"``: most relevant at both ends of the knowledge
section and the least relevant in the middle (against the "lost in the middle" effect).
"""

_KNOWLEDGE_ORDERS = ("relevance", "edges")


def _check_int(name: str, value: object, *, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        msg = f"{name} must be an int, got {value!r} ({type(value).__name__})"
        raise TypeError(msg)
    if value < minimum:
        msg = f"{name} must be >= {minimum}, got {value!r}"
        raise ValueError(msg)
    return value


@dataclass(frozen=True)
class LayerBudget:
    """How many tokens one layer may use.

    Args:
        min_tokens: reserved for the layer before anything else is filled (if it has candidates).
        max_tokens: hard cap: the layer never uses more (None: no cap).
        max_share: soft share of the available window in (0, 1]: respected in the first fill pass;
            unused room of other layers may flow to this one afterwards (None: no share limit).
    """

    min_tokens: int = 0
    max_tokens: int | None = None
    max_share: float | None = None

    def __post_init__(self) -> None:
        """Validate the fields; errors name the field and the value."""
        _check_int("LayerBudget.min_tokens", self.min_tokens)
        if self.max_tokens is not None:
            _check_int("LayerBudget.max_tokens", self.max_tokens)
            if self.max_tokens < self.min_tokens:
                msg = (
                    f"LayerBudget.max_tokens ({self.max_tokens}) is smaller than "
                    f"LayerBudget.min_tokens ({self.min_tokens})"
                )
                raise ValueError(msg)
        if self.max_share is not None:
            share = self.max_share
            if isinstance(share, bool) or not isinstance(share, (int, float)):
                msg = f"LayerBudget.max_share must be a number in (0, 1], got {share!r}"
                raise TypeError(msg)
            if not math.isfinite(share) or not 0.0 < share <= 1.0:
                msg = f"LayerBudget.max_share must be in (0, 1], got {share!r}"
                raise ValueError(msg)


DEFAULT_LAYER_BUDGETS: dict[Layer, LayerBudget] = {
    Layer.INSTRUCTIONS: LayerBudget(),
    Layer.KNOWLEDGE: LayerBudget(max_share=0.5),
    Layer.MEMORY: LayerBudget(max_share=0.5),
    Layer.TASK: LayerBudget(),
}
"""The per-layer budgets used when ``BudgetPolicy(layers=...)`` does not override them."""


@dataclass(frozen=True)
class BudgetPolicy:
    """The token budget of a context window.

    Args:
        max_tokens: the window you allow (input plus reserved output).
        reserve_output: tokens kept free for the model's answer.
        layers: per-layer budgets overriding `DEFAULT_LAYER_BUDGETS`.
        knowledge_order: ``"relevance"`` or ``"edges"`` (see `KnowledgeOrder`).
        min_cut_tokens: an item is only cut (truncated) when at least this many tokens of it fit;
            otherwise it is dropped.

    Raises:
        ValueError: negative numbers, ``reserve_output >= max_tokens``, minimums summing over the
            available window, an unknown knowledge order. The message names the field.
        TypeError: a field of the wrong type.

    Example:
        ```python
        BudgetPolicy(2000, reserve_output=500).available  # 1500
        ```
    """

    max_tokens: int
    reserve_output: int = 0
    layers: Mapping[Layer, LayerBudget] | None = None
    knowledge_order: KnowledgeOrder = "relevance"
    min_cut_tokens: int = 24
    _resolved: dict[Layer, LayerBudget] = field(init=False, repr=False, compare=False)

    def __init__(
        self,
        max_tokens: int,
        *,
        reserve_output: int = 0,
        layers: Mapping[Layer | str, LayerBudget] | None = None,
        knowledge_order: KnowledgeOrder = "relevance",
        min_cut_tokens: int = 24,
    ) -> None:
        """Validate and store the policy."""
        _check_int("BudgetPolicy.max_tokens", max_tokens, minimum=1)
        _check_int("BudgetPolicy.reserve_output", reserve_output)
        if reserve_output >= max_tokens:
            msg = (
                f"BudgetPolicy.reserve_output ({reserve_output}) must be smaller than "
                f"max_tokens ({max_tokens}): nothing would be left for the context"
            )
            raise ValueError(msg)
        _check_int("BudgetPolicy.min_cut_tokens", min_cut_tokens, minimum=1)
        if knowledge_order not in _KNOWLEDGE_ORDERS:
            msg = (
                f"BudgetPolicy.knowledge_order must be one of {', '.join(_KNOWLEDGE_ORDERS)}, "
                f"got {knowledge_order!r}"
            )
            raise ValueError(msg)
        resolved = dict(DEFAULT_LAYER_BUDGETS)
        overrides: dict[Layer, LayerBudget] = {}
        for key, value in (layers or {}).items():
            try:
                layer = key if isinstance(key, Layer) else Layer(str(key).lower())
            except ValueError:
                names = ", ".join(m.value for m in Layer)
                msg = f"BudgetPolicy.layers has an unknown layer {key!r}; use one of {names}"
                raise ValueError(msg) from None
            overrides[layer] = ensure_instance(
                value, LayerBudget, f"BudgetPolicy.layers[{layer.value!r}]"
            )
        resolved.update(overrides)
        available = max_tokens - reserve_output
        total_min = sum(b.min_tokens for b in resolved.values())
        if total_min > available:
            detail = ", ".join(
                f"{k.value}={v.min_tokens}" for k, v in resolved.items() if v.min_tokens
            )
            msg = (
                f"BudgetPolicy.layers minimums sum to {total_min} tokens ({detail}), more than the "
                f"{available} available (max_tokens - reserve_output)"
            )
            raise ValueError(msg)
        object.__setattr__(self, "max_tokens", max_tokens)
        object.__setattr__(self, "reserve_output", reserve_output)
        object.__setattr__(self, "layers", overrides)
        object.__setattr__(self, "knowledge_order", knowledge_order)
        object.__setattr__(self, "min_cut_tokens", min_cut_tokens)
        object.__setattr__(self, "_resolved", resolved)

    @property
    def available(self) -> int:
        """Tokens the rendered context may use: ``max_tokens - reserve_output``."""
        return self.max_tokens - self.reserve_output

    def layer_budget(self, layer: Layer) -> LayerBudget:
        """The effective budget of ``layer`` (override or default)."""
        return self._resolved[layer]

    def hard_cap(self, layer: Layer) -> int | None:
        """The layer's hard cap in tokens, if any."""
        return self._resolved[layer].max_tokens

    def soft_cap(self, layer: Layer) -> int | None:
        """The layer's soft cap in tokens (``max_share * available``, within the hard cap)."""
        budget = self._resolved[layer]
        caps = [c for c in (budget.max_tokens,) if c is not None]
        if budget.max_share is not None:
            caps.append(int(budget.max_share * self.available))
        return min(caps) if caps else None
