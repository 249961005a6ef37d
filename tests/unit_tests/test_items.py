from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from pydantic import ValidationError

from langchain_ctxorch import ContextItem, Layer, Trust

UTC = timezone.utc


def test_default_trust_follows_layer_and_role() -> None:
    assert ContextItem(content="x", layer=Layer.INSTRUCTIONS).trust is Trust.SYSTEM
    assert ContextItem(content="x", layer=Layer.KNOWLEDGE).trust is Trust.EXTERNAL
    assert ContextItem(content="x", layer=Layer.MEMORY).trust is Trust.INTERNAL
    assert ContextItem(content="x", layer=Layer.TASK).trust is Trust.INTERNAL
    tool = ContextItem.from_message(ToolMessage("r", tool_call_id="c1"), layer=Layer.TASK)
    assert tool.trust is Trust.EXTERNAL
    assert tool.is_tool_result


def test_trust_is_ordered_and_parsed() -> None:
    assert Trust.SYSTEM > Trust.VERIFIED > Trust.INTERNAL > Trust.EXTERNAL > Trust.MODEL
    assert ContextItem(content="x", layer="knowledge", trust="verified").trust is Trust.VERIFIED
    with pytest.raises(ValueError, match="trust must be one of"):
        ContextItem(content="x", layer=Layer.KNOWLEDGE, trust="trusted")


def test_ids_are_stable_and_content_derived() -> None:
    a = ContextItem(content="same", layer=Layer.KNOWLEDGE, source="s")
    b = ContextItem(content="same", layer=Layer.KNOWLEDGE, source="s")
    c = ContextItem(content="same", layer=Layer.KNOWLEDGE, source="other")
    assert a.id == b.id != c.id
    assert len(a.id) == 16


def test_item_is_frozen() -> None:
    item = ContextItem(content="x", layer=Layer.KNOWLEDGE)
    with pytest.raises(ValidationError):
        item.content = "y"  # type: ignore[misc]


@pytest.mark.parametrize("bad", [123, b"bytes", None, ["x"]])
def test_non_str_content_is_rejected(bad: object) -> None:
    with pytest.raises(ValidationError, match="content"):
        ContextItem(content=bad, layer=Layer.KNOWLEDGE)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -0.1, 1.5])
def test_relevance_must_be_finite_in_unit_interval(bad: float) -> None:
    with pytest.raises(ValidationError, match=r"relevance must be a finite number in \[0, 1\]"):
        ContextItem(content="x", layer=Layer.KNOWLEDGE, relevance=bad)


@pytest.mark.parametrize("bad", [math.nan, math.inf, 1.5])
def test_priority_must_be_an_integer(bad: float) -> None:
    with pytest.raises(ValidationError, match="priority"):
        ContextItem(content="x", layer=Layer.KNOWLEDGE, priority=bad)  # type: ignore[arg-type]


def test_naive_datetimes_are_rejected_with_the_fix() -> None:
    with pytest.raises(ValidationError, match=r"naive.*tzinfo=timezone.utc"):
        ContextItem(content="x", layer=Layer.KNOWLEDGE, expires_at=datetime(2030, 1, 1))  # noqa: DTZ001
    aware = datetime(2030, 1, 1, tzinfo=UTC)
    assert ContextItem(content="x", layer=Layer.KNOWLEDGE, expires_at=aware).expires_at == aware


def test_unknown_layer_is_named() -> None:
    with pytest.raises(ValidationError, match="layer must be one of"):
        ContextItem(content="x", layer="facts")


def test_from_document_maps_metadata() -> None:
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    doc = Document(
        "Pro costs $49.",
        id="doc-1",
        metadata={
            "source": "pricing.md",
            "fact_key": "price:pro",
            "trust": "verified",
            "priority": 2,
            "relevance": 0.5,
            "expires_at": expires.isoformat(),
            "valid_from": (expires - timedelta(days=30)).isoformat(),
            "other": "kept",
        },
    )
    item = ContextItem.from_document(doc)
    assert item.id == "doc-1"
    assert item.layer is Layer.KNOWLEDGE
    assert (item.source, item.fact_key, item.trust, item.priority) == (
        "pricing.md",
        "price:pro",
        Trust.VERIFIED,
        2,
    )
    assert item.relevance == 0.5
    assert item.expires_at == expires
    assert item.metadata["other"] == "kept"
    assert doc.metadata["trust"] == "verified"  # input not mutated


def test_from_document_rejects_other_types() -> None:
    with pytest.raises(TypeError, match="must be a Document, got str"):
        ContextItem.from_document("text")  # type: ignore[arg-type]


def test_from_message_keeps_the_message_and_its_id() -> None:
    ai = AIMessage("", tool_calls=[{"name": "f", "args": {"a": 1}, "id": "c1"}], id="m-ai")
    item = ContextItem.from_message(ai, layer=Layer.TASK)
    assert item.id == "m-ai"
    assert item.role == "assistant"
    assert item.message is ai
    assert item.to_message() is ai


def test_from_message_hash_includes_tool_calls() -> None:
    a = AIMessage("", tool_calls=[{"name": "f", "args": {"a": 1}, "id": "c1"}])
    b = AIMessage("", tool_calls=[{"name": "f", "args": {"a": 2}, "id": "c2"}])
    assert ContextItem.from_message(a).id != ContextItem.from_message(b).id


def test_from_messages_makes_repeated_ids_unique() -> None:
    msgs = [HumanMessage("ok"), AIMessage("sure"), HumanMessage("ok"), HumanMessage("ok", id="x")]
    items = ContextItem.from_messages(msgs, layer=Layer.MEMORY)
    ids = [i.id for i in items]
    assert len(set(ids)) == 4
    assert ids[3] == "x"
    assert ContextItem.from_messages(msgs)[2].id == ids[2]  # stable across calls


def test_can_truncate_defaults() -> None:
    assert ContextItem(content="x", layer=Layer.KNOWLEDGE).can_truncate
    assert not ContextItem(content="x", layer=Layer.KNOWLEDGE, pinned=True).can_truncate
    assert not ContextItem(content="x", layer=Layer.INSTRUCTIONS, truncatable=True).can_truncate
    assert not ContextItem(content="x", layer=Layer.MEMORY).can_truncate
    tool = ContextItem.from_message(ToolMessage("r", tool_call_id="c"), layer=Layer.TASK)
    assert tool.can_truncate
