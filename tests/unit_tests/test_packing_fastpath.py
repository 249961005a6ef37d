"""The packer's cold path: batched counting, source lines counted by shape, lazily rendered blocks.

Each shortcut must leave the result exactly as a plain recount would have it.
"""

from __future__ import annotations

from collections import Counter

from encode_spy import spy_encodes
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_ctxorch import (
    BudgetExceededError,
    BudgetPolicy,
    ContextItem,
    ContextPacker,
    Layer,
    Spotlighter,
    TiktokenCounter,
    Trust,
    get_token_counter,
)
from langchain_ctxorch.packing import _Static

COUNTER = get_token_counter("cl100k_base")

_sources = st.one_of(
    st.just(""),
    st.from_regex(r"[a-z]{1,8}/[0-9]{1,12}(\.md|#p[0-9]{1,4})?", fullmatch=True),
    st.from_regex(r"https://[a-z]{1,6}\.com/[0-9]{1,5}/[a-z0-9_]{0,8}\)?", fullmatch=True),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20),
)
_texts = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60),
    st.from_regex(r"[A-Z][a-z ]{0,40}[0-9]{0,6}[.!?)]?", fullmatch=True),
)


@st.composite
def _blocks(draw: st.DrawFn) -> list[ContextItem]:
    items = []
    for i in range(draw(st.integers(1, 12))):
        items.append(
            ContextItem(
                id=f"b{i}",
                content=draw(_texts),
                layer=draw(st.sampled_from([Layer.KNOWLEDGE, Layer.MEMORY, Layer.INSTRUCTIONS])),
                source=draw(_sources),
                trust=draw(st.sampled_from(list(Trust))),
            )
        )
    return items


@settings(max_examples=150, deadline=None)
@given(_blocks(), st.integers(30, 1500), st.booleans())
def test_cold_counts_are_exact_for_any_source_line(
    items: list[ContextItem], max_tokens: int, spotlight: bool
) -> None:
    policy = BudgetPolicy(max_tokens)
    packer = ContextPacker(policy, COUNTER, spotlight=Spotlighter(b"k", enabled=spotlight))
    try:
        packed = packer.pack(items)
    except BudgetExceededError:  # only the required instructions may not fit
        return
    assert COUNTER.count_messages(packed.messages) == packed.report.used
    assert packed.report.used <= policy.available
    assert Counter(d.item_id for d in packed.report.decisions) == Counter(i.id for i in items)
    # each lazily rendered block is the block the eager renderer makes, with the same cost
    for item in items:
        st_ = packer._statics_for([item])[0]
        body, cost, own = packer._block_body(item, item.content)
        assert packer._body(st_) == body
        assert (st_.cost, st_.wrapper) == (cost, cost - own)
    # a second, warm pack and a fresh packer give the same window
    again = packer.pack(items)
    other = ContextPacker(policy, COUNTER, spotlight=Spotlighter(b"k", enabled=spotlight))
    fresh = other.pack(items)
    for p in (again, fresh):
        assert [m.content for m in p.messages] == [m.content for m in packed.messages]
        assert p.report.decisions == packed.report.decisions


def test_static_can_cut_agrees_with_the_item() -> None:
    for layer in Layer:
        for pinned in (False, True):
            for truncatable in (None, False, True):
                for role in (None, "tool", "user"):
                    item = ContextItem(
                        content="x",
                        layer=layer,
                        pinned=pinned,
                        truncatable=truncatable,
                        role=role,  # type: ignore[arg-type]
                    )
                    assert _Static(item).can_cut == item.can_truncate


def test_recreated_items_reuse_the_counts_of_their_text() -> None:
    counter = get_token_counter("cl100k_base")
    assert isinstance(counter, TiktokenCounter)
    texts = [f"Fact number {i}: the refund window is {i} days." for i in range(50)]

    def items() -> list[ContextItem]:
        return [
            ContextItem(id=f"k{i}", content=t, layer=Layer.KNOWLEDGE, source=f"kb/{i}")
            for i, t in enumerate(texts)
        ]

    packer = ContextPacker(BudgetPolicy(400), counter)
    first = packer.pack(items())
    encoded = spy_encodes(counter)
    second = packer.pack(items())  # new objects, same texts: no new encoding of any block
    assert encoded == []
    assert second.report.decisions == first.report.decisions
    # the source lines of the 50 items fall into two shapes (one and two digits)
    assert len({counter.count_shape(f"source: kb/{i}\n") for i in range(50)}) <= 2
