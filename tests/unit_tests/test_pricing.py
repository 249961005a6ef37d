"""Tests for prices, ContextReport.cost and estimate_savings."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import HumanMessage

from langchain_ctxorch.budget import BudgetPolicy
from langchain_ctxorch.items import ContextItem, Layer
from langchain_ctxorch.packing import ContextPacker
from langchain_ctxorch.pricing import (
    DEFAULT_PRICE_MODEL,
    DEFAULT_PRICES,
    PRICES_CHECKED,
    ContextCost,
    ModelPrice,
    PriceTable,
    estimate_savings,
    resolve_price,
)
from langchain_ctxorch.report import ContextReport, LayerUsage

PRICE = ModelPrice("test-model", input=2.0, cached_input=0.5, output=8.0, min_cacheable_tokens=100)


def test_lookup_uses_the_longest_prefix_and_ignores_provider_and_case() -> None:
    assert DEFAULT_PRICES["gpt-4o-mini-2024-07-18"].model == "gpt-4o-mini"
    assert DEFAULT_PRICES["openai:GPT-4o-2024-08-06"].model == "gpt-4o"
    assert DEFAULT_PRICES["anthropic/claude-sonnet-4-20250514"].provider == "anthropic"
    # A newer model with a cheaper price than its prefix gets its own row, not the prefix's.
    assert DEFAULT_PRICES["claude-opus-4-5-20251101"].input == 5.0
    assert DEFAULT_PRICES["claude-opus-4-1-20250805"].input == 15.0
    assert DEFAULT_PRICES.lookup("no-such-model") is None
    assert DEFAULT_PRICES.get("no-such-model") is None


def test_unknown_model_error_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"no price for model 'acme'.*gpt-4o.*ModelPrice"):
        DEFAULT_PRICES["acme"]


def test_every_builtin_price_is_sane() -> None:
    assert len(DEFAULT_PRICES) >= 10
    assert PRICES_CHECKED
    for name, price in DEFAULT_PRICES.items():
        assert price.model == name
        assert price.cache_read_price <= price.input <= price.output
        assert price.cache_write_price >= price.input
    assert resolve_price(None).model == DEFAULT_PRICE_MODEL


def test_with_prices_returns_a_new_table_and_the_default_is_read_only() -> None:
    mine = ModelPrice("gpt-4o", input=1.0, cached_input=0.1, output=2.0)
    table = DEFAULT_PRICES.with_prices(mine, ModelPrice("acme-llm", input=0.3))
    assert table["gpt-4o-2024"].input == 1.0
    assert table["acme-llm"].cache_read_price == 0.3
    assert DEFAULT_PRICES["gpt-4o"].input == 2.5
    assert isinstance(table, PriceTable)
    with pytest.raises(TypeError):
        DEFAULT_PRICES._data["x"] = mine  # type: ignore[index]
    with pytest.raises(TypeError, match="PriceTable takes ModelPrice"):
        PriceTable([{"model": "x"}])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("field", "value"),
    [("input", -1.0), ("output", float("nan")), ("cached_input", float("inf")), ("input", True)],
)
def test_invalid_prices_name_the_field(field: str, value: float) -> None:
    kwargs = {"input": 1.0, "cached_input": 0.5, "output": 2.0, field: value}
    with pytest.raises(ValueError, match=rf"ModelPrice\('m'\)\.{field} must be"):
        ModelPrice("m", **kwargs)


def test_resolve_price_rejects_other_types() -> None:
    with pytest.raises(TypeError, match="prices must be a ModelPrice"):
        resolve_price(3)  # type: ignore[arg-type]


@given(st.integers(0, 10**7), st.integers(0, 10**7))
def test_cached_tokens_never_cost_more(tokens: int, cached: int) -> None:
    full = PRICE.input_cost(tokens)
    with_cache = PRICE.input_cost(tokens, cached=cached)
    assert with_cache <= full + 1e-12
    assert math.isclose(full, tokens * 2.0 / 1e6)
    assert with_cache >= tokens * 0.5 / 1e6 - 1e-12


def _report(used_by_layer: dict[Layer, int], overhead: int, prefix: int) -> ContextReport:
    layers = {
        layer: LayerUsage(used=used, limit=None, candidates=1, included=1)
        for layer, used in used_by_layer.items()
    }
    used = sum(used_by_layer.values()) + overhead
    return ContextReport(
        budget=used + 100,
        used=used,
        layers=layers,
        decisions=[],
        prefix_tokens=prefix,
        overhead=overhead,
        max_tokens=used + 400,
        reserve_output=300,
    )


def test_report_cost_per_layer_and_cached_prefix() -> None:
    report = _report({Layer.INSTRUCTIONS: 1000, Layer.KNOWLEDGE: 400, Layer.TASK: 50}, 30, 1010)
    cost = report.cost(PRICE)
    assert isinstance(cost, ContextCost)
    assert cost.cache_eligible
    assert cost.cache_eligible_tokens == 1010
    assert math.isclose(cost.cache_eligible_share, 1010 / 1480)
    assert math.isclose(cost.layers[Layer.KNOWLEDGE].usd, 400 * 2.0 / 1e6)
    assert math.isclose(cost.layers[Layer.INSTRUCTIONS].usd_cached, 1000 * 0.5 / 1e6)
    assert math.isclose(cost.layers[Layer.KNOWLEDGE].usd_cached, cost.layers[Layer.KNOWLEDGE].usd)
    # 10 prefix tokens beyond the instructions are framing, cached too
    assert math.isclose(cost.overhead.usd_cached, (20 * 2.0 + 10 * 0.5) / 1e6)
    total = sum(c.usd for c in cost.layers.values()) + cost.overhead.usd
    total_cached = sum(c.usd_cached for c in cost.layers.values()) + cost.overhead.usd_cached
    assert math.isclose(total, cost.input_usd)
    assert math.isclose(total_cached, cost.input_usd_cached)
    assert math.isclose(cost.max_output_usd, 300 * 8.0 / 1e6)
    assert math.isclose(cost.for_calls(1000, cache_hit_rate=0.0), 1000 * cost.input_usd)
    with pytest.raises(ValueError, match="cache_hit_rate"):
        cost.for_calls(10, cache_hit_rate=1.5)
    data = json.loads(json.dumps(cost.to_dict()))
    assert data["layers"]["knowledge"]["tokens"] == 400
    text = str(cost)
    assert "test-model" in text
    assert "cache-eligible prefix" in text


def test_short_prefix_is_not_cache_eligible() -> None:
    report = _report({Layer.INSTRUCTIONS: 50, Layer.TASK: 10}, 5, 55)
    cost = report.cost(PRICE)
    assert not cost.cache_eligible
    assert cost.cache_eligible_share == 0.0
    assert math.isclose(cost.input_usd, cost.input_usd_cached)
    assert "below the 100-token minimum" in str(cost)


def test_report_cost_by_model_name_and_unknown_name() -> None:
    report = _report({Layer.INSTRUCTIONS: 10}, 0, 10)
    assert report.cost("gpt-4o-mini").price.model == "gpt-4o-mini"
    assert report.cost().price.model == DEFAULT_PRICE_MODEL
    with pytest.raises(KeyError, match="no price for model"):
        report.cost("acme-9000")


def test_cost_of_a_real_packed_window(counter) -> None:
    items = [
        ContextItem(content="You are helpful. " * 400, layer=Layer.INSTRUCTIONS, id="sys"),
        ContextItem(content="The Pro plan costs $49.", layer=Layer.KNOWLEDGE, id="k1"),
        ContextItem.from_message(HumanMessage("What does Pro cost?", id="q"), layer=Layer.TASK),
    ]
    packed = ContextPacker(BudgetPolicy(8000, reserve_output=500), counter=counter).pack(
        items, query="Pro cost"
    )
    cost = packed.report.cost("gpt-4.1")
    assert cost.input_tokens == packed.report.used
    assert cost.cache_eligible
    assert cost.input_usd_cached < cost.input_usd
    layer_tokens = sum(c.tokens for c in cost.layers.values()) + cost.overhead.tokens
    assert layer_tokens == packed.report.used


def test_estimate_savings_hourly_changes_favour_retrieval() -> None:
    est = estimate_savings(
        fact_tokens=600,
        form_tokens=1500,
        calls=2000,
        fact_changes=24,
        retrieved_tokens=150,
        price="gpt-4o",
    )
    assert est.in_prompt.cache_misses == 25
    assert est.retrieved.cache_misses == 1
    assert est.savings > 0
    assert 0 < est.savings_share < 1
    assert json.loads(json.dumps(est.to_dict()))["retrieved"]["uncached_tokens_per_call"] == 150
    assert "saves" in str(est)


def test_estimate_savings_can_favour_the_prompt_and_says_so() -> None:
    # Rare changes, every fact retrieved on every call: the cached prompt is cheaper.
    est = estimate_savings(
        fact_tokens=800, form_tokens=1200, calls=5000, fact_changes=0.1, price=PRICE
    )
    assert est.savings < 0
    assert "costs" in str(est)
    assert any("retrieved_tokens assumed" in n for n in est.notes)


def test_without_facts_retrieval_is_never_dearer() -> None:
    est = estimate_savings(fact_tokens=0, form_tokens=2000, calls=100, fact_changes=3, price=PRICE)
    # With no facts, the only difference is the cache misses the changes would cause.
    assert est.retrieved.usd <= est.in_prompt.usd


def test_uncacheable_prefix_misses_every_call() -> None:
    est = estimate_savings(fact_tokens=10, form_tokens=20, calls=50, fact_changes=0, price=PRICE)
    assert est.in_prompt.cache_misses == 50
    assert est.in_prompt.hit_rate == 0.0
    assert any("not cached" in n for n in est.notes)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("calls", {"calls": -1}),
        ("fact_tokens", {"fact_tokens": 1.5}),
        ("fact_changes", {"fact_changes": float("nan")}),
        ("retrieved_tokens", {"retrieved_tokens": -3}),
    ],
)
def test_estimate_savings_validates_counts(name: str, kwargs: dict) -> None:
    args = {"fact_tokens": 100, "form_tokens": 100, "calls": 10, "fact_changes": 1, **kwargs}
    with pytest.raises(ValueError, match=name):
        estimate_savings(**args, price=PRICE)


@given(
    fact=st.integers(0, 5000),
    form=st.integers(0, 5000),
    calls=st.integers(0, 10**5),
    changes=st.floats(0, 1000, allow_nan=False),
    more=st.floats(0, 1000, allow_nan=False),
    retrieved=st.integers(0, 5000),
)
def test_more_fact_changes_never_make_the_prompt_cheaper(
    fact: int, form: int, calls: int, changes: float, more: float, retrieved: int
) -> None:
    def est(c: float):
        return estimate_savings(
            fact_tokens=fact,
            form_tokens=form,
            calls=calls,
            fact_changes=c,
            retrieved_tokens=retrieved,
            price=ModelPrice("m", input=3.0, cached_input=0.3, output=15.0, cache_write=3.75),
        )

    low, high = est(changes), est(changes + more)
    assert high.in_prompt.usd >= low.in_prompt.usd - 1e-12
    # Retrieval does not depend on how often the facts change.
    assert math.isclose(high.retrieved.usd, low.retrieved.usd)
    assert high.savings >= low.savings - 1e-12
    for s in (low.in_prompt, low.retrieved):
        assert s.cache_hits + s.cache_misses == calls
        assert s.usd >= 0


@given(
    calls=st.integers(0, 10**5),
    ceiling=st.floats(0, 1, allow_nan=False),
    changes=st.floats(0, 100, allow_nan=False),
)
def test_cache_hit_ceiling_caps_both_scenarios(calls: int, ceiling: float, changes: float) -> None:
    est = estimate_savings(
        fact_tokens=1500,
        form_tokens=1500,
        calls=calls,
        fact_changes=changes,
        price=PRICE,
        cache_hit_ceiling=ceiling,
    )
    for s in (est.in_prompt, est.retrieved):
        assert s.cache_hits <= calls * ceiling + 1e-9
        assert s.cache_hits + s.cache_misses == calls
    assert est.to_dict()["cache_hit_ceiling"] == ceiling


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "high"])
def test_cache_hit_ceiling_is_validated(bad: object) -> None:
    with pytest.raises(ValueError, match="cache_hit_ceiling must be a number in"):
        estimate_savings(
            fact_tokens=1,
            form_tokens=1,
            calls=1,
            fact_changes=0,
            cache_hit_ceiling=bad,  # type: ignore[arg-type]
        )
