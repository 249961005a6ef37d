"""The LangGraph node, the prebuilt graph and the pre_model_hook, with a recording model."""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import Any

import pytest
from ctxorch_fakes import (
    RecordingChatModel,
    assert_valid_window,
    instruction_prefix,
    text_of,
    tool_call,
)
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.store.memory import InMemoryStore
from test_orchestrator import FRESH, INJECTION, INSTRUCTIONS, STALE, make_orch

from langchain_ctxorch.budget import BudgetPolicy
from langchain_ctxorch.graph import (
    REPORT_EVENT,
    ContextState,
    build_context_graph,
    make_context_node,
)
from langchain_ctxorch.memory import StoreMemory
from langchain_ctxorch.orchestrator import ContextOrchestrator


@tool
def lookup_order(order_id: str) -> str:
    """Look up an order by id."""
    return (
        f"Order {order_id}: shipped on Monday with tracking number TRK-{order_id}. "
        + "Details. " * 30
    )


@tool
def web_search(query: str) -> str:
    """Search the web."""
    return f"Top result for {query}: " + INJECTION


def scripted_model() -> RecordingChatModel:
    return RecordingChatModel(
        script=[
            tool_call("lookup_order", {"order_id": "42"}, "call-1"),
            AIMessage("Your order 42 shipped on Monday."),
            tool_call("web_search", {"query": "pro plan price"}, "call-2"),
            AIMessage("The Pro plan costs $49 per month."),
            AIMessage("Refunds take five business days."),
            tool_call("lookup_order", {"order_id": "43"}, "call-3"),
            AIMessage("Order 43 shipped too."),
        ]
    )


TURNS = [
    "Where is my order 42?",
    "What does the Pro plan cost? Please search the web.",
    "How long do refunds take for the Pro plan?",
    "And order 43?",
]


def memory_with_facts() -> StoreMemory:
    memory = StoreMemory(InMemoryStore())
    memory.remember(
        "alice", "Alice is on the Pro plan and prefers email about refunds.", fact_key="profile"
    )
    memory.remember("bob", "Bob is on the Team plan.", fact_key="profile")
    return memory


def check_inputs(model: RecordingChatModel, orch: ContextOrchestrator) -> None:
    """The acceptance checks over every recorded model input."""
    assert model.inputs
    prefixes = set()
    for messages in model.inputs:
        assert orch.counter.count_messages(messages) <= orch.policy.available
        text = text_of(messages)
        assert "attacker@evil.example" not in text
        assert STALE not in text
        assert_valid_window(messages)
        prefixes.add(instruction_prefix(messages))
    assert len(prefixes) == 1
    assert next(iter(prefixes)).startswith(INSTRUCTIONS)


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_prebuilt_graph_multi_turn(mode: str) -> None:
    memory = memory_with_facts()
    orch = make_orch(memory=memory, policy=BudgetPolicy(700, reserve_output=150))
    model = scripted_model()
    graph = build_context_graph(
        model, orch, tools=[lookup_order, web_search], checkpointer=InMemorySaver()
    )
    config: Any = {"configurable": {"thread_id": f"t-{mode}", "user_id": "alice"}}
    quarantined: set[str] = set()
    for turn in TURNS:
        state = {"messages": [HumanMessage(turn)]}
        out = graph.invoke(state, config) if mode == "sync" else await graph.ainvoke(state, config)
        quarantined |= {q["item_id"] for q in out["context_report"]["quarantined"]}
    check_inputs(model, orch)
    assert len(model.inputs) == 7
    # the model saw the fresh price and alice's memory, never bob's
    seen = "\n".join(text_of(m) for m in model.inputs)
    assert FRESH in seen
    assert "Alice is on the Pro plan" in seen
    assert "Bob" not in seen
    # the graph state keeps the full history, including the poisoned tool result
    history = out["messages"]
    assert sum(isinstance(m, HumanMessage) for m in history) == len(TURNS)
    assert any(isinstance(m, ToolMessage) and "attacker" in m.text for m in history)
    # the withheld stand-in answered the poisoned call in what the model saw
    after_search = model.inputs[3]
    withheld = [
        m for m in after_search if isinstance(m, ToolMessage) and m.tool_call_id == "call-2"
    ]
    assert len(withheld) == 1
    assert "withheld" in withheld[0].text
    report = out["context_report"]
    assert report["used"] <= report["budget"]
    assert {"faq-injected", "price-2024"} <= quarantined
    assert out["context_messages"] == model.inputs[-1]


def test_history_longer_than_the_budget_is_trimmed() -> None:
    orch = make_orch(retriever=None, policy=BudgetPolicy(400, reserve_output=100))
    model = RecordingChatModel(script=[AIMessage("Long answer " + "blah " * 80) for _ in range(8)])
    graph = build_context_graph(model, orch, checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "long"}}
    for i in range(8):
        out = graph.invoke({"messages": [HumanMessage(f"question {i}")]}, config)
    check_inputs(model, orch)
    assert len(out["messages"]) == 16  # the state keeps everything
    assert len(model.inputs[-1]) < 16  # the model saw a trimmed window
    assert model.inputs[-1][-1].text == "question 7"
    assert out["context_report"]["counts"]["dropped"] > 0


