"""Store faults: PostgreSQL stopped mid-run, then restarted.

- reads fail with a clear `MemoryUnavailableError` (``on_memory_error="raise"``), or the run
  carries on and ``ContextReport.notes`` says memory was unavailable (``"skip"``);
- a write that fails leaves no partial state, including a supersession interrupted between its
  two puts (the server is stopped right after the first one);
- after a restart everything written before is there.

The session's server is stopped and started by these tests; the ``postgres_dsn`` fixture
restarts it for whoever comes next, and every test restarts it in ``finally``. Stops use
``pg_ctl -m fast`` (sessions are cut off mid-run, but the shutdown is clean): the test cluster
runs with ``synchronous_commit=off``, so an ``immediate`` stop may lose the last committed
transactions, which is PostgreSQL's documented trade-off, not the package's doing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from _hardening_pg import PostgresServer
from langchain_core.messages import HumanMessage
from langgraph.store.base import BaseStore, Op, PutOp, Result
from langgraph.store.postgres import AsyncPostgresStore, PostgresStore

from langchain_ctxorch import MemoryUnavailableError
from langchain_ctxorch.memory import StoreMemory
from langchain_ctxorch.orchestrator import ContextOrchestrator

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
QUESTION = [HumanMessage("Which plan am I on and where do I live?")]


def _prefix() -> tuple[str, ...]:
    return ("ctxorch", f"t{uuid.uuid4().hex[:8]}")


def _restart(server: PostgresServer) -> None:
    if not server.is_running():
        server.start()


def _seed(dsn: str, prefix: tuple[str, ...]) -> dict[str, str]:
    with PostgresStore.from_conn_string(dsn) as store:
        store.setup()
        memory = StoreMemory(store, namespace_prefix=prefix)
        written = {
            "plan": memory.remember("alice", "Alice is on the Pro plan.", fact_key="plan", now=NOW),
            "city": memory.remember("alice", "Alice lives in Lyon.", fact_key="city", now=NOW),
        }
        moved = memory.remember(
            "alice", "Alice is on the Team plan.", fact_key="plan", now=NOW + timedelta(hours=1)
        )
        assert moved.action == "superseded"
        assert all(r.ok for r in written.values())
        return {
            "plan": moved.memory_id,
            "old_plan": written["plan"].memory_id,
            "city": written["city"].memory_id,
        }


def _assert_all_there(dsn: str, prefix: tuple[str, ...], ids: dict[str, str]) -> None:
    with PostgresStore.from_conn_string(dsn) as store:
        memory = StoreMemory(store, namespace_prefix=prefix)
        recalled = memory.recall("alice", "alice", now=NOW + timedelta(days=1))
        assert {i.id for i in recalled} == {ids["plan"], ids["city"]}
        assert [i.id for i in memory.history("alice", "plan")] == [ids["old_plan"]]


def test_stopped_server_read_raises_then_restart_keeps_everything(
    postgres_server: PostgresServer, postgres_dsn: str
) -> None:
    prefix = _prefix()
    ids = _seed(postgres_dsn, prefix)
    try:
        with PostgresStore.from_conn_string(postgres_dsn) as store:
            memory = StoreMemory(store, namespace_prefix=prefix)
            orch = ContextOrchestrator("Be brief.", memory=memory)
            assert orch.assemble(QUESTION, user_id="alice", now=NOW).report.notes == []
            postgres_server.stop("fast")
            with pytest.raises(MemoryUnavailableError) as info:
                memory.recall("alice", "plan", now=NOW)
            message = str(info.value)
            assert "PostgresStore" in message
            assert "recall" in message
            assert "on_memory_error='skip'" in message
            with pytest.raises(MemoryUnavailableError):
                orch.assemble(QUESTION, user_id="alice", now=NOW)
            with pytest.raises(MemoryUnavailableError, match="remember"):
                memory.remember("alice", "Alice moved to Paris.", fact_key="city", now=NOW)
    finally:
        _restart(postgres_server)
    _assert_all_there(postgres_dsn, prefix, ids)


def test_stopped_server_with_skip_reports_memory_unavailable(
    postgres_server: PostgresServer, postgres_dsn: str
) -> None:
    prefix = _prefix()
    ids = _seed(postgres_dsn, prefix)
    try:
        with PostgresStore.from_conn_string(postgres_dsn) as store:
            memory = StoreMemory(store, namespace_prefix=prefix, on_memory_error="skip")
            orch = ContextOrchestrator("Be brief.", memory=memory)
            postgres_server.stop("fast")
            recalled = memory.recall("alice", "plan", now=NOW)
            assert recalled == []
            assert isinstance(recalled.error, MemoryUnavailableError)
            packed = orch.assemble(QUESTION, user_id="alice", now=NOW)
            assert any(
                ("memory" in n and "unavailable" in n.lower()) or "failed" in n
                for n in packed.report.notes
            ), packed.report.notes
            assert packed.report.used <= packed.report.budget
            assert packed.messages[-1].content == QUESTION[0].content
            out = orch.as_node().invoke(
                {"messages": QUESTION}, {"configurable": {"user_id": "alice"}}
            )
            assert out["context_report"]["notes"]
            failed = memory.remember("alice", "Alice moved to Paris.", fact_key="city", now=NOW)
            assert failed.action == "failed"
            assert isinstance(failed.error, MemoryUnavailableError)
    finally:
        _restart(postgres_server)
    _assert_all_there(postgres_dsn, prefix, ids)  # the failed write left nothing behind


async def test_stopped_server_async_with_skip(
    postgres_server: PostgresServer, postgres_dsn: str
) -> None:
    prefix = _prefix()
    ids = _seed(postgres_dsn, prefix)
    try:
        async with AsyncPostgresStore.from_conn_string(postgres_dsn) as store:
            memory = StoreMemory(store, namespace_prefix=prefix, on_memory_error="skip")
            orch = ContextOrchestrator("Be brief.", memory=memory)
            assert (await orch.aassemble(QUESTION, user_id="alice", now=NOW)).report.notes == []
            postgres_server.stop("fast")
            packed = await orch.aassemble(QUESTION, user_id="alice", now=NOW)
            assert packed.report.notes
            out = await orch.as_node().ainvoke(
                {"messages": QUESTION}, {"configurable": {"user_id": "alice"}}
            )
            assert out["context_report"]["notes"]
            failed = await memory.aremember("alice", "Alice moved.", fact_key="city", now=NOW)
            assert failed.action == "failed"
            strict = StoreMemory(store, namespace_prefix=prefix)
            with pytest.raises(MemoryUnavailableError):
                await strict.arecall("alice", "plan", now=NOW)
    finally:
        _restart(postgres_server)
    _assert_all_there(postgres_dsn, prefix, ids)


class _StopAfterFirstPut(BaseStore):
    """Delegates to a PostgresStore and stops the server right after the first put succeeds."""

    def __init__(self, inner: PostgresStore, server: PostgresServer) -> None:
        self.inner = inner
        self.server = server
        self.armed = False
        self.puts = 0

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        ops = list(ops)
        out = self.inner.batch(ops)
        if self.armed and any(isinstance(op, PutOp) for op in ops):
            self.puts += 1
            self.server.stop("fast")
            self.armed = False
        return out

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:  # pragma: no cover - sync test
        raise NotImplementedError


def test_supersession_interrupted_between_puts_leaves_old_fact_current(
    postgres_server: PostgresServer, postgres_dsn: str
) -> None:
    prefix = _prefix()
    ids = _seed(postgres_dsn, prefix)
    try:
        with PostgresStore.from_conn_string(postgres_dsn) as inner:
            store: Any = _StopAfterFirstPut(inner, postgres_server)
            memory = StoreMemory(store, namespace_prefix=prefix)
            store.armed = True
            with pytest.raises(MemoryUnavailableError):
                memory.remember(
                    "alice", "Alice lives in Paris.", fact_key="city", now=NOW + timedelta(hours=2)
                )
            assert store.puts == 1  # the history copy was written, the current slot was not
    finally:
        _restart(postgres_server)
    # No partial state: the old fact is still the current one, and the copy of it in history
    # (whose id is still current) is not reported as a superseded version.
    with PostgresStore.from_conn_string(postgres_dsn) as store2:
        memory = StoreMemory(store2, namespace_prefix=prefix)
        recalled = memory.recall("alice", "alice", now=NOW + timedelta(days=1))
        assert sorted(i.content for i in recalled) == [
            "Alice is on the Team plan.",
            "Alice lives in Lyon.",
        ]
        assert memory.history("alice", "city") == []
        assert (
            memory.remember(
                "alice", "Alice lives in Paris.", fact_key="city", now=NOW + timedelta(hours=3)
            ).action
            == "superseded"
        )
        assert [i.content for i in memory.history("alice", "city")] == ["Alice lives in Lyon."]
    _assert_all_there_after_move(postgres_dsn, prefix, ids)


def _assert_all_there_after_move(dsn: str, prefix: tuple[str, ...], ids: dict[str, str]) -> None:
    with PostgresStore.from_conn_string(dsn) as store:
        memory = StoreMemory(store, namespace_prefix=prefix)
        recalled = memory.recall("alice", "plan", now=NOW + timedelta(days=1))
        assert [i.id for i in recalled] == [ids["plan"]]
        assert [i.id for i in memory.history("alice", "plan")] == [ids["old_plan"]]
