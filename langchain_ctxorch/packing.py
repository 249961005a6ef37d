"""Budget-aware packing of context items into a LangChain message list.

Key types:

- `ContextPacker`: ``pack(items, *, query=None, quarantined=()) -> PackedContext``.
- `PackedContext`: the chosen ``items`` in window order, the rendered ``messages`` and the
  ``report``.

How `ContextPacker.pack` decides, in order:

1. **Validate**: every candidate is a `ContextItem` with a unique id (quarantine records included).
2. **Group**: an ``AIMessage`` with tool calls and the ``ToolMessage``s answering it form one
   atomic unit (as do items sharing ``group``). A tool result whose call is not among the
   candidates, or a tool call whose results are missing, is dropped with that reason: the window
   never holds an orphan tool result.
3. **Required**: pinned items, the instructions and the current user turn (the last TASK item with
   role ``"user"``) are always included, or `BudgetExceededError` names the tokens per layer.
4. **Score**: relevance (the item's own, else BM25 over the candidate pool when a query is given;
   a long item that may be cut is judged by its most relevant slice), priority, trust and recency
   combine into a utility (see `langchain_ctxorch.scoring`).
5. **Fill**: per-layer minimums first, then units by utility per token within each layer's soft
   share, then whatever room is left within the hard caps. A unit that does not fit but may be cut
   (knowledge, tool results) is cut to the room left, keeping its query-relevant sentences; a long
   cuttable item is offered as a slice of at most ``available // 8`` tokens.
6. **Render**: one system message that begins with the instructions (the cache-stable prefix),
   then knowledge and long-term memories; then the history in chronological order; then the current
   turn. Untrusted content is spotlighted.
7. **Check**: the rendered messages are measured with the same counter (additively from cached
   per-block counts for tiktoken counters, by a full recount otherwise) and never exceed
   ``max_tokens - reserve_output``.

Everything an item contributes that does not depend on the call (its rendered block or message,
its token count, its grouping keys) is cached per item object, so a later turn that repeats most
candidates costs a few microseconds per repeated item.

New candidates are counted in one batch (`TiktokenCounter.count_many`), their ``source:`` lines by
shape (`TiktokenCounter.count_shape`: lines that differ only in numbers are encoded once, where the
encoding makes that exact), and a block's text, with its spotlight tag (a keyed MAC over the
content), is only made when the block goes into a window: its token count does not depend on the
tag.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage

from langchain_ctxorch._cache import BoundedCache
from langchain_ctxorch.errors import BudgetExceededError
from langchain_ctxorch.items import ContextItem, Layer, Trust, ensure_instance
from langchain_ctxorch.render import (
    BLOCK_SEPARATOR,
    KNOWLEDGE_HEADER,
    MARKER_FORMATS,
    MEMORY_HEADER,
    SentenceCache,
    Spotlighter,
    cut_text,
)
from langchain_ctxorch.report import ContextReport, Decision, LayerUsage, Quarantined
from langchain_ctxorch.scoring import (
    DEFAULT_TOKENIZER,
    TRUST_WEIGHT,
    BM25Pool,
    TermCache,
    Tokenizer,
)
from langchain_ctxorch.tokens import ApproximateCounter, TiktokenCounter, get_token_counter

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from langchain_ctxorch.budget import BudgetPolicy
    from langchain_ctxorch.tokens import TokenCounter

__all__ = ["ContextPacker", "PackedContext"]

# Sections of the rendered window, in order.
_INSTR, _KNOW, _MEM, _HIST, _TASK = range(5)
_HEADERS = {_KNOW: KNOWLEDGE_HEADER, _MEM: MEMORY_HEADER}
# Per-call states of a candidate.
_NONE, _IN, _CUT, _OUT = range(4)

_LAYERS = tuple(Layer)
_LAYER_INDEX = {layer: i for i, layer in enumerate(_LAYERS)}
_L_INSTR, _L_KNOW, _L_MEM, _L_TASK = _LAYERS
_TRUST_WEIGHTS = tuple(TRUST_WEIGHT[t] for t in sorted(Trust))  # indexed by the trust's value
_HISTORY_MIN_RECENCY = 0.25
_NO_QUERY_RELEVANCE = 0.5
_TASK_RELEVANCE = 1.0
_MAX_IDS_SHOWN = 20
_NO_CAP = 1 << 62
_POOL_CACHE_SIZE = 8
_SPOTLIT_ROLES = (None, "tool")
_ACTION_NAMES = ("dropped", "included", "truncated", "dropped")  # by per-call state
_BY_KEY = attrgetter("key")
_BY_COST = attrgetter("cost")
_BY_DENSITY = attrgetter("density")
_MAX_SLICED = 64  # long items sliced per call (the best-scoring ones)


@dataclass(frozen=True)
class PackedContext:
    """The result of packing: what goes to the model and why.

    Attributes:
        items: the included items in window order (cut items as cut copies).
        messages: the rendered, valid LangChain message list.
        report: the account of every candidate.
    """

    items: list[ContextItem]
    messages: list[BaseMessage]
    report: ContextReport

    def to_text(self) -> str:
        """The window as plain text, one ``role: content`` section per message."""
        parts = []
        for m in self.messages:
            text = m.content if isinstance(m.content, str) else str(m.content)
            extra = ""
            if isinstance(m, AIMessage) and m.tool_calls:
                calls = ", ".join(f"{c['name']}({c.get('args', {})})" for c in m.tool_calls)
                extra = f"\n[tool calls: {calls}]"
            parts.append(f"{m.type}: {text}{extra}")
        return "\n\n".join(parts)


class _Static:
    """What one item contributes independently of the call; cached per item object."""

    __slots__ = (
        "base_utility",
        "body",
        "call_ids",
        "can_cut",
        "cost",
        "fixed_relevance",
        "id",
        "is_block",
        "item",
        "layer",
        "linked",
        "message",
        "pinned",
        "result_of",
        "section",
        "user_turn",
        "wrapper",
    )

    def __init__(self, item: ContextItem) -> None:
        # Enum members are compared by identity and indexed through module constants: hashing an
        # Enum member runs Python code, and this runs once per new candidate.
        self.item = item
        self.id = item.id
        layer = item.layer
        role = item.role
        message = item.message
        # the layer's index and the section of the window the item renders in
        if layer is _L_INSTR:
            self.layer, section = 0, _INSTR
        elif layer is _L_KNOW:
            self.layer, section = 1, _KNOW
        elif layer is _L_MEM:
            self.layer = 2
            section = _HIST if message is not None or role is not None else _MEM
        else:
            self.layer, section = 3, _TASK
        self.section = section
        self.is_block = section <= _MEM
        pinned = self.pinned = item.pinned
        # as ContextItem.can_truncate (a test checks they agree)
        if pinned or layer is _L_INSTR:
            self.can_cut = False
        elif item.truncatable is not None:
            self.can_cut = item.truncatable
        else:
            self.can_cut = layer is _L_KNOW or role == "tool"
        p = item.priority
        weight = _TRUST_WEIGHTS[item.trust]
        if p:
            p = min(max(p, -400), 400)  # 2**200 keeps the float finite
            self.base_utility = (2.0 ** (p / 2.0)) * weight
        else:
            self.base_utility = weight
        self.user_turn = section == _TASK and role == "user"
        self.fixed_relevance = item.relevance
        call_ids: tuple[str, ...] = ()
        result_of: str | None = None
        if message is not None:
            if isinstance(message, AIMessage) and message.tool_calls:
                call_ids = tuple(str(c["id"]) for c in message.tool_calls if c.get("id"))
            elif isinstance(message, ToolMessage):
                result_of = message.tool_call_id
        self.call_ids = call_ids
        self.result_of = result_of
        self.linked = bool(call_ids) or result_of is not None or bool(item.group)
        # A block's rendered text; None until first rendered (only blocks that go in need it).
        self.body: str | None = ""
        self.message: BaseMessage | None = None
        self.cost = 0
        self.wrapper = 0  # tokens of the item beyond its (stripped) content


class _Call:
    """Per-call working state: one slot per candidate, indexed like the candidates."""

    __slots__ = (
        "cut_body",
        "cut_cost",
        "cut_item",
        "cut_message",
        "reason",
        "relevance",
        "required",
        "slice_text",
        "state",
        "utility",
    )

    def __init__(self, n: int) -> None:
        self.state = [_NONE] * n
        self.reason = [""] * n
        self.relevance = [0.0] * n
        self.utility = [0.0] * n
        self.required = [False] * n
        self.slice_text: dict[int, str] = {}
        self.cut_cost: dict[int, int] = {}
        self.cut_body: dict[int, str] = {}
        self.cut_message: dict[int, BaseMessage] = {}
        self.cut_item: dict[int, ContextItem] = {}


class _Unit:
    """A group of candidates that go in together (a single item, or a tool-call group)."""

    __slots__ = ("cost", "density", "key", "layer", "members", "required", "slice", "utility")

    def __init__(
        self, members: list[int], statics: list[_Static], call: _Call, slice_tokens: int
    ) -> None:
        self.members = members
        first = statics[members[0]]
        if len(members) == 1:
            cost = self.cost = first.cost
            utility = self.utility = call.utility[members[0]]
            required = self.required = call.required[members[0]]
            self.key = first.id
            self.layer = first.layer
            if first.can_cut and not required and cost > slice_tokens:
                self.slice = slice_tokens
                self.density = utility / slice_tokens  # slice_tokens >= 4 * min_cut_tokens
            else:
                self.slice = 0
                self.density = utility / (cost or 1)  # as max(cost, 1): costs are >= 0
            return
        self.cost = sum(statics[i].cost for i in members)
        utility = max(call.utility[i] for i in members)
        self.required = any(call.required[i] for i in members)
        self.key = min(statics[i].id for i in members)
        layers = {statics[i].layer for i in members}
        self.layer = first.layer if len(layers) == 1 else -1
        cuttable = False
        # A long item that may be cut is offered as its best slice: it is worth that slice, so its
        # density is measured on it rather than on the whole text.
        self.slice = slice_tokens if cuttable and self.cost > slice_tokens else 0
        self.utility = utility
        self.density = utility / max(self.slice or self.cost, 1)

    def whole(self) -> None:
        """Offer the unit whole again (no slice)."""
        self.slice = 0
        self.density = self.utility / max(self.cost, 1)


def _make_units(
    units: list[list[int]], statics: list[_Static], call: _Call, slice_tokens: int
) -> list[_Unit]:
    """The `_Unit` of each member list; single items (most of them) without an ``__init__`` call."""
    out: list[_Unit] = []
    append = out.append
    utility, required = call.utility, call.required
    new = object.__new__
    for members in units:
        if len(members) != 1:
            append(_Unit(members, statics, call, slice_tokens))
            continue
        i = members[0]
        st = statics[i]
        u = new(_Unit)
        u.members = members
        cost = u.cost = st.cost
        value = u.utility = utility[i]
        req = u.required = required[i]
        u.key = st.id
        u.layer = st.layer
        if st.can_cut and not req and cost > slice_tokens:  # as in _Unit.__init__
            u.slice = slice_tokens
            u.density = value / slice_tokens
        else:
            u.slice = 0
            u.density = value / (cost or 1)
        append(u)
    return out


class ContextPacker:
    """Packs context items from the four layers into a budgeted LangChain message list.

    The packer is pure and thread-safe: it keeps only caches (token counts, rendered blocks, term
    statistics), so one instance can serve concurrent calls; reuse it across turns for warm caches.

    Args:
        policy: the `BudgetPolicy`.
        counter: a `TokenCounter`; None for the exact offline ``cl100k_base`` counter.
        spotlight: a `Spotlighter`, True for one with a fresh per-instance secret, or False to
            render untrusted content without markers.
        tokenizer: the relevance tokenizer (shared with `BM25KnowledgeRetriever`).
        cache_size: entries kept in the per-item render cache.

    Example:
        ```python
        from langchain_core.messages import HumanMessage

        packer = ContextPacker(BudgetPolicy(2000, reserve_output=500))
        packed = packer.pack(
            [
                ContextItem(content="You are a support agent.", layer=Layer.INSTRUCTIONS),
                ContextItem(content="Refunds take 5 days.", layer=Layer.KNOWLEDGE),
                ContextItem.from_message(
                    HumanMessage("How long do refunds take?"), layer=Layer.TASK
                ),
            ],
            query="How long do refunds take?",
        )
        [m.type for m in packed.messages]  # ['system', 'human']
        print(packed.report)  # a table: every candidate, its action, tokens and reason
        ```
    """

    def __init__(
        self,
        policy: BudgetPolicy,
        counter: TokenCounter | None = None,
        *,
        spotlight: Spotlighter | bool = True,
        tokenizer: Tokenizer = DEFAULT_TOKENIZER,
        cache_size: int = 65536,
    ) -> None:
        """Create a packer."""
        from langchain_ctxorch.budget import BudgetPolicy  # noqa: PLC0415 - runtime check only

        self.policy = ensure_instance(policy, BudgetPolicy, "policy")
        self.counter: TokenCounter = counter if counter is not None else get_token_counter()
        if isinstance(spotlight, Spotlighter):
            self.spotlighter = spotlight
        else:
            self.spotlighter = Spotlighter(enabled=bool(spotlight))
        self.tokenizer = tokenizer
        self._terms = TermCache(tokenizer)
        self._sentences = SentenceCache()
        self._additive = isinstance(self.counter, (TiktokenCounter, ApproximateCounter))
        self._statics: BoundedCache[int, _Static] = BoundedCache(cache_size, 1 << 26)
        self._pools: BoundedCache[tuple[int, ...], tuple[tuple[ContextItem, ...], BM25Pool]] = (
            BoundedCache(_POOL_CACHE_SIZE)
        )
        count = self.counter.count
        self._count_line = getattr(self.counter, "count_shape", count)
        self._system_frame = self._count_message(SystemMessage(""))
        self._priming = int(getattr(self.counter, "reply_priming", 0))
        note = self.spotlighter.note
        self._note_cost = count(note + BLOCK_SEPARATOR) if note else 0
        self._header_cost = {s: count(h + BLOCK_SEPARATOR) for s, h in _HEADERS.items()}
        available = policy.available
        self._soft = [policy.soft_cap(layer) for layer in _LAYERS]
        self._hard = [policy.hard_cap(layer) for layer in _LAYERS]
        self._soft_room0 = [_NO_CAP if c is None else c for c in self._soft]
        self._hard_room0 = [_NO_CAP if c is None else c for c in self._hard]
        self._slice_tokens = max(4 * policy.min_cut_tokens, available // 8)
        self._marker_costs = self._constant_marker_costs()

    # ------------------------------------------------------------------ item preparation

    def _count_message(self, message: BaseMessage) -> int:
        count_message = getattr(self.counter, "count_message", None)
        if count_message is not None:
            return int(count_message(message))
        return int(self.counter.count_messages([message]))

    def _block_body(
        self, item: ContextItem, content: str, *, measure: bool = True
    ) -> tuple[str, int, int]:
        """An item's block, its tokens followed by the block separator, and its content's share.

        With ``measure=False`` only the block is made (``(block, 0, 0)``).

        The block's lines are counted one by one, each with its newline: every line but the
        first starts with a non-space character, so tiktoken never merges across them and the sum
        is exact (a property test checks it). Spotlight markers cost the same for every tag and
        are counted once per packer. Returns ``("", 0, 0)`` when there is no content.
        """
        text = content.strip()
        if not text:
            return "", 0, 0
        count = self.counter.count
        source = f"source: {item.source}" if item.layer is not _L_INSTR and item.source else ""
        spotlit = self.spotlighter.applies_to(item)
        if spotlit:
            lines = (
                self.spotlighter.wrap_lines(text, source)
                if source
                else (self.spotlighter.wrap_lines(text))
            )
        else:
            lines = [source, text] if source else [text]
        body = "\n".join(lines)
        if not measure:
            return body, 0, 0
        if not self._additive:
            return body, count(body + BLOCK_SEPARATOR), count(text)
        markers = self._marker_costs
        if spotlit and markers is not None:
            own = count(text + "\n")
            cost = markers[0] + markers[1] + own
            return body, cost + (self._count_line(source + "\n") if source else 0), own
        if spotlit:
            own = count(text + "\n")
            cost = sum(count(line + "\n") for line in lines[:-1])
            return body, cost + count(lines[-1] + BLOCK_SEPARATOR), own
        own = count(text + BLOCK_SEPARATOR)
        return body, own + (self._count_line(source + "\n") if source else 0), own

    def _prepare_blocks(self, blocks: list[_Static]) -> None:
        """Set the cost and wrapper of new block items; their text is rendered later, if needed.

        Same accounting as `_block_body`, but the tag (a MAC over the text) and the joined block
        are only made for blocks that are rendered: their tokens do not depend on the tag. The
        contents are counted in one `count_many` call; each ``source:`` line by its shape (see
        `TiktokenCounter.count_shape`), so lines that differ only in numbers are encoded once.
        """
        markers = self._marker_costs
        additive = self._additive
        spotlighter = self.spotlighter
        applies_to = spotlighter.applies_to
        # Spotlighter.applies_to, inlined unless a subclass may have changed it
        inline = type(spotlighter) is Spotlighter
        enabled, max_trust = spotlighter.enabled, spotlighter.max_trust
        marker_cost = markers[0] + markers[1] if markers is not None else 0
        lazy: list[_Static] = []
        keys: list[str] = []
        lines: list[str] = []  # the source lines of the lazy blocks that have one
        lined: list[_Static] = []
        for st in blocks:
            item = st.item
            text = item.content.strip()
            if inline:
                spotlit = (
                    enabled
                    and item.trust <= max_trust
                    and item.layer is not _L_INSTR
                    and item.role in _SPOTLIT_ROLES
                )
            else:
                spotlit = applies_to(item)
            if not text or not additive or (spotlit and markers is None):
                st.body, st.cost, own = self._block_body(item, text)
                st.wrapper = st.cost - own
                continue
            if spotlit:
                wrapper = marker_cost
                keys.append(text + "\n")
            else:
                wrapper = 0
                keys.append(text + BLOCK_SEPARATOR)
            source = item.source
            if source and item.layer is not _L_INSTR:
                lines.append("source: " + source + "\n")
                lined.append(st)
            st.body = None
            st.wrapper = wrapper
            lazy.append(st)
        if lines:
            count_shapes = getattr(self.counter, "count_shapes", None)
            counts = count_shapes(lines) if count_shapes else [self._count_line(t) for t in lines]
            for st, n in zip(lined, counts, strict=True):
                st.wrapper += n
        if lazy:
            count_many = getattr(self.counter, "count_many", None)
            owns = count_many(keys) if count_many else [self.counter.count(k) for k in keys]
            for st, own in zip(lazy, owns, strict=True):
                st.cost = own + st.wrapper

    def _body(self, st: _Static) -> str:
        """A block's rendered text (made on first use, then kept)."""
        body = st.body
        if body is None:
            body = st.body = self._block_body(st.item, st.item.content, measure=False)[0]
        return body

    def _constant_marker_costs(self) -> tuple[int, int] | None:
        """Tokens of an opening marker line and a closing marker + separator, if constant."""
        if not (self._additive and self.spotlighter.enabled):
            return None
        count = self.counter.count
        seen = set()
        for sample in ("000000000000", "987654321098", "123456789012", "500050005000"):
            opening, closing = (m.replace("{tag}", sample) for m in MARKER_FORMATS)
            seen.add((count(opening + "\n"), count(closing + BLOCK_SEPARATOR)))
        return seen.pop() if len(seen) == 1 else None

    def _render_message(self, item: ContextItem, content: str | None = None) -> BaseMessage:
        message = item.to_message()
        spotlit = self.spotlighter.applies_to(item) and isinstance(message.content, str)
        if content is None and not spotlit:
            return message
        text = message.content if content is None else content
        if not isinstance(text, str):  # pragma: no cover - guarded above
            return message
        if spotlit:
            text = self.spotlighter.wrap(text.strip())
        return message.model_copy(update={"content": text})

    def _statics_for(self, items: Iterable[ContextItem]) -> list[_Static]:
        cache = self._statics
        lookup = cache.lookup
        found: list[_Static | None] = []
        missed: list[int] = []  # positions in found of the items without a cached _Static
        missed_items: list[ContextItem] = []
        for item in items:
            hit = lookup(id(item))
            if hit is not None and hit.item is item:
                found.append(hit)
                continue
            candidate: object = item  # items are checked here, not trusted by their type
            if not isinstance(candidate, ContextItem):
                ensure_instance(
                    candidate,
                    ContextItem,
                    f"items[{len(found)}]",
                    "; convert documents with ContextItem.from_document, messages with "
                    "from_message",
                )
            missed.append(len(found))
            missed_items.append(item)
            found.append(None)
        if not missed:
            return found  # type: ignore[return-value]  # every slot is filled
        fresh = [_Static(item) for item in missed_items]
        blocks = [st for st in fresh if st.is_block]
        if len(blocks) < len(fresh):
            for st in fresh:
                if not st.is_block:
                    st.message = self._render_message(st.item)
                    st.cost = self._count_message(st.message)
                    st.wrapper = st.cost - self.counter.count(st.item.content.strip())
        if blocks:
            self._prepare_blocks(blocks)
        cache.put_many(
            [id(item) for item in missed_items],
            fresh,
            [2 * len(item.content) + 64 for item in missed_items],
        )
        if len(fresh) == len(found):  # all new (a cold call): same order
            return fresh
        for idx, st in zip(missed, fresh, strict=True):
            found[idx] = st
        return found  # type: ignore[return-value]  # every slot is filled

    # ------------------------------------------------------------------ main entry point

    def pack(
        self,
        items: Iterable[ContextItem],
        *,
        query: str | None = None,
        quarantined: Sequence[Quarantined] = (),
    ) -> PackedContext:
        """Choose, order and render the items that fit the budget.

        Args:
            items: the candidates from all four layers.
            query: the current request, for relevance scoring and extractive cuts.
            quarantined: records produced by a poison filter; they are accounted in the report.

        Returns:
            A `PackedContext` whose ``messages`` never exceed ``policy.available`` tokens by this
            packer's counter, and whose report has one decision per candidate.

        Raises:
            BudgetExceededError: the required items (pinned, instructions, current user turn)
                alone exceed the budget.
            TypeError: a candidate is not a `ContextItem` (or a record not `Quarantined`).
            ValueError: two candidates share an id.
        """
        statics = self._statics_for(items)
        records = self._validate(statics, quarantined)
        call = _Call(len(statics))
        units = self._build_units(statics, call, records)
        terms = self.tokenizer(query) if query else []
        self._score(statics, call, terms)
        unit_objs = _make_units(units, statics, call, self._slice_tokens)
        fill = _Fill(self, statics, call)
        self._select(unit_objs, fill, terms)
        messages, ordered, prefix, used = self._render(statics, call)
        while used > self.policy.available:  # repair: only for non-additive counters
            victim = min(
                (
                    u
                    for u in unit_objs
                    if not u.required and call.state[u.members[0]] in (_IN, _CUT)
                ),
                key=lambda u: (u.density, u.key),
                default=None,
            )
            if victim is None:  # pragma: no cover - required items were checked to fit
                break
            for i in victim.members:
                call.state[i] = _OUT
                call.reason[i] = "dropped after the final recount exceeded the budget"
            messages, ordered, prefix, used = self._render(statics, call)
        return self._finish(statics, call, records, messages, ordered, prefix, used)

    # ------------------------------------------------------------------ steps

    def _validate(
        self, statics: list[_Static], quarantined: Sequence[Quarantined]
    ) -> list[Quarantined]:
        ids = {st.id for st in statics}
        if len(ids) != len(statics):
            seen: set[str] = set()
            for st in statics:
                if st.id in seen:
                    msg = (
                        f"two candidates share the id {st.id!r}; ids must be unique within one "
                        "pack call (give one another id, or use ContextItem.from_messages)"
                    )
                    raise ValueError(msg)
                seen.add(st.id)
        records = list(quarantined)
        for i, rec in enumerate(records):
            ensure_instance(rec, Quarantined, f"quarantined[{i}]")
            if rec.item.id in ids:
                msg = (
                    f"the quarantined item {rec.item.id!r} is also a candidate; pass each item "
                    "either in items or in quarantined, not both"
                )
                raise ValueError(msg)
            ids.add(rec.item.id)
        if len(ids) != len(statics) + len(records):
            msg = "two quarantine records share an item id; each candidate may appear once"
            raise ValueError(msg)
        return records

    def _build_units(
        self, statics: list[_Static], call: _Call, records: list[Quarantined]
    ) -> list[list[int]]:
        n = len(statics)
        state, reason = call.state, call.reason
        linked = [i for i, st in enumerate(statics) if st.linked]
        root_of: dict[int, int] = {}
        groups: dict[int, list[int]] = {}
        if linked:
            root_of, bad = _link(statics, linked, records)
            for i in linked:
                groups.setdefault(root_of[i], []).append(i)
            for root, why in bad.items():
                members = groups.pop(root)
                if any(statics[i].pinned for i in members):
                    ids = ", ".join(repr(statics[i].id) for i in members if statics[i].pinned)
                    msg = f"pinned item(s) {ids} cannot be rendered: {why}"
                    raise ValueError(msg)
                for i in members:
                    state[i], reason[i] = _OUT, why
        current = -1
        for i in range(n - 1, -1, -1):
            if statics[i].user_turn and state[i] == _NONE:
                current = i
                break
        required = call.required
        units: list[list[int]] = []
        for i, st in enumerate(statics):
            if state[i] != _NONE:
                continue
            if st.is_block and not st.cost and st.body == "":  # (a lazy body is None)
                state[i], reason[i] = _OUT, "empty content"
                continue
            if st.pinned or st.section == _INSTR or i == current:
                required[i] = True
            if st.linked:
                group = groups.get(root_of[i])
                if group is not None and group[0] == i:
                    units.append(group)
            else:
                units.append([i])
        if not linked:
            return units
        # a group with an empty block member is dropped whole
        for members in units:
            if len(members) > 1 and any(state[i] == _OUT for i in members):
                for i in members:
                    if state[i] == _NONE:
                        state[i], reason[i] = _OUT, "a member of its atomic group is empty"
        return [u for u in units if state[u[0]] == _NONE]

    def _score(self, statics: list[_Static], call: _Call, terms: list[str]) -> None:
        relevance = call.relevance
        utility = call.utility
        state = call.state
        pool: list[int] = []
        history: list[int] = []
        for i, st in enumerate(statics):
            section = st.section
            fixed = st.fixed_relevance
            if fixed is not None:
                r = fixed
            elif section in (_TASK, _INSTR):
                r = _TASK_RELEVANCE
            elif terms and section in (_KNOW, _MEM) and state[i] == _NONE:
                pool.append(i)
                continue
            else:
                r = _NO_QUERY_RELEVANCE
            relevance[i] = r
            utility[i] = st.base_utility * (0.02 + r * r)
            if section == _HIST:
                history.append(i)
        if pool:
            self._bm25(statics, call, pool, terms)
            for i in pool:
                r = relevance[i]
                utility[i] = statics[i].base_utility * (0.02 + r * r)
        span = max(len(history) - 1, 1)
        for pos, i in enumerate(history):
            utility[i] *= _HISTORY_MIN_RECENCY + (1 - _HISTORY_MIN_RECENCY) * pos / span

    def _bm25(self, statics: list[_Static], call: _Call, pool: list[int], terms: list[str]) -> None:
        key = tuple(id(statics[i].item) for i in pool)
        hit = self._pools.get(key)
        if hit is not None and all(a is statics[i].item for a, i in zip(hit[0], pool, strict=True)):
            bm25 = hit[1]
        else:
            bm25 = BM25Pool([statics[i].item.content for i in pool], cache=self._terms)
            self._pools.put(key, (tuple(statics[i].item for i in pool), bm25))
        raw = bm25.scores(terms)
        pool_pos = {i: n for n, i in enumerate(pool)}
        best = max(raw)
        relevance = call.relevance
        if best <= 0:
            for i in pool:
                relevance[i] = 0.0
            return
        slice_tokens = self._slice_tokens
        long_hits = sorted(
            (i for i, s in zip(pool, raw, strict=True) if s > 0 and statics[i].cost > slice_tokens),
            key=lambda i: -raw[pool_pos[i]],
        )[:_MAX_SLICED]
        for i, s in zip(pool, raw, strict=True):
            relevance[i] = s / best
        # A long item is judged by its best slice: BM25's length normalisation would otherwise
        # bury the one relevant paragraph of a long document. Only the best-scoring long items
        # that matched the query at all are sliced.
        for i in long_hits:
            st = statics[i]
            if st.can_cut:
                text = cut_text(
                    st.item.content,
                    slice_tokens,
                    self.counter,
                    query_terms=terms,
                    cache=self._sentences,
                )
                if text:
                    call.slice_text[i] = text
                    sliced = min(1.0, bm25.score_text(terms, text) / best)
                    relevance[i] = max(relevance[i], sliced)

    def _select(self, units: list[_Unit], fill: _Fill, terms: list[str]) -> None:
        call = fill.call
        required = [u for u in units if u.required]
        for u in required:
            for i in u.members:
                fill.take(i, fill.statics[i].cost)
                call.state[i] = _IN
                call.reason[i] = _required_reason(fill.statics[i])
        if fill.used > self.policy.available:
            self._raise_budget(required, fill)
        rest = [u for u in units if not u.required]
        total = fill.used + sum(map(_BY_COST, rest))
        if (
            total <= fill.available
            and total + fill.fixed_for([i for u in rest for i in u.members]) <= fill.available
        ):
            for u in rest:  # an under-supplied window: nothing needs to be sliced
                if u.slice:
                    u.whole()
        # by density, best first, ties by key (two stable C-level sorts, no key tuples)
        rest.sort(key=_BY_KEY)
        rest.sort(key=_BY_DENSITY, reverse=True)
        # 1. per-layer minimums
        for layer, li in _LAYER_INDEX.items():
            minimum = self.policy.layer_budget(layer).min_tokens
            if not minimum:
                continue
            for u in rest:
                if fill.layer_used[li] >= minimum:
                    break
                if call.state[u.members[0]] != _NONE or all(
                    fill.statics[i].layer != li for i in u.members
                ):
                    continue
                fill.try_add(u, soft=False, terms=terms, reason="reserved by the layer minimum")
        # 2. fill within the soft shares, 3. spill what is left within the hard caps
        # (below `stop` tokens of room no unit fits whole and no cut fits: a pass ends there)
        stop = min(fill.min_cut, min(map(_BY_COST, rest), default=0))
        for soft in (True, False):
            fill.run(rest, soft=soft, terms=terms, stop=stop)
        # 4. room left: sliced items grow back to whole where they now fit
        for u in rest:
            if u.slice and call.state[u.members[0]] == _CUT:
                fill.upgrade(u)
        state, reason, hard_room = call.state, call.reason, fill.hard_room
        over_budget = fill.over_budget()  # the room left no longer changes
        for u in rest:
            members = u.members
            if state[members[0]] == _NONE:
                if len(members) == 1 and u.layer >= 0 and hard_room[u.layer] >= u.cost:
                    why = over_budget
                else:
                    why = fill.why_not(u)
                for i in members:
                    state[i] = _OUT
                    reason[i] = why

    def _raise_budget(self, required: list[_Unit], fill: _Fill) -> None:
        per_layer = {_LAYERS[i].value: n for i, n in enumerate(fill.layer_used) if n}
        detail = ", ".join(f"{k}={v}" for k, v in per_layer.items()) or "no content"
        msg = (
            f"the required items (pinned, instructions, current user turn) need {fill.used} "
            f"tokens ({detail}, plus {fill.used - sum(per_layer.values())} of message framing) "
            f"but only {self.policy.available} are available (max_tokens="
            f"{self.policy.max_tokens} - reserve_output={self.policy.reserve_output}); raise "
            "max_tokens, lower reserve_output, or unpin some items"
        )
        ids = [fill.statics[i].id for u in required for i in u.members]
        shown = ", ".join(ids[:_MAX_IDS_SHOWN]) + ("…" if len(ids) > _MAX_IDS_SHOWN else "")
        raise BudgetExceededError(
            msg + f" (required ids: {shown})",
            available=self.policy.available,
            required=fill.used,
            tokens_by_layer=per_layer,
        )

    def _render(
        self, statics: list[_Static], call: _Call
    ) -> tuple[list[BaseMessage], list[ContextItem], str, int]:
        state = call.state
        sections: list[list[int]] = [[], [], [], [], []]
        for i, s in enumerate(state):
            if s in (_IN, _CUT):
                sections[statics[i].section].append(i)
        instructions, knowledge, memories, history, task = sections
        relevance, utility = call.relevance, call.utility
        knowledge.sort(key=lambda i: (-relevance[i], -utility[i], statics[i].id))
        if self.policy.knowledge_order == "edges":
            knowledge = knowledge[0::2] + knowledge[1::2][::-1]
        memories.sort(key=lambda i: (-relevance[i], statics[i].id))
        count = self.counter.count
        cut_body, cut_cost = call.cut_body, call.cut_cost
        bodies: list[str] = []
        costs: list[int] = []
        for i in instructions:
            bodies.append(cut_body[i] if i in cut_body else self._body(statics[i]))
            costs.append(statics[i].cost)
        note = self.spotlighter.note
        if note and (bodies or knowledge or memories):
            bodies.append(note)
            costs.append(self._note_cost)
        prefix = BLOCK_SEPARATOR.join(bodies)
        for section, members in ((_KNOW, knowledge), (_MEM, memories)):
            if members:
                bodies.append(_HEADERS[section])
                costs.append(self._header_cost[section])
                for i in members:
                    if state[i] == _CUT:
                        bodies.append(cut_body[i])
                        costs.append(cut_cost[i])
                    else:
                        bodies.append(self._body(statics[i]))
                        costs.append(statics[i].cost)
        messages: list[BaseMessage] = []
        ordered = [self._item(statics, call, i) for i in instructions + knowledge + memories]
        used = 0
        if bodies:
            messages.append(SystemMessage(BLOCK_SEPARATOR.join(bodies)))
            used += self._system_frame + sum(costs) - costs[-1] + count(bodies[-1])
        for i in history + task:
            if state[i] == _CUT:
                messages.append(call.cut_message[i])
                used += cut_cost[i]
            else:
                message = statics[i].message
                assert message is not None  # noqa: S101 - message sections always have one
                messages.append(message)
                used += statics[i].cost
            ordered.append(self._item(statics, call, i))
        if messages:
            used += self._priming
        if not self._additive:
            used = int(self.counter.count_messages(messages))
        return messages, ordered, prefix, used

    @staticmethod
    def _item(statics: list[_Static], call: _Call, i: int) -> ContextItem:
        return call.cut_item[i] if call.state[i] == _CUT else statics[i].item

    def _finish(
        self,
        statics: list[_Static],
        call: _Call,
        records: list[Quarantined],
        messages: list[BaseMessage],
        ordered: list[ContextItem],
        prefix: str,
        used: int,
    ) -> PackedContext:
        state, reason, cut_cost = call.state, call.reason, call.cut_cost
        new = tuple.__new__  # Decision(...) without the NamedTuple's Python-level __new__
        layers_of = _LAYERS
        decisions: list[Decision] = [
            new(Decision, (st.id, layers_of[st.layer], _ACTION_NAMES[s], why, st.cost))
            for st, s, why in zip(statics, state, reason, strict=True)
        ]
        layer_of = [st.layer for st in statics]
        layer_cands = [layer_of.count(li) for li in range(4)]
        layer_used = [0, 0, 0, 0]
        layer_in = [0, 0, 0, 0]
        for i, s in enumerate(state):
            if s == _IN:
                li = layer_of[i]
                layer_used[li] += statics[i].cost
                layer_in[li] += 1
            elif s == _CUT:
                li = layer_of[i]
                tokens = cut_cost[i]
                decisions[i] = decisions[i]._replace(tokens=tokens)
                layer_used[li] += tokens
                layer_in[li] += 1
        count = self.counter.count
        for rec in records:
            layer = rec.item.layer
            layer_cands[_LAYER_INDEX[layer]] += 1
            decisions.append(
                Decision(rec.item.id, layer, "quarantined", rec.reason, count(rec.item.content))
            )
        layers = {
            layer: LayerUsage(
                used=layer_used[li],
                limit=self._hard[li],
                candidates=layer_cands[li],
                included=layer_in[li],
            )
            for li, layer in enumerate(_LAYERS)
        }
        report = ContextReport(
            budget=self.policy.available,
            used=used,
            layers=layers,
            decisions=decisions,
            quarantined=records,
            prefix_hash=_digest(prefix),
            prefix_tokens=count(prefix),
            overhead=used - sum(layer_used),
            max_tokens=self.policy.max_tokens,
            reserve_output=self.policy.reserve_output,
            counter=repr(self.counter),
            exact=bool(getattr(self.counter, "exact", True)),
        )
        return PackedContext(items=ordered, messages=messages, report=report)


