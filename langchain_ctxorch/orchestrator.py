"""`ContextOrchestrator`: one object that builds every model call's context window.

Key types:

- `ContextOrchestrator`: holds the instructions, retrievers, memory, budget policy, poison filter
  and token counter; ``assemble(messages, *, query=None, user_id=None) -> PackedContext`` and
  its native async twin ``aassemble``; ``as_node()`` (a LangGraph node) and
  ``as_pre_model_hook()`` (for ``create_react_agent``). For ``langchain.agents.create_agent``
  use ``langchain_ctxorch.middleware.ContextOrchestrationMiddleware``.
- `resolve_user_id`: where a graph node finds the user id (config, then runtime context).

One ``assemble`` call, step by step:

1. **split** the incoming messages: leading ``SystemMessage``s join the instructions (after the
   configured ones; one repeating a configured instruction verbatim is not added twice); the
   last ``HumanMessage`` and everything after it (this turn's tool calls)
   is the TASK layer; the rest is conversation history (MEMORY layer).
2. **collect**: the query (default: the last human message's text) goes to every retriever
   (documents become KNOWLEDGE items) and to the memory (``recall`` for ``user_id``); in the
   async path all of them run concurrently.
3. **filter**: the poison filter runs over every candidate (it leaves the conversation's own
   user and assistant turns alone), then ``on_poison`` is applied. A quarantined tool result is
   replaced by a short stand-in naming the finding, so the tool call keeps its answer and the
   model never sees the quarantined text.
4. **pack**: the orchestrator's one `ContextPacker` (its caches make later turns cheap) chooses
   what fits the budget; the report accounts for every candidate, and ``report.notes`` says when
   a source was skipped (no user id, memory store down).

The orchestrator keeps no per-call state: one instance is safe to share across threads and
concurrent async runs (each call sees only its own user's memories).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.retrievers import BaseRetriever

from langchain_ctxorch.budget import BudgetPolicy
from langchain_ctxorch.items import ContextItem, Layer, Trust, ensure_instance, message_text
from langchain_ctxorch.packing import ContextPacker, PackedContext
from langchain_ctxorch.render import Spotlighter

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from langchain_core.documents import Document
    from langchain_core.runnables import Runnable, RunnableConfig
    from langgraph.store.base import BaseStore

    from langchain_ctxorch.memory import StoreMemory
    from langchain_ctxorch.poison import OnPoison
    from langchain_ctxorch.report import Quarantined
    from langchain_ctxorch.tokens import TokenCounter

__all__ = ["ContextOrchestrator", "resolve_user_id"]

_ON_POISON: tuple[str, ...] = ("quarantine", "raise", "annotate")  # poison.OnPoison
_DEFAULT_POLICY = (8000, 1000)
_WITHHELD_SUFFIX = "~withheld"


class _PoisonFilterLike(Protocol):
    """What the orchestrator needs of a poison filter (``PoisonFilter`` fits)."""

    def filter(
        self,
        items: Sequence[ContextItem],
        query: str | None = None,
        now: datetime | None = None,
    ) -> Any:
        """Split ``items`` into ``kept`` items and ``quarantined`` records."""
        ...


@dataclasses.dataclass(frozen=True)
class _Split:
    """The incoming messages, split into layers (plain data: safe to share)."""

    system: list[ContextItem]
    history: list[ContextItem]
    task: list[ContextItem]
    query: str | None
    repeated: list[Quarantined] = dataclasses.field(default_factory=list)
    """Leading system messages that repeat the configured instructions (reported, not sent)."""


@dataclasses.dataclass
class _Gathered:
    """What the sources returned for one call (local to that call)."""

    knowledge: list[ContextItem] = dataclasses.field(default_factory=list)
    memories: list[ContextItem] = dataclasses.field(default_factory=list)
    quarantined: list[Quarantined] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)


def resolve_user_id(
    config: Mapping[str, Any] | None = None, runtime: Any = None, *, key: str = "user_id"
) -> str | None:
    """Find the user id of a graph run: ``config["configurable"][key]``, else the runtime.

    The runtime's ``context`` may be an object with a ``user_id`` attribute (a dataclass or
    pydantic ``context_schema``) or a mapping with a ``"user_id"`` key. On the LangGraph server
    with custom authentication, ``key="langgraph_auth_user_id"`` reads the authenticated
    identity instead of a value the client chose.

    Example:
        ```python
        resolve_user_id({"configurable": {"user_id": "alice"}})  # 'alice'
        ```
    """
    if config:
        configurable = config.get("configurable") or {}
        value = configurable.get(key)
        if value is not None and value != "":
            return str(value)
    context = getattr(runtime, "context", None) if runtime is not None else None
    if context is None:
        return None
    value = context.get("user_id") if isinstance(context, Mapping) else None
    if value is None:
        value = getattr(context, "user_id", None)
    return None if value is None or value == "" else str(value)


def _instruction_items(instructions: object) -> list[ContextItem]:
    if instructions is None:
        return []
    if isinstance(instructions, (str, ContextItem)):
        instructions = [instructions]
    if not isinstance(instructions, Sequence):
        msg = (
            "instructions must be a str, a ContextItem or a list of them, "
            f"got {type(instructions).__name__}"
        )
        raise TypeError(msg)
    items: list[ContextItem] = []
    for i, entry in enumerate(instructions):
        if isinstance(entry, str):
            if not entry.strip():
                msg = f"instructions[{i}] is empty; remove it or give it text"
                raise ValueError(msg)
            item = ContextItem(
                content=entry, layer=Layer.INSTRUCTIONS, source="instructions", pinned=True
            )
        elif isinstance(entry, ContextItem):
            if entry.layer is not Layer.INSTRUCTIONS:
                msg = (
                    f"instructions[{i}] (id {entry.id!r}) is in layer {entry.layer.value!r}; "
                    "instructions must be INSTRUCTIONS items (facts belong in a retriever or "
                    "the memory)"
                )
                raise ValueError(msg)
            item = entry if entry.pinned else entry.model_copy(update={"pinned": True})
        else:
            msg = f"instructions[{i}] must be a str or a ContextItem, got {type(entry).__name__}"
            raise TypeError(msg)
        items.append(item)
    return _unique(items)


def _retrievers(retriever: object) -> tuple[BaseRetriever, ...]:
    if retriever is None:
        return ()
    entries = [retriever] if isinstance(retriever, BaseRetriever) else retriever
    if not isinstance(entries, Sequence) or isinstance(entries, str):
        msg = (
            "retriever must be a BaseRetriever, a list of them or None, "
            f"got {type(retriever).__name__}"
        )
        raise TypeError(msg)
    for i, r in enumerate(entries):
        if not isinstance(r, BaseRetriever):
            msg = (
                f"retriever[{i}] must be a BaseRetriever, got {type(r).__name__} "
                "(wrap a vector store with .as_retriever())"
            )
            raise TypeError(msg)
    return tuple(entries)


def _unique(items: Iterable[ContextItem], taken: set[str] | None = None) -> list[ContextItem]:
    """Give repeated ids a ``#n`` suffix so every candidate has its own id (nothing is dropped)."""
    seen = taken if taken is not None else set()
    out: list[ContextItem] = []
    for item in items:
        unique = item
        if item.id in seen:
            n = 2
            while f"{item.id}#{n}" in seen:
                n += 1
            unique = item.model_copy(update={"id": f"{item.id}#{n}"})
        seen.add(unique.id)
        out.append(unique)
    return out


