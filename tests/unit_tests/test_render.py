from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from langchain_ctxorch import (
    ContextItem,
    Layer,
    Spotlighter,
    TiktokenCounter,
    Trust,
    get_token_counter,
)
from langchain_ctxorch.render import CUT_MARK, SPOTLIGHT_NOTE, SentenceCache, cut_text

COUNTER = get_token_counter()
sentence = st.lists(
    st.sampled_from("alpha beta gamma delta refund price plan 42 $9.99 ünï".split()),
    min_size=1,
    max_size=20,
).map(lambda ws: " ".join(ws).capitalize() + ".")
texts = st.lists(sentence, min_size=1, max_size=30).map(" ".join)


@given(
    texts, st.integers(1, 200), st.lists(st.sampled_from(["refund", "price", "alpha"]), max_size=3)
)
def test_cut_text_fits_and_keeps_verbatim_fragments(
    text: str, target: int, terms: list[str]
) -> None:
    cut = cut_text(text, target, COUNTER, query_terms=terms)
    assert COUNTER.count(cut) <= target
    if COUNTER.count(text) <= target:
        assert cut == text.strip()
        return
    if not cut:
        return
    assert "[…]" in cut
    for fragment in cut.replace("[…] ", CUT_MARK).split(CUT_MARK):
        assert fragment.strip() in text


def test_cut_text_prefers_query_sentences_and_uses_the_cache(counter: TiktokenCounter) -> None:
    text = " ".join(f"Filler sentence number {i} about nothing." for i in range(50))
    text += " The refund window is 30 days."
    cache = SentenceCache()
    cut = cut_text(text, 30, counter, query_terms=["refund", "window"], cache=cache)
    assert "The refund window is 30 days." in cut
    assert "[…]" in cut
    assert cut_text(text, 30, counter, query_terms=["refund", "window"], cache=cache) == cut


def test_cut_text_hard_cuts_a_single_long_sentence(counter: TiktokenCounter) -> None:
    text = "word " * 500
    cut = cut_text(text, 20, counter)
    assert counter.count(cut) <= 20
    assert cut.endswith(CUT_MARK)
    assert cut.startswith("word word")


def test_spotlighter_is_deterministic_per_secret_and_unpredictable_across() -> None:
    a, b = Spotlighter(b"one"), Spotlighter(b"two")
    assert a.wrap("x") == Spotlighter(b"one").wrap("x")
    assert a.tag("x") != b.tag("x")
    assert a.tag("x") != a.tag("y")
    assert Spotlighter().tag("x") != Spotlighter().tag("x")  # fresh random secrets
    assert "TAG" in SPOTLIGHT_NOTE
    assert a.tag("x") not in SPOTLIGHT_NOTE


def test_spotlighter_applies_to_untrusted_non_conversation_items() -> None:
    s = Spotlighter(b"k")
    assert s.applies_to(ContextItem(content="x", layer=Layer.KNOWLEDGE))
    assert s.applies_to(ContextItem(content="x", layer=Layer.MEMORY, trust=Trust.MODEL))
    assert not s.applies_to(ContextItem(content="x", layer=Layer.KNOWLEDGE, trust=Trust.VERIFIED))
    assert not s.applies_to(
        ContextItem(content="x", layer=Layer.TASK, role="user", trust=Trust.EXTERNAL)
    )
    assert not Spotlighter(enabled=False).applies_to(
        ContextItem(content="x", layer=Layer.KNOWLEDGE)
    )
    assert Spotlighter(enabled=False).note == ""


def test_spotlighter_rejects_bad_secrets() -> None:
    with pytest.raises(TypeError, match="spotlight secret must be a bytes"):
        Spotlighter(42)  # type: ignore[arg-type]
