"""Token prices and what a context window costs, with provider prompt caching.

Key types:

- `ModelPrice`: USD per million tokens for input, cached input (a prompt-cache hit), cache writes
  and output, plus the smallest prefix the provider caches.
- `PriceTable`: an immutable, user-overridable table of `ModelPrice` by model name, looked up by
  longest prefix (``"openai:gpt-4o-2024-08-06"`` finds ``gpt-4o``). `DEFAULT_PRICES` is the
  built-in one.
- `ContextCost`: per-layer cost of one packed window (``ContextReport.cost(...)``) and the share
  of it that is a cache-eligible prefix.
- `estimate_savings`: "facts in the system prompt" against "facts retrieved per call" for a call
  volume and a change rate. Every change of a fact inside the prefix invalidates the provider's
  prompt cache, so the next call pays the whole prefix again.

Prices are list prices from the providers' pricing pages, checked on `PRICES_CHECKED`. They change:
check your provider's pricing page and pass your own `ModelPrice` (or ``PriceTable.with_prices``)
for real decisions.

Example:
    ```python
    price = DEFAULT_PRICES.get("gpt-4o")
    price.input, price.cached_input, price.output  # (2.5, 1.25, 10.0)
    # 600 tokens of facts in a 2,100-token prompt, edited hourly; retrieval returns ~150 of them.
    est = estimate_savings(
        fact_tokens=600,
        form_tokens=1500,
        calls=2_000,
        fact_changes=24,
        retrieved_tokens=150,
        price=price,
    )
    round(est.savings, 2)  # 0.81 USD per day in favour of retrieval
    ```
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from langchain_ctxorch.items import Layer

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from langchain_ctxorch.report import ContextReport

__all__ = [
    "DEFAULT_PRICES",
    "DEFAULT_PRICE_MODEL",
    "PRICES_CHECKED",
    "ContextCost",
    "LayerCost",
    "ModelPrice",
    "PriceTable",
    "SavingsEstimate",
    "ScenarioCost",
    "context_cost",
    "estimate_savings",
    "resolve_price",
]

PRICES_CHECKED = "2025-10-01"
"""When the built-in prices were copied from the providers' pricing pages (rows added later say
when they were checked). Check your provider."""

DEFAULT_PRICE_MODEL = "gpt-4o"
"""The model whose price is used when none is given."""

_MILLION = 1_000_000


@dataclass(frozen=True)
class ModelPrice:
    """What a model charges, in USD per million tokens.

    Example:
        ```python
        price = ModelPrice("my-model", input=1.0, cached_input=0.1, output=4.0)
        price.input_cost(1_000_000, cached=500_000)  # 0.55
        ```
    """

    model: str
    """The model name (a prefix: ``gpt-4o`` also prices ``gpt-4o-2024-08-06``)."""
    input: float
    """USD per million uncached input tokens."""
    cached_input: float | None = None
    """USD per million input tokens read from the prompt cache; None: no caching discount."""
    output: float = 0.0
    """USD per million output tokens."""
    cache_write: float | None = None
    """USD per million tokens written to the cache (Anthropic: 1.25x input); None: ``input``."""
    min_cacheable_tokens: int = 1024
    """The shortest prefix the provider caches (OpenAI and Anthropic: 1024 tokens)."""
    provider: str = ""
    """Who sells it (``openai``, ``anthropic``, ``google``...)."""

    def __post_init__(self) -> None:
        """Validate: prices finite and non-negative, ``min_cacheable_tokens`` non-negative."""
        for name in ("input", "cached_input", "output", "cache_write"):
            value = getattr(self, name)
            if value is None and name in {"cached_input", "cache_write"}:
                continue
            if (
                not isinstance(value, (int, float))
                or isinstance(value, bool)
                or not math.isfinite(value)
                or value < 0
            ):
                msg = (
                    f"ModelPrice({self.model!r}).{name} must be a finite number >= 0 "
                    f"(USD per million tokens), got {value!r}"
                )
                raise ValueError(msg)
        if not isinstance(self.min_cacheable_tokens, int) or self.min_cacheable_tokens < 0:
            msg = (
                f"ModelPrice({self.model!r}).min_cacheable_tokens must be an int >= 0, "
                f"got {self.min_cacheable_tokens!r}"
            )
            raise ValueError(msg)

    @property
    def cache_read_price(self) -> float:
        """USD per million cached input tokens (``input`` when the model has no discount)."""
        return self.input if self.cached_input is None else self.cached_input

    @property
    def cache_write_price(self) -> float:
        """USD per million tokens written to the cache (``input`` unless a surcharge applies)."""
        return self.input if self.cache_write is None else self.cache_write

    def input_cost(self, tokens: int, *, cached: int = 0) -> float:
        """USD for ``tokens`` input tokens of which ``cached`` were prompt-cache hits."""
        cached = max(0, min(cached, tokens))
        return ((tokens - cached) * self.input + cached * self.cache_read_price) / _MILLION

    def output_cost(self, tokens: int) -> float:
        """USD for ``tokens`` output tokens."""
        return tokens * self.output / _MILLION


def _p(
    model: str,
    provider: str,
    input_: float,
    cached: float | None,
    output: float,
    write: float | None = None,
    min_cache: int = 1024,
) -> ModelPrice:
    return ModelPrice(model, input_, cached, output, write, min_cache, provider)


_BUILTIN = (
    _p("gpt-5", "openai", 1.25, 0.125, 10.0),
    _p("gpt-5-mini", "openai", 0.25, 0.025, 2.0),
    _p("gpt-5-nano", "openai", 0.05, 0.005, 0.40),
    _p("gpt-4.1", "openai", 2.0, 0.50, 8.0),
    _p("gpt-4.1-mini", "openai", 0.40, 0.10, 1.60),
    _p("gpt-4.1-nano", "openai", 0.10, 0.025, 0.40),
    _p("gpt-4o", "openai", 2.50, 1.25, 10.0),
    _p("gpt-4o-mini", "openai", 0.15, 0.075, 0.60),
    _p("o3", "openai", 2.0, 0.50, 8.0),
    _p("o4-mini", "openai", 1.10, 0.275, 4.40),
    # Opus 4.5 and later cost a third of Opus 4/4.1: without their own rows the prefix
    # "claude-opus-4" would price them at $15/$75 (checked 2026-11-23).
    _p("claude-opus-4-5", "anthropic", 5.0, 0.50, 25.0, 6.25),
    _p("claude-opus-4-6", "anthropic", 5.0, 0.50, 25.0, 6.25),
    _p("claude-opus-4-1", "anthropic", 15.0, 1.50, 75.0, 18.75),
    _p("claude-opus-4", "anthropic", 15.0, 1.50, 75.0, 18.75),
    _p("claude-sonnet-4", "anthropic", 3.0, 0.30, 15.0, 3.75),
    _p("claude-sonnet-4-5", "anthropic", 3.0, 0.30, 15.0, 3.75),
    _p("claude-3-7-sonnet", "anthropic", 3.0, 0.30, 15.0, 3.75),
    _p("claude-haiku-4-5", "anthropic", 1.0, 0.10, 5.0, 1.25, 2048),
    _p("claude-3-5-haiku", "anthropic", 0.80, 0.08, 4.0, 1.0, 2048),
    _p("gemini-2.5-pro", "google", 1.25, 0.31, 10.0, None, 2048),
    _p("gemini-2.5-flash", "google", 0.30, 0.075, 2.50),
    _p("gemini-2.5-flash-lite", "google", 0.10, 0.025, 0.40),
)


class PriceTable(Mapping[str, ModelPrice]):
    """An immutable table of model prices; lookups match the longest model-name prefix.

    Provider prefixes such as ``openai:`` or ``anthropic/`` are ignored, and names are compared
    case-insensitively. Override or extend it with `with_prices`, which returns a new table.

    Example:
        ```python
        table = DEFAULT_PRICES.with_prices(ModelPrice("acme-llm", input=0.5, output=1.5))
        table.get("openai:gpt-4o-mini-2024-07-18").model  # 'gpt-4o-mini'
        table["acme-llm"].input  # 0.5
        ```
    """

    def __init__(self, prices: Iterable[ModelPrice] = ()) -> None:
        """Build a table from prices; a later price for the same model wins."""
        data: dict[str, ModelPrice] = {}
        for value in prices:
            price: object = value
            if not isinstance(price, ModelPrice):
                msg = f"PriceTable takes ModelPrice values, got {type(price).__name__}: {price!r}"
                raise TypeError(msg)
            data[price.model.lower()] = price
        self._data: Mapping[str, ModelPrice] = MappingProxyType(data)

    def __getitem__(self, model: str) -> ModelPrice:
        """The price for ``model`` (longest matching prefix).

        Raises:
            KeyError: no model in the table is a prefix of ``model``; the message lists them.
        """
        price = self.lookup(model)
        if price is None:
            known = ", ".join(sorted(self._data))
            msg = (
                f"no price for model {model!r}; known models: {known}. Pass a ModelPrice("
                f"{model!r}, input=..., cached_input=..., output=...) or use "
                "PriceTable.with_prices(...)"
            )
            raise KeyError(msg)
        return price

    def lookup(self, model: str) -> ModelPrice | None:
        """The price for ``model`` by longest prefix, or None."""
        name = model.strip().lower()
        for sep in (":", "/"):
            if sep in name:
                name = name.rsplit(sep, 1)[-1]
        best: ModelPrice | None = None
        best_len = -1
        for key, price in self._data.items():
            if name.startswith(key) and len(key) > best_len:
                best, best_len = price, len(key)
        return best

    def __iter__(self) -> Iterator[str]:
        """Iterate over the model names."""
        return iter(self._data)

    def __len__(self) -> int:
        """Number of models."""
        return len(self._data)

    def with_prices(self, *prices: ModelPrice) -> PriceTable:
        """A new table with ``prices`` added or replacing entries of the same model."""
        return PriceTable([*self._data.values(), *prices])

    def __repr__(self) -> str:
        """Show the model names."""
        return f"PriceTable({sorted(self._data)})"


DEFAULT_PRICES = PriceTable(_BUILTIN)
"""The built-in prices (list prices checked on `PRICES_CHECKED`; check your provider)."""


def resolve_price(
    prices: ModelPrice | str | None, *, table: PriceTable | None = None
) -> ModelPrice:
    """A `ModelPrice` from a price, a model name (looked up in ``table``) or None (default).

    Raises:
        KeyError: the model name is not in the table.
        TypeError: ``prices`` is neither.
    """
    value: object = DEFAULT_PRICE_MODEL if prices is None else prices
    if isinstance(value, ModelPrice):
        return value
    if isinstance(value, str):
        return (table or DEFAULT_PRICES)[value]
    msg = f"prices must be a ModelPrice, a model name or None, got {type(value).__name__}"
    raise TypeError(msg)


@dataclass(frozen=True)
class LayerCost:
    """Tokens and USD of one layer per call."""

    tokens: int
    """Tokens of the layer in the window."""
    usd: float
    """USD per call with every token at the uncached input price."""
    usd_cached: float
    """USD per call when the cache-eligible prefix is a cache hit."""


@dataclass(frozen=True)
class ContextCost:
    """What one packed context window costs per call.

    Example:
        ```python
        cost = packed.report.cost("gpt-4o-mini")
        cost.input_usd, cost.cache_eligible_share
        print(cost)  # a per-layer table
        ```
    """

    price: ModelPrice
    """The price used."""
    input_tokens: int
    """Tokens of the whole window (``report.used``)."""
    layers: dict[Layer, LayerCost]
    """Cost per layer (message framing is under ``overhead``)."""
    overhead: LayerCost
    """Cost of message framing, headers and markers."""
    prefix_tokens: int
    """Tokens of the stable instruction prefix."""
    cache_eligible: bool
    """Whether the prefix is long enough for the provider to cache it."""
    output_tokens: int = 0
    """Tokens reserved for the answer (``report.reserve_output``): the most the answer costs."""

    @property
    def cache_eligible_tokens(self) -> int:
        """Tokens a prompt cache can serve (0 when the prefix is too short to be cached)."""
        return self.prefix_tokens if self.cache_eligible else 0

    @property
    def cache_eligible_share(self) -> float:
        """Share of the window's tokens that a prompt cache can serve."""
        return self.cache_eligible_tokens / self.input_tokens if self.input_tokens else 0.0

    @property
    def input_usd(self) -> float:
        """USD of the input per call, no cache hit."""
        return self.price.input_cost(self.input_tokens)

    @property
    def input_usd_cached(self) -> float:
        """USD of the input per call when the prefix is a cache hit."""
        return self.price.input_cost(self.input_tokens, cached=self.cache_eligible_tokens)

    @property
    def max_output_usd(self) -> float:
        """USD of the answer if it uses all the reserved output tokens."""
        return self.price.output_cost(self.output_tokens)

    def for_calls(self, calls: int, *, cache_hit_rate: float = 1.0) -> float:
        """USD of the input for ``calls`` calls with this window and a prefix hit rate."""
        if not 0.0 <= cache_hit_rate <= 1.0:
            msg = f"cache_hit_rate must be in [0, 1], got {cache_hit_rate!r}"
            raise ValueError(msg)
        per_call = cache_hit_rate * self.input_usd_cached + (1.0 - cache_hit_rate) * self.input_usd
        return calls * per_call

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "model": self.price.model,
            "input_tokens": self.input_tokens,
            "prefix_tokens": self.prefix_tokens,
            "cache_eligible": self.cache_eligible,
            "cache_eligible_share": self.cache_eligible_share,
            "input_usd": self.input_usd,
            "input_usd_cached": self.input_usd_cached,
            "output_tokens": self.output_tokens,
            "max_output_usd": self.max_output_usd,
            "layers": {
                layer.value: {"tokens": c.tokens, "usd": c.usd, "usd_cached": c.usd_cached}
                for layer, c in self.layers.items()
            },
            "overhead": {
                "tokens": self.overhead.tokens,
                "usd": self.overhead.usd,
                "usd_cached": self.overhead.usd_cached,
            },
        }

    def __str__(self) -> str:
        """A per-layer table in USD per call and per thousand calls."""
        p = self.price
        lines = [
            (
                f"Cost per call on {p.model} (USD per 1M tokens: input {p.input}, cached "
                f"{p.cache_read_price}, output {p.output}; prices checked {PRICES_CHECKED}, "
                "check your provider)"
            ),
            f"{'layer':<13}{'tokens':>8}{'USD/call':>12}{'cached':>12}{'USD/1k calls':>14}",
        ]
        rows = [(layer.value, c) for layer, c in self.layers.items()]
        rows.append(("overhead", self.overhead))
        for name, c in rows:
            lines.append(
                f"{name:<13}{c.tokens:>8}{c.usd:>12.6f}{c.usd_cached:>12.6f}{c.usd * 1000:>14.4f}"
            )
        lines.append(
            f"{'total input':<13}{self.input_tokens:>8}{self.input_usd:>12.6f}"
            f"{self.input_usd_cached:>12.6f}{self.input_usd * 1000:>14.4f}"
        )
        eligible = (
            f"{self.cache_eligible_tokens} of {self.input_tokens} tokens "
            f"({self.cache_eligible_share:.0%}) are a cache-eligible prefix"
            if self.cache_eligible
            else f"the {self.prefix_tokens}-token prefix is below the {p.min_cacheable_tokens}-"
            "token minimum the provider caches: no cache discount"
        )
        lines.append(eligible)
        if self.output_tokens:
            lines.append(
                f"answer: up to {self.output_tokens} tokens, up to {self.max_output_usd:.6f} USD"
            )
        return "\n".join(lines)