def _split_messages(messages: Sequence[BaseMessage], instruction_texts: set[str]) -> _Split:
    from langchain_ctxorch.report import PoisonFinding, Quarantined  # noqa: PLC0415

    n_system = 0
    while n_system < len(messages) and isinstance(messages[n_system], SystemMessage):
        n_system += 1
    system: list[ContextItem] = []
    repeated: list[Quarantined] = []
    leading = ContextItem.from_messages(
        messages[:n_system], layer=Layer.INSTRUCTIONS, source="system"
    )
    for item in leading:
        text = item.content.strip()
        if text in instruction_texts:
            finding = PoisonFinding(
                "orchestrator", "duplicate", "repeats the configured instructions", 1.0
            )
            repeated.append(Quarantined(item, (finding,)))
        else:  # an empty one is accounted by the packer as "empty content"
            system.append(item.model_copy(update={"pinned": bool(text)}))
    rest = messages[n_system:]
    last_human = None
    for i in range(len(rest) - 1, -1, -1):
        if isinstance(rest[i], HumanMessage):
            last_human = i
            break
    converted = ContextItem.from_messages(rest, layer=Layer.MEMORY)
    if last_human is None:
        return _Split(system, converted, [], None, repeated)
    history = converted[:last_human]
    task = [
        item.model_copy(update={"layer": Layer.TASK, "source": _task_source(item)})
        for item in converted[last_human:]
    ]
    query = message_text(rest[last_human]).strip() or None
    return _Split(system, history, task, query, repeated)