def _hand_wired(orch: ContextOrchestrator, model: RecordingChatModel, checkpointer: Any) -> Any:
    def call_model(state: ContextState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["context_messages"])]}

    builder = StateGraph(ContextState)
    builder.add_node("context", orch.as_node())
    builder.add_node("model", call_model)
    builder.add_edge(START, "context")
    builder.add_edge("context", "model")
    builder.add_edge("model", END)
    return builder.compile(checkpointer=checkpointer)


@pytest.mark.parametrize("saver", ["memory", "sqlite"])
def test_node_output_survives_checkpointers(saver: str) -> None:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    checkpointer = InMemorySaver() if saver == "memory" else SqliteSaver(conn)
    orch = make_orch(memory=memory_with_facts())
    model = RecordingChatModel(script=[AIMessage("ok"), AIMessage("ok again")])
    graph = _hand_wired(orch, model, checkpointer)
    config: Any = {"configurable": {"thread_id": "cp", "user_id": "alice"}}
    graph.invoke({"messages": [HumanMessage("What does the Pro plan cost?")]}, config)
    graph.invoke({"messages": [HumanMessage("And the Pro plan shipping FAQ?")]}, config)
    snapshot = graph.get_state(config)
    values = snapshot.values
    assert [m.text for m in values["messages"]] == [
        "What does the Pro plan cost?",
        "ok",
        "And the Pro plan shipping FAQ?",
        "ok again",
    ]
    assert values["context_messages"] == model.inputs[-1]
    report = values["context_report"]
    assert isinstance(report, dict)
    assert report["used"] <= report["budget"]
    assert any(q["item_id"] == "faq-injected" for q in report["quarantined"])
    conn.close()


@dataclasses.dataclass
class UserContext:
    user_id: str


async def test_user_id_from_runtime_context() -> None:
    orch = make_orch(memory=memory_with_facts())
    model = RecordingChatModel(script=[AIMessage("ok")] * 4)

    def call_model(state: ContextState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["context_messages"])]}

    builder = StateGraph(ContextState, context_schema=UserContext)
    builder.add_node("context", orch.as_node())
    builder.add_node("model", call_model)
    builder.add_edge(START, "context")
    builder.add_edge("context", "model")
    graph = builder.compile()
    question = {"messages": [HumanMessage("Which plan am I on?")]}
    graph.invoke(question, context=UserContext(user_id="bob"))
    await graph.ainvoke(question, context=UserContext(user_id="alice"))
    assert "Bob is on the Team plan" in text_of(model.inputs[0])
    assert "Alice" not in text_of(model.inputs[0])
    assert "Alice is on the Pro plan" in text_of(model.inputs[1])
    assert "Bob" not in text_of(model.inputs[1])


async def test_node_dispatches_the_report_event() -> None:
    orch = make_orch()
    graph = _hand_wired(orch, RecordingChatModel(script=[AIMessage("ok")]), None)
    events = [
        e
        async for e in graph.astream_events(
            {"messages": [HumanMessage("What does the Pro plan cost?")]}, version="v2"
        )
        if e["event"] == "on_custom_event" and e["name"] == REPORT_EVENT
    ]
    assert len(events) == 1
    assert events[0]["data"]["budget"] == orch.policy.available


def test_node_outside_a_graph_and_custom_keys() -> None:
    orch = make_orch()
    node = make_context_node(orch, messages_key="chat", output_key="window", report_key=None)
    out = node.invoke({"chat": [("user", "What does the Pro plan cost?")]})
    assert set(out) == {"window"}
    assert out["window"][-1].text == "What does the Pro plan cost?"
    with pytest.raises(KeyError, match="state\\['messages'\\]"):
        orch.as_node().invoke({"chat": []})
    with pytest.raises(TypeError, match="ContextOrchestrator"):
        make_context_node(object())  # type: ignore[arg-type]


async def test_node_sync_and_async_agree() -> None:
    orch = make_orch()
    node = orch.as_node()
    state = {"messages": [HumanMessage("What does the Pro plan cost?")]}
    assert node.invoke(state) == await node.ainvoke(state)


def test_build_context_graph_rejects_tools_without_bind_tools() -> None:
    class NoTools:
        pass

    with pytest.raises(TypeError, match="bind_tools"):
        build_context_graph(NoTools(), make_orch(), tools=[lookup_order])  # type: ignore[arg-type]


# create_react_agent is deprecated upstream in favour of langchain.agents.create_agent; the
# pre_model_hook path is still supported for existing agents.
@pytest.mark.filterwarnings("ignore::langgraph.warnings.LangGraphDeprecationWarning")
@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_pre_model_hook_with_create_react_agent(mode: str) -> None:
    from langgraph.prebuilt import create_react_agent  # noqa: PLC0415

    orch = make_orch(memory=memory_with_facts(), policy=BudgetPolicy(700, reserve_output=150))
    model = scripted_model()
    agent = create_react_agent(
        model,
        [lookup_order, web_search],
        pre_model_hook=orch.as_pre_model_hook(),
        checkpointer=InMemorySaver(),
    )
    config: Any = {"configurable": {"thread_id": "react", "user_id": "alice"}}
    for turn in TURNS:
        state = {"messages": [HumanMessage(turn)]}
        out = agent.invoke(state, config) if mode == "sync" else await agent.ainvoke(state, config)
    check_inputs(model, orch)
    assert len(model.inputs) == 7
    history: list[BaseMessage] = out["messages"]
    assert sum(isinstance(m, HumanMessage) for m in history) == len(TURNS)
    assert "llm_input_messages" not in out


