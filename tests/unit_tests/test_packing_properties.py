"""Invariants of ContextPacker.pack over random scenarios (hypothesis)."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from scenario_strategies import scenario

from langchain_ctxorch import (
    BudgetExceededError,
    BudgetPolicy,
    ContextItem,
    ContextPacker,
    Layer,
    LayerBudget,
    Spotlighter,
    get_token_counter,
)

COUNTER = get_token_counter("cl100k_base")
SECRET = b"property-tests"


def _policy(draw: st.DrawFn) -> BudgetPolicy:
    max_tokens = draw(st.integers(20, 3000))
    reserve = draw(st.integers(0, max_tokens - 1))
    layers = {}
    if draw(st.booleans()):
        available = max_tokens - reserve
        layers[Layer.KNOWLEDGE] = LayerBudget(
            min_tokens=draw(st.integers(0, available // 3)),
            max_share=draw(st.one_of(st.none(), st.floats(0.05, 1.0))),
        )
        layers[Layer.MEMORY] = LayerBudget(
            max_tokens=draw(st.one_of(st.none(), st.integers(0, available)))
        )
    return BudgetPolicy(
        max_tokens,
        reserve_output=reserve,
        layers=layers,
        knowledge_order=draw(st.sampled_from(["relevance", "edges"])),
    )


policies = st.composite(_policy)()


def _assert_valid_tool_sequence(messages: list[BaseMessage]) -> None:
    open_calls: set[str] = set()
    for m in messages:
        if isinstance(m, ToolMessage):
            assert m.tool_call_id in open_calls, f"orphan tool result {m.tool_call_id}"
            open_calls.discard(m.tool_call_id)
        else:
            assert not open_calls, f"tool calls without results: {open_calls}"
            if isinstance(m, AIMessage):
                open_calls = {c["id"] for c in m.tool_calls if c.get("id")}
    assert not open_calls, f"tool calls without results: {open_calls}"


@given(scenario(), policies, st.booleans())
def test_pack_invariants(
    case: tuple[list[ContextItem], str | None], policy: BudgetPolicy, spotlight: bool
) -> None:
    items, query = case
    packer = ContextPacker(policy, COUNTER, spotlight=Spotlighter(SECRET, enabled=spotlight))
    try:
        packed = packer.pack(items, query=query)
    except BudgetExceededError as exc:
        error = exc
    else:
        error = None
    if error is not None:
        required = [i for i in items if i.pinned or i.layer is Layer.INSTRUCTIONS]
        assert required or any(i.layer is Layer.TASK for i in items)
        assert error.required > error.available == policy.available
        return
    report = packed.report
    # 1. never over budget, measured by a full recount of the rendered messages
    full = COUNTER.count_messages(packed.messages)
    assert full == report.used, "additive count differs from the full recount"
    assert report.used <= policy.available
    # 2. every candidate accounted for exactly once
    ids = [d.item_id for d in report.decisions]
    assert Counter(ids) == Counter(i.id for i in items)
    # 3. pinned items (and instructions) are always in
    included = {d.item_id for d in report.decisions if d.action in ("included", "truncated")}
    for item in items:
        if item.pinned and item.content.strip():
            assert item.id in included
    assert {i.id for i in packed.items} == included
    # 4. a valid tool-call sequence: no orphan tool result, no unanswered call
    _assert_valid_tool_sequence(packed.messages)
    # 5. determinism: the same input gives the same output
    again = ContextPacker(policy, COUNTER, spotlight=Spotlighter(SECRET, enabled=spotlight))
    packed2 = again.pack(items, query=query)
    assert [m.model_dump() for m in packed2.messages] == [m.model_dump() for m in packed.messages]
    assert packed2.report.decisions == report.decisions
    # 6. per-layer usage adds up
    assert sum(u.used for u in report.layers.values()) + report.overhead == report.used


@given(scenario(), st.integers(200, 4000))
def test_fills_at_least_95_percent_when_over_supplied(
    case: tuple[list[ContextItem], str | None], max_tokens: int
) -> None:
    items, query = case
    policy = BudgetPolicy(max_tokens)
    packer = ContextPacker(policy, COUNTER, spotlight=Spotlighter(SECRET))
    total = sum(COUNTER.count(i.content) for i in items)
    try:
        packed = packer.pack(items, query=query)
    except BudgetExceededError:
        return
    dropped_cuttable = [
        d
        for d in packed.report.decisions
        if d.action == "dropped" and not d.reason.startswith(("orphan", "incomplete", "empty"))
    ]
    if total > 3 * policy.available and dropped_cuttable and any(i.can_truncate for i in items):
        assert packed.report.used >= 0.95 * policy.available - policy.min_cut_tokens * 2
