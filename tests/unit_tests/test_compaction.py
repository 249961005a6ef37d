"""History compaction: drop or summarise, never split tool groups, never lose pinned facts."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from langchain_core.language_models import BaseChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatResult

from langchain_ctxorch.compaction import (
    SUMMARY_HEADER,
    CompactionError,
    acompact_history,
    compact_history,
    is_pinned,
    pin_message,
)
from langchain_ctxorch.errors import BudgetExceededError
from langchain_ctxorch.items import ContextItem
from langchain_ctxorch.tokens import TiktokenCounter


class FailingChatModel(BaseChatModel):
    """A chat model whose every call fails, like a provider outage."""

    @property
    def _llm_type(self) -> str:
        return "failing-fake"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        msg = "model endpoint unreachable"
        raise ConnectionError(msg)


def fake(*texts: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(t) for t in texts]))


def history() -> list[BaseMessage]:
    return [
        SystemMessage("You are a support agent.", id="sys"),
        HumanMessage("My order 4417 arrived broken. " * 20, id="h1"),
        AIMessage(
            "",
            tool_calls=[
                {"name": "lookup_order", "args": {"order": 4417}, "id": "c1"},
                {"name": "lookup_user", "args": {"user": "ann"}, "id": "c2"},
            ],
            id="a1",
        ),
        ToolMessage("order 4417: shipped 2026-05-02, fragile " * 10, tool_call_id="c1", id="t1"),
        ToolMessage("user ann: gold tier " * 10, tool_call_id="c2", id="t2"),
        AIMessage("I see the order. Do you want a refund or a replacement? " * 5, id="a2"),
        HumanMessage("A refund please. " * 10, id="h2"),
        AIMessage("Refund issued.", id="a3"),
        HumanMessage("Thanks, when will it arrive?", id="h3"),
    ]


def assert_valid(messages: list[BaseMessage]) -> None:
    """Every tool call is answered right after it, and every ToolMessage answers one."""
    i = 0
    while i < len(messages):
        m = messages[i]
        if isinstance(m, AIMessage) and m.tool_calls:
            want = {c["id"] for c in m.tool_calls}
            got = set()
            j = i + 1
            while j < len(messages) and isinstance(tool := messages[j], ToolMessage):
                got.add(tool.tool_call_id)
                j += 1
            assert got == want, f"tool group of {m.id} split: {got} != {want}"
            i = j
        else:
            assert not isinstance(m, ToolMessage), f"orphan tool message {m.id}"
            i += 1


def test_under_budget_is_unchanged(counter: TiktokenCounter) -> None:
    msgs = history()
    result = compact_history(msgs, max_tokens=10_000, counter=counter)
    assert result.messages == msgs
    assert not result.compacted
    assert result.tokens_before == result.tokens_after == counter.count_messages(msgs)


def test_drop_records_ids_and_tokens_and_fits(counter: TiktokenCounter) -> None:
    msgs = history()
    before = copy.deepcopy(msgs)
    result = compact_history(msgs, max_tokens=150, counter=counter, keep_last=2)
    assert msgs == before  # input not mutated
    assert counter.count_messages(result.messages) == result.tokens_after <= 150
    assert result.messages[0].id == "sys"
    dropped = [d.id for d in result.dropped]
    assert dropped[:4] == ["h1", "a1", "t1", "t2"]
    assert {m.id for m in result.messages} | set(dropped) == {m.id for m in msgs}
    assert all(
        d.tokens == counter.count_message(m) for d in result.dropped for m in msgs if m.id == d.id
    )
    assert [m.id for m in result.messages][-2:] == ["a3", "h3"]
    assert_valid(result.messages)


def test_pinned_and_keep_verbatim_messages_survive_dropping(counter: TiktokenCounter) -> None:
    msgs = history()
    msgs[5] = pin_message(msgs[5])
    assert is_pinned(msgs[5])
    assert not is_pinned(history()[5])
    result = compact_history(
        msgs, max_tokens=260, counter=counter, keep_last=1, keep_verbatim=["A refund please."]
    )
    ids = [m.id for m in result.messages]
    assert "a2" in ids
    assert "h2" in ids
    assert result.tokens_after <= 260
    assert_valid(result.messages)


def test_protected_messages_over_budget_raise(counter: TiktokenCounter) -> None:
    msgs = [pin_message(HumanMessage("fact " * 100, id="p")), HumanMessage("hi", id="h")]
    with pytest.raises(BudgetExceededError, match="max_tokens is 50") as info:
        compact_history(msgs, max_tokens=50, counter=counter)
    assert info.value.required > 50


def test_summary_replaces_older_turns(counter: TiktokenCounter) -> None:
    msgs = history()
    result = compact_history(
        msgs,
        max_tokens=200,
        counter=counter,
        summarizer=fake("Ann's order 4417 broke; refund issued."),
        keep_last=2,
    )
    assert result.summary is not None
    assert str(result.summary.content).startswith(SUMMARY_HEADER.format(n=6))
    assert "refund issued" in result.summary.content
    assert result.summarized_ids == ("h1", "a1", "t1", "t2", "a2", "h2")
    assert result.summary.response_metadata["ctxorch_summary"]["replaces"] == list(
        result.summarized_ids
    )
    assert [m.id for m in result.messages] == ["sys", result.summary.id, "a3", "h3"]
    assert counter.count_messages(result.messages) <= 200
    assert not result.dropped


async def test_async_summary(counter: TiktokenCounter) -> None:
    result = await acompact_history(
        history(),
        max_tokens=200,
        counter=counter,
        summarizer=fake("Order 4417 refunded."),
        keep_last=2,
    )
    assert result.summary is not None
    assert "Order 4417 refunded." in result.summary.content
    assert result.tokens_after <= 200


def test_missing_verbatim_fact_is_reappended(counter: TiktokenCounter) -> None:
    result = compact_history(
        history(),
        max_tokens=220,
        counter=counter,
        summarizer=fake("A refund was asked for."),
        keep_verbatim=["order 4417: shipped 2026-05-02"],
        keep_last=2,
    )
    assert result.summary is not None
    assert result.restored_verbatim == ("order 4417: shipped 2026-05-02",)
    assert "order 4417: shipped 2026-05-02" in result.summary.content


def test_verbatim_fact_kept_by_model_is_not_duplicated(counter: TiktokenCounter) -> None:
    result = compact_history(
        history(),
        max_tokens=220,
        counter=counter,
        summarizer=fake("Order 4417 arrived broken."),
        keep_verbatim=["4417"],
        keep_last=2,
    )
    assert result.restored_verbatim == ()
    assert result.summary is not None
    assert result.summary.content.count("4417") == 1


@pytest.mark.parametrize(
    "model",
    [FailingChatModel(), fake("   "), fake("blah " * 500)],
    ids=["raises", "empty", "too-long"],
)
def test_summary_failure_raises_clearly(counter: TiktokenCounter, model: BaseChatModel) -> None:
    with pytest.raises(CompactionError, match="could not summarise 6 messages") as info:
        compact_history(history(), max_tokens=200, counter=counter, summarizer=model, keep_last=2)
    assert info.value.summarized_ids == ("h1", "a1", "t1", "t2", "a2", "h2")


@pytest.mark.parametrize(
    "model",
    [FailingChatModel(), fake("   "), fake("blah " * 500)],
    ids=["raises", "empty", "too-long"],
)
async def test_summary_failure_falls_back_to_dropping(
    counter: TiktokenCounter, model: BaseChatModel
) -> None:
    for result in (
        compact_history(
            history(),
            max_tokens=200,
            counter=counter,
            summarizer=model,
            keep_last=2,
            on_summary_error="drop",
        ),
        await acompact_history(
            history(),
            max_tokens=200,
            counter=counter,
            summarizer=model,
            keep_last=2,
            on_summary_error="drop",
        ),
    ):
        assert result.fallback_reason
        assert result.summary is None
        assert result.dropped
        assert result.tokens_after <= 200
        kept = {m.id for m in result.messages}
        assert kept | {d.id for d in result.dropped} == {m.id for m in history()}
        assert not any(
            "too long" in str(m.content).lower() or "summar" in str(m.content).lower()
            for m in result.messages
        )


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="max_tokens must be an int >= 1, got 0"):
        compact_history(history(), max_tokens=0)
    with pytest.raises(ValueError, match="on_summary_error must be one of"):
        compact_history(history(), max_tokens=10, on_summary_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="keep_verbatim"):
        compact_history(history(), max_tokens=10, keep_verbatim="4417")
    with pytest.raises(TypeError, match="list or tuple of langchain_core BaseMessage"):
        compact_history("hello", max_tokens=10)  # type: ignore[arg-type]


def test_messages_without_ids_get_stable_positional_ids(counter: TiktokenCounter) -> None:
    msgs = [HumanMessage("ok " * 50), HumanMessage("ok " * 50), HumanMessage("now")]
    result = compact_history(msgs, max_tokens=30, counter=counter, keep_last=1)
    expected = [item.id for item in ContextItem.from_messages(msgs)]
    assert [d.id for d in result.dropped] == expected[:2]
    assert len(set(expected)) == 3


@st.composite
def histories(draw: st.DrawFn) -> list[BaseMessage]:
    msgs: list[BaseMessage] = []
    if draw(st.booleans()):
        msgs.append(SystemMessage("system " * draw(st.integers(1, 20)), id="sys"))
    for n in range(draw(st.integers(0, 12))):
        words = " word" * draw(st.integers(0, 60))
        kind = draw(st.sampled_from(["human", "ai", "tools", "pinned"]))
        if kind == "human":
            msgs.append(HumanMessage(f"h{n}{words}", id=f"h{n}"))
        elif kind == "pinned":
            msgs.append(pin_message(HumanMessage(f"pinned{n}", id=f"p{n}")))
        elif kind == "ai":
            msgs.append(AIMessage(f"a{n}{words}", id=f"a{n}"))
        else:
            k = draw(st.integers(1, 3))
            calls = [{"name": "f", "args": {"i": j}, "id": f"c{n}_{j}"} for j in range(k)]
            msgs.append(AIMessage("", tool_calls=calls, id=f"a{n}"))
            msgs.extend(
                ToolMessage(f"r{words}", tool_call_id=c["id"], id=f"t{n}_{j}")
                for j, c in enumerate(calls)
            )
    return msgs


@given(
    msgs=histories(),
    max_tokens=st.integers(1, 600),
    keep_last=st.integers(0, 5),
    summarise=st.booleans(),
)
def test_property_result_is_valid_and_fits(
    counter: TiktokenCounter,
    msgs: list[BaseMessage],
    max_tokens: int,
    keep_last: int,
    summarise: bool,
) -> None:
    snapshot = copy.deepcopy(msgs)
    model = fake("Short summary.") if summarise else None
    try:
        result = compact_history(
            msgs,
            max_tokens=max_tokens,
            counter=counter,
            summarizer=model,
            keep_last=keep_last,
            on_summary_error="drop",
        )
    except BudgetExceededError:
        event("protected messages over budget")
        protected = [m for m in msgs if is_pinned(m) or m.id == "sys"]
        assert counter.count_messages(protected) > max_tokens
        return
    event("summarised" if result.summary else "dropped" if result.dropped else "unchanged")
    assert msgs == snapshot
    assert counter.count_messages(result.messages) == result.tokens_after <= max_tokens
    assert_valid(result.messages)
    kept = {m.id for m in result.messages}
    assert all(m.id in kept for m in msgs if is_pinned(m) or m.id == "sys")
    accounted = kept | {d.id for d in result.dropped} | set(result.summarized_ids)
    assert {m.id for m in msgs} <= accounted
    assert not set(result.summarized_ids) & {d.id for d in result.dropped}


def test_late_tool_answer_still_joins_its_group(counter: TiktokenCounter) -> None:
    msgs: list[BaseMessage] = [
        AIMessage("", tool_calls=[{"name": "f", "args": {}, "id": "c9"}], id="a0"),
        HumanMessage("meanwhile " * 40, id="h0"),
        ToolMessage("late result", tool_call_id="c9", id="t0"),
        HumanMessage("now", id="h1"),
    ]
    result = compact_history(msgs, max_tokens=40, counter=counter, keep_last=1)
    assert [m.id for m in result.messages] == ["h1"]
    assert [d.id for d in result.dropped] == ["a0", "h0", "t0"]
    assert result.tokens_after <= 40
    result = compact_history(msgs, max_tokens=70, counter=counter, keep_last=1)
    assert [m.id for m in result.messages] == ["h0", "h1"]  # a0 and t0 went together