@pytest.mark.parametrize("with_own_memory", [False, True])
async def test_memory_from_the_graph_store(with_own_memory: bool) -> None:
    store = InMemoryStore()
    StoreMemory(store).remember(
        "alice", "Alice is on the Pro plan and pays yearly.", fact_key="plan"
    )
    own = StoreMemory(InMemoryStore()) if with_own_memory else None
    orch = make_orch(memory=own)
    model = RecordingChatModel(script=[AIMessage("ok")] * 2)

    def call_model(state: ContextState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["context_messages"])]}

    builder = StateGraph(ContextState)
    builder.add_node("context", orch.as_node(memory_from_store=True))
    builder.add_node("model", call_model)
    builder.add_edge(START, "context")
    builder.add_edge("context", "model")
    graph = builder.compile(store=store)
    config: Any = {"configurable": {"user_id": "alice"}}
    graph.invoke({"messages": [HumanMessage("Which plan am I on?")]}, config)
    await graph.ainvoke({"messages": [HumanMessage("Which plan am I on?")]}, config)
    for messages in model.inputs:
        assert "Alice is on the Pro plan" in text_of(messages)
    assert orch.memory is own  # the shared orchestrator was not changed


def test_with_memory_shares_the_packer() -> None:
    orch = make_orch()
    memory = StoreMemory(InMemoryStore())
    clone = orch.with_memory(memory)
    assert clone.memory is memory
    assert orch.memory is None
    assert clone.packer is orch.packer
    with pytest.raises(TypeError, match="StoreMemory"):
        orch.with_memory(object())  # type: ignore[arg-type]


def test_node_reads_the_configured_user_id_key() -> None:
    orch = make_orch(memory=memory_with_facts())
    node = orch.as_node(user_id_key="langgraph_auth_user_id")
    config: Any = {"configurable": {"user_id": "alice", "langgraph_auth_user_id": "bob"}}
    out = node.invoke({"messages": [HumanMessage("Which plan am I on?")]}, config)
    text = text_of(out["context_messages"])
    assert "Bob is on the Team plan" in text
    assert "Alice" not in text


def test_prebuilt_graph_topology() -> None:
    with_tools = build_context_graph(
        scripted_model(), make_orch(), tools=[lookup_order]
    ).get_graph()
    assert set(with_tools.nodes) == {"__start__", "context", "model", "tools", "__end__"}
    edges = {(e.source, e.target) for e in with_tools.edges}
    assert edges == {
        ("__start__", "context"),
        ("context", "model"),
        ("model", "tools"),
        ("model", "__end__"),
        ("tools", "context"),
    }
    plain = build_context_graph(scripted_model(), make_orch()).get_graph()
    assert {(e.source, e.target) for e in plain.edges} == {
        ("__start__", "context"),
        ("context", "model"),
        ("model", "__end__"),
    }


# See test_pre_model_hook_with_create_react_agent for why the deprecation is ignored.
@pytest.mark.filterwarnings("ignore::langgraph.warnings.LangGraphDeprecationWarning")
def test_pre_model_hook_can_write_the_report() -> None:
    from langgraph.prebuilt import create_react_agent  # noqa: PLC0415
    from langgraph.prebuilt.chat_agent_executor import AgentState  # noqa: PLC0415

    class State(AgentState):
        context_report: dict[str, Any]

    orch = make_orch()
    model = RecordingChatModel(script=[AIMessage("ok")])
    agent = create_react_agent(
        model,
        [],
        pre_model_hook=orch.as_pre_model_hook(report_key="context_report"),
        state_schema=State,
    )
    out = agent.invoke({"messages": [HumanMessage("What does the Pro plan cost?")]})
    assert out["context_report"]["used"] <= out["context_report"]["budget"]
    assert FRESH in text_of(model.inputs[0])


def test_report_event_reaches_a_callback_handler_in_sync_runs() -> None:
    from langchain_core.callbacks import BaseCallbackHandler  # noqa: PLC0415

    class Recorder(BaseCallbackHandler):
        def __init__(self) -> None:
            self.events: list[tuple[str, Any]] = []

        def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
            self.events.append((name, data))

    recorder = Recorder()
    orch = make_orch()
    graph = _hand_wired(orch, RecordingChatModel(script=[AIMessage("ok")]), None)
    out = graph.invoke(
        {"messages": [HumanMessage("What does the Pro plan cost?")]}, {"callbacks": [recorder]}
    )
    assert [name for name, _ in recorder.events] == [REPORT_EVENT]
    assert recorder.events[0][1] == out["context_report"]
