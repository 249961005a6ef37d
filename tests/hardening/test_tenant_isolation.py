"""Tenant isolation under concurrency, on a real PostgreSQL store.

100 concurrent async runs on one shared `ContextOrchestrator` whose `StoreMemory` sits on an
``AsyncPostgresStore``, with adversarial user ids (namespace look-alikes, path and SQL
metacharacters, unicode, NUL, lone surrogates, 10 kB ids, ids that collide after naive
escaping). Every user owns memories carrying a secret marker; a window may contain its own
user's markers and must contain no other user's: zero cross-user items.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from langchain_core.messages import BaseMessage, HumanMessage
from langgraph.store.postgres import AsyncPostgresStore, PostgresStore
from langgraph.store.postgres.base import PoolConfig

from langchain_ctxorch import BudgetPolicy, Spotlighter
from langchain_ctxorch.memory import StoreMemory, user_label
from langchain_ctxorch.orchestrator import ContextOrchestrator

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
ADVERSARIAL_IDS = [
    "alice",
    "Alice",
    "alice ",
    " alice",
    "u-alice",
    "h-" + "0" * 64,
    "a.b",
    "a/b",
    "../alice",
    "alice/..",
    "*",
    "%",
    "_",
    "a%",
    "a_",
    "'; DROP TABLE store; --",
    '"quoted"',
    "alice\x00",
    "alice\x00bob",
    "\ud800",
    "alice\ud800",
    "ü/ñ",
    "🙂" * 30,
    "\u202ealice",
    "al\u200bice",
    "x" * 10_000,
    "x" * 9_999 + "y",
    "a" * 64,
    "a" * 65,
    "ctxorch",
    "memories",
    "current",
    "history",
    "quarantine",
    "\n",
    "\t",
    "0",
    "-1",
    "None",
    "null",
]


def _marker(user: str) -> str:
    return f"zq{uuid.uuid5(uuid.NAMESPACE_URL, repr(user)).hex[:16]}"


def _question() -> list[BaseMessage]:
    return [HumanMessage("What do you remember about my favourite colour and city?")]


def _users(n: int) -> list[str]:
    users = list(ADVERSARIAL_IDS)
    i = 0
    while len(users) < n:
        users.append(f"user-{i}.{'ß' * (i % 3)}")
        i += 1
    return users[:n]


@pytest.fixture
async def astore(postgres_dsn: str) -> AsyncIterator[AsyncPostgresStore]:
    async with AsyncPostgresStore.from_conn_string(
        postgres_dsn, pool_config=PoolConfig(min_size=2, max_size=20)
    ) as store:
        await store.setup()
        yield store


@pytest.fixture
def store(postgres_dsn: str) -> Iterator[PostgresStore]:
    with PostgresStore.from_conn_string(
        postgres_dsn, pool_config=PoolConfig(min_size=2, max_size=12)
    ) as s:
        s.setup()
        yield s


def _check_windows(users: list[str], windows: dict[str, str]) -> None:
    markers = {u: _marker(u) for u in users}
    leaks = []
    for user, text in windows.items():
        own = markers[user]
        assert own in text, f"user {user[:40]!r} did not get their own memories"
        leaks += [
            (user[:40], other[:40]) for other, m in markers.items() if other != user and m in text
        ]
    assert not leaks, f"{len(leaks)} cross-user items, e.g. {leaks[:5]}"


async def test_hundred_concurrent_async_runs_never_leak(astore: AsyncPostgresStore) -> None:
    users = _users(100)
    memory = StoreMemory(astore, namespace_prefix=("ctxorch", f"t{uuid.uuid4().hex[:8]}"))
    writable = list(users)
    results = await asyncio.gather(
        *(
            memory.aremember(
                u,
                f"My favourite colour is teal and my city is Lyon, code {_marker(u)}.",
                fact_key="profile",
                now=NOW - timedelta(days=1),
            )
            for u in writable
        )
    )
    assert all(r.ok for r in results), [r.action for r in results if not r.ok]
    assert len({user_label(u) for u in users}) == len(users)
    orch = ContextOrchestrator(
        "You are a helpful assistant.",
        memory=memory,
        policy=BudgetPolicy(4000, reserve_output=500),
        spotlight=Spotlighter(b"tenants"),
    )

    async def run(user: str) -> tuple[str, str]:
        packed = await orch.aassemble(_question(), user_id=user, now=NOW)
        return user, packed.to_text()

    windows = dict(await asyncio.gather(*(run(u) for u in users)))
    _check_windows(users, windows)

    node = orch.as_node()

    async def run_node(user: str) -> tuple[str, str]:
        out = await node.ainvoke({"messages": _question()}, {"configurable": {"user_id": user}})
        return user, "\n".join(str(m.content) for m in out["context_messages"])

    _check_windows(users, dict(await asyncio.gather(*(run_node(u) for u in users))))


def test_concurrent_threads_share_one_orchestrator(store: PostgresStore) -> None:
    users = _users(60)
    memory = StoreMemory(store, namespace_prefix=("ctxorch", f"t{uuid.uuid4().hex[:8]}"))
    with ThreadPoolExecutor(max_workers=12) as pool:
        written = list(
            pool.map(
                lambda u: memory.remember(
                    u, f"My city is Lyon, code {_marker(u)}.", now=NOW - timedelta(days=1)
                ),
                users,
            )
        )
    assert all(r.ok for r in written)
    orch = ContextOrchestrator("Be brief.", memory=memory)
    with ThreadPoolExecutor(max_workers=12) as pool:
        windows = dict(
            pool.map(
                lambda u: (u, orch.assemble(_question(), user_id=u, now=NOW).to_text()), users * 2
            )
        )
    _check_windows(users, windows)


async def test_forged_owner_in_another_namespace_is_not_recalled(
    astore: AsyncPostgresStore,
) -> None:
    """A value planted in alice's namespace claiming to be bob's is never returned to either."""
    prefix = ("ctxorch", f"t{uuid.uuid4().hex[:8]}")
    memory = StoreMemory(astore, namespace_prefix=prefix)
    await memory.aremember("alice", "Alice likes tea.", now=NOW)
    forged = {
        "schema": 1,
        "user_id": "bob",
        "id": "mem-forged",
        "content": "Bob's secret is zqforged.",
        "fact_key": None,
        "source": "user",
        "trust": "INTERNAL",
        "grounded": False,
        "created_at": NOW.isoformat(),
        "expires_at": None,
        "status": "current",
        "metadata": {},
    }
    await astore.aput(memory.namespace("alice"), "c-forged", forged)
    alice = await memory.arecall("alice", "secret tea", now=NOW)
    bob = await memory.arecall("bob", "secret", now=NOW)
    assert all("zqforged" not in i.content for i in [*alice, *bob])
