"""`ContextOrchestrationMiddleware`: context orchestration for ``langchain.agents.create_agent``.

Needs the ``langchain`` package (``pip install "langchain-ctxorch[agents]"``); importing
``langchain_ctxorch`` itself does not import it.

Key types:

- `ContextOrchestrationMiddleware`: on every model call, packs the agent's system prompt and
  messages with a `ContextOrchestrator` and hands the model the packed window instead (the
  change is ephemeral: the agent state keeps the full history). The report goes to the state
  key ``context_report`` and to the custom callback event ``ctxorch_report``. Optionally,
  after each model call, memories extracted from the conversation are written through
  `StoreMemory`'s write-back guard.
- `ContextAgentState`: the agent state schema the middleware adds (``context_report``).

Example:
    ```python
    from langchain.agents import create_agent

    agent = create_agent(
        model,
        tools=[lookup_order],
        system_prompt="You are a support agent.",
        middleware=[ContextOrchestrationMiddleware(orchestrator)],
    )
    out = agent.invoke(
        {"messages": [("user", "Where is my order?")]},
        {"configurable": {"user_id": "alice"}},
    )
    out["context_report"]["counts"]  # {'included': 5, 'truncated': 0, 'dropped': 1, ...}
    ```
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from langchain.agents.middleware.types import (
    AgentMiddleware,
    AgentState,
    ExtendedModelResponse,
    ModelRequest,
    ModelResponse,
)
from langchain_core.callbacks.manager import adispatch_custom_event, dispatch_custom_event
from langchain_core.messages import AnyMessage, BaseMessage, SystemMessage
from langgraph.types import Command
from typing_extensions import NotRequired, override

from langchain_ctxorch.graph import REPORT_EVENT, wants_events
from langchain_ctxorch.orchestrator import ContextOrchestrator, resolve_user_id

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig
    from langgraph.runtime import Runtime

    from langchain_ctxorch.memory import RememberResult
    from langchain_ctxorch.packing import PackedContext

__all__ = ["ContextAgentState", "ContextOrchestrationMiddleware", "MemoryExtractor"]

logger = logging.getLogger(__name__)

MemoryExtractor = Callable[[Sequence[BaseMessage]], Iterable[str | Mapping[str, Any]]]
"""Turns the conversation (after a model call) into memories to write.