def context_cost(report: ContextReport, prices: ModelPrice | str | None = None) -> ContextCost:
    """The cost of the window a `ContextReport` describes (``report.cost(...)`` calls this).

    The instruction layer is the stable prefix: when ``report.prefix_tokens`` reaches the model's
    ``min_cacheable_tokens``, those tokens are priced at the cached rate in the ``cached`` column.

    Raises:
        KeyError: a model name with no price in `DEFAULT_PRICES`.
    """
    price = resolve_price(prices)
    eligible = report.prefix_tokens >= max(1, price.min_cacheable_tokens)
    remaining_prefix = report.prefix_tokens if eligible else 0
    layers: dict[Layer, LayerCost] = {}
    # The prefix is the instructions plus their framing: instructions first, then overhead.
    ordered = sorted(report.layers.items(), key=lambda kv: kv[0].rank)
    for layer, usage in ordered:
        cached = min(usage.used, remaining_prefix) if layer is Layer.INSTRUCTIONS else 0
        remaining_prefix -= cached
        layers[layer] = LayerCost(
            usage.used, price.input_cost(usage.used), price.input_cost(usage.used, cached=cached)
        )
    overhead_cached = min(report.overhead, remaining_prefix)
    overhead = LayerCost(
        report.overhead,
        price.input_cost(report.overhead),
        price.input_cost(report.overhead, cached=overhead_cached),
    )
    return ContextCost(
        price=price,
        input_tokens=report.used,
        layers=layers,
        overhead=overhead,
        prefix_tokens=report.prefix_tokens,
        cache_eligible=eligible,
        output_tokens=report.reserve_output,
    )


