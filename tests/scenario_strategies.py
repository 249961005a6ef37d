"""Hypothesis strategies for random context scenarios (shared by unit and hardening tests)."""

from __future__ import annotations

from hypothesis import strategies as st
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from langchain_ctxorch import ContextItem, Layer, Trust

WORDS = (
    "refund policy order shipped price plan pro basic invoice customer support delivery "
    "window days account password reset email phone contract renewal discount warranty "
    "the a of to and is in it for on with as at by this that from"
).split()

_text = st.lists(st.sampled_from(WORDS), min_size=1, max_size=60).map(
    lambda ws: " ".join(ws).capitalize() + "."
)
_long_text = st.lists(_text, min_size=1, max_size=12).map(" ".join)
_unicode = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40
)
content = st.one_of(_long_text, _long_text, _unicode)


@st.composite
def scenario(draw: st.DrawFn) -> tuple[list[ContextItem], str | None]:
    """Random items from all four layers, with tool-call groups and pinned items, and a query."""
    items: list[ContextItem] = []
    n = 0

    def uid() -> str:
        nonlocal n
        n += 1
        return f"i{n}"

    for _ in range(draw(st.integers(0, 2))):
        items.append(ContextItem(id=uid(), content=draw(_text), layer=Layer.INSTRUCTIONS))
    for _ in range(draw(st.integers(0, 12))):
        items.append(
            ContextItem(
                id=uid(),
                content=draw(content),
                layer=Layer.KNOWLEDGE,
                source=draw(st.sampled_from(["", "kb/a.md", "web"])),
                trust=draw(st.sampled_from(list(Trust))),
                priority=draw(st.integers(-3, 3)),
                relevance=draw(st.one_of(st.none(), st.floats(0, 1))),
                pinned=draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans()),
            )
        )
    for _ in range(draw(st.integers(0, 4))):
        items.append(ContextItem(id=uid(), content=draw(content), layer=Layer.MEMORY))
    history: list[BaseMessage] = []
    for t in range(draw(st.integers(0, 8))):
        history.append(HumanMessage(draw(_text), id=uid()))
        if draw(st.booleans()):
            calls = draw(st.integers(1, 3))
            ids = [f"call-{n}-{t}-{k}" for k in range(calls)]
            history.append(
                AIMessage(
                    "",
                    tool_calls=[
                        {"name": "lookup", "args": {"k": k}, "id": i} for k, i in enumerate(ids)
                    ],
                    id=uid(),
                )
            )
            history.extend(ToolMessage(draw(content), tool_call_id=i, id=uid()) for i in ids)
        history.append(AIMessage(draw(_text), id=uid()))
    items.extend(ContextItem.from_messages(history, layer=Layer.MEMORY))
    if draw(st.booleans()):
        items.append(
            ContextItem.from_message(HumanMessage(draw(_text), id=uid()), layer=Layer.TASK)
        )
        if draw(st.booleans()):
            call = f"call-now-{n}"
            items.append(
                ContextItem.from_message(
                    AIMessage(
                        "", tool_calls=[{"name": "search", "args": {}, "id": call}], id=uid()
                    ),
                    layer=Layer.TASK,
                )
            )
            items.append(
                ContextItem.from_message(
                    ToolMessage(draw(content), tool_call_id=call, id=uid()), layer=Layer.TASK
                )
            )
    if draw(st.booleans()):  # an orphan tool result, which must never reach the window
        items.append(
            ContextItem.from_message(
                ToolMessage(draw(_text), tool_call_id="nobody-called-me", id=uid()),
                layer=Layer.MEMORY,
            )
        )
    query = draw(st.one_of(st.none(), _text))
    return items, query
