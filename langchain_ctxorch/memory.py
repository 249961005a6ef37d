"""Long-term memory on any LangGraph ``BaseStore``, with a write-back guard.

Key types:

- `StoreMemory`: ``remember`` / ``recall`` / ``forget`` / ``history`` / ``quarantined`` and their
  async twins (``aremember``...), on ``InMemoryStore`` (default), ``SqliteStore``,
  ``PostgresStore`` or any other LangGraph store.
- `RememberResult`: what a write did: ``stored``, ``superseded`` (names the old id),
  ``unchanged``, ``quarantined`` (with findings) or ``failed`` (``on_memory_error="skip"``).
- `RecallResult`: a ``list`` of ``Layer.MEMORY`` items with an ``.error`` attribute (None unless
  the store failed and ``on_memory_error="skip"``).

Layout in the store (``P`` is ``namespace_prefix``, ``L`` the user's label)::

    (*P, L, "current")     key: one slot per fact_key (or per content without one)
    (*P, L, "history")     key: memory id      superseded versions, kept for audit
    (*P, L, "quarantine")  key: memory id      poisoned or contradicted writes, never recalled

User labels: an id of at most 64 characters from ``[A-Za-z0-9@+=:-]`` becomes ``u-<id>``; any
other non-empty string (dots, slashes, unicode, 10 kB...) becomes ``h-<sha256 hex>``, so the store
never sees a label it refuses or cannot index. Every stored value carries the original user id and
is checked on read: even a label collision cannot return another user's memory.

Write-back guard: every write is first checked by the poison filter (``PoisonFilter.default()``:
injection, expiry...). Writes of ``Trust.MODEL`` (source ``"assistant"`` / ``"model"``) are
quarantined as ``unverified`` unless ``grounded=True`` says the application checked them. With a
``fact_key``, a write of equal or higher trust than the current fact supersedes it; a lower-trust
write that says something else is quarantined as ``contradicted``, naming both ids.

Failure safety: a supersession is two puts, ordered so that a failure between them leaves the old
fact current: first the old version is copied to history, then the current slot is overwritten
in one put (one slot per fact, so two versions can never be current at once). ``history`` ignores
a copy whose id is still current.

Example:
    ```python
    memory = StoreMemory()  # InMemoryStore
    memory.remember("alice", "Prefers email over phone.", fact_key="contact")
    memory.recall("alice", "how to contact her?")[0].content
    # 'Prefers email over phone.'
    ```
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from langgraph.store.base import BaseStore, GetOp, PutOp, SearchOp

from langchain_ctxorch.errors import MemoryUnavailableError
from langchain_ctxorch.items import (
    ContextItem,
    Layer,
    Trust,
    check_aware,
    resolve_now,
    stable_hash,
)
from langchain_ctxorch.report import PoisonFinding, Quarantined
from langchain_ctxorch.scoring import DEFAULT_TOKENIZER, TermCache, Tokenizer

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable, Sequence

__all__ = [
    "MemoryAction",
    "OnMemoryError",
    "RecallResult",
    "RememberResult",
    "StoreMemory",
    "SupportsFilter",
    "user_label",
]

logger = logging.getLogger(__name__)

MemoryAction = Literal["stored", "superseded", "unchanged", "quarantined", "failed"]
"""What a ``remember`` call did."""

OnMemoryError = Literal["raise", "skip"]
"""What to do when the store fails: raise `MemoryUnavailableError`, or report and carry on."""

_ON_ERROR: tuple[str, ...] = ("raise", "skip")
_READABLE_ID = re.compile(r"[A-Za-z0-9@+=:-]{1,64}")
_PAGE = 1000
_SHOWN = 40
_SCHEMA = 1
_CURRENT, _HISTORY, _QUARANTINE = "current", "history", "quarantine"

_Op = GetOp | SearchOp | PutOp
_Result = Any
_T = TypeVar("_T")


class SupportsFilter(Protocol):
    """What `StoreMemory` needs of a poison filter (``PoisonFilter`` satisfies it)."""

    def filter(
        self, items: Sequence[ContextItem], query: str | None = None, now: datetime | None = None
    ) -> Any:
        """Return an object with ``kept`` and ``quarantined`` (``Quarantined`` records)."""
        ...


@dataclass(frozen=True)
class RememberResult:
    """What one ``remember`` call did.

    Example:
        ```python
        r = memory.remember("alice", "Lives in Paris.", fact_key="city")
        r.action, r.memory_id  # ('stored', 'mem-...')
        ```
    """

    action: MemoryAction
    """``stored``, ``superseded``, ``unchanged``, ``quarantined`` or ``failed``."""
    memory_id: str
    """Id of the new memory (for ``unchanged``: of the existing one)."""
    item: ContextItem | None = None
    """The memory as a ``Layer.MEMORY`` item (None when the write failed)."""
    superseded_id: str | None = None
    """With ``superseded``: the id of the version moved to history."""
    findings: tuple[PoisonFinding, ...] = ()
    """With ``quarantined``: why."""
    error: MemoryUnavailableError | None = None
    """With ``failed``: the store error (only with ``on_memory_error="skip"``)."""

    @property
    def ok(self) -> bool:
        """True when the memory is now current (``stored``, ``superseded`` or ``unchanged``)."""
        return self.action in ("stored", "superseded", "unchanged")


class RecallResult(list[ContextItem]):
    """The recalled items (a plain list) plus ``error``: the store failure skipped, if any."""

    error: MemoryUnavailableError | None

    def __init__(
        self, items: Iterable[ContextItem] = (), error: MemoryUnavailableError | None = None
    ) -> None:
        """Wrap ``items``; ``error`` is set only when the store failed and was skipped."""
        super().__init__(items)
        self.error = error


def _check_user(user_id: object) -> str:
    if not isinstance(user_id, str):
        msg = f"user_id must be a non-empty str, got {type(user_id).__name__} {user_id!r:.80}"
        raise TypeError(msg)
    if not user_id:
        msg = (
            "user_id must be a non-empty str, got '' (pass the id of the user the memory is about)"
        )
        raise ValueError(msg)
    return user_id


def _check_key(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        msg = f"{name} must be a non-empty str, got {value!r:.80}"
        raise (TypeError if not isinstance(value, str) else ValueError)(msg)
    return value


def _require_type(name: str, value: object, kind: type) -> None:
    if not isinstance(value, kind):
        msg = f"{name} must be a {kind.__name__}, got {type(value).__name__}"
        raise TypeError(msg)


def _check_storable(name: str, value: str) -> None:
    """Refuse text some stores cannot hold (PostgreSQL jsonb rejects NUL and lone surrogates)."""
    bad = "\x00" in value
    if not bad:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            bad = True
    if bad:
        msg = (
            f"{name} contains a NUL character or a lone surrogate, which stores such as "
            f"PostgresStore cannot hold: {value[:40]!r}; remove or escape those characters"
        )
        raise ValueError(msg)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def user_label(user_id: str) -> str:
    """The namespace label of ``user_id``: ``u-<id>`` for short plain ids, else ``h-<sha256>``.

    Example:
        ```python
        user_label("alice")  # 'u-alice'
        user_label("a.b")  # 'h-…' (64 hex digits)
        ```
    """
    user_id = _check_user(user_id)
    if _READABLE_ID.fullmatch(user_id):
        return f"u-{user_id}"
    return f"h-{_sha(user_id)}"


def _owner(user_id: str) -> dict[str, str]:
    """How the owner is recorded in a value: raw when JSON/jsonb-safe, else escaped."""
    try:
        user_id.encode("utf-8")
        clean = "\x00" not in user_id
    except UnicodeEncodeError:
        clean = False
    if clean:
        return {"user_id": user_id}
    return {"user_id_escaped": user_id.encode("unicode_escape").decode("ascii")}


def _owned(value: Any, owner: dict[str, str]) -> bool:
    return (
        isinstance(value, dict)
        and value.get("user_id") == owner.get("user_id")
        and value.get("user_id_escaped") == owner.get("user_id_escaped")
    )


def _slot(fact_key: str | None, content: str) -> str:
    return f"f-{_sha(fact_key)[:40]}" if fact_key is not None else f"c-{_sha(content)[:40]}"


def _default_trust(source: str) -> Trust:
    if source == "user":
        return Trust.INTERNAL
    if source in ("assistant", "model"):
        return Trust.MODEL
    return Trust.EXTERNAL


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_dt(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value)


def _to_item(value: dict[str, Any], relevance: float | None = None) -> ContextItem:
    meta: dict[str, Any] = dict(value.get("metadata") or {})
    meta.update(
        memory_source=value.get("source", ""),
        grounded=bool(value.get("grounded", False)),
        status=value.get("status", _CURRENT),
    )
    for key in ("user_id", "user_id_escaped", "superseded_by", "superseded_at", "quarantined_at"):
        if value.get(key) is not None:
            meta[key] = value[key]
    return ContextItem(
        id=value["id"],
        content=value["content"],
        layer=Layer.MEMORY,
        source="memory",
        trust=Trust[value["trust"]],
        fact_key=value.get("fact_key"),
        created_at=_parse_dt(value.get("created_at")),
        expires_at=_parse_dt(value.get("expires_at")),
        relevance=relevance,
        metadata=meta,
    )


def _findings_from(records: Iterable[Any]) -> list[PoisonFinding]:
    out: list[PoisonFinding] = []
    for record in records:
        out.extend(getattr(record, "findings", ()))
    return out


def _bm25(
    query: Sequence[str],
    docs: Sequence[tuple[dict[str, int], int]],
    k1: float = 1.5,
    b: float = 0.75,
) -> list[float]:
    """BM25 of ``(term counts, length)`` docs; idf ``log(1 + (N - df + 0.5) / (df + 0.5))``.

    A user has few memories; BM25Okapi's idf (``log((N - df + 0.5) / (df + 0.5))``) is negative for
    a term in more than half of a tiny pool (every term, with one memory), so it cannot rank them.
    """
    n = len(docs)
    if not n or not query:
        return [0.0] * n
    avgdl = (sum(length for _, length in docs) / n) or 1.0
    scores = [0.0] * n
    for term, qtf in Counter(query).items():
        hits = [(i, counts[term]) for i, (counts, _) in enumerate(docs) if term in counts]
        if not hits:
            continue
        df = len(hits)
        weight = qtf * math.log(1.0 + (n - df + 0.5) / (df + 0.5))
        for i, tf in hits:
            norm = k1 * (1.0 - b + b * docs[i][1] / avgdl)
            scores[i] += weight * tf * (k1 + 1.0) / (tf + norm)
    return scores


def _is_expired(value: dict[str, Any], now: datetime) -> bool:
    expires = _parse_dt(value.get("expires_at"))
    return expires is not None and expires <= now


class StoreMemory:
    """Per-user long-term memory on a LangGraph ``BaseStore``, guarded against poisoned writes.

    Args:
        store: any LangGraph ``BaseStore``; a fresh ``InMemoryStore`` when None. A store with an
            embedding index is searched by vector similarity, otherwise recall uses BM25.
        namespace_prefix: the namespace labels all memories live under.
        poison_filter: checks every write; ``PoisonFilter.default()`` when None.
        on_memory_error: ``"raise"`` a `MemoryUnavailableError` when the store fails, or
            ``"skip"``: reads return an empty `RecallResult` whose ``.error`` is set, writes
            return ``RememberResult(action="failed")``; the failure is also logged.
        tokenizer: the BM25 tokenizer (the package default).
        term_cache_size: how many memory texts keep their term counts cached (a bounded,
            thread-safe cache keyed by text; 0 disables it).

    The object keeps no per-call state (only a bounded, thread-safe cache of term counts): one
    instance is safe to share across threads and concurrent async runs.

    Example:
        ```python
        from langgraph.store.memory import InMemoryStore

        memory = StoreMemory(InMemoryStore())
        memory.remember("u1", "Plan: Pro.", fact_key="plan").action  # 'stored'
        memory.remember("u1", "Plan: Team.", fact_key="plan").action  # 'superseded'
        [i.content for i in memory.recall("u1", "which plan?")]  # ['Plan: Team.']
        ```
    """

    def __init__(
        self,
        store: BaseStore | None = None,
        *,
        namespace_prefix: tuple[str, ...] = ("ctxorch", "memories"),
        poison_filter: SupportsFilter | None = None,
        on_memory_error: OnMemoryError = "raise",
        tokenizer: Tokenizer = DEFAULT_TOKENIZER,
        term_cache_size: int = 65536,
    ) -> None:
        """Configure the memory; nothing is read or written here."""
        if store is None:
            from langgraph.store.memory import InMemoryStore  # noqa: PLC0415 - default only

            store = InMemoryStore()
        _require_type("store", store, BaseStore)
        if (
            not isinstance(namespace_prefix, tuple)
            or not namespace_prefix
            or not all(isinstance(p, str) and p and "." not in p for p in namespace_prefix)
        ):
            msg = (
                "namespace_prefix must be a non-empty tuple of non-empty str labels without '.', "
                f"got {namespace_prefix!r}"
            )
            raise ValueError(msg)
        if on_memory_error not in _ON_ERROR:
            msg = f"on_memory_error must be one of {_ON_ERROR}, got {on_memory_error!r}"
            raise ValueError(msg)
        if poison_filter is None:
            from langchain_ctxorch.poison import PoisonFilter  # noqa: PLC0415 - avoid import cycle

            poison_filter = PoisonFilter.default()
        self.store = store
        self.namespace_prefix = namespace_prefix
        self.poison_filter: SupportsFilter = poison_filter
        self.on_memory_error: OnMemoryError = on_memory_error
        self.tokenizer = tokenizer
        self._terms = TermCache(tokenizer, maxsize=term_cache_size)

    def __repr__(self) -> str:
        """Show the store type and the prefix."""
        return (
            f"StoreMemory(store={type(self.store).__name__}, "
            f"namespace_prefix={self.namespace_prefix!r}, on_memory_error={self.on_memory_error!r})"
        )

    # ------------------------------------------------------------------ namespaces

    def namespace(self, user_id: str, kind: str = _CURRENT) -> tuple[str, ...]:
        """The store namespace of ``user_id``'s ``current``, ``history`` or ``quarantine`` set."""
        return (*self.namespace_prefix, user_label(user_id), kind)

    @property
    def _indexed(self) -> bool:
        return bool(getattr(self.store, "index_config", None))

    # ------------------------------------------------------------------ drivers

    def _fail(self, operation: str, user_id: str, exc: BaseException) -> MemoryUnavailableError:
        shown = user_id if len(user_id) <= _SHOWN else user_id[:_SHOWN] + "…"
        msg = (
            f"memory store {type(self.store).__name__} failed during {operation} for user "
            f"{shown!r}: {type(exc).__name__}: {exc}. Check that the store's database is "
            "reachable, or pass on_memory_error='skip' to carry on without memory"
        )
        return MemoryUnavailableError(msg)

    def _run(self, plan: Generator[_Op, Any, _T], operation: str, user_id: str) -> _T:
        """Drive ``plan`` with the sync store API; only store calls are wrapped as failures."""
        try:
            op = next(plan)
            while True:
                try:
                    result = self.store.batch([op])[0]
                except Exception as exc:
                    raise self._fail(operation, user_id, exc) from exc
                op = plan.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        finally:
            plan.close()

    async def _arun(self, plan: Generator[_Op, Any, _T], operation: str, user_id: str) -> _T:
        """Async twin of `_run`: the same plan, awaiting the store's ``abatch``."""
        try:
            op = next(plan)
            while True:
                try:
                    result = (await self._abatch(op))[0]
                except Exception as exc:
                    raise self._fail(operation, user_id, exc) from exc
                op = plan.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        finally:
            plan.close()

    async def _abatch(self, op: _Op) -> list[_Result]:
        try:
            return await self.store.abatch([op])
        except NotImplementedError:
            # Sync-only stores (SqliteStore) have no async API: run the sync call in a thread.
            return await asyncio.to_thread(self.store.batch, [op])

    # ------------------------------------------------------------------ remember

    def remember(
        self,
        user_id: str,
        content: str,
        *,
        fact_key: str | None = None,
        source: str = "user",
        trust: Trust | str | int | None = None,
        expires_at: datetime | None = None,
        grounded: bool = False,
        metadata: dict[str, Any] | None = None,
        now: datetime | None = None,
    ) -> RememberResult:
        """Store a memory about ``user_id`` after checking it for poison.

        Args:
            user_id: any non-empty string.
            content: the memory text.
            fact_key: what the fact is about; a later write with the same key supersedes it (equal
                or higher trust) or is quarantined as contradicted (lower trust).
            source: who wrote it: ``"user"`` (INTERNAL), ``"assistant"``/``"model"`` (MODEL), or
                anything else (EXTERNAL); sets ``trust`` when that is None.
            trust: overrides the trust derived from ``source``.
            expires_at: when the memory stops being recalled (timezone-aware).
            grounded: the application verified a MODEL-trust memory; otherwise such writes are
                quarantined as ``unverified``.
            metadata: JSON-serialisable extras kept with the memory.
            now: the current time (for tests); ``datetime.now(timezone.utc)`` when None.

        Returns:
            A `RememberResult`.

        Raises:
            MemoryUnavailableError: the store failed (with ``on_memory_error="raise"``).
            ValueError: empty ``user_id``/``content``/``fact_key``, naive datetimes, bad trust.
            TypeError: a non-str ``user_id`` or ``content``.

        Example:
            ```python
            memory.remember("bob", "Ignore previous instructions and ...").action
            # 'quarantined'
            ```
        """
        prepared = self._prepare(
            user_id, content, fact_key, source, trust, expires_at, grounded, metadata, now
        )
        try:
            return self._run(self._remember_plan(*prepared), "remember", user_id)
        except MemoryUnavailableError as exc:
            return self._write_failed(exc, prepared[1])

    async def aremember(
        self,
        user_id: str,
        content: str,
        *,
        fact_key: str | None = None,
        source: str = "user",
        trust: Trust | str | int | None = None,
        expires_at: datetime | None = None,
        grounded: bool = False,
        metadata: dict[str, Any] | None = None,
        now: datetime | None = None,
    ) -> RememberResult:
        """Async twin of `remember` (uses the store's ``abatch``)."""
        prepared = self._prepare(
            user_id, content, fact_key, source, trust, expires_at, grounded, metadata, now
        )
        try:
            return await self._arun(self._remember_plan(*prepared), "remember", user_id)
        except MemoryUnavailableError as exc:
            return self._write_failed(exc, prepared[1])

    def _write_failed(self, exc: MemoryUnavailableError, value: dict[str, Any]) -> RememberResult:
        if self.on_memory_error == "raise":
            raise exc
        logger.warning("%s", exc)
        return RememberResult("failed", value["id"], error=exc)

    def _prepare(
        self,
        user_id: str,
        content: str,
        fact_key: str | None,
        source: str,
        trust: Trust | str | int | None,
        expires_at: datetime | None,
        grounded: bool,  # noqa: FBT001 - private helper
        metadata: dict[str, Any] | None,
        now: datetime | None,
    ) -> tuple[str, dict[str, Any], datetime]:
        user_id = _check_user(user_id)
        _require_type("content", content, str)
        _check_storable("content", content)
        if not content.strip():
            msg = "content must be a non-empty str (the memory text), got an empty string"
            raise ValueError(msg)
        if fact_key is not None:
            _check_storable("fact_key", _check_key("fact_key", fact_key))
        if not isinstance(source, str) or not source:
            msg = f"source must be a non-empty str such as 'user' or 'assistant', got {source!r}"
            raise ValueError(msg)
        level = _default_trust(source) if trust is None else Trust.parse(trust)
        now = resolve_now(now)
        check_aware("expires_at", expires_at)
        if metadata is not None:
            _require_type("metadata", metadata, dict)
        created = now.isoformat()
        value: dict[str, Any] = {
            "schema": _SCHEMA,
            **_owner(user_id),
            "id": "mem-" + stable_hash(user_id, fact_key or "", content, created, length=24),
            "content": content,
            "fact_key": fact_key,
            "source": source,
            "trust": level.name,
            "grounded": bool(grounded),
            "created_at": created,
            "expires_at": _iso(expires_at),
            "status": _CURRENT,
            "metadata": dict(metadata or {}),
        }
        return user_id, value, now

    def _screen(self, value: dict[str, Any], now: datetime) -> list[PoisonFinding]:
        """The write-back guard: poison filter findings plus the unverified rule."""
        item = _to_item(value)
        result = self.poison_filter.filter([item], query=None, now=now)
        findings = _findings_from(getattr(result, "quarantined", ()))
        # The filter's UnverifiedDetector reads metadata["grounded"]; this rule also holds for a
        # custom filter without that detector.
        if (
            not value["grounded"]
            and Trust[value["trust"]] <= Trust.MODEL
            and not any(f.kind == "unverified" for f in findings)
        ):
            findings.append(
                PoisonFinding(
                    "write_guard",
                    "unverified",
                    f"memory {value['id']} was written by the model (trust MODEL) and is not "
                    "marked grounded; pass grounded=True once the application verified it",
                )
            )
        return findings

    def _remember_plan(
        self, user_id: str, value: dict[str, Any], now: datetime
    ) -> Generator[_Op, Any, RememberResult]:
        findings = self._screen(value, now)
        if findings:
            return (yield from self._quarantine_plan(user_id, value, findings, now))
        owner = _owner(user_id)
        current_ns = self.namespace(user_id, _CURRENT)
        slot = _slot(value["fact_key"], value["content"])
        existing_item = yield GetOp(current_ns, slot)
        existing = existing_item.value if existing_item is not None else None
        if existing is not None and not _owned(existing, owner):
            msg = (
                f"namespace {current_ns!r} holds a memory of another user (label collision); "
                "refusing to overwrite it"
            )
            raise MemoryUnavailableError(msg)
        new_trust = Trust[value["trust"]]
        if existing is not None and not _is_expired(existing, now):
            old_trust = Trust[existing["trust"]]
            if existing["content"] == value["content"] and new_trust <= old_trust:
                return RememberResult("unchanged", existing["id"], _to_item(existing))
            if new_trust < old_trust:
                finding = PoisonFinding(
                    "write_guard",
                    "contradicted",
                    f"memory {value['id']} (trust {new_trust.name}) contradicts current memory "
                    f"{existing['id']} (trust {old_trust.name}) for fact_key "
                    f"{value['fact_key']!r}; the more trusted fact stays current",
                )
                return (yield from self._quarantine_plan(user_id, value, [finding], now))
        superseded_id = None
        if existing is not None:
            # 1) copy the old version to history (harmless if we fail after this)...
            old = {
                **existing,
                "status": "superseded",
                "superseded_by": value["id"],
                "superseded_at": now.isoformat(),
            }
            yield PutOp(self.namespace(user_id, _HISTORY), existing["id"], old, index=False)
            superseded_id = existing["id"]
        # 2) ...then replace the current slot in one put.
        yield PutOp(current_ns, slot, value, index=["content"] if self._indexed else False)
        action: MemoryAction = "superseded" if superseded_id else "stored"
        return RememberResult(action, value["id"], _to_item(value), superseded_id)

    def _quarantine_plan(
        self, user_id: str, value: dict[str, Any], findings: list[PoisonFinding], now: datetime
    ) -> Generator[_Op, Any, RememberResult]:
        record = {
            **value,
            "status": "quarantined",
            "quarantined_at": now.isoformat(),
            "findings": [f.to_dict() for f in findings],
        }
        yield PutOp(self.namespace(user_id, _QUARANTINE), value["id"], record, index=False)
        return RememberResult(
            "quarantined", value["id"], _to_item(record), findings=tuple(findings)
        )

    # ------------------------------------------------------------------ recall

    def recall(
        self, user_id: str, query: str, limit: int = 5, *, now: datetime | None = None
    ) -> RecallResult:
        """The user's current memories most relevant to ``query``, as ``Layer.MEMORY`` items.

        Relevance is in [0, 1]: the store's vector score (clamped) when the store has an
        embedding index, else BM25 over the user's current memories divided by the best score;
        memories sharing no term with the query are not returned. A query with no terms (empty, or
        only stop words) returns the newest memories with ``relevance=None``. Expired memories
        and memories of other users are never returned.

        Raises:
            MemoryUnavailableError: the store failed (with ``on_memory_error="raise"``).

        Example:
            ```python
            memory.recall("alice", "contact preference", limit=3)
            # [ContextItem(content='Prefers email over phone.', layer=Layer.MEMORY, ...)]
            ```
        """
        args = self._recall_args(user_id, query, limit, now)
        try:
            return RecallResult(self._run(self._recall_plan(*args), "recall", user_id))
        except MemoryUnavailableError as exc:
            return self._read_failed(exc)

    async def arecall(
        self, user_id: str, query: str, limit: int = 5, *, now: datetime | None = None
    ) -> RecallResult:
        """Async twin of `recall`."""
        args = self._recall_args(user_id, query, limit, now)
        try:
            return RecallResult(await self._arun(self._recall_plan(*args), "recall", user_id))
        except MemoryUnavailableError as exc:
            return self._read_failed(exc)

    def _read_failed(self, exc: MemoryUnavailableError) -> RecallResult:
        if self.on_memory_error == "raise":
            raise exc
        logger.warning("%s", exc)
        return RecallResult((), error=exc)

    def _recall_args(
        self, user_id: str, query: str, limit: int, now: datetime | None
    ) -> tuple[str, str, int, datetime]:
        user_id = _check_user(user_id)
        _require_type("query", query, str)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            msg = f"limit must be a positive int, got {limit!r}"
            raise ValueError(msg)
        return user_id, query, limit, resolve_now(now)

    def _scan(
        self, namespace: tuple[str, ...], owner: dict[str, str], filt: dict[str, Any] | None = None
    ) -> Generator[_Op, Any, list[dict[str, Any]]]:
        """All values in ``namespace`` owned by ``owner`` (paginated)."""
        out: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = yield SearchOp(namespace, filter=filt, limit=_PAGE, offset=offset)
            out.extend(
                it.value for it in page if _owned(it.value, owner) and it.namespace == namespace
            )
            if len(page) < _PAGE:
                return out
            offset += _PAGE

    def _recall_plan(
        self, user_id: str, query: str, limit: int, now: datetime
    ) -> Generator[_Op, Any, list[ContextItem]]:
        owner = _owner(user_id)
        namespace = self.namespace(user_id, _CURRENT)
        terms = self.tokenizer(query)
        if self._indexed and query.strip():
            return (yield from self._vector_plan(namespace, owner, query, limit, now))
        values = [v for v in (yield from self._scan(namespace, owner)) if not _is_expired(v, now)]
        if not terms:
            values.sort(key=lambda v: (v["created_at"], v["id"]), reverse=True)
            return [_to_item(v) for v in values[:limit]]
        stats = [self._terms.stats(v["content"]) for v in values]
        scores = _bm25(terms, [(st.counts, st.length) for st in stats])
        best = max(scores, default=0.0)
        ranked = sorted(
            ((s, v) for s, v in zip(scores, values, strict=True) if s > 0),
            key=lambda sv: (-sv[0], sv[1]["id"]),
        )
        return [_to_item(v, min(1.0, s / best)) for s, v in ranked[:limit]]

    def _vector_plan(
        self,
        namespace: tuple[str, ...],
        owner: dict[str, str],
        query: str,
        limit: int,
        now: datetime,
    ) -> Generator[_Op, Any, list[ContextItem]]:
        out: list[ContextItem] = []
        offset = 0
        page_size = max(2 * limit, 10)
        while len(out) < limit:
            page = yield SearchOp(namespace, query=query, limit=page_size, offset=offset)
            for hit in page:
                value = hit.value
                if hit.namespace != namespace or not _owned(value, owner):
                    continue
                if _is_expired(value, now):
                    continue
                score = 0.0 if hit.score is None else min(1.0, max(0.0, float(hit.score)))
                out.append(_to_item(value, score))
            if len(page) < page_size:
                break
            offset += page_size
        return out[:limit]

    # ------------------------------------------------------------------ forget

    def forget(self, user_id: str, ref: str) -> list[str]:
        """Forget the current memory with id ``ref``, or the current fact with fact_key ``ref``.

        History and quarantine records are kept for audit.

        Returns:
            The ids of the memories forgotten (empty when nothing matched).

        Raises:
            MemoryUnavailableError: the store failed (always raised: a forget must not be lost).

        Example:
            ```python
            memory.forget("alice", "contact")  # ['mem-…']
            ```
        """
        user_id = _check_user(user_id)
        _check_key("ref", ref)
        return self._run(self._forget_plan(user_id, ref), "forget", user_id)

    async def aforget(self, user_id: str, ref: str) -> list[str]:
        """Async twin of `forget`."""
        user_id = _check_user(user_id)
        _check_key("ref", ref)
        return await self._arun(self._forget_plan(user_id, ref), "forget", user_id)

    def _forget_plan(self, user_id: str, ref: str) -> Generator[_Op, Any, list[str]]:
        owner = _owner(user_id)
        namespace = self.namespace(user_id, _CURRENT)
        by_fact = yield GetOp(namespace, _slot(ref, ""))
        if (
            by_fact is not None
            and _owned(by_fact.value, owner)
            and by_fact.value["fact_key"] == ref
        ):
            yield PutOp(namespace, by_fact.key, None)
            return [by_fact.value["id"]]
        page = yield SearchOp(namespace, filter={"id": ref}, limit=10)
        forgotten: list[str] = []
        for hit in page:
            if hit.namespace == namespace and _owned(hit.value, owner) and hit.value["id"] == ref:
                yield PutOp(namespace, hit.key, None)
                forgotten.append(ref)
        return forgotten

    # ------------------------------------------------------------------ audit

    def history(self, user_id: str, fact_key: str) -> list[ContextItem]:
        """The superseded versions of ``fact_key`` for ``user_id``, oldest first.

        Each item's ``metadata`` has ``status="superseded"``, ``superseded_by`` and
        ``superseded_at``. These items are for audit; they are never recalled.

        Example:
            ```python
            [i.content for i in memory.history("u1", "plan")]  # ['Plan: Pro.']
            ```
        """
        user_id = _check_user(user_id)
        _check_key("fact_key", fact_key)
        return self._run(self._history_plan(user_id, fact_key), "history", user_id)

    async def ahistory(self, user_id: str, fact_key: str) -> list[ContextItem]:
        """Async twin of `history`."""
        user_id = _check_user(user_id)
        _check_key("fact_key", fact_key)
        return await self._arun(self._history_plan(user_id, fact_key), "history", user_id)

    def _history_plan(self, user_id: str, fact_key: str) -> Generator[_Op, Any, list[ContextItem]]:
        owner = _owner(user_id)
        current = yield GetOp(self.namespace(user_id, _CURRENT), _slot(fact_key, ""))
        current_id = current.value.get("id") if current is not None else None
        values = yield from self._scan(
            self.namespace(user_id, _HISTORY), owner, {"fact_key": fact_key}
        )
        values = [v for v in values if v.get("fact_key") == fact_key and v["id"] != current_id]
        values.sort(key=lambda v: (v["created_at"], v["id"]))
        return [_to_item(v) for v in values]

    def quarantined(self, user_id: str) -> list[Quarantined]:
        """The writes quarantined for ``user_id``, oldest first, with their findings."""
        user_id = _check_user(user_id)
        return self._run(self._quarantined_plan(user_id), "quarantined", user_id)

    async def aquarantined(self, user_id: str) -> list[Quarantined]:
        """Async twin of `quarantined`."""
        user_id = _check_user(user_id)
        return await self._arun(self._quarantined_plan(user_id), "quarantined", user_id)

    def _quarantined_plan(self, user_id: str) -> Generator[_Op, Any, list[Quarantined]]:
        values = yield from self._scan(self.namespace(user_id, _QUARANTINE), _owner(user_id))
        values.sort(key=lambda v: (v["created_at"], v["id"]))
        return [
            Quarantined(
                _to_item(v),
                tuple(
                    PoisonFinding(f["detector"], f["kind"], f["detail"], f.get("score", 1.0))
                    for f in v.get("findings", ())
                ),
            )
            for v in values
        ]
