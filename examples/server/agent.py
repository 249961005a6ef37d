"""The support agent served by the LangGraph server (``langgraph dev`` or LangGraph Platform).

``langgraph.json`` points at ``graph`` below. Nothing here holds per-user or per-process state:
conversations live in the server's checkpointer, memories in the server's store (Postgres on
LangGraph Platform; in-memory for ``langgraph dev``), so any number of replicas can serve any
thread.

- The context node is ``orchestrator.as_node(memory_from_store=True)``: it recalls the user's
  memories from the store the server gives the graph, for the ``user_id`` in
  ``config["configurable"]`` (or the run's ``context``).
- The ``remember`` tool writes through ``StoreMemory``'s write-back guard into that same store.
- The model is ``init_chat_model(os.environ["CTXORCH_MODEL"])`` when the variable is set, else
  `OfflineModel`, a small deterministic stand-in (no API key needed).

Try it::

    cd examples/server && langgraph dev --no-browser
    # then, with langgraph_sdk:
    # client.runs.wait(thread_id, "support_agent", input={"messages": [...]},
    #                  config={"configurable": {"user_id": "alice"}})
"""

from __future__ import annotations

import os
import re
from typing import Any

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.config import get_store
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from langchain_ctxorch import BudgetPolicy
from langchain_ctxorch.graph import ContextState
from langchain_ctxorch.memory import StoreMemory
from langchain_ctxorch.orchestrator import ContextOrchestrator
from langchain_ctxorch.retrievers import BM25KnowledgeRetriever

INSTRUCTIONS = (
    "You are the support assistant of Acme Cloud. Use the remember tool when the customer asks "
    "you to remember something. Answer from the knowledge and memories you are given."
)

KNOWLEDGE = [
    Document(
        "The Pro plan costs $49 per month.", id="price-pro", metadata={"source": "pricing.md"}
    ),
    Document(
        "Support is available 24/7 by email and chat.",
        id="support",
        metadata={"source": "support.md"},
    ),
]

_MARKER = re.compile(r"<</?data:[0-9a-f]+>>\n?")


@tool
async def remember(fact: str, config: RunnableConfig) -> str:
    """Remember a fact about the customer for future conversations."""
    user_id = (config.get("configurable") or {}).get("user_id")
    if not user_id:
        return "Not saved: this run has no user_id."
    result = await StoreMemory(get_store()).aremember(str(user_id), fact, source="user")
    return f"Saved ({result.action})." if result.ok else f"Not saved ({result.action})."


class OfflineModel(BaseChatModel):
    """Calls ``remember`` for "remember ..." requests; otherwise repeats its memories section."""

    @property
    def _llm_type(self) -> str:
        return "offline-support"

    def bind_tools(self, tools: Any, **kwargs: Any) -> OfflineModel:  # type: ignore[override]  # noqa: ARG002
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: Any = None,  # noqa: ARG002 - part of the BaseChatModel signature
        run_manager: Any = None,  # noqa: ARG002
        **kwargs: Any,  # noqa: ARG002
    ) -> ChatResult:
        last = messages[-1]
        if isinstance(last, ToolMessage):
            reply = AIMessage(_MARKER.sub("", last.text).strip())
        elif isinstance(last, HumanMessage) and (
            m := re.match(r"\s*remember:?\s*(.+)", last.text, re.IGNORECASE)
        ):
            call = {"name": "remember", "args": {"fact": m.group(1)}, "id": f"call-{len(messages)}"}
            reply = AIMessage("", tool_calls=[call])
        else:
            system = messages[0].text if isinstance(messages[0], SystemMessage) else ""
            section = system.split("# Memories", 1)[1] if "# Memories" in system else ""
            blocks = [_MARKER.sub("", b).strip() for b in section.split("\n\n") if b.strip()]
            memories = [b.split("\n", 1)[-1] if b.startswith("source:") else b for b in blocks]
            reply = AIMessage(
                "I remember: " + " | ".join(memories)
                if memories
                else "I have no memories of you yet."
            )
        return ChatResult(generations=[ChatGeneration(message=reply)])


def _model() -> BaseChatModel:
    name = os.environ.get("CTXORCH_MODEL")
    if name:
        from langchain.chat_models import init_chat_model  # noqa: PLC0415 - only for real models

        return init_chat_model(name)
    return OfflineModel()


def make_graph() -> Any:
    """The graph: ``START -> context -> model -> (tools -> context -> model)* -> END``."""
    orchestrator = ContextOrchestrator(
        INSTRUCTIONS,
        retriever=BM25KnowledgeRetriever.from_documents(KNOWLEDGE, k=2),
        policy=BudgetPolicy(4000, reserve_output=500),
    )
    tools = [remember]
    model = _model().bind_tools(tools)

    async def call_model(state: ContextState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["context_messages"])]}

    builder = StateGraph(ContextState)
    builder.add_node("context", orchestrator.as_node(memory_from_store=True))
    builder.add_node("model", call_model)
    builder.add_node("tools", ToolNode(tools))
    builder.add_edge(START, "context")
    builder.add_edge("context", "model")
    builder.add_conditional_edges("model", tools_condition, {"tools": "tools", END: END})
    builder.add_edge("tools", "context")
    # No checkpointer or store here: the LangGraph server provides both.
    return builder.compile(name="support_agent")


graph = make_graph()