Each entry is the memory text, or a mapping of ``StoreMemory.remember`` keyword arguments with
``content`` (e.g. ``{"content": "Prefers email.", "fact_key": "contact", "source": "user"}``).
"""

_REMEMBER_KEYS = frozenset(
    {"content", "fact_key", "source", "trust", "expires_at", "grounded", "metadata"}
)


class ContextAgentState(AgentState[Any]):
    """The agent state with the context report of the last model call."""

    context_report: NotRequired[dict[str, Any]]
    """``ContextReport.to_dict()`` of the window the model saw on its last call."""


def _config() -> RunnableConfig | None:
    try:
        from langgraph.config import get_config  # noqa: PLC0415 - only inside a graph run

        return get_config()
    except RuntimeError:
        return None


class ContextOrchestrationMiddleware(AgentMiddleware[ContextAgentState, Any, Any]):
    """Agent middleware that gives every model call a packed, filtered, budgeted window.

    ``wrap_model_call`` / ``awrap_model_call`` take the request's system message and messages,
    run them through ``orchestrator.assemble`` / ``aassemble`` (the system prompt joins the
    instructions after the orchestrator's own, retrievers and memory are queried, poisoned items
    are quarantined, the rest is packed to the budget) and call the model with
    ``request.override(system_message=..., messages=...)``. The agent state is untouched apart
    from ``context_report``. The user id comes from ``config["configurable"]["user_id"]`` or the
    runtime context (``context_schema`` with a ``user_id`` field).

    Args:
        orchestrator: the `ContextOrchestrator`.
        extract_memories: optional `MemoryExtractor` run after each model call
            (``after_model``); what it returns is written with ``orchestrator.memory.remember``
            for the run's user, through the memory's write-back guard (poisoned or unverified
            writes are quarantined there, never recalled).
        report: write the report to the ``context_report`` state key.
        emit_event: dispatch the report as the custom callback event ``ctxorch_report``.
        user_id_key: the ``config["configurable"]`` key holding the user id
            (``"langgraph_auth_user_id"`` on the LangGraph server with custom auth).
        memory_from_store: read (and, with ``extract_memories``, write) memories in the store
            the agent runs with (``create_agent(store=...)`` or the LangGraph server's) instead
            of the orchestrator's own memory.

    Raises:
        TypeError: ``orchestrator`` is not a `ContextOrchestrator`.
        ValueError: ``extract_memories`` is given but the orchestrator has no memory.

    Example:
        ```python
        def remember_plan(messages):
            last = messages[-1].text
            return [{"content": last, "fact_key": "plan"}] if "plan" in last else []


        middleware = ContextOrchestrationMiddleware(orch, extract_memories=remember_plan)
        ```
    """

    state_schema = ContextAgentState

    def __init__(
        self,
        orchestrator: ContextOrchestrator,
        *,
        extract_memories: MemoryExtractor | None = None,
        report: bool = True,
        emit_event: bool = True,
        user_id_key: str = "user_id",
        memory_from_store: bool = False,
    ) -> None:
        """Create the middleware."""
        super().__init__()
        given: object = orchestrator
        if not isinstance(given, ContextOrchestrator):
            msg = f"orchestrator must be a ContextOrchestrator, got {type(orchestrator).__name__}"
            raise TypeError(msg)
        if extract_memories is not None and orchestrator.memory is None and not memory_from_store:
            msg = (
                "extract_memories needs somewhere to write: give the orchestrator a memory "
                "(ContextOrchestrator(..., memory=StoreMemory(...)))"
            )
            raise ValueError(msg)
        self.orchestrator = orchestrator
        self.extract_memories = extract_memories
        self.report = report
        self.emit_event = emit_event
        self.user_id_key = user_id_key
        self.memory_from_store = memory_from_store
        self.tools = []

    # ------------------------------------------------------------------ model calls

    def _orchestrator(self, runtime: Runtime[Any] | None) -> ContextOrchestrator:
        store = getattr(runtime, "store", None) if self.memory_from_store else None
        return self.orchestrator if store is None else self.orchestrator.with_store(store)

    @staticmethod
    def _incoming(request: ModelRequest[Any]) -> list[BaseMessage]:
        messages: list[BaseMessage] = list(request.messages)
        if request.system_message is not None:
            messages.insert(0, request.system_message)
        return messages

    @staticmethod
    def _override(request: ModelRequest[Any], packed: PackedContext) -> ModelRequest[Any]:
        messages = list(packed.messages)
        system = messages.pop(0) if messages and isinstance(messages[0], SystemMessage) else None
        assert system is None or isinstance(system, SystemMessage)  # noqa: S101 - narrowed above
        return request.override(system_message=system, messages=cast("list[AnyMessage]", messages))

    def _respond(
        self, response: ModelResponse[Any], report: dict[str, Any]
    ) -> ModelResponse[Any] | ExtendedModelResponse[Any]:
        if not self.report:
            return response
        return ExtendedModelResponse(
            model_response=response, command=Command(update={"context_report": report})
        )

    @override
    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ModelResponse[Any] | ExtendedModelResponse[Any]:
        """Pack the request's messages and call the model with the packed window."""
        config = _config()
        packed = self._orchestrator(request.runtime).assemble(
            self._incoming(request),
            user_id=resolve_user_id(config, request.runtime, key=self.user_id_key),
            config=config,
        )
        report = packed.report.to_dict()
        if self.emit_event and wants_events(config):
            with contextlib.suppress(RuntimeError):  # no parent run to attach the event to
                dispatch_custom_event(REPORT_EVENT, report, config=config)
        return self._respond(handler(self._override(request, packed)), report)

    @override
    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any] | ExtendedModelResponse[Any]:
        """Async twin of `wrap_model_call` (sources are queried concurrently)."""
        config = _config()
        packed = await self._orchestrator(request.runtime).aassemble(
            self._incoming(request),
            user_id=resolve_user_id(config, request.runtime, key=self.user_id_key),
            config=config,
        )
        report = packed.report.to_dict()
        if self.emit_event and wants_events(config):
            with contextlib.suppress(RuntimeError):  # no parent run to attach the event to
                await adispatch_custom_event(REPORT_EVENT, report, config=config)
        return self._respond(await handler(self._override(request, packed)), report)

    # ------------------------------------------------------------------ memory write-back

    def _writes(
        self, state: ContextAgentState, runtime: Runtime[Any]
    ) -> tuple[str, list[dict[str, Any]]] | None:
        if self.extract_memories is None:
            return None
        user_id = resolve_user_id(_config(), runtime, key=self.user_id_key)
        if user_id is None:
            logger.warning(
                "ContextOrchestrationMiddleware: no user_id, memories not written (set "
                "config['configurable']['user_id'] or a runtime context with user_id)"
            )
            return None
        writes: list[dict[str, Any]] = []
        for entry in self.extract_memories(list(state["messages"])):
            if isinstance(entry, str):
                writes.append({"content": entry})
                continue
            if not isinstance(entry, Mapping) or not isinstance(entry.get("content"), str):
                msg = (
                    "extract_memories must yield str or mappings with a str 'content', "
                    f"got {entry!r:.120}"
                )
                raise TypeError(msg)
            unknown = set(entry) - _REMEMBER_KEYS
            if unknown:
                msg = (
                    f"extract_memories yielded unknown keys {sorted(unknown)}; allowed: "
                    f"{sorted(_REMEMBER_KEYS)}"
                )
                raise ValueError(msg)
            writes.append(dict(entry))
        return user_id, writes

    @staticmethod
    def _log(results: Sequence[RememberResult]) -> None:
        for r in results:
            if not r.ok:
                logger.info("memory write %s: %s %s", r.action, r.memory_id, r.findings)

    @override
    def after_model(self, state: ContextAgentState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Write the extracted memories through the memory's write-back guard."""
        planned = self._writes(state, runtime)
        memory = self._orchestrator(runtime).memory
        if planned is None or memory is None:
            return None
        user_id, writes = planned
        self._log([memory.remember(user_id, **w) for w in writes])
        return None

    @override
    async def aafter_model(
        self, state: ContextAgentState, runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        """Async twin of `after_model`."""
        planned = self._writes(state, runtime)
        memory = self._orchestrator(runtime).memory
        if planned is None or memory is None:
            return None
        user_id, writes = planned
        self._log([await memory.aremember(user_id, **w) for w in writes])
        return None
