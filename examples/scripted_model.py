"""An offline stand-in for a chat model, so every example runs without an API key.

``load_chat_model()`` returns ``init_chat_model(os.environ["CTXORCH_MODEL"])`` when the variable
is set (any ``init_chat_model`` string, e.g. ``openai:gpt-4.1-mini`` or
``anthropic:claude-sonnet-4-5``; install the provider package and set its API key), else a
`ScriptedSupportModel`.

`ScriptedSupportModel` is deterministic and honest about what it sees: it calls a tool when the
user's message matches one of its rules, and otherwise answers only from the window it was
given (the knowledge and memory sections of the system message, and tool results). It records
every input in ``.inputs`` so the examples can show what the model saw.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

_MARKER = re.compile(r"<</?data:[0-9a-f]+>>\n?")
_WORD = re.compile(r"\w+")
_STOP = frozenset(
    "a an the is are do does what how my me i you your of to for in on and or can it".split()
)

ToolRule = tuple[str, str, Callable[[re.Match[str]], dict[str, Any]]]
"""(tool name, regex over the user's message, args from the match)."""


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def _blocks(system: str) -> list[str]:
    """Knowledge and memory blocks of the system message (markers and headers removed)."""
    out: list[str] = []
    for section in re.split(r"\n\n# (?:Retrieved knowledge|Memories)\n\n", system)[1:]:
        for block in section.split("\n\n"):
            text = _MARKER.sub("", block).strip()
            if text and not text.startswith("# "):
                out.append(text)
    return out


class ScriptedSupportModel(BaseChatModel):
    """A deterministic tool-calling chat model for offline runs (records its inputs)."""

    rules: list[Any] = Field(default_factory=list)
    """`ToolRule`s: the first whose regex matches the user's message triggers a tool call."""
    tool_names: list[str] = Field(default_factory=list)
    """Names of the bound tools (set by ``bind_tools``)."""
    inputs: list[list[BaseMessage]] = Field(default_factory=list)
    """Every input this model (or a copy made by ``bind_tools``) was called with."""

    @property
    def _llm_type(self) -> str:
        return "scripted-support"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedSupportModel:  # type: ignore[override]  # noqa: ARG002
        names = [getattr(t, "name", None) or getattr(t, "__name__", str(t)) for t in tools]
        bound = self.model_copy(update={"tool_names": names})
        bound.inputs = self.inputs  # one shared record
        return bound

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,  # noqa: ARG002 - part of the BaseChatModel signature
        run_manager: Any = None,  # noqa: ARG002
        **kwargs: Any,  # noqa: ARG002
    ) -> ChatResult:
        self.inputs.append(list(messages))
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages))])

    def _reply(self, messages: Sequence[BaseMessage]) -> AIMessage:
        last = messages[-1] if messages else HumanMessage("")
        if isinstance(last, ToolMessage):
            result = _MARKER.sub("", last.text).strip()
            if "withheld" in result:
                return AIMessage(
                    "I could not use that tool's result (it was flagged as unsafe), so I won't rely on it."
                )
            return AIMessage(f"Here is what I found: {result}")
        question = last.text if isinstance(last, HumanMessage) else ""
        for name, pattern, args in self.rules:
            match = re.search(pattern, question, re.IGNORECASE)
            if match and name in self.tool_names:
                call_id = f"call_{name}_{len(messages)}"
                return AIMessage(
                    "", tool_calls=[{"name": name, "args": args(match), "id": call_id}]
                )
        if re.match(r"\s*(?:please )?remember\b", question, re.IGNORECASE):
            return AIMessage("Noted, I will keep that in mind.")
        system = messages[0].text if messages and isinstance(messages[0], SystemMessage) else ""
        wanted = _words(question)
        ranked = sorted(_blocks(system), key=lambda b: -len(wanted & _words(b)))
        useful = [b for b in ranked[:2] if wanted & _words(b)]
        if not useful:
            return AIMessage(
                "I don't have that information in my context; let me check with the team."
            )
        facts = " ".join(b.split("\n", 1)[-1] if b.startswith("source:") else b for b in useful)
        return AIMessage(f"From what I know: {facts}")


def load_chat_model(rules: Sequence[ToolRule] = ()) -> BaseChatModel:
    """The model named by ``CTXORCH_MODEL`` (a real provider), else a `ScriptedSupportModel`."""
    name = os.environ.get("CTXORCH_MODEL")
    if name:
        from langchain.chat_models import init_chat_model  # noqa: PLC0415 - only for real models

        return init_chat_model(name)
    return ScriptedSupportModel(rules=list(rules))


def recorded_inputs(model: BaseChatModel) -> list[list[BaseMessage]]:
    """What the model was called with (only the offline model records it)."""
    return model.inputs if isinstance(model, ScriptedSupportModel) else []