class _Fill:
    """Running totals of one fill, with the window's fixed costs added as they arise."""

    def __init__(self, packer: ContextPacker, statics: list[_Static], call: _Call) -> None:
        self.packer = packer
        self.statics = statics
        self.call = call
        self.available = packer.policy.available
        self.min_cut = packer.policy.min_cut_tokens
        self.used = 0
        self.layer_used = [0, 0, 0, 0]
        self.soft_room = list(packer._soft_room0)  # noqa: SLF001
        self.hard_room = list(packer._hard_room0)  # noqa: SLF001
        self.started = False
        self.system_open = False
        self.header_open = {_KNOW: False, _MEM: False}
        self._over_budget_left = -1
        self._over_budget = ""

    # -- accounting
    def fixed_for(self, members: Sequence[int]) -> int:
        """Tokens the window's framing grows by when ``members`` are added."""
        packer = self.packer
        extra = 0 if self.started else packer._priming  # noqa: SLF001
        opened_system = self.system_open
        headers = 0
        for i in members:
            st = self.statics[i]
            if st.is_block:
                if not opened_system:
                    extra += packer._system_frame + packer._note_cost  # noqa: SLF001
                    opened_system = True
                section = st.section
                if section != _INSTR and not self.header_open[section] and not (headers & section):
                    extra += packer._header_cost[section]  # noqa: SLF001
                    headers |= section
        return extra

    def take(self, i: int, tokens: int) -> None:
        """Account candidate ``i`` with ``tokens`` tokens."""
        self.used += tokens + self.fixed_for((i,))
        self.started = True
        st = self.statics[i]
        if st.is_block:
            self.system_open = True
            if st.section != _INSTR:
                self.header_open[st.section] = True
        li = st.layer
        self.layer_used[li] += tokens
        self.soft_room[li] -= tokens
        self.hard_room[li] -= tokens

    def untake(self, i: int, tokens: int) -> None:
        """Give back the ``tokens`` candidate ``i`` was accounted with (framing stays)."""
        self.used -= tokens
        li = self.statics[i].layer
        self.layer_used[li] -= tokens
        self.soft_room[li] += tokens
        self.hard_room[li] += tokens

    def upgrade(self, unit: _Unit) -> None:
        """Replace a sliced single item by the whole item when the room left allows it."""
        i = unit.members[0]
        call = self.call
        cut = call.cut_cost[i]
        extra = unit.cost - cut
        if self.used + extra > self.available or self.hard_room[unit.layer] < extra:
            return
        self.untake(i, cut)
        self.take(i, unit.cost)
        call.state[i] = _IN
        call.reason[i] = "selected whole: the room left allowed it"
        for cache in (call.cut_cost, call.cut_body, call.cut_message, call.cut_item):
            cache.pop(i, None)

    def fits(self, unit: _Unit, *, soft: bool) -> bool:
        """Whether ``unit`` fits whole in the window and its layers' rooms."""
        if self.used + self.fixed_for(unit.members) + unit.cost > self.available:
            return False
        rooms = self.soft_room if soft else self.hard_room
        if unit.layer >= 0:
            return unit.cost <= rooms[unit.layer]
        per_layer = [0, 0, 0, 0]
        for i in unit.members:
            st = self.statics[i]
            per_layer[st.layer] += st.cost
        return all(n <= rooms[li] for li, n in enumerate(per_layer))

    def run(self, units: list[_Unit], *, soft: bool, terms: Sequence[str], stop: int = 0) -> None:
        """One fill pass over ``units`` in density order, until less than ``stop`` tokens are left.

        ``stop`` must be at most ``min_cut`` and at most the cost of every unit left.
        """
        state = self.call.state
        statics = self.statics
        min_cut = self.min_cut
        available = self.available
        reason = "selected by utility" if soft else "selected (spill-over)"
        rooms = self.soft_room if soft else self.hard_room
        left = available - self.used
        for u in units:
            members = u.members
            if state[members[0]] != _NONE:
                continue
            if left <= 0 or left < stop:
                break
            room = left
            layer = u.layer
            if layer >= 0 and rooms[layer] < room:
                room = rooms[layer]
            if u.cost > room:
                # it could only go in cut: no cut fits in less than min_cut tokens, and a single
                # item is skipped when it may not be cut or the room cannot hold its wrapper
                # plus a minimum cut
                if room < min_cut:
                    continue
                if len(members) == 1:
                    first = statics[members[0]]
                    if not first.can_cut or room < min_cut + first.wrapper:
                        continue
            self.try_add(u, soft=soft, terms=terms, reason=reason)
            left = available - self.used

    def try_add(self, unit: _Unit, *, soft: bool, terms: Sequence[str], reason: str) -> bool:
        """Add ``unit`` whole if it fits, else cut its cuttable members to the room left."""
        if not unit.slice and self.fits(unit, soft=soft):
            state, reasons = self.call.state, self.call.reason
            for i in unit.members:
                self.take(i, self.statics[i].cost)
                state[i] = _IN
                reasons[i] = reason
            return True
        return self._try_cut(unit, soft=soft, terms=terms)

    def _try_cut(self, unit: _Unit, *, soft: bool, terms: Sequence[str]) -> bool:
        statics, call = self.statics, self.call
        cuttable = [i for i in unit.members if statics[i].can_cut and not call.required[i]]
        if not cuttable:
            return False
        fixed_members = [i for i in unit.members if i not in cuttable]
        fixed = sum(statics[i].cost for i in fixed_members)
        room = self.available - self.used - self.fixed_for(unit.members) - fixed
        if unit.slice:
            room = min(room, unit.slice)
        rooms = self.soft_room if soft else self.hard_room
        for li in {statics[i].layer for i in cuttable}:
            layer_fixed = sum(statics[i].cost for i in fixed_members if statics[i].layer == li)
            room = min(room, rooms[li] - layer_fixed)
        if room < self.min_cut * len(cuttable):
            return False
        total = sum(statics[i].cost for i in cuttable)
        plans: list[tuple[int, int, str, BaseMessage | None, ContextItem]] = []
        remaining = room
        for n, i in enumerate(cuttable):
            share = remaining if n == len(cuttable) - 1 else room * statics[i].cost // max(total, 1)
            planned = self._cut(i, share, terms)
            if planned is None:
                return False
            cost, body, message, item = planned
            remaining -= cost
            plans.append((i, cost, body, message, item))
        if remaining < 0:
            return False
        for i, cost, body, message, item in plans:
            call.cut_cost[i] = cost
            if statics[i].is_block:
                call.cut_body[i] = body
            elif message is not None:
                call.cut_message[i] = message
            call.cut_item[i] = item
        for i in unit.members:
            if i in call.cut_cost:
                self.take(i, call.cut_cost[i])
                call.state[i] = _CUT
                call.reason[i] = f"cut from {statics[i].cost} to {call.cut_cost[i]} tokens to fit"
            else:
                self.take(i, statics[i].cost)
                call.state[i] = _IN
                call.reason[i] = "selected with its cut tool results"
        return True

    def _cut(
        self, i: int, share: int, terms: Sequence[str]
    ) -> tuple[int, str, BaseMessage | None, ContextItem] | None:
        packer = self.packer
        counter = packer.counter
        st = self.statics[i]
        if share < self.min_cut:
            return None
        item = st.item
        target = share - max(st.wrapper, 0)
        sliced = self.call.slice_text.get(i)
        for _ in range(4):
            if target < self.min_cut // 2:
                return None
            if sliced and counter.count(sliced) <= target:
                text = sliced
            else:
                text = cut_text(
                    item.content,
                    target,
                    counter,
                    query_terms=terms,
                    cache=packer._sentences,  # noqa: SLF001
                )
            if not text:
                return None
            cut_item = item.model_copy(
                update={
                    "content": text,
                    "metadata": {**item.metadata, "ctxorch_cut_from_tokens": st.cost},
                }
            )
            if st.is_block:
                body, cost, _ = packer._block_body(item, text)  # noqa: SLF001
                message = None
            else:
                body = ""
                message = packer._render_message(item, text)  # noqa: SLF001
                cost = packer._count_message(message)  # noqa: SLF001
            if cost <= share:
                return cost, body, message, cut_item
            target -= cost - share
            sliced = None
        return None

    def why_not(self, unit: _Unit) -> str:
        """Why ``unit`` stayed out, in words (tokens are in the decision itself)."""
        if unit.layer >= 0 and len(unit.members) == 1 and self.hard_room[unit.layer] >= unit.cost:
            return self.over_budget()
        capped = [
            _LAYERS[li].value
            for li in {self.statics[i].layer for i in unit.members}
            if self.hard_room[li] < unit.cost
        ]
        group = f"atomic group of {len(unit.members)}, " if len(unit.members) > 1 else ""
        if capped:
            return f"over the {', '.join(sorted(capped))} layer cap ({group}{unit.cost} tokens)"
        if group:
            return f"over budget ({group}{unit.cost} tokens, {self.left()} left)"
        return self.over_budget()

    def left(self) -> int:
        """Tokens still free in the window."""
        return max(self.available - self.used, 0)

    def over_budget(self) -> str:
        """The shared reason of single items that did not fit (one string per call)."""
        left = self.left()
        if self._over_budget_left != left:
            self._over_budget_left = left
            self._over_budget = f"over budget ({left} tokens left)"
        return self._over_budget


