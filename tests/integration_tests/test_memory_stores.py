"""StoreMemory against InMemoryStore, SqliteStore and a real PostgresStore."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore
from langgraph.store.postgres import AsyncPostgresStore, PostgresStore
from langgraph.store.sqlite import SqliteStore

from langchain_ctxorch.errors import MemoryUnavailableError
from langchain_ctxorch.items import Layer, Trust
from langchain_ctxorch.memory import StoreMemory, user_label

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)

HOSTILE_IDS = [
    "a.b",
    "../x",
    "ü/ñ",
    "x" * 10_000,
    "a\x00b",
    "%",
    "_",
    "a_c",
    "abc",
    "u-abc",
    "h-" + "0" * 64,
    " ",
    "\n",
    "🙂" * 50,
    "langgraph",
    "a" * 64,
    "a" * 65,
    "\ud800x",
]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseStore]:
    kind = request.param
    if kind == "memory":
        yield InMemoryStore()
    elif kind == "sqlite":
        with SqliteStore.from_conn_string(str(tmp_path / "memories.db")) as s:
            s.setup()
            yield s
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        with PostgresStore.from_conn_string(dsn) as s:
            s.setup()
            yield s


def _memory(store: BaseStore, **kwargs: Any) -> StoreMemory:
    prefix = ("ctxorch", f"t{uuid.uuid4().hex[:10]}")
    return StoreMemory(store, namespace_prefix=prefix, **kwargs)


def test_remember_recall_supersede_history(store: BaseStore) -> None:
    memory = _memory(store)
    first = memory.remember("alice", "Alice is on the Pro plan.", fact_key="plan", now=NOW)
    assert first.action == "stored"
    second = memory.remember(
        "alice", "Alice is on the Team plan.", fact_key="plan", now=NOW + timedelta(days=1)
    )
    assert second.action == "superseded"
    assert second.superseded_id == first.memory_id
    recalled = memory.recall("alice", "which plan is alice on", now=NOW + timedelta(days=2))
    assert [i.content for i in recalled] == ["Alice is on the Team plan."]
    assert recalled[0].layer is Layer.MEMORY
    assert recalled[0].relevance == 1.0
    hist = memory.history("alice", "plan")
    assert [i.id for i in hist] == [first.memory_id]
    assert hist[0].metadata["superseded_by"] == second.memory_id


async def test_async_remember_recall_supersede_history(store: BaseStore) -> None:
    memory = _memory(store)
    first = await memory.aremember("bob", "Bob lives in Paris.", fact_key="city", now=NOW)
    second = await memory.aremember(
        "bob", "Bob lives in Lyon.", fact_key="city", now=NOW + timedelta(hours=1)
    )
    assert (first.action, second.action) == ("stored", "superseded")
    recalled = await memory.arecall("bob", "where does bob live", now=NOW + timedelta(hours=2))
    assert [i.content for i in recalled] == ["Bob lives in Lyon."]
    assert [i.id for i in await memory.ahistory("bob", "city")] == [first.memory_id]
    assert await memory.aforget("bob", "city") == [second.memory_id]
    assert await memory.arecall("bob", "where does bob live") == []


def test_lower_trust_contradiction_is_quarantined(store: BaseStore) -> None:
    memory = _memory(store)
    user = memory.remember("carol", "Carol is vegetarian.", fact_key="diet", now=NOW)
    model = memory.remember(
        "carol", "Carol eats meat.", fact_key="diet", source="assistant", grounded=True, now=NOW
    )
    assert model.action == "quarantined"
    assert [f.kind for f in model.findings] == ["contradicted"]
    assert user.memory_id in model.findings[0].detail
    assert model.memory_id in model.findings[0].detail
    recalled = memory.recall("carol", "does carol eat meat vegetarian")
    assert [i.content for i in recalled] == ["Carol is vegetarian."]
    assert [q.item.id for q in memory.quarantined("carol")] == [model.memory_id]


def test_expired_memories_are_not_recalled(store: BaseStore) -> None:
    memory = _memory(store)
    memory.remember(
        "dan", "Dan's promo code is SPRING.", expires_at=NOW + timedelta(days=1), now=NOW
    )
    assert len(memory.recall("dan", "promo code", now=NOW)) == 1
    assert memory.recall("dan", "promo code", now=NOW + timedelta(days=2)) == []


@pytest.mark.parametrize("user_id", HOSTILE_IDS, ids=range(len(HOSTILE_IDS)))
def test_hostile_user_ids_round_trip(store: BaseStore, user_id: str) -> None:
    memory = _memory(store)
    result = memory.remember(user_id, "Favourite colour is teal.", fact_key="colour", now=NOW)
    assert result.action == "stored"
    memory.remember(user_id, "Favourite colour is mauve.", fact_key="colour", now=NOW)
    assert [i.content for i in memory.recall(user_id, "favourite colour")] == [
        "Favourite colour is mauve."
    ]
    assert len(memory.history(user_id, "colour")) == 1
    assert memory.recall("someone else", "favourite colour") == []
    note = memory.remember(user_id, "Owns a teal bicycle.", now=NOW)
    assert memory.forget("someone else", note.memory_id) == []
    assert memory.forget(user_id, note.memory_id) == [note.memory_id]
    assert memory.recall(user_id, "bicycle") == []


def test_labels_are_short_and_valid() -> None:
    for user_id in HOSTILE_IDS:
        label = user_label(user_id)
        assert "." not in label
        assert "\x00" not in label
        assert len(label) <= 66
    assert user_label("alice") == "u-alice"
    assert user_label("a.b") != user_label("a_b")


@settings(
    max_examples=25,
    deadline=None,
    # each example gets its own namespace prefix, so sharing the store across examples is safe
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    users=st.lists(
        st.one_of(
            st.sampled_from(HOSTILE_IDS),
            st.text(min_size=1, max_size=30),
            st.text(alphabet="ab._-%/", min_size=1, max_size=6),
        ),
        min_size=2,
        max_size=8,
        unique=True,
    )
)
def test_property_no_cross_user_recall(store: BaseStore, users: list[str]) -> None:
    memory = _memory(store)
    for i, user in enumerate(users):
        # every user stores the same words plus a unique marker, so only isolation keeps them apart
        memory.remember(user, f"shared secret token marker{i}", fact_key="secret", now=NOW)
        memory.remember(user, f"plain note marker{i}", now=NOW)
    for i, user in enumerate(users):
        recalled = memory.recall(user, "shared secret token plain note", limit=50)
        assert sorted(item.content for item in recalled) == sorted(
            [f"shared secret token marker{i}", f"plain note marker{i}"]
        )
        assert all(
            item.metadata.get("user_id", item.metadata.get("user_id_escaped")) is not None
            for item in recalled
        )


def test_postgres_stopped_then_restarted(postgres_server: Any, postgres_dsn: str) -> None:
    prefix = ("ctxorch", "restart")
    with PostgresStore.from_conn_string(postgres_dsn) as s:
        s.setup()
        memory = StoreMemory(s, namespace_prefix=prefix)
        stored = memory.remember("erin", "Erin prefers tea.", fact_key="drink")
        postgres_server.stop()
        try:
            with pytest.raises(MemoryUnavailableError, match="PostgresStore failed during recall"):
                memory.recall("erin", "tea")
            skipping = StoreMemory(s, namespace_prefix=prefix, on_memory_error="skip")
            result = skipping.recall("erin", "tea")
            assert result == []
            assert isinstance(result.error, MemoryUnavailableError)
            failed = skipping.remember("erin", "Erin prefers coffee.", fact_key="drink")
            assert failed.action == "failed"
            assert failed.error is not None
        finally:
            postgres_server.start()
    with PostgresStore.from_conn_string(postgres_dsn) as s:
        recalled = StoreMemory(s, namespace_prefix=prefix).recall(
            "erin", "what does erin drink tea"
        )
        assert [i.id for i in recalled] == [stored.memory_id]
        assert recalled[0].trust is Trust.INTERNAL


storable_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"),
    min_size=1,
    max_size=200,
).filter(str.strip)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=storable_text, fact_key=storable_text, user=st.text(min_size=1, max_size=40))
def test_property_any_text_round_trips(
    store: BaseStore, content: str, fact_key: str, user: str
) -> None:
    memory = _memory(store)
    result = memory.remember(user, content, fact_key=fact_key, now=NOW)
    if result.action == "quarantined":  # the injection detector may flag random text
        assert [q.item.content for q in memory.quarantined(user)] == [content]
        return
    assert result.action == "stored"
    got = memory.recall(user, content, limit=1, now=NOW) or memory.recall(user, "", now=NOW)
    assert [(i.content, i.fact_key) for i in got] == [(content, fact_key)]
    assert memory.forget(user, fact_key) == [result.memory_id]


async def test_async_postgres_store_native_async(postgres_dsn: str) -> None:
    async with AsyncPostgresStore.from_conn_string(postgres_dsn) as s:
        await s.setup()
        memory = StoreMemory(s, namespace_prefix=("ctxorch", "async"))
        first = await memory.aremember("a.b", "Works nights.", fact_key="shift", now=NOW)
        second = await memory.aremember("a.b", "Works days.", fact_key="shift", now=NOW)
        assert second.superseded_id == first.memory_id
        assert [i.content for i in await memory.arecall("a.b", "works", now=NOW)] == ["Works days."]
        assert [i.id for i in await memory.ahistory("a.b", "shift")] == [first.memory_id]
        assert await memory.arecall("a_b", "works", now=NOW) == []
