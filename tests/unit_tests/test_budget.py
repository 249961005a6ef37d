from __future__ import annotations

import math

import pytest

from langchain_ctxorch import BudgetPolicy, Layer, LayerBudget


def test_available_and_defaults() -> None:
    p = BudgetPolicy(8000, reserve_output=1000)
    assert p.available == 7000
    assert p.soft_cap(Layer.KNOWLEDGE) == 3500
    assert p.hard_cap(Layer.KNOWLEDGE) is None
    assert p.soft_cap(Layer.TASK) is None


def test_overrides_by_enum_or_name() -> None:
    p = BudgetPolicy(1000, layers={"knowledge": LayerBudget(max_tokens=300, max_share=0.9)})
    assert p.hard_cap(Layer.KNOWLEDGE) == 300
    assert p.soft_cap(Layer.KNOWLEDGE) == 300


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_tokens": 0}, "max_tokens must be >= 1, got 0"),
        ({"max_tokens": -5}, "max_tokens must be >= 1"),
        ({"max_tokens": 100, "reserve_output": 100}, r"reserve_output \(100\) must be smaller"),
        ({"max_tokens": 100, "reserve_output": -1}, "reserve_output must be >= 0"),
        ({"max_tokens": 100, "knowledge_order": "random"}, "knowledge_order must be one of"),
        (
            {
                "max_tokens": 100,
                "layers": {
                    Layer.KNOWLEDGE: LayerBudget(min_tokens=60),
                    Layer.MEMORY: LayerBudget(min_tokens=50),
                },
            },
            r"minimums sum to 110 tokens \(knowledge=60, memory=50\)",
        ),
        ({"max_tokens": 100, "layers": {"facts": LayerBudget()}}, "unknown layer 'facts'"),
    ],
)
def test_invalid_policies_name_the_field(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BudgetPolicy(**kwargs)  # type: ignore[arg-type]


def test_wrong_types() -> None:
    with pytest.raises(TypeError, match=r"max_tokens must be an int, got 1.5"):
        BudgetPolicy(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"layers\['knowledge'\] must be a LayerBudget"):
        BudgetPolicy(100, layers={Layer.KNOWLEDGE: {"min_tokens": 1}})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_tokens": -1}, "min_tokens must be >= 0"),
        ({"min_tokens": 10, "max_tokens": 5}, r"max_tokens \(5\) is smaller than"),
        ({"max_share": 0.0}, r"max_share must be in \(0, 1\]"),
        ({"max_share": 1.5}, r"max_share must be in \(0, 1\]"),
        ({"max_share": math.nan}, r"max_share must be in \(0, 1\]"),
    ],
)
def test_invalid_layer_budgets(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LayerBudget(**kwargs)  # type: ignore[arg-type]
