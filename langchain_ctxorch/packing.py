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
4. **Score**: relevance (the item's own, else BM25 over the candidate pool when a query is given),
   priority, trust and recency combine into a utility (see `langchain_ctxorch.scoring`).
5. **Fill**: per-layer minimums first, then units by utility per token within each layer's soft
   share, then whatever room is left within the hard caps. A unit that does not fit but may be cut
   (knowledge, tool results) is cut to the room left, keeping its query-relevant sentences.
6. **Render**: one system message that begins with the instructions (the cache-stable prefix),
   then knowledge and long-term memories; then the history in chronological order; then the current
   turn. Untrusted content is spotlighted.
7. **Check**: the rendered messages are measured with the same counter (additively from cached
   per-block counts for tiktoken counters) and never exceed ``max_tokens - reserve_output``.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage

from langchain_ctxorch.errors import BudgetExceededError
from langchain_ctxorch.items import ContextItem, Layer, ensure_instance
from langchain_ctxorch.render import (
    BLOCK_SEPARATOR,
    KNOWLEDGE_HEADER,
    MEMORY_HEADER,
    Spotlighter,
    cut_text,
)
from langchain_ctxorch.report import (
    ContextReport,
    Decision,
    LayerUsage,
    Quarantined,
)
from langchain_ctxorch.scoring import DEFAULT_TOKENIZER, TermCache, Tokenizer, bm25_scores, utility
from langchain_ctxorch.tokens import ApproximateCounter, TiktokenCounter, get_token_counter

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from langchain_ctxorch.budget import BudgetPolicy
    from langchain_ctxorch.tokens import TokenCounter

__all__ = ["ContextPacker", "PackedContext"]

Section = Literal["instructions", "knowledge", "memory", "history", "task"]

_LAYERS = tuple(Layer)
_HISTORY_MIN_RECENCY = 0.25
_NO_QUERY_RELEVANCE = 0.5
_TASK_RELEVANCE = 1.0
_MAX_IDS_SHOWN = 20


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


class _Cand:
    """Per-candidate working state of one pack call."""

    __slots__ = (
        "body",
        "cost",
        "cut_cost",
        "cut_item",
        "idx",
        "item",
        "message",
        "reason",
        "relevance",
        "required",
        "section",
        "state",
        "unit",
        "utility",
    )

    def __init__(self, idx: int, item: ContextItem, section: Section) -> None:
        self.idx = idx
        self.item = item
        self.section = section
        self.body = ""  # block text (blocks) - full, uncut
        self.message: BaseMessage | None = None  # rendered message (message sections)
        self.cost = 0  # tokens in the window, uncut (block + separator, or whole message)
        self.cut_cost = 0  # tokens once cut (0 when not cut)
        self.cut_item: ContextItem | None = None
        self.relevance = 0.0
        self.utility = 0.0
        self.required = False
        self.unit = -1
        self.state = ""  # "", "in", "cut", "out"
        self.reason = ""

    @property
    def is_block(self) -> bool:
        return self.section in ("instructions", "knowledge", "memory")

    @property
    def tokens(self) -> int:
        return self.cut_cost if self.state == "cut" else self.cost


class _Unit:
    __slots__ = ("cands", "cost", "density", "key", "required", "utility")

    def __init__(self, cands: list[_Cand]) -> None:
        self.cands = cands
        self.cost = sum(c.cost for c in cands)
        self.utility = max(c.utility for c in cands)
        self.required = any(c.required for c in cands)
        self.density = self.utility / max(self.cost, 1)
        self.key = min(c.item.id for c in cands)


class _Prepared:
    __slots__ = ("body", "cost", "message", "source")

    def __init__(
        self, body: str, message: BaseMessage | None, cost: int, source: BaseMessage | None
    ) -> None:
        self.body = body
        self.message = message
        self.cost = cost
        self.source = source  # the item's own message, to detect a different message object


class ContextPacker:
    """Packs context items from the four layers into a budgeted LangChain message list.

    The packer is pure and thread-safe: it keeps only caches (token counts, rendered blocks, term
    lists), so one instance can serve concurrent calls; reuse it across turns for warm caches.

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
        self._additive = isinstance(self.counter, (TiktokenCounter, ApproximateCounter))
        self._prepared: dict[tuple[Any, ...], _Prepared] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._system_frame_cost = self._count_message(SystemMessage(""))

    # ------------------------------------------------------------------ counting helpers

    def _count_message(self, message: BaseMessage) -> int:
        count_message = getattr(self.counter, "count_message", None)
        if count_message is not None:
            return int(count_message(message))
        return int(self.counter.count_messages([message]))

    def _system_frame(self) -> int:
        """Tokens of an empty system message's framing."""
        return self._system_frame_cost

    def _priming(self) -> int:
        return int(getattr(self.counter, "reply_priming", 0))

    def _block_body(self, item: ContextItem, content: str) -> str:
        text = content.strip()
        if not text:
            return ""
        if item.layer is not Layer.INSTRUCTIONS and item.source:
            text = f"source: {item.source}\n{text}"
        if self.spotlighter.applies_to(item):
            text = self.spotlighter.wrap(text)
        return text

    def _render_message(self, item: ContextItem, content: str | None = None) -> BaseMessage:
        message = item.to_message()
        if content is None and not (
            self.spotlighter.applies_to(item) and isinstance(message.content, str)
        ):
            return message
        text = message.content if content is None else content
        if not isinstance(text, str):  # pragma: no cover - guarded above
            return message
        if self.spotlighter.applies_to(item):
            text = self.spotlighter.wrap(text.strip())
        return message.model_copy(update={"content": text})

    def _prepare(self, cand: _Cand) -> None:
        item = cand.item
        key = (item.id, item.content, item.source, int(item.trust), cand.section, item.role)
        hit = self._prepared.get(key)
        if hit is None or hit.source is not item.message:
            if cand.is_block:
                body = self._block_body(item, item.content)
                cost = self.counter.count(body + BLOCK_SEPARATOR) if body else 0
                hit = _Prepared(body, None, cost, item.message)
            else:
                message = self._render_message(item)
                hit = _Prepared("", message, self._count_message(message), item.message)
            with self._lock:
                if len(self._prepared) >= self._cache_size:
                    self._prepared.clear()
                self._prepared[key] = hit
        cand.body = hit.body
        cand.message = hit.message
        cand.cost = hit.cost

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
        cands, records = self._validate(items, quarantined)
        dropped: list[_Cand] = []
        units = self._build_units(cands, records, dropped)
        self._score(cands, query)
        units_list = [_Unit(u) for u in units]
        state = _FillState(self)
        self._select(units_list, state, query)
        messages, ordered, prefix, used = self._render(cands, state)
        while used > self.policy.available:  # repair: only for non-additive counters
            victim = min(
                (u for u in units_list if not u.required and any(c.state for c in u.cands)),
                key=lambda u: (u.density, u.key),
                default=None,
            )
            if victim is None:  # pragma: no cover - required items were checked to fit
                break
            for c in victim.cands:
                c.state, c.reason = "out", "dropped after the final recount exceeded the budget"
            messages, ordered, prefix, used = self._render(cands, state)
        return self._finish(cands, records, messages, ordered, prefix, used)

    # ------------------------------------------------------------------ steps

    def _validate(
        self, items: Iterable[ContextItem], quarantined: Sequence[Quarantined]
    ) -> tuple[list[_Cand], list[Quarantined]]:
        cands: list[_Cand] = []
        seen: set[str] = set()
        for idx, item in enumerate(items):
            ensure_instance(
                item,
                ContextItem,
                f"items[{idx}]",
                "; convert documents with ContextItem.from_document, messages with from_message",
            )
            if item.id in seen:
                msg = (
                    f"two candidates share the id {item.id!r}; ids must be unique within one "
                    "pack call (give one another id, or use ContextItem.from_messages)"
                )
                raise ValueError(msg)
            seen.add(item.id)
            cands.append(_Cand(idx, item, _section(item)))
        records = list(quarantined)
        for i, rec in enumerate(records):
            ensure_instance(rec, Quarantined, f"quarantined[{i}]")
            if rec.item.id in seen:
                msg = (
                    f"the quarantined item {rec.item.id!r} is also a candidate; pass each item "
                    "either in items or in quarantined, not both"
                )
                raise ValueError(msg)
            seen.add(rec.item.id)
        return cands, records

    def _build_units(
        self, cands: list[_Cand], records: list[Quarantined], dropped: list[_Cand]
    ) -> list[list[_Cand]]:
        parent = list(range(len(cands)))

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
        for i, c in enumerate(cands):
            item = c.item
            if item.group is not None:
                if item.group in by_group:
                    union(by_group[item.group], i)
                else:
                    by_group[item.group] = i
            if isinstance(item.message, AIMessage):
                for call in item.message.tool_calls:
                    if call.get("id"):
                        callers[str(call["id"])] = i
        answered: set[str] = set()
        orphans: list[tuple[int, str]] = []
        for i, c in enumerate(cands):
            result = c.item.message
            if isinstance(result, ToolMessage):
                caller = callers.get(result.tool_call_id)
                if caller is None:
                    orphans.append((i, result.tool_call_id))
                else:
                    answered.add(result.tool_call_id)
                    union(caller, i)
        quarantined_calls = {
            rec.item.message.tool_call_id
            for rec in records
            if isinstance(rec.item.message, ToolMessage)
        }
        bad_roots: dict[int, str] = {}
        for i, call_id in orphans:
            c = cands[i]
            if c.item.group is None:
                bad_roots[find(i)] = (
                    f"orphan tool result: no candidate AIMessage made tool call {call_id!r}"
                )
        for call_id, i in callers.items():
            if call_id not in answered:
                why = "was quarantined" if call_id in quarantined_calls else "is not a candidate"
                bad_roots.setdefault(
                    find(i),
                    f"incomplete tool-call group: the result of tool call {call_id!r} {why}",
                )
        groups: dict[int, list[_Cand]] = {}
        for i, c in enumerate(cands):
            groups.setdefault(find(i), []).append(c)
        current_turn = _current_turn(cands)
        units: list[list[_Cand]] = []
        for c in cands:
            self._prepare(c)
        for root, members in groups.items():
            reason = bad_roots.get(root)
            if reason is None and any(c.is_block and not c.body for c in members):
                reason = "empty content"
            if reason is not None:
                if reason != "empty content" and any(c.item.pinned for c in members):
                    ids = ", ".join(repr(c.item.id) for c in members if c.item.pinned)
                    msg = f"pinned item(s) {ids} cannot be rendered: {reason}"
                    raise ValueError(msg)
                for c in members:
                    c.state, c.reason = "out", reason
                    dropped.append(c)
                continue
            for c in members:
                c.required = (
                    c.item.pinned or c.item.layer is Layer.INSTRUCTIONS or c is current_turn
                )
            units.append(members)
        return units

    def _score(self, cands: list[_Cand], query: str | None) -> None:
        pool = [
            c
            for c in cands
            if c.item.relevance is None and c.section in ("knowledge", "memory") and not c.state
        ]
        if query and pool:
            raw = bm25_scores(query, [c.item.content for c in pool], cache=self._terms)
            best = max(raw)
            for c, s in zip(pool, raw, strict=True):
                c.relevance = s / best if best > 0 else 0.0
        history = [c for c in cands if c.section == "history"]
        recency: dict[int, float] = {}
        if history:
            span = max(len(history) - 1, 1)
            for pos, c in enumerate(history):
                recency[c.idx] = _HISTORY_MIN_RECENCY + (1 - _HISTORY_MIN_RECENCY) * pos / span
        pooled = {id(c) for c in pool} if query else set()
        for c in cands:
            item = c.item
            if item.relevance is not None:
                c.relevance = item.relevance
            elif id(c) not in pooled:
                if c.section in ("task", "instructions"):
                    c.relevance = _TASK_RELEVANCE
                else:
                    c.relevance = _NO_QUERY_RELEVANCE
            c.utility = utility(
                priority=item.priority,
                trust=item.trust,
                relevance=c.relevance,
                recency=recency.get(c.idx, 1.0),
            )

    def _select(self, units: list[_Unit], state: _FillState, query: str | None) -> None:
        required = [u for u in units if u.required]
        for u in required:
            for c in u.cands:
                state.take(c, c.cost)
                c.state, c.reason = "in", _required_reason(c)
        if state.used > self.policy.available:
            self._raise_budget(required, state)
        rest = sorted((u for u in units if not u.required), key=lambda u: (-u.density, u.key))
        terms = self.tokenizer(query) if query else []
        policy = self.policy
        # 1. per-layer minimums
        for layer in _LAYERS:
            minimum = policy.layer_budget(layer).min_tokens
            if not minimum:
                continue
            for u in rest:
                if state.layer_used[layer] >= minimum:
                    break
                if u.cands[0].state or all(c.item.layer is not layer for c in u.cands):
                    continue
                state.try_add(u, soft=False, terms=terms, reason="reserved by the layer minimum")
        # 2. fill within the soft shares, 3. spill what is left within the hard caps
        for soft in (True, False):
            for u in rest:
                if not u.cands[0].state:
                    state.try_add(u, soft=soft, terms=terms, reason="")
        for u in rest:
            if not u.cands[0].state:
                for c in u.cands:
                    c.state = "out"
                    c.reason = state.why_not(u)

    def _raise_budget(self, required: list[_Unit], state: _FillState) -> None:
        per_layer = {layer.value: n for layer, n in state.layer_used.items() if n}
        detail = ", ".join(f"{k}={v}" for k, v in per_layer.items())
        msg = (
            f"the required items (pinned, instructions, current user turn) need {state.used} "
            f"tokens ({detail}, plus {state.used - sum(per_layer.values())} of message framing) "
            f"but only {self.policy.available} are available (max_tokens="
            f"{self.policy.max_tokens} - reserve_output={self.policy.reserve_output}); raise "
            "max_tokens, lower reserve_output, or unpin some items"
        )
        ids = [c.item.id for u in required for c in u.cands]
        shown = ", ".join(ids[:_MAX_IDS_SHOWN]) + ("…" if len(ids) > _MAX_IDS_SHOWN else "")
        raise BudgetExceededError(
            msg + f" (required ids: {shown})",
            available=self.policy.available,
            required=state.used,
            tokens_by_layer=per_layer,
        )

    def _render(
        self, cands: list[_Cand], state: _FillState
    ) -> tuple[list[BaseMessage], list[ContextItem], str, int]:
        chosen = [c for c in cands if c.state in ("in", "cut")]
        instructions = [c for c in chosen if c.section == "instructions"]
        knowledge = [c for c in chosen if c.section == "knowledge"]
        memories = [c for c in chosen if c.section == "memory"]
        history = [c for c in chosen if c.section == "history"]
        task = [c for c in chosen if c.section == "task"]
        knowledge = _order_knowledge(knowledge, self.policy.knowledge_order)
        memories.sort(key=lambda c: (-c.relevance, c.item.id))
        count = self.counter.count
        bodies: list[str] = [state.body(c) for c in instructions]
        costs: list[int] = [c.tokens for c in instructions]
        note = self.spotlighter.note
        if note and (bodies or knowledge or memories):
            bodies.append(note)
            costs.append(count(note + BLOCK_SEPARATOR))
        prefix = BLOCK_SEPARATOR.join(bodies)
        for header, section in ((KNOWLEDGE_HEADER, knowledge), (MEMORY_HEADER, memories)):
            if section:
                bodies.append(header)
                costs.append(count(header + BLOCK_SEPARATOR))
                for c in section:
                    bodies.append(state.body(c))
                    costs.append(c.tokens)
        messages: list[BaseMessage] = []
        ordered: list[ContextItem] = [state.item(c) for c in instructions]
        ordered += [state.item(c) for c in knowledge] + [state.item(c) for c in memories]
        used = 0
        if bodies:
            content = BLOCK_SEPARATOR.join(bodies)
            system = SystemMessage(content)
            messages.append(system)
            used += self._system_frame_cost + sum(costs[:-1]) + count(bodies[-1])
        for c in history + task:
            messages.append(state.message(c))
            ordered.append(state.item(c))
            used += c.tokens
        if messages:
            used += self._priming()
        if not self._additive:
            used = int(self.counter.count_messages(messages))
        return messages, ordered, prefix, used

    def _finish(
        self,
        cands: list[_Cand],
        records: list[Quarantined],
        messages: list[BaseMessage],
        ordered: list[ContextItem],
        prefix: str,
        used: int,
    ) -> PackedContext:
        decisions: list[Decision] = []
        layer_used = dict.fromkeys(_LAYERS, 0)
        layer_cands = dict.fromkeys(_LAYERS, 0)
        layer_in = dict.fromkeys(_LAYERS, 0)
        for c in cands:
            layer = c.item.layer
            layer_cands[layer] += 1
            if c.state == "in":
                decisions.append(Decision(c.item.id, layer, "included", c.reason, c.cost))
            elif c.state == "cut":
                decisions.append(Decision(c.item.id, layer, "truncated", c.reason, c.cut_cost))
            else:
                decisions.append(Decision(c.item.id, layer, "dropped", c.reason, c.cost))
                continue
            layer_used[layer] += c.tokens
            layer_in[layer] += 1
        count = self.counter.count
        for rec in records:
            layer = rec.item.layer
            layer_cands[layer] += 1
            decisions.append(
                Decision(rec.item.id, layer, "quarantined", rec.reason, count(rec.item.content))
            )
        layers = {
            layer: LayerUsage(
                used=layer_used[layer],
                limit=self.policy.hard_cap(layer),
                candidates=layer_cands[layer],
                included=layer_in[layer],
            )
            for layer in _LAYERS
        }
        report = ContextReport(
            budget=self.policy.available,
            used=used,
            layers=layers,
            decisions=decisions,
            quarantined=list(records),
            prefix_hash=_digest(prefix),
            prefix_tokens=count(prefix),
            overhead=used - sum(layer_used.values()),
            max_tokens=self.policy.max_tokens,
            reserve_output=self.policy.reserve_output,
            counter=repr(self.counter),
            exact=bool(getattr(self.counter, "exact", True)),
        )
        return PackedContext(items=ordered, messages=messages, report=report)


class _FillState:
    """Running totals of one fill, with the window's fixed costs added as they arise."""

    def __init__(self, packer: ContextPacker) -> None:
        self.packer = packer
        self.policy = packer.policy
        count = packer.counter.count
        self.used = 0
        self._priming = packer._priming()  # noqa: SLF001 - paid once, with the first message
        self._started = False
        self.layer_used = dict.fromkeys(_LAYERS, 0)
        self._system_open = False
        self._system_cost = packer._system_frame()  # noqa: SLF001
        note = packer.spotlighter.note
        self._note_cost = count(note + BLOCK_SEPARATOR) if note else 0
        self._headers = {
            "knowledge": count(KNOWLEDGE_HEADER + BLOCK_SEPARATOR),
            "memory": count(MEMORY_HEADER + BLOCK_SEPARATOR),
        }
        self._header_open: set[str] = set()
        self._cut_bodies: dict[int, str] = {}
        self._cut_messages: dict[int, BaseMessage] = {}
        self._cut_items: dict[int, ContextItem] = {}

    # -- accounting
    def _fixed_for(self, cands: Sequence[_Cand]) -> int:
        extra = 0 if self._started else self._priming
        if any(c.is_block for c in cands) and not self._system_open:
            extra += self._system_cost + self._note_cost
        sections = {c.section for c in cands if c.section in self._headers}
        extra += sum(self._headers[s] for s in sections - self._header_open)
        return extra

    def take(self, cand: _Cand, tokens: int) -> None:
        fixed = self._fixed_for([cand])
        self._started = True
        if cand.is_block:
            self._system_open = True
            if cand.section in self._headers:
                self._header_open.add(cand.section)
        self.used += tokens + fixed
        self.layer_used[cand.item.layer] += tokens

    def room(self, layer: Layer, *, soft: bool) -> int:
        cap = self.policy.soft_cap(layer) if soft else self.policy.hard_cap(layer)
        return 1 << 62 if cap is None else cap - self.layer_used[layer]

    def fits(self, unit: _Unit, costs: Sequence[int], *, soft: bool) -> bool:
        if self.used + self._fixed_for(unit.cands) + sum(costs) > self.policy.available:
            return False
        per_layer: dict[Layer, int] = {}
        for c, cost in zip(unit.cands, costs, strict=True):
            per_layer[c.item.layer] = per_layer.get(c.item.layer, 0) + cost
        return all(n <= self.room(layer, soft=soft) for layer, n in per_layer.items())

    def try_add(self, unit: _Unit, *, soft: bool, terms: Sequence[str], reason: str) -> bool:
        costs = [c.cost for c in unit.cands]
        if self.fits(unit, costs, soft=soft):
            for c in unit.cands:
                self.take(c, c.cost)
                c.state = "in"
                c.reason = reason or ("selected by utility" if soft else "selected (spill-over)")
            return True
        return self._try_cut(unit, soft=soft, terms=terms)

    def _try_cut(self, unit: _Unit, *, soft: bool, terms: Sequence[str]) -> bool:
        cuttable = [c for c in unit.cands if c.item.can_truncate and not c.required]
        if not cuttable:
            return False
        fixed = sum(c.cost for c in unit.cands if c not in cuttable)
        room = self.policy.available - self.used - self._fixed_for(unit.cands) - fixed
        for layer in {c.item.layer for c in cuttable}:
            layer_fixed = sum(
                c.cost for c in unit.cands if c not in cuttable and c.item.layer is layer
            )
            room = min(room, self.room(layer, soft=soft) - layer_fixed)
        min_cut = self.policy.min_cut_tokens
        if room < min_cut * len(cuttable):
            return False
        total = sum(c.cost for c in cuttable)
        plans: list[tuple[_Cand, int, str, BaseMessage | None, ContextItem]] = []
        remaining = room
        for n, c in enumerate(cuttable):
            share = remaining if n == len(cuttable) - 1 else room * c.cost // max(total, 1)
            planned = self._cut(c, share, terms)
            if planned is None:
                return False
            cost, body, message, item = planned
            remaining -= cost
            plans.append((c, cost, body, message, item))
        if remaining < 0:
            return False
        for c, cost, body, message, item in plans:
            c.cut_cost = cost
            if c.is_block:
                self._cut_bodies[c.idx] = body
            elif message is not None:
                self._cut_messages[c.idx] = message
            self._cut_items[c.idx] = item
        for c in unit.cands:
            if c in cuttable:
                self.take(c, c.cut_cost)
                c.state = "cut"
                c.reason = f"cut from {c.cost} to {c.cut_cost} tokens to fit"
            else:
                self.take(c, c.cost)
                c.state = "in"
                c.reason = "selected with its cut tool results"
        return True

    def _cut(
        self, cand: _Cand, share: int, terms: Sequence[str]
    ) -> tuple[int, str, BaseMessage | None, ContextItem] | None:
        packer = self.packer
        counter = packer.counter
        if share < self.policy.min_cut_tokens:
            return None
        item = cand.item
        wrapper = cand.cost - counter.count(item.content.strip())
        target = share - max(wrapper, 0)
        for _ in range(4):
            if target < self.policy.min_cut_tokens // 2:
                return None
            text = cut_text(item.content, target, counter, query_terms=terms)
            if not text:
                return None
            cut_item = item.model_copy(
                update={
                    "content": text,
                    "metadata": {**item.metadata, "ctxorch_cut_from_tokens": cand.cost},
                }
            )
            if cand.is_block:
                body = packer._block_body(item, text)  # noqa: SLF001
                cost = counter.count(body + BLOCK_SEPARATOR)
                message = None
            else:
                body = ""
                message = packer._render_message(item, text)  # noqa: SLF001
                cost = packer._count_message(message)  # noqa: SLF001
            if cost <= share:
                return cost, body, message, cut_item
            target -= cost - share
        return None

    def why_not(self, unit: _Unit) -> str:
        left = self.policy.available - self.used
        layers = {c.item.layer for c in unit.cands}
        capped = [layer.value for layer in layers if self.room(layer, soft=False) < unit.cost]
        group = f" (atomic group of {len(unit.cands)})" if len(unit.cands) > 1 else ""
        if capped:
            return (
                f"over the {', '.join(sorted(capped))} layer cap: needs {unit.cost} tokens{group}"
            )
        return f"over budget: needs {unit.cost} tokens{group}, {max(left, 0)} left"

    # -- rendered forms
    def body(self, cand: _Cand) -> str:
        return self._cut_bodies.get(cand.idx, cand.body) if cand.state == "cut" else cand.body

    def message(self, cand: _Cand) -> BaseMessage:
        if cand.state == "cut" and cand.idx in self._cut_messages:
            return self._cut_messages[cand.idx]
        assert cand.message is not None  # noqa: S101 - message sections always have one
        return cand.message

    def item(self, cand: _Cand) -> ContextItem:
        return self._cut_items.get(cand.idx, cand.item) if cand.state == "cut" else cand.item


def _section(item: ContextItem) -> Section:
    layer = item.layer
    if layer is Layer.INSTRUCTIONS:
        return "instructions"
    if layer is Layer.KNOWLEDGE:
        return "knowledge"
    if layer is Layer.MEMORY:
        return "history" if item.message is not None or item.role is not None else "memory"
    return "task"


def _current_turn(cands: list[_Cand]) -> _Cand | None:
    for c in reversed(cands):
        if c.section == "task" and c.item.role == "user" and not c.state:
            return c
    return None


def _required_reason(cand: _Cand) -> str:
    if cand.item.pinned:
        return "pinned"
    if cand.item.layer is Layer.INSTRUCTIONS:
        return "instructions are always included"
    return "the current user turn is always included"


def _order_knowledge(cands: list[_Cand], order: str) -> list[_Cand]:
    ranked = sorted(cands, key=lambda c: (-c.relevance, -c.utility, c.item.id))
    if order != "edges":
        return ranked
    front: list[_Cand] = []
    back: list[_Cand] = []
    for i, c in enumerate(ranked):
        (front if i % 2 == 0 else back).append(c)
    return front + back[::-1]


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
