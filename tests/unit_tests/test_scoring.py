from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rank_bm25 import BM25Okapi

from langchain_ctxorch import Tokenizer
from langchain_ctxorch.scoring import DEFAULT_TOKENIZER, BM25Pool, bm25_scores

DOCS = [
    "Refunds are paid back within five business days.",
    "The Pro plan costs 49 dollars per month and includes priority support.",
    "Shipping is free for orders above 50 dollars.",
    "Annual plans can be refunded in full within 30 days of purchase.",
    "Support is available by e-mail and chat on business days.",
    "The API allows 600 requests per minute per token.",
]


def test_default_tokenizer_lowercases_and_drops_stop_words() -> None:
    assert DEFAULT_TOKENIZER("The Refund, of THE order!") == ["refund", "order"]
    assert DEFAULT_TOKENIZER("Ünïcode wörds 42") == ["ünïcode", "wörds", "42"]
    keep_all = Tokenizer(stop_words=frozenset())
    assert keep_all("the refund") == ["the", "refund"]
    stemmed = Tokenizer(stemmer=lambda w: w.rstrip("s"))
    assert stemmed("refunds plans") == ["refund", "plan"]


@pytest.mark.parametrize(
    "query", ["refund within days", "plan dollars", "support business days", "api"]
)
def test_bm25_matches_rank_bm25_okapi(query: str) -> None:
    reference = BM25Okapi([DEFAULT_TOKENIZER(d) for d in DOCS]).get_scores(DEFAULT_TOKENIZER(query))
    ours = bm25_scores(query, DOCS)
    assert ours == pytest.approx(list(reference))


words = st.sampled_from("refund plan price support order day week month api token the a".split())
docs = st.lists(st.lists(words, min_size=1, max_size=30).map(" ".join), min_size=1, max_size=25)


@given(docs, st.lists(words, min_size=1, max_size=5).map(" ".join))
def test_bm25_matches_rank_bm25_on_random_pools(pool: list[str], query: str) -> None:
    if not any(DEFAULT_TOKENIZER(d) for d in pool):
        return
    reference = BM25Okapi([DEFAULT_TOKENIZER(d) for d in pool]).get_scores(DEFAULT_TOKENIZER(query))
    assert bm25_scores(query, pool) == pytest.approx(list(reference), abs=1e-9)


def test_score_text_equals_the_score_of_a_pool_member() -> None:
    pool = BM25Pool(DOCS)
    terms = DEFAULT_TOKENIZER("refund within days")
    assert pool.score_text(terms, DOCS[0]) == pytest.approx(pool.scores(terms)[0])


def test_empty_query_or_pool() -> None:
    assert bm25_scores("the of a", DOCS) == [0.0] * len(DOCS)
    assert bm25_scores("refund", []) == []