@dataclass(frozen=True)
class ScenarioCost:
    """One way of placing the facts, over one period."""

    name: str
    """``"facts in the system prompt"`` or ``"facts retrieved per call"``."""
    prefix_tokens: int
    """Tokens of the stable prefix in this scenario."""
    uncached_tokens_per_call: int
    """Tokens after the prefix, paid at the full input price on every call."""
    cache_misses: int
    """Calls in the period that pay the whole prefix (cache writes)."""
    cache_hits: int
    """Calls in the period whose prefix is a cache hit."""
    usd: float
    """USD of the input over the period."""

    @property
    def hit_rate(self) -> float:
        """Share of calls whose prefix was a cache hit."""
        calls = self.cache_hits + self.cache_misses
        return self.cache_hits / calls if calls else 0.0


@dataclass(frozen=True)
class SavingsEstimate:
    """Facts in the system prompt against facts retrieved per call, over one period."""

    price: ModelPrice
    """The price used."""
    calls: int
    """Calls in the period."""
    fact_changes: float
    """Fact changes in the period (each one edits the prompt in the first scenario)."""
    period: str
    """The period's name, for display (``"day"``, ``"month"``...)."""
    in_prompt: ScenarioCost
    """Facts pasted into the system prompt."""
    retrieved: ScenarioCost
    """Facts kept in the KNOWLEDGE layer and retrieved per call."""
    notes: list[str] = field(default_factory=list)
    """Assumptions worth reading."""
    cache_hit_ceiling: float = 1.0
    """The largest share of calls a prompt cache could serve."""

    @property
    def savings(self) -> float:
        """USD saved per period by retrieving (negative: the prompt is cheaper)."""
        return self.in_prompt.usd - self.retrieved.usd

    @property
    def savings_share(self) -> float:
        """``savings`` as a share of the in-prompt cost."""
        return self.savings / self.in_prompt.usd if self.in_prompt.usd else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""

        def scen(s: ScenarioCost) -> dict[str, Any]:
            return {
                "prefix_tokens": s.prefix_tokens,
                "uncached_tokens_per_call": s.uncached_tokens_per_call,
                "cache_misses": s.cache_misses,
                "cache_hits": s.cache_hits,
                "hit_rate": s.hit_rate,
                "usd": s.usd,
            }

        return {
            "model": self.price.model,
            "calls": self.calls,
            "fact_changes": self.fact_changes,
            "period": self.period,
            "cache_hit_ceiling": self.cache_hit_ceiling,
            "in_prompt": scen(self.in_prompt),
            "retrieved": scen(self.retrieved),
            "savings": self.savings,
            "savings_share": self.savings_share,
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        """Both scenarios side by side, the difference and the assumptions."""
        lines = [
            (
                f"{self.calls} calls and {self.fact_changes:g} fact changes per {self.period} "
                f"on {self.price.model} (prices checked {PRICES_CHECKED}; check your provider)"
            ),
            f"{'scenario':<28}{'prefix':>8}{'+/call':>8}{'hit rate':>10}{'USD':>12}",
        ]
        lines.extend(
            f"{s.name:<28}{s.prefix_tokens:>8}{s.uncached_tokens_per_call:>8}"
            f"{s.hit_rate:>10.1%}{s.usd:>12.4f}"
            for s in (self.in_prompt, self.retrieved)
        )
        verdict = "saves" if self.savings >= 0 else "costs"
        lines.append(
            f"Retrieving the facts {verdict} {abs(self.savings):.4f} USD per {self.period} "
            f"({abs(self.savings_share):.1%})."
        )
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _check_count(name: str, value: float, *, integer: bool = True) -> None:
    bad = isinstance(value, bool) or not isinstance(value, (int, float))
    if not bad and integer and not isinstance(value, int):
        bad = True
    if bad or not math.isfinite(value) or value < 0:
        kind = "an int" if integer else "a finite number"
        msg = f"{name} must be {kind} >= 0, got {value!r}"
        raise ValueError(msg)


def estimate_savings(
    *,
    fact_tokens: int,
    form_tokens: int,
    calls: int,
    fact_changes: float,
    price: ModelPrice | str | None = None,
    retrieved_tokens: int | None = None,
    other_tokens: int = 0,
    period: str = "day",
    cache_hit_ceiling: float = 1.0,
    table: PriceTable | None = None,
) -> SavingsEstimate:
    """Compare "facts in the system prompt" with "facts retrieved per call" over one period.

    The model of provider prompt caching: a prefix is cached once it reaches the model's
    ``min_cacheable_tokens``; the first call of the period and the first call after every change
    of the prefix miss (and pay ``cache_write``); every other call reads the prefix at the cached
    price. Facts in the system prompt are part of the prefix, so each fact change is a miss;
    retrieved facts come after the stable prefix and are paid at the full input price on every
    call. Cache expiry between calls is modelled only through ``cache_hit_ceiling``.

    Args:
        fact_tokens: tokens of the fact sentences (``InstructionAudit.fact_tokens``).
        form_tokens: tokens of the rest of the instructions (the stable form).
        calls: model calls per period.
        fact_changes: how many times a fact changes per period (may be fractional: 0.25 per
            day is one change every four days).
        price: a `ModelPrice`, a model name in ``table``, or None for `DEFAULT_PRICE_MODEL`.
        retrieved_tokens: tokens of facts retrieved per call; None assumes all ``fact_tokens``
            (the conservative case: retrieval usually returns only the relevant few).
        other_tokens: the rest of each call's input (history, question), the same in both.
        period: the period's name, for display.
        cache_hit_ceiling: the largest share of calls a prompt cache can serve in either
            scenario (1.0: always warm). Providers evict cached prefixes after minutes of
            inactivity, so sparse traffic has a lower ceiling.
        table: the price table for a model name (`DEFAULT_PRICES` when None).

    Returns:
        A `SavingsEstimate` with both scenarios; ``savings`` is positive when retrieval is
        cheaper.

    Raises:
        ValueError: a negative or non-numeric count, naming it.
        KeyError: an unknown model name.

    Example:
        ```python
        est = estimate_savings(
            fact_tokens=800, form_tokens=1200, calls=5000, fact_changes=2, price="gpt-4.1"
        )
        print(est)
        ```
    """
    for name, value in (
        ("fact_tokens", fact_tokens),
        ("form_tokens", form_tokens),
        ("calls", calls),
        ("other_tokens", other_tokens),
    ):
        _check_count(name, value)
    _check_count("fact_changes", fact_changes, integer=False)
    if not (isinstance(cache_hit_ceiling, (int, float)) and 0.0 <= cache_hit_ceiling <= 1.0):
        msg = f"cache_hit_ceiling must be a number in [0, 1], got {cache_hit_ceiling!r}"
        raise ValueError(msg)
    if retrieved_tokens is not None:
        _check_count("retrieved_tokens", retrieved_tokens)
    model_price = resolve_price(price, table=table)
    retrieved = fact_tokens if retrieved_tokens is None else retrieved_tokens
    notes: list[str] = []

    def scenario(name: str, prefix: int, changes: float, extra: int) -> ScenarioCost:
        cacheable = model_price.cached_input is not None and prefix >= max(
            1, model_price.min_cacheable_tokens
        )
        # Cached: the first call, then the first call after each change, miss. Else all miss.
        misses = min(calls, 1 + math.ceil(changes)) if cacheable else calls
        misses = max(misses, calls - math.floor(calls * cache_hit_ceiling))
        hits = calls - misses
        p = model_price
        usd = (
            misses * prefix * p.cache_write_price
            + hits * prefix * p.cache_read_price
            + calls * (extra + other_tokens) * p.input
        ) / _MILLION
        if not cacheable and calls:
            notes.append(
                f"{name}: the {prefix}-token prefix is not cached (below "
                f"{p.min_cacheable_tokens} tokens, or no cache price)"
            )
        return ScenarioCost(name, prefix, extra + other_tokens, misses, hits, usd)

    in_prompt = scenario("facts in the system prompt", form_tokens + fact_tokens, fact_changes, 0)
    by_retrieval = scenario("facts retrieved per call", form_tokens, 0.0, retrieved)
    if retrieved_tokens is None:
        notes.append("retrieved_tokens assumed equal to fact_tokens (every fact on every call)")
    return SavingsEstimate(
        price=model_price,
        calls=calls,
        fact_changes=fact_changes,
        period=period,
        in_prompt=in_prompt,
        retrieved=by_retrieval,
        notes=notes,
        cache_hit_ceiling=cache_hit_ceiling,
    )