def _link(
    statics: list[_Static], linked: list[int], records: list[Quarantined]
) -> tuple[dict[int, int], dict[int, str]]:
    """Union the linked candidates into groups; return each one's root and the broken groups."""
    parent = {i: i for i in linked}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    by_group: dict[str, int] = {}
    callers: dict[str, int] = {}
    for i in linked:
        st = statics[i]
        group = st.item.group
        if group is not None:
            if group in by_group:
                union(by_group[group], i)
            else:
                by_group[group] = i
        for call_id in st.call_ids:
            callers[call_id] = i
    answered: set[str] = set()
    orphans: list[tuple[int, str]] = []
    for i in linked:
        result_of = statics[i].result_of
        if result_of is None:
            continue
        caller = callers.get(result_of)
        if caller is None:
            orphans.append((i, result_of))
        else:
            answered.add(result_of)
            union(caller, i)
    quarantined_calls = {
        rec.item.message.tool_call_id
        for rec in records
        if isinstance(rec.item.message, ToolMessage)
    }
    bad: dict[int, str] = {}
    for i, call_id in orphans:
        if statics[i].item.group is None:
            bad[find(i)] = f"orphan tool result: no candidate AIMessage made tool call {call_id!r}"
    for call_id, i in callers.items():
        if call_id not in answered:
            why = "was quarantined" if call_id in quarantined_calls else "is not a candidate"
            bad.setdefault(
                find(i), f"incomplete tool-call group: the result of tool call {call_id!r} {why}"
            )
    return {i: find(i) for i in linked}, bad


def _required_reason(st: _Static) -> str:
    if st.pinned:
        return "pinned"
    if st.section == _INSTR:
        return "instructions are always included"
    return "the current user turn is always included"


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
