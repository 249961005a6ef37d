"""Test doubles shared by the orchestrator, graph, middleware and example tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

Step = AIMessage | Callable[[list[BaseMessage]], AIMessage]


class RecordingChatModel(BaseChatModel):
    """A chat model that records every input and answers from a script.

    Each call consumes the next script step: an ``AIMessage`` (copied) or a function of the
    input messages returning one. When the script is exhausted it answers "done".
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    script: list[Any] = Field(default_factory=list)
    inputs: list[list[BaseMessage]] = Field(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "recording-fake"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self._lock:
            self.inputs.append(list(messages))
            n = len(self.inputs) - 1
        step = self.script[n] if n < len(self.script) else AIMessage("done")
        message = step(list(messages)) if callable(step) else step.model_copy()
        return ChatResult(generations=[ChatGeneration(message=message)])

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> RecordingChatModel:  # type: ignore[override]
        return self


def tool_call(name: str, args: dict[str, Any], call_id: str) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": call_id}])


def text_of(messages: Sequence[BaseMessage]) -> str:
    parts = []
    for m in messages:
        parts.append(m.content if isinstance(m.content, str) else str(m.content))
        if isinstance(m, AIMessage):
            parts.extend(str(c) for c in m.tool_calls)
    return "\n".join(parts)


def assert_valid_window(messages: Sequence[BaseMessage]) -> None:
    """No orphan tool results and every tool call answered, in order."""
    open_calls: set[str] = set()
    for i, m in enumerate(messages):
        if isinstance(m, SystemMessage):
            assert i == 0, f"system message at position {i}"
        if isinstance(m, AIMessage) and m.tool_calls:
            assert not open_calls, f"unanswered tool calls {open_calls} before message {i}"
            open_calls = {str(c["id"]) for c in m.tool_calls}
        elif isinstance(m, ToolMessage):
            assert m.tool_call_id in open_calls, f"orphan tool result {m.tool_call_id!r} at {i}"
            open_calls.discard(m.tool_call_id)
        else:
            assert not open_calls, f"unanswered tool calls {open_calls} before message {i}"


def instruction_prefix(messages: Sequence[BaseMessage]) -> str:
    """The system message up to the first knowledge or memory section."""
    first = messages[0]
    assert isinstance(first, SystemMessage)
    assert isinstance(first.content, str)
    text = first.content
    for header in ("\n\n# Retrieved knowledge", "\n\n# Memories"):
        text = text.split(header)[0]
    return text
