"""LangGraph integration: the context node, its state schema and a prebuilt agent graph.

Key pieces:

- `ContextState`: the state schema the node reads and writes (``messages``,
  ``context_messages``, ``context_report``); extend it with your own keys.
- `make_context_node`: what ``ContextOrchestrator.as_node()`` and ``.as_pre_model_hook()``
  return: a ``Runnable`` with a sync and a native async entry point.
- `build_context_graph`: the recommended wiring ``START -> context -> model -> (tools ->
  context)* -> END``; the model only ever sees ``context_messages``, the state keeps the full
  history.
- `REPORT_EVENT`: the name of the custom callback event carrying the report (visible in
  ``astream_events`` and as an event on the node's run in LangSmith).

Example:
    ```python
    graph = build_context_graph(model, orchestrator, tools=[get_order])
    out = graph.invoke(
        {"messages": [("user", "Where is order 42?")]},
        {"configurable": {"user_id": "alice", "thread_id": "t1"}},
    )
    out["context_report"]["used"]  # tokens of the last window the model saw
    ```
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from langchain_core.callbacks.manager import adispatch_custom_event, dispatch_custom_event
from langchain_core.messages import AnyMessage, BaseMessage, convert_to_messages
from langchain_core.runnables import Runnable, RunnableLambda, ensure_config
from langgraph.graph.message import add_messages
from typing_extensions import Required, TypedDict, override

from langchain_ctxorch.orchestrator import ContextOrchestrator, resolve_user_id

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from langchain_core.language_models import BaseChatModel
    from langchain_core.runnables import RunnableConfig
    from langchain_core.tools import BaseTool
    from langgraph.graph.state import CompiledStateGraph

    from langchain_ctxorch.packing import PackedContext

__all__ = [
    "REPORT_EVENT",
    "ContextState",
    "build_context_graph",
    "make_context_node",
    "wants_events",
]

REPORT_EVENT = "ctxorch_report"
"""Name of the custom callback event the node dispatches with ``report.to_dict()``."""

_RUNTIME_KEY = "__pregel_runtime"  # langgraph's CONFIG_KEY_RUNTIME, for Python < 3.11 async


class ContextState(TypedDict, total=False):
    """Graph state for a context-orchestrated agent (all values checkpointer-serialisable).

    Example:
        ```python
        class MyState(ContextState, total=False):
            ticket_id: str


        builder = StateGraph(MyState)
        ```
    """

    messages: Required[Annotated[list[AnyMessage], add_messages]]
    """The full conversation; ``add_messages`` appends model replies and tool results."""
    context_messages: list[AnyMessage]
    """The packed window for the next model call; replaced each time the context node runs."""
    context_report: dict[str, Any]
    """``ContextReport.to_dict()`` of the last window: budget, usage, one decision per candidate."""


def _runtime(config: RunnableConfig | None) -> Any:
    try:
        from langgraph.runtime import get_runtime  # noqa: PLC0415 - only inside a graph run

        runtime = get_runtime()
    except (RuntimeError, KeyError, ImportError):
        runtime = None
    if runtime is None and config:
        runtime = (config.get("configurable") or {}).get(_RUNTIME_KEY)
    return runtime


def wants_events(config: RunnableConfig | None) -> bool:
    """Whether a custom event would reach anyone: a tracer or an event stream is attached.

    Dispatching costs a callback-manager set-up per call; with no handler there is no one to
    tell (plain ``invoke`` without tracing), so the node skips it.
    """
    callbacks = (config or {}).get("callbacks")
    if callbacks is None:
        return False
    if isinstance(callbacks, list):
        return bool(callbacks)
    return bool(getattr(callbacks, "handlers", True))


def _messages(state: Any, key: str) -> list[BaseMessage]:
    value = state.get(key) if isinstance(state, Mapping) else getattr(state, key, None)
    if value is None:
        msg = (
            f"the context node reads state[{key!r}] but the state has no such key; pass "
            f"messages_key= to as_node() or add {key!r} to the state schema"
        )
        raise KeyError(msg)
    if isinstance(value, Sequence) and all(isinstance(m, BaseMessage) for m in value):
        return list(value)
    return convert_to_messages(value)


def make_context_node(
    orchestrator: ContextOrchestrator,
    *,
    messages_key: str = "messages",
    output_key: str = "context_messages",
    report_key: str | None = "context_report",
    emit_event: bool = True,
    memory_from_store: bool = False,
    user_id_key: str = "user_id",
) -> Runnable[Any, dict[str, Any]]:
    """A LangGraph node packing ``state[messages_key]`` with ``orchestrator``.

    The node returns ``{output_key: packed.messages, report_key: report.to_dict()}`` (no report
    key when ``report_key`` is None) and, when ``emit_event`` is set and the node runs inside a
    traced run, dispatches the report as the custom event `REPORT_EVENT`. The user id comes from
    ``config["configurable"]["user_id"]``, else ``runtime.context.user_id`` (or the context's
    ``"user_id"`` key).

    Args:
        orchestrator: the `ContextOrchestrator`.
        messages_key: the state key holding the conversation.
        output_key: the state key the packed messages are written to.
        report_key: the state key the report dict is written to, or None.
        emit_event: dispatch the report as a custom callback event.
        memory_from_store: recall memories from the store the graph runs with
            (``graph.compile(store=...)``, or the LangGraph server's store) instead of the
            orchestrator's own memory; the orchestrator's `StoreMemory` settings (namespace,
            error policy) are kept when it has one. Without a store the node falls back to the
            orchestrator's memory.
        user_id_key: the ``config["configurable"]`` key holding the user id; on the LangGraph
            server with custom auth use ``"langgraph_auth_user_id"`` (the authenticated
            identity, which the client cannot choose).

    Returns:
        A ``Runnable`` with native sync and async entry points (named ``ctxorch_context``).

    Example:
        ```python
        node = make_context_node(orch, output_key="llm_input_messages", report_key=None)
        node.invoke({"messages": [HumanMessage("hi")]})  # {'llm_input_messages': [...]}
        ```
    """
    given: object = orchestrator
    if not isinstance(given, ContextOrchestrator):
        msg = f"orchestrator must be a ContextOrchestrator, got {type(orchestrator).__name__}"
        raise TypeError(msg)

    def update(packed: PackedContext) -> tuple[dict[str, Any], dict[str, Any]]:
        report = packed.report.to_dict()
        out: dict[str, Any] = {output_key: packed.messages}
        if report_key is not None:
            out[report_key] = report
        return out, report

    def for_call(config: RunnableConfig) -> tuple[ContextOrchestrator, str | None]:
        runtime = _runtime(config)
        user_id = resolve_user_id(config, runtime, key=user_id_key)
        store = getattr(runtime, "store", None) if memory_from_store else None
        if store is None:
            return orchestrator, user_id
        return orchestrator.with_store(store), user_id

    def context_node(state: Any, config: RunnableConfig) -> dict[str, Any]:
        orch, user_id = for_call(config)
        packed = orch.assemble(_messages(state, messages_key), user_id=user_id, config=config)
        out, report = update(packed)
        if emit_event and wants_events(config):
            with contextlib.suppress(RuntimeError):  # no parent run to attach the event to
                dispatch_custom_event(REPORT_EVENT, report, config=config)
        return out

    async def acontext_node(state: Any, config: RunnableConfig) -> dict[str, Any]:
        orch, user_id = for_call(config)
        packed = await orch.aassemble(
            _messages(state, messages_key), user_id=user_id, config=config
        )
        out, report = update(packed)
        if emit_event and wants_events(config):
            with contextlib.suppress(RuntimeError):  # no parent run to attach the event to
                await adispatch_custom_event(REPORT_EVENT, report, config=config)
        return out

    return _ContextNode(context_node, acontext_node)


class _ContextNode(Runnable[Any, dict[str, Any]]):
    """A node with native sync and async entry points that adds no run of its own.

    LangGraph already traces each node; a ``RunnableLambda`` would nest a second run (and its
    callback set-up, ~1 ms) inside it for nothing.
    """

    name = "ctxorch_context"

    def __init__(
        self,
        func: Callable[[Any, RunnableConfig], dict[str, Any]],
        afunc: Callable[[Any, RunnableConfig], Awaitable[dict[str, Any]]],
    ) -> None:
        self._func = func
        self._afunc = afunc

    @override
    def invoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return self._func(input, ensure_config(config))

    @override
    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return await self._afunc(input, ensure_config(config))


def build_context_graph(
    model: BaseChatModel | Runnable[Any, Any],
    orchestrator: ContextOrchestrator,
    tools: Sequence[BaseTool | Any] = (),
    *,
    state_schema: type[Any] = ContextState,
    context_schema: type[Any] | None = None,
    checkpointer: Any = None,
    store: Any = None,
    name: str | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The recommended wiring: a tool-calling agent whose model only sees packed windows.

    ``START -> context -> model``; when the model calls tools: ``tools -> context -> model``
    again (so tool results are budgeted and poison-filtered too); else ``END``. The state keeps
    the full history in ``messages``; ``context_report`` holds the last window's report.

    Args:
        model: a chat model (tools are bound with ``bind_tools``) or any runnable taking a
            message list and returning an ``AIMessage``.
        orchestrator: the `ContextOrchestrator`.
        tools: tools the model may call (a ``ToolNode`` runs them).
        state_schema: the state schema; `ContextState` or a subclass of it.
        context_schema: LangGraph runtime context schema (e.g. a dataclass with ``user_id``).
        checkpointer: a LangGraph checkpointer (threads, persistence).
        store: a LangGraph store made available to nodes.
        name: the compiled graph's name.

    Returns:
        The compiled graph.

    Example:
        ```python
        graph = build_context_graph(model, orch, tools=[lookup], checkpointer=InMemorySaver())
        graph.invoke({"messages": [("user", "hi")]}, {"configurable": {"thread_id": "1"}})
        ```
    """
    from langgraph.graph import END, START, StateGraph  # noqa: PLC0415 - heavy, on use
    from langgraph.prebuilt import ToolNode, tools_condition  # noqa: PLC0415

    tools = list(tools)
    bound: Runnable[Any, Any] = model
    if tools:
        bind_tools = getattr(model, "bind_tools", None)
        if bind_tools is None:
            msg = (
                f"tools were given but the model ({type(model).__name__}) has no bind_tools(); "
                "pass a chat model that supports tool calling, or bind the tools yourself"
            )
            raise TypeError(msg)
        bound = bind_tools(tools)

    def call_model(state: Any, config: RunnableConfig) -> dict[str, Any]:
        return {"messages": [bound.invoke(_messages(state, "context_messages"), config)]}

    async def acall_model(state: Any, config: RunnableConfig) -> dict[str, Any]:
        return {"messages": [await bound.ainvoke(_messages(state, "context_messages"), config)]}

    builder: Any = StateGraph(state_schema, context_schema=context_schema)
    builder.add_node("context", orchestrator.as_node())
    builder.add_node("model", RunnableLambda(call_model, afunc=acall_model, name="model"))
    builder.add_edge(START, "context")
    builder.add_edge("context", "model")
    if tools:
        builder.add_node("tools", ToolNode(tools))
        builder.add_conditional_edges("model", tools_condition, {"tools": "tools", END: END})
        builder.add_edge("tools", "context")
    else:
        builder.add_edge("model", END)
    compiled: CompiledStateGraph[Any, Any, Any, Any] = builder.compile(
        checkpointer=checkpointer, store=store, name=name or "ctxorch_agent"
    )
    return compiled