def _task_source(item: ContextItem) -> str:
    return item.source if item.source.startswith("tool:") else "conversation"


def _withheld(record: Quarantined) -> ContextItem | None:
    """A stand-in for a quarantined tool result, so its tool call still has an answer."""
    message = record.item.message
    if not isinstance(message, ToolMessage):
        return None
    kinds = ", ".join(dict.fromkeys(f.kind for f in record.findings))
    text = (
        f"[tool result withheld by the context filter: quarantined ({kinds}); "
        "do not rely on this tool call's output]"
    )
    stand_in = ToolMessage(
        text,
        tool_call_id=message.tool_call_id,
        name=message.name,
        id=f"{message.id}{_WITHHELD_SUFFIX}" if message.id else None,
        status="error",
    )
    return ContextItem(
        id=f"{record.item.id}{_WITHHELD_SUFFIX}",
        content=text,
        layer=record.item.layer,
        source=record.item.source,
        role="tool",
        trust=Trust.INTERNAL,
        message=stand_in,
        metadata={"ctxorch_withheld": record.item.id},
    )


class ContextOrchestrator:
    """Builds a budgeted, poison-filtered context window for every model call.

    Args:
        instructions: the INSTRUCTIONS layer: a str, a list of str, or INSTRUCTIONS
            `ContextItem`s. They become pinned items in the given order and form the
            cache-stable prefix of every window.
        retriever: a ``BaseRetriever`` or a list of them (KNOWLEDGE); a `GuardedRetriever`'s
            quarantine is carried into the report.
        memory: a `StoreMemory` recalled for the call's ``user_id`` (MEMORY).
        policy: the `BudgetPolicy`; ``BudgetPolicy(8000, reserve_output=1000)`` when None.
        poison_filter: any object with ``filter(items, query=None, now=None)`` returning
            ``kept``/``quarantined``; ``PoisonFilter.default()`` when None.
        counter: the `TokenCounter`; the exact offline ``cl100k_base`` counter when None.
        on_poison: ``"quarantine"`` (drop and report), ``"raise"`` (`PoisonedContextError`) or
            ``"annotate"`` (keep, with the findings in ``metadata["ctxorch_findings"]``).
        memory_limit: how many memories to recall per call.
        spotlight: a `Spotlighter`, or True/False (see `ContextPacker`).

    Raises:
        TypeError: an argument of the wrong type (the message names it).
        ValueError: an unknown ``on_poison``, empty instructions, a non-positive
            ``memory_limit``.

    Example:
        ```python
        from langchain_core.messages import HumanMessage

        orch = ContextOrchestrator(
            "You are a support agent. Answer from the knowledge given.",
            retriever=BM25KnowledgeRetriever.from_documents(docs, k=4),
            memory=StoreMemory(),
            policy=BudgetPolicy(4000, reserve_output=500),
        )
        packed = orch.assemble([HumanMessage("What does Pro cost?")], user_id="alice")
        packed.messages  # [SystemMessage(instructions + knowledge + memories), HumanMessage]
        print(packed.report)  # every candidate: included / truncated / dropped / quarantined
        ```
    """

    def __init__(
        self,
        instructions: str | ContextItem | Sequence[str | ContextItem] = (),
        *,
        retriever: BaseRetriever | Sequence[BaseRetriever] | None = None,
        memory: StoreMemory | None = None,
        policy: BudgetPolicy | None = None,
        poison_filter: _PoisonFilterLike | None = None,
        counter: TokenCounter | None = None,
        on_poison: OnPoison = "quarantine",
        memory_limit: int = 5,
        spotlight: Spotlighter | bool = True,
    ) -> None:
        """Configure the orchestrator; nothing is retrieved or counted here."""
        if on_poison not in _ON_POISON:
            msg = f"on_poison must be one of {', '.join(map(repr, _ON_POISON))}, got {on_poison!r}"
            raise ValueError(msg)
        if not isinstance(memory_limit, int) or isinstance(memory_limit, bool) or memory_limit < 1:
            msg = f"memory_limit must be a positive int, got {memory_limit!r}"
            raise ValueError(msg)
        if memory is not None and not (hasattr(memory, "recall") and hasattr(memory, "arecall")):
            msg = (
                "memory must be a StoreMemory (with recall/arecall) or None, "
                f"got {type(memory).__name__}"
            )
            raise TypeError(msg)
        if poison_filter is None:
            from langchain_ctxorch.poison import PoisonFilter  # noqa: PLC0415 - lazy: detectors

            poison_filter = PoisonFilter.default()
        elif not callable(getattr(poison_filter, "filter", None)):
            msg = (
                "poison_filter must have a filter(items, query=None, now=None) method "
                f"(e.g. PoisonFilter.default()), got {type(poison_filter).__name__}"
            )
            raise TypeError(msg)
        if policy is None:
            policy = BudgetPolicy(_DEFAULT_POLICY[0], reserve_output=_DEFAULT_POLICY[1])
        self.instructions: tuple[ContextItem, ...] = tuple(_instruction_items(instructions))
        self.retrievers: tuple[BaseRetriever, ...] = _retrievers(retriever)
        self.memory = memory
        self.poison_filter: _PoisonFilterLike = poison_filter
        self.on_poison: OnPoison = on_poison
        self.memory_limit = memory_limit
        self.packer = ContextPacker(policy, counter, spotlight=spotlight)
        self._instruction_texts = frozenset(i.content.strip() for i in self.instructions)

    @property
    def policy(self) -> BudgetPolicy:
        """The budget policy the windows are packed under."""
        return self.packer.policy

    @property
    def counter(self) -> TokenCounter:
        """The token counter every window is measured with."""
        return self.packer.counter

    def __repr__(self) -> str:
        """Summarise the sources."""
        return (
            f"ContextOrchestrator(instructions={len(self.instructions)}, "
            f"retrievers={[type(r).__name__ for r in self.retrievers]}, "
            f"memory={type(self.memory).__name__ if self.memory is not None else None}, "
            f"budget={self.policy.available}, on_poison={self.on_poison!r})"
        )

    def with_memory(self, memory: StoreMemory | None) -> ContextOrchestrator:
        """A copy that recalls from ``memory`` and shares everything else (packer caches too).

        Cheap: use it per call, e.g. to read the memories from the store the LangGraph server
        gives the graph (``runtime.store``).

        Example:
            ```python
            orch.with_memory(StoreMemory(runtime.store)).assemble(messages, user_id="alice")
            ```
        """
        if memory is not None and not (hasattr(memory, "recall") and hasattr(memory, "arecall")):
            msg = (
                "memory must be a StoreMemory (with recall/arecall) or None, "
                f"got {type(memory).__name__}"
            )
            raise TypeError(msg)
        clone = copy.copy(self)
        clone.memory = memory
        return clone

    def with_store(self, store: BaseStore) -> ContextOrchestrator:
        """A copy whose memory is a `StoreMemory` on ``store`` (e.g. the LangGraph server's).

        The orchestrator's own `StoreMemory` settings (namespace prefix, poison filter, error
        policy, tokenizer) are kept when it has one; otherwise the defaults are used with the
        orchestrator's poison filter.

        Example:
            ```python
            orch.with_store(runtime.store).assemble(messages, user_id="alice")
            ```
        """
        from langchain_ctxorch.memory import StoreMemory  # noqa: PLC0415 - imports langgraph

        base = self.memory
        if base is not None and getattr(base, "store", None) is store:
            return self
        if isinstance(base, StoreMemory):
            memory = StoreMemory(
                store,
                namespace_prefix=base.namespace_prefix,
                poison_filter=base.poison_filter,
                on_memory_error=base.on_memory_error,
                tokenizer=base.tokenizer,
            )
        else:
            memory = StoreMemory(store, poison_filter=self.poison_filter)
        return self.with_memory(memory)

    # ------------------------------------------------------------------ public API

    def assemble(
        self,
        messages: Sequence[BaseMessage],
        *,
        query: str | None = None,
        user_id: str | None = None,
        config: RunnableConfig | None = None,
        now: datetime | None = None,
    ) -> PackedContext:
        """Build the context window for one model call.

        Args:
            messages: the conversation so far (not mutated): optional leading system messages,
                the history, and the current turn (the last human message and its tool calls).
            query: what to retrieve and score for; the last human message's text when None.
            user_id: whose memories to recall; memory is skipped (with a report note) when None.
            config: a ``RunnableConfig`` passed to the retrievers (callbacks, tracing).
            now: the time expiry is judged by (timezone-aware; the current time when None), for
                replays and tests.

        Returns:
            The `PackedContext`: ``messages`` for the model and the ``report``.

        Raises:
            BudgetExceededError: the instructions and the current user turn alone do not fit.
            PoisonedContextError: with ``on_poison="raise"`` when anything was quarantined.
            MemoryUnavailableError: the memory store failed and its policy is ``"raise"``.

        Example:
            ```python
            packed = orch.assemble(state["messages"], user_id="alice")
            model.invoke(packed.messages)
            ```
        """
        split, query = self._prepare(messages, query)
        gathered = _Gathered()
        if query:
            for retriever in self.retrievers:
                self._add_docs(gathered, *self._retrieve(retriever, query, config))
        else:
            self._note_no_query(gathered)
        if self.memory is not None:
            if user_id is None:
                self._note_no_user(gathered)
            else:
                self._add_memories(
                    gathered,
                    self.memory.recall(user_id, query or "", limit=self.memory_limit, **_at(now)),
                )
        return self._finish(split, gathered, query, now)

    async def aassemble(
        self,
        messages: Sequence[BaseMessage],
        *,
        query: str | None = None,
        user_id: str | None = None,
        config: RunnableConfig | None = None,
        now: datetime | None = None,
    ) -> PackedContext:
        """Async twin of `assemble`: retrievers and memory are queried concurrently."""
        split, query = self._prepare(messages, query)
        gathered = _Gathered()
        jobs: list[Any] = []
        if query:
            jobs += [self._aretrieve(r, query, config) for r in self.retrievers]
        else:
            self._note_no_query(gathered)
        recall = self.memory is not None and user_id is not None
        if self.memory is not None and user_id is not None:
            jobs.append(
                self.memory.arecall(user_id, query or "", limit=self.memory_limit, **_at(now))
            )
        elif self.memory is not None:
            self._note_no_user(gathered)
        results = await asyncio.gather(*jobs)
        if recall:
            *docs_results, memories = results
        else:
            docs_results, memories = list(results), None
        for docs, quarantined in docs_results:
            self._add_docs(gathered, docs, quarantined)
        if memories is not None:
            self._add_memories(gathered, memories)
        return self._finish(split, gathered, query, now)

    def as_node(
        self,
        *,
        messages_key: str = "messages",
        output_key: str = "context_messages",
        report_key: str = "context_report",
        emit_event: bool = True,
        memory_from_store: bool = False,
        user_id_key: str = "user_id",
    ) -> Runnable[Any, dict[str, Any]]:
        """A LangGraph node (sync and async) that packs the state's messages.

        It reads ``state[messages_key]`` and returns ``{output_key: packed.messages,
        report_key: report.to_dict()}``; the user id comes from
        ``config["configurable"]["user_id"]`` or the runtime context. See
        `langchain_ctxorch.graph.ContextState` for the state schema and
        `langchain_ctxorch.graph.make_context_node` for the options (``memory_from_store``
        reads memories from the graph's store, e.g. the LangGraph server's; ``user_id_key``
        names the ``configurable`` key holding the user id).

        Example:
            ```python
            builder = StateGraph(ContextState)
            builder.add_node("context", orch.as_node())
            builder.add_node("model", lambda s: {"messages": [model.invoke(s["context_messages"])]})
            ```
        """
        from langchain_ctxorch.graph import make_context_node  # noqa: PLC0415 - lazy

        return make_context_node(
            self,
            messages_key=messages_key,
            output_key=output_key,
            report_key=report_key,
            emit_event=emit_event,
            memory_from_store=memory_from_store,
            user_id_key=user_id_key,
        )

    def as_pre_model_hook(
        self,
        *,
        messages_key: str = "messages",
        report_key: str | None = None,
        emit_event: bool = True,
    ) -> Runnable[Any, dict[str, Any]]:
        """A ``pre_model_hook`` for ``langgraph.prebuilt.create_react_agent``.

        It returns ``{"llm_input_messages": packed.messages}``: the model sees the packed window
        while the graph state keeps the full history. With ``report_key`` the report dict is also
        written to that state key (add it to the agent's ``state_schema``).

        Example:
            ```python
            agent = create_react_agent(model, tools, pre_model_hook=orch.as_pre_model_hook())
            ```
        """
        from langchain_ctxorch.graph import make_context_node  # noqa: PLC0415 - lazy

        return make_context_node(
            self,
            messages_key=messages_key,
            output_key="llm_input_messages",
            report_key=report_key,
            emit_event=emit_event,
        )

    # ------------------------------------------------------------------ steps

    def _prepare(
        self, messages: Sequence[BaseMessage], query: str | None
    ) -> tuple[_Split, str | None]:
        given: object = messages
        if isinstance(given, (str, BaseMessage)) or not isinstance(given, Sequence):
            msg = (
                "messages must be a list of LangChain messages, "
                f"got {type(messages).__name__} (wrap a single message in a list)"
            )
            raise TypeError(msg)
        for i, m in enumerate(messages):
            ensure_instance(m, BaseMessage, f"messages[{i}]")
        given_query: object = query
        if given_query is not None and not isinstance(given_query, str):
            msg = f"query must be a str or None, got {type(given_query).__name__}"
            raise TypeError(msg)
        split = _split_messages(messages, set(self._instruction_texts))
        return split, (query.strip() or None) if query is not None else split.query

    def _retrieve(
        self, retriever: BaseRetriever, query: str, config: RunnableConfig | None
    ) -> tuple[list[Document], list[Quarantined]]:
        with_report = getattr(retriever, "invoke_with_report", None)
        if with_report is not None:
            docs, result = with_report(query, config)
            return list(docs), list(result.quarantined)
        return retriever.invoke(query, config), []

    async def _aretrieve(
        self, retriever: BaseRetriever, query: str, config: RunnableConfig | None
    ) -> tuple[list[Document], list[Quarantined]]:
        with_report = getattr(retriever, "ainvoke_with_report", None)
        if with_report is not None:
            docs, result = await with_report(query, config)
            return list(docs), list(result.quarantined)
        return await retriever.ainvoke(query, config), []

    @staticmethod
    def _add_docs(
        gathered: _Gathered, docs: Sequence[Document], quarantined: Sequence[Quarantined]
    ) -> None:
        gathered.knowledge += [ContextItem.from_document(d, layer=Layer.KNOWLEDGE) for d in docs]
        gathered.quarantined += quarantined

    @staticmethod
    def _add_memories(gathered: _Gathered, memories: Sequence[ContextItem]) -> None:
        gathered.memories += memories
        error = getattr(memories, "error", None)
        if error is not None:
            gathered.notes.append(f"memory skipped (the store failed): {error}")

    def _note_no_query(self, gathered: _Gathered) -> None:
        if self.retrievers:
            gathered.notes.append(
                "retrievers not queried: no query (no human message and no query= given)"
            )

    @staticmethod
    def _note_no_user(gathered: _Gathered) -> None:
        gathered.notes.append(
            "memory not recalled: no user_id (pass user_id=..., or set "
            "config['configurable']['user_id'] or a runtime context with user_id)"
        )

    def _finish(
        self, split: _Split, gathered: _Gathered, query: str | None, now: datetime | None
    ) -> PackedContext:
        taken: set[str] = set()
        candidates = _unique(
            [
                *self.instructions,
                *split.system,
                *gathered.knowledge,
                *gathered.memories,
                *split.history,
                *split.task,
            ],
            taken,
        )
        from langchain_ctxorch.poison import apply_on_poison  # noqa: PLC0415 - lazy

        raw = self.poison_filter.filter(candidates, query=query, now=now)
        result = apply_on_poison(raw, self.on_poison)
        records: list[Quarantined] = list(result.quarantined)
        kept = _with_stand_ins(candidates, result.kept, records, taken)
        # Records a source quarantined itself (GuardedRetriever) keep ids distinct from the rest.
        earlier = [_renamed(q, taken) for q in [*split.repeated, *gathered.quarantined]]
        packed = self.packer.pack(kept, query=query, quarantined=[*records, *earlier])
        if not gathered.notes:
            return packed
        report = dataclasses.replace(packed.report, notes=[*packed.report.notes, *gathered.notes])
        return dataclasses.replace(packed, report=report)


def _with_stand_ins(
    candidates: Sequence[ContextItem],
    kept: Sequence[ContextItem],
    records: Sequence[Quarantined],
    taken: set[str],
) -> list[ContextItem]:
    """``kept`` with a stand-in at the position of each quarantined tool result."""
    stand_ins = {
        r.item.id: s for r in records if (s := _withheld(r)) is not None and s.id not in taken
    }
    if not stand_ins:
        return list(kept)
    taken.update(s.id for s in stand_ins.values())
    by_id = {item.id: item for item in kept}
    out: list[ContextItem] = []
    for item in candidates:
        if item.id in by_id:
            out.append(by_id.pop(item.id))
        elif item.id in stand_ins:
            out.append(stand_ins[item.id])
    out += by_id.values()  # items a filter added itself (none by default), kept last
    return out


def _at(now: datetime | None) -> dict[str, Any]:
    return {} if now is None else {"now": now}


def _renamed(record: Quarantined, taken: set[str]) -> Quarantined:
    item = _unique([record.item], taken)[0]
    return record if item is record.item else dataclasses.replace(record, item=item)
