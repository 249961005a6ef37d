"""LangChain retrievers: a fast BM25 knowledge retriever and a poison guard for any retriever.

Key types:

- `BM25KnowledgeRetriever`: BM25Okapi ranking over an in-memory corpus (engine: ``bm25s`` for
  speed, or ``rank_bm25`` for the reference implementation), with metadata filters, freshness
  (``valid_from`` / ``expires_at``), scores normalised into ``metadata["relevance"]``,
  ``add_documents`` / ``delete`` and ``save`` / ``load``.
- `GuardedRetriever`: wraps any ``BaseRetriever`` and runs a poison filter on what it returns;
  ``invoke_with_report`` gives the kept documents and the filter's verdicts.
- `PoisonFilterLike`: the protocol `GuardedRetriever` needs from a filter (``PoisonFilter`` fits).

Example:
    ```python
    from langchain_core.documents import Document
    from langchain_ctxorch.retrievers import BM25KnowledgeRetriever

    retriever = BM25KnowledgeRetriever.from_documents(
        [
            Document("Pro plan costs $49 a month.", metadata={"product": "pro"}),
            Document("Refunds take five days.", metadata={"product": "all"}),
        ],
        k=2,
    )
    docs = retriever.invoke("how much does pro cost")
    docs[0].metadata["relevance"]  # 1.0 for the best match
    ```
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import math
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast, runtime_checkable

from langchain_core.callbacks import dispatch_custom_event
from langchain_core.callbacks.manager import adispatch_custom_event
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, PrivateAttr, field_validator
from typing_extensions import override

from langchain_ctxorch.items import ContextItem, Layer, Trust, resolve_now, stable_hash
from langchain_ctxorch.scoring import DEFAULT_TOKENIZER, ENGLISH_STOP_WORDS, Tokenizer

if TYPE_CHECKING:
    import numpy as np
    from langchain_core.callbacks import (
        AsyncCallbackManagerForRetrieverRun,
        CallbackManagerForRetrieverRun,
    )
    from langchain_core.runnables import RunnableConfig
    from numpy.typing import NDArray

    from langchain_ctxorch.poison import FilterResult

__all__ = [
    "QUARANTINE_EVENT",
    "BM25Backend",
    "BM25KnowledgeRetriever",
    "GuardedRetriever",
    "MetadataFilter",
    "PoisonFilterLike",
]

BM25Backend = Literal["bm25s", "rank_bm25"]
"""The engine computing BM25Okapi scores: ``bm25s`` (fast, sparse matrix) or ``rank_bm25``."""

MetadataFilter = Mapping[str, Any] | Callable[[Mapping[str, Any]], bool]
"""A metadata filter: a mapping whose items must all equal the document's, or a predicate."""

QUARANTINE_EVENT = "ctxorch_quarantine"
"""Name of the custom callback event `GuardedRetriever` dispatches when it quarantines documents."""

_BACKENDS: tuple[str, ...] = ("bm25s", "rank_bm25")
_PROGRESS_THRESHOLD = 10_000
_FORMAT = "langchain-ctxorch/bm25-retriever"
_FORMAT_VERSION = 1
_CONFIG_FILE = "config.json"
_DOCS_FILE = "documents.jsonl"
_REPORT_SINK = "_ctxorch_report_sink"


# --------------------------------------------------------------------------------------------
# Engines (private): each turns a token corpus into BM25Okapi scores for a query.
# --------------------------------------------------------------------------------------------


class _Engine(Protocol):
    def scores(self, terms: Sequence[str]) -> tuple[NDArray[np.float64], NDArray[np.intp]] | None:
        """Scores of every document and positions of those holding a query term (or None).

        None when no query term is in the vocabulary.
        """
        ...


class _Bm25sEngine:
    """``bm25s`` with ``method="robertson"``, patched to BM25Okapi's IDF floor.

    bm25s' robertson IDF clamps ``log((N - df + 0.5) / (df + 0.5))`` at 0 and leaves out the
    ``(k1 + 1)`` factor of the term-frequency part; BM25Okapi replaces negative IDFs with
    ``epsilon * mean(idf)``. The columns of those terms are recomputed here and scores are
    multiplied by ``k1 + 1``, so scores equal BM25Okapi's (up to float32 rounding).
    """

    def __init__(
        self,
        corpus: list[list[str]],
        *,
        k1: float,
        b: float,
        epsilon: float,
        show_progress: bool,
    ) -> None:
        import bm25s  # noqa: PLC0415 - heavy, optional at import time
        import numpy as np  # noqa: PLC0415

        engine = bm25s.BM25(method="robertson", k1=k1, b=b)
        engine.index(corpus, show_progress=show_progress)
        matrix = engine.scores
        indptr = matrix["indptr"]
        data = matrix["data"]
        indices = matrix["indices"]
        n_docs = len(corpus)
        df = np.diff(indptr).astype(np.float64)
        raw_idf = np.log(n_docs - df + 0.5) - np.log(df + 0.5)
        floor = epsilon * float(raw_idf.mean()) if raw_idf.size else 0.0
        negative = np.flatnonzero(raw_idf < 0)
        if negative.size:
            lengths = np.fromiter((len(d) for d in corpus), dtype=np.float64, count=n_docs)
            norm = k1 * (1.0 - b + b * lengths / lengths.mean())
            by_id = {i: t for t, i in engine.vocab_dict.items()}
            for col in negative.tolist():
                term = by_id[col]
                start, end = int(indptr[col]), int(indptr[col + 1])
                docs = indices[start:end]
                tf = np.fromiter((corpus[d].count(term) for d in docs.tolist()), dtype=np.float64)
                data[start:end] = floor * tf / (norm[docs] + tf)
        self._engine = engine
        self._indptr = indptr
        self._indices = indices
        self._vocab: dict[str, int] = engine.vocab_dict
        self._scale = k1 + 1.0

    def scores(self, terms: Sequence[str]) -> tuple[NDArray[np.float64], NDArray[np.intp]] | None:
        import numpy as np  # noqa: PLC0415

        ids = [self._vocab[t] for t in terms if t in self._vocab and t]
        if not ids:
            return None
        raw = self._engine.get_scores_from_ids(ids)
        out: NDArray[np.float64] = raw.astype("float64") * self._scale
        indptr = self._indptr
        hit = np.zeros(out.shape[0], dtype=bool)
        for i in set(ids):
            hit[self._indices[indptr[i] : indptr[i + 1]]] = True
        return out, np.flatnonzero(hit)


class _RankBm25Engine:
    """``rank_bm25.BM25Okapi``: the reference implementation (slow on large corpora)."""

    def __init__(self, corpus: list[list[str]], *, k1: float, b: float, epsilon: float) -> None:
        from rank_bm25 import BM25Okapi  # noqa: PLC0415

        self._engine = BM25Okapi(corpus, k1=k1, b=b, epsilon=epsilon)
        self._vocab = frozenset(self._engine.idf)

    def scores(self, terms: Sequence[str]) -> tuple[NDArray[np.float64], NDArray[np.intp]] | None:
        import numpy as np  # noqa: PLC0415

        known = [t for t in terms if t in self._vocab]
        if not known:
            return None
        out: NDArray[np.float64] = np.asarray(self._engine.get_scores(known), dtype=np.float64)
        unique = set(known)
        matched = np.fromiter(
            (i for i, freqs in enumerate(self._engine.doc_freqs) if not unique.isdisjoint(freqs)),
            dtype=np.intp,
        )
        return out, matched


# --------------------------------------------------------------------------------------------
# Index snapshot: immutable; queries read one snapshot, mutations build a new one.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Snapshot:
    docs: tuple[Document, ...]
    """The indexed documents (private copies, never handed out)."""
    positions: Mapping[str, int]
    """Document id -> position in ``docs``."""
    engine: _Engine | None
    """None when the index has no terms at all."""
    valid_from: NDArray[np.float64] | None
    """POSIX timestamps (``-inf`` when unset), or None when no document is dated."""
    expires_at: NDArray[np.float64] | None
    """POSIX timestamps (``+inf`` when unset), or None when no document is dated."""


_EMPTY = _Snapshot(docs=(), positions={}, engine=None, valid_from=None, expires_at=None)


def _parse_time(value: Any, *, key: str, doc_id: str) -> float | None:
    """A metadata datetime (aware ``datetime`` or ISO 8601 string) as a POSIX timestamp."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            msg = (
                f"document {doc_id!r}: metadata[{key!r}] = {value!r} is not an ISO 8601 datetime; "
                "use e.g. '2026-01-31T00:00:00+00:00' or a timezone-aware datetime"
            )
            raise ValueError(msg) from None
    if not isinstance(value, datetime):
        msg = (
            f"document {doc_id!r}: metadata[{key!r}] must be a timezone-aware datetime or an "
            f"ISO 8601 string, got {type(value).__name__} {value!r}"
        )
        raise TypeError(msg)
    if value.tzinfo is None or value.utcoffset() is None:
        msg = (
            f"document {doc_id!r}: metadata[{key!r}] = {value.isoformat()!r} is naive; give it a "
            "timezone, e.g. value.replace(tzinfo=timezone.utc) or an ISO string ending in +00:00"
        )
        raise ValueError(msg)
    return value.timestamp()


def _default_id(doc: Document) -> str:
    meta = json.dumps(doc.metadata, sort_keys=True, default=str, ensure_ascii=False)
    return stable_hash(doc.page_content, meta)


def _tqdm_available() -> bool:
    return importlib.util.find_spec("tqdm") is not None


def _matches(metadata: Mapping[str, Any], flt: MetadataFilter) -> bool:
    if callable(flt):
        return bool(flt(metadata))
    missing = object()
    return all(metadata.get(key, missing) == value for key, value in flt.items())


def _check_filter(flt: Any, *, name: str) -> MetadataFilter | None:
    if flt is None or callable(flt) or isinstance(flt, Mapping):
        return flt  # type: ignore[no-any-return]
    msg = (
        f"{name} must be a mapping of metadata key -> required value (e.g. "
        f"{{'product': 'pro'}}) or a callable(metadata) -> bool, got {type(flt).__name__} {flt!r}"
    )
    raise TypeError(msg)


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        msg = f"k must be a non-negative integer (the number of documents to return), got {k!r}"
        raise ValueError(msg)
    return k


# JSON encoding of document metadata for save/load: datetimes are tagged, nothing is pickled.
_DT_TAG = "$datetime"


def _encode(value: Any, *, where: str) -> Any:
    if isinstance(value, datetime):
        return {_DT_TAG: value.isoformat()}
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            msg = f"{where}: {value!r} cannot be saved as JSON; use a finite number or a string"
            raise ValueError(msg)
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                msg = f"{where}: metadata keys must be strings to be saved, got {key!r}"
                raise TypeError(msg)
            out[key] = _encode(item, where=f"{where}[{key!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [_encode(item, where=f"{where}[{i}]") for i, item in enumerate(value)]
    msg = (
        f"{where}: {type(value).__name__} {value!r} cannot be saved as JSON; store a string, "
        "number, bool, None, datetime, list or dict in Document.metadata"
    )
    raise TypeError(msg)


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and _DT_TAG in value:
            return datetime.fromisoformat(value[_DT_TAG])
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise


# --------------------------------------------------------------------------------------------
# BM25KnowledgeRetriever
# --------------------------------------------------------------------------------------------


class BM25KnowledgeRetriever(BaseRetriever):
    r"""BM25Okapi retrieval over an in-memory corpus, with filters and freshness.

    Rankings equal ``rank_bm25.BM25Okapi`` over the tokens of ``tokenizer`` (the package's
    shared tokenizer: lowercase ``\w+`` words, English stop words dropped). The default engine,
    ``bm25s``, scores a query in about a millisecond at 100k passages; ``backend="rank_bm25"``
    uses the reference implementation.

    Only documents holding at least one query term are returned, best BM25Okapi score first,
    ties broken by insertion order. Each returned document is a copy with
    ``metadata["relevance"]`` (its score divided by the best score of that query, clamped to
    [0, 1]; when no score is positive, which happens only when the query terms are in most
    documents of a tiny corpus, the best documents get 1.0 and the others 0.0) and
    ``metadata["bm25_score"]`` (the raw BM25Okapi score). Documents whose
    ``metadata["expires_at"]`` has passed, or whose ``metadata["valid_from"]`` is in the future,
    are never returned (timezone-aware datetimes or ISO 8601 strings).

    Mutations (`add_documents`, `delete`) rebuild the index under a lock and swap it in; a query
    always sees one consistent index, so one instance may serve concurrent threads and tasks.
    Prefer adding documents in batches: each call re-indexes the corpus (BM25 statistics are
    global), a few seconds at 100k passages.

    Example:
        ```python
        retriever = BM25KnowledgeRetriever.from_documents(docs, k=3, filter={"lang": "en"})
        retriever.invoke("refund policy", k=5, filter={"product": "pro"})
        # [Document(page_content=..., metadata={..., "relevance": 1.0, "bm25_score": 7.1}), ...]
        ```
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    k: int = Field(default=4, ge=0)
    """How many documents to return (override per call with ``invoke(query, k=n)``)."""
    filter: MetadataFilter | None = None
    """Default metadata filter: a mapping of key -> required value, or a predicate."""
    tokenizer: Callable[[str], list[str]] = DEFAULT_TOKENIZER
    """Splits documents and queries into terms (the package's shared `Tokenizer` by default)."""
    backend: BM25Backend = "bm25s"
    """The scoring engine: ``"bm25s"`` (fast) or ``"rank_bm25"`` (reference)."""
    k1: float = Field(default=1.5, ge=0)
    """BM25 term-frequency saturation."""
    b: float = Field(default=0.75, ge=0, le=1)
    """BM25 length normalisation."""
    epsilon: float = 0.25
    """BM25Okapi's floor for negative IDFs, as a fraction of the mean IDF."""
    show_progress: bool | None = None
    """Show a progress bar while indexing: None means only above 10k documents, if tqdm exists."""

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _snapshot: _Snapshot = PrivateAttr(default=_EMPTY)

    def __init__(self, documents: Iterable[Document] | None = None, **kwargs: Any) -> None:
        """Create the retriever and index ``documents`` (if given).

        Args:
            documents: documents to index.
            **kwargs: the fields (``k``, ``filter``, ``tokenizer``, ``backend``...).
        """
        super().__init__(**kwargs)
        if documents is not None:
            self.add_documents(documents)

    @field_validator("backend", mode="before")
    @classmethod
    def _check_backend(cls, value: Any) -> Any:
        if value not in _BACKENDS:
            msg = f"backend must be one of {', '.join(map(repr, _BACKENDS))}, got {value!r}"
            raise ValueError(msg)
        return value

    @field_validator("filter", mode="before")
    @classmethod
    def _check_default_filter(cls, value: Any) -> Any:
        return _check_filter(value, name="filter")

    @classmethod
    def from_documents(
        cls,
        documents: Iterable[Document],
        k: int = 4,
        *,
        tokenizer: Callable[[str], list[str]] = DEFAULT_TOKENIZER,
        backend: BM25Backend = "bm25s",
        **kwargs: Any,
    ) -> BM25KnowledgeRetriever:
        """Index ``documents`` and return the retriever.

        Args:
            documents: the corpus; a document's ``id`` is kept (else one is derived from its
                content and metadata; documents with the same id replace each other).
            k: how many documents a query returns by default.
            tokenizer: the term splitter (the package's shared tokenizer by default).
            backend: ``"bm25s"`` (fast) or ``"rank_bm25"`` (reference implementation).
            **kwargs: other fields: ``filter``, ``k1``, ``b``, ``epsilon``, ``show_progress``.

        Example:
            ```python
            BM25KnowledgeRetriever.from_documents(docs, k=2, backend="rank_bm25")
            ```
        """
        return cls(documents, k=k, tokenizer=tokenizer, backend=backend, **kwargs)

    # -- index ---------------------------------------------------------------------------

    @property
    def ids(self) -> tuple[str, ...]:
        """The ids of the indexed documents, in insertion order."""
        return tuple(str(d.id) for d in self._snapshot.docs)

    def add_documents(
        self, documents: Iterable[Document], *, ids: Sequence[str] | None = None
    ) -> list[str]:
        """Index ``documents`` (copies are stored); a document with an existing id replaces it.

        Args:
            documents: documents to add.
            ids: ids to give them (default: each document's ``id``, else a hash of its content
                and metadata).

        Returns:
            The ids of the added documents, in order.

        Raises:
            ValueError: ``ids`` has another length than ``documents``, or a ``valid_from`` /
                ``expires_at`` is not a timezone-aware datetime or ISO 8601 string.
            TypeError: an element is not a ``Document``.

        Example:
            ```python
            retriever.add_documents([Document("New policy.", id="policy-2")])  # ["policy-2"]
            ```
        """
        docs: list[Any] = list(documents)
        if ids is not None and len(ids) != len(docs):
            msg = f"ids has {len(ids)} entries but documents has {len(docs)}; give one id each"
            raise ValueError(msg)
        new: list[Document] = []
        for i, doc in enumerate(docs):
            if not isinstance(doc, Document):
                msg = f"documents[{i}] must be a langchain_core Document, got {type(doc).__name__}"
                raise TypeError(msg)
            doc_id = str(ids[i]) if ids is not None else (str(doc.id) if doc.id else "")
            doc_id = doc_id or _default_id(doc)
            new.append(
                Document(
                    page_content=doc.page_content,
                    metadata=copy.deepcopy(dict(doc.metadata)),
                    id=doc_id,
                )
            )
        with self._lock:
            current = self._snapshot
            merged = dict(zip((str(d.id) for d in current.docs), current.docs, strict=True))
            for doc in new:
                merged[str(doc.id)] = doc
            self._snapshot = self._build(list(merged.values()))
        return [str(d.id) for d in new]

    def delete(self, ids: Iterable[str]) -> int:
        """Remove the documents with these ids (unknown ids are ignored).

        Returns:
            How many documents were removed.

        Example:
            ```python
            retriever.delete(["policy-1"])  # 1
            ```
        """
        drop = {str(i) for i in ([ids] if isinstance(ids, str) else ids)}
        with self._lock:
            current = self._snapshot
            kept = [d for d in current.docs if d.id not in drop]
            removed = len(current.docs) - len(kept)
            if removed:
                self._snapshot = self._build(kept)
        return removed

    def _build(self, docs: list[Document]) -> _Snapshot:
        if not docs:
            return _EMPTY
        progress = (
            self.show_progress
            if self.show_progress is not None
            else len(docs) > _PROGRESS_THRESHOLD and _tqdm_available()
        )
        texts: Iterable[Document] = docs
        if progress and _tqdm_available():
            tqdm_auto = importlib.import_module("tqdm.auto")
            texts = tqdm_auto.tqdm(docs, desc="Tokenizing", unit="doc")
        tokenize = self.tokenizer
        corpus = [tokenize(d.page_content) for d in texts]
        engine: _Engine | None = None
        if any(corpus):
            if self.backend == "bm25s":
                engine = _Bm25sEngine(
                    corpus,
                    k1=self.k1,
                    b=self.b,
                    epsilon=self.epsilon,
                    show_progress=bool(progress),
                )
            else:
                engine = _RankBm25Engine(corpus, k1=self.k1, b=self.b, epsilon=self.epsilon)
        valid_from, expires_at = self._time_arrays(docs)
        return _Snapshot(
            docs=tuple(docs),
            positions={str(d.id): i for i, d in enumerate(docs)},
            engine=engine,
            valid_from=valid_from,
            expires_at=expires_at,
        )

    @staticmethod
    def _time_arrays(
        docs: list[Document],
    ) -> tuple[NDArray[np.float64] | None, NDArray[np.float64] | None]:
        import numpy as np  # noqa: PLC0415

        starts = [
            _parse_time(d.metadata.get("valid_from"), key="valid_from", doc_id=str(d.id))
            for d in docs
        ]
        ends = [
            _parse_time(d.metadata.get("expires_at"), key="expires_at", doc_id=str(d.id))
            for d in docs
        ]
        if all(s is None for s in starts) and all(e is None for e in ends):
            return None, None
        lo = np.array([-math.inf if s is None else s for s in starts], dtype=np.float64)
        hi = np.array([math.inf if e is None else e for e in ends], dtype=np.float64)
        return lo, hi

    # -- query ---------------------------------------------------------------------------

    def _search(
        self,
        query: str,
        k: int | None,
        flt: MetadataFilter | None,
        now: datetime | None,
    ) -> list[Document]:
        import numpy as np  # noqa: PLC0415

        limit = self.k if k is None else _check_k(k)
        flt = self.filter if flt is None else _check_filter(flt, name="filter")
        if not isinstance(cast("object", query), str):
            msg = f"query must be a string, got {type(query).__name__} {query!r}"
            raise TypeError(msg)
        snap = self._snapshot  # one consistent index for the whole query
        if limit == 0 or snap.engine is None:
            return []
        terms = self.tokenizer(query)
        if not terms:
            return []
        found = snap.engine.scores(terms)
        if found is None:
            return []
        scores, cand = found
        if snap.valid_from is not None and snap.expires_at is not None and cand.size:
            ts = resolve_now(now).timestamp()
            cand = cand[(snap.valid_from[cand] <= ts) & (snap.expires_at[cand] > ts)]
        if cand.size == 0:
            return []

        def ranked(pool: NDArray[np.intp]) -> NDArray[np.intp]:
            order = np.lexsort((pool, -scores[pool]))
            return pool[order]

        picked: list[int] = []
        # First look at a shortlist (all candidates scoring at least the m-th best score), then,
        # if a filter rejected too many, at everything else.
        shortlist = limit if flt is None else limit * 8
        if cand.size > shortlist:
            cand_scores = scores[cand]
            kth = np.partition(cand_scores, cand.size - shortlist)[cand.size - shortlist]
            head = cand[cand_scores >= kth]
            tail = cand[cand_scores < kth]
        else:
            head, tail = cand, cand[:0]
        for pool in (head, tail):
            for idx in ranked(pool).tolist():
                if flt is None or _matches(snap.docs[idx].metadata, flt):
                    picked.append(idx)
                    if len(picked) == limit:
                        break
            if len(picked) == limit:
                break
        if not picked:
            return []
        best = float(scores[picked[0]])
        out: list[Document] = []
        for idx in picked:
            doc = snap.docs[idx]
            score = float(scores[idx])
            meta = copy.deepcopy(doc.metadata)
            if best > 0:
                meta["relevance"] = min(1.0, max(0.0, score / best))
            else:  # no positive score: query terms are in most documents of a tiny corpus
                meta["relevance"] = 1.0 if score >= best else 0.0
            meta["bm25_score"] = score
            out.append(Document(page_content=doc.page_content, metadata=meta, id=doc.id))
        return out

    @override
    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        filter: MetadataFilter | None = None,
        now: datetime | None = None,
    ) -> list[Document]:
        """The top ``k`` documents for ``query`` (see the class docstring).

        Args:
            query: the search text.
            run_manager: LangChain's callback manager for this run.
            k: how many documents (default: the ``k`` field).
            filter: a metadata filter for this call (default: the ``filter`` field).
            now: the time freshness is judged at (default: the current UTC time).
        """
        return self._search(query, k, filter, now)

    @override
    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
        filter: MetadataFilter | None = None,
        now: datetime | None = None,
    ) -> list[Document]:
        """Async twin of `_get_relevant_documents` (in-memory: no thread hop)."""
        return self._search(query, k, filter, now)

    # -- persistence ---------------------------------------------------------------------

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the documents and settings to ``directory`` as JSON (nothing is pickled).

        The index is rebuilt by `load`. A custom tokenizer (anything but a `Tokenizer` without
        a stemmer) and a callable ``filter`` are not saved: pass them to `load` again.

        Returns:
            The directory.

        Raises:
            TypeError: a metadata value is not JSON-representable (names the document and key).

        Example:
            ```python
            retriever.save("kb-index")
            BM25KnowledgeRetriever.load("kb-index").invoke("refund policy")
            ```
        """
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        snap = self._snapshot
        tok = self.tokenizer
        tokenizer_conf: dict[str, Any] | None = None
        if isinstance(tok, Tokenizer) and tok.stemmer is None:
            tokenizer_conf = {
                "lowercase": tok.lowercase,
                "stop_words": (
                    "english" if tok.stop_words == ENGLISH_STOP_WORDS else sorted(tok.stop_words)
                ),
            }
        flt = self.filter
        config = {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "k": self.k,
            "backend": self.backend,
            "k1": self.k1,
            "b": self.b,
            "epsilon": self.epsilon,
            "tokenizer": tokenizer_conf,
            "filter": "callable" if callable(flt) else _encode(flt, where="filter"),
            "count": len(snap.docs),
        }
        lines = [
            json.dumps(
                {
                    "id": d.id,
                    "page_content": d.page_content,
                    "metadata": _encode(d.metadata, where=f"document {d.id!r} metadata"),
                },
                ensure_ascii=False,
            )
            for d in snap.docs
        ]
        _write_atomic(path / _DOCS_FILE, "".join(line + "\n" for line in lines))
        _write_atomic(path / _CONFIG_FILE, json.dumps(config, indent=2, ensure_ascii=False))
        return path

    @classmethod
    def load(cls, directory: str | os.PathLike[str], **overrides: Any) -> BM25KnowledgeRetriever:
        """Rebuild a retriever saved with `save`.

        Args:
            directory: where `save` wrote it.
            **overrides: fields to set instead of the saved ones (required: ``tokenizer`` when a
                custom tokenizer was used, ``filter`` when the default filter was a callable).

        Raises:
            FileNotFoundError: ``directory`` holds no saved retriever.
            ValueError: the files are not a saved retriever, or a required override is missing.
        """
        path = Path(directory)
        config_path = path / _CONFIG_FILE
        if not config_path.is_file():
            msg = f"no saved BM25KnowledgeRetriever in {str(path)!r} (missing {_CONFIG_FILE})"
            raise FileNotFoundError(msg)
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if not isinstance(config, dict) or config.get("format") != _FORMAT:
            msg = f"{str(config_path)!r} is not a saved BM25KnowledgeRetriever"
            raise ValueError(msg)
        if config.get("version") != _FORMAT_VERSION:
            msg = (
                f"{str(config_path)!r} has format version {config.get('version')!r}; "
                f"this release reads version {_FORMAT_VERSION}"
            )
            raise ValueError(msg)
        fields: dict[str, Any] = {
            key: config[key] for key in ("k", "backend", "k1", "b", "epsilon") if key in config
        }
        tok_conf = config.get("tokenizer")
        if "tokenizer" not in overrides:
            if tok_conf is None:
                msg = (
                    f"the retriever in {str(path)!r} used a custom tokenizer, which is not "
                    "saved; pass it again: BM25KnowledgeRetriever.load(path, tokenizer=...)"
                )
                raise ValueError(msg)
            stop = tok_conf["stop_words"]
            stop_words = ENGLISH_STOP_WORDS if stop == "english" else frozenset(stop)
            fields["tokenizer"] = Tokenizer(
                stop_words=stop_words, lowercase=bool(tok_conf["lowercase"])
            )
        flt = config.get("filter")
        if flt == "callable" and "filter" not in overrides:
            msg = (
                f"the retriever in {str(path)!r} had a callable default filter, which is not "
                "saved; pass it again: BM25KnowledgeRetriever.load(path, filter=...)"
            )
            raise ValueError(msg)
        if flt != "callable":
            fields["filter"] = _decode(flt)
        fields.update(overrides)
        docs: list[Document] = []
        with (path / _DOCS_FILE).open(encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                row = json.loads(line)
                docs.append(
                    Document(
                        page_content=row["page_content"],
                        metadata=_decode(row["metadata"]),
                        id=row["id"],
                    )
                )
        return cls(docs, **fields)


# --------------------------------------------------------------------------------------------
# GuardedRetriever
# --------------------------------------------------------------------------------------------


@runtime_checkable
class PoisonFilterLike(Protocol):
    """What `GuardedRetriever` needs from a poison filter (``PoisonFilter`` fits)."""

    def filter(
        self,
        items: Sequence[ContextItem],
        query: str | None = None,
        now: datetime | None = None,
    ) -> FilterResult:
        """Split ``items`` into kept items and quarantine records."""
        ...


def _default_poison_filter() -> PoisonFilterLike:
    from langchain_ctxorch.poison import PoisonFilter  # noqa: PLC0415

    default: PoisonFilterLike = PoisonFilter.default()
    return default


def _unit_interval(value: Any) -> float | None:
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0.0 <= value <= 1.0
    ):
        return float(value)
    return None


def _item_from_document(doc: Document, layer: Layer, max_trust: Trust | None) -> ContextItem:
    meta = doc.metadata or {}
    # Foreign retrievers put all sorts of scores under "relevance"; only a value in [0, 1] is a
    # relevance (else "relevance_score", the rerankers' convention, when it is in [0, 1]).
    relevance = _unit_interval(meta.get("relevance"))
    if relevance is None:
        relevance = _unit_interval(meta.get("relevance_score"))
    item = ContextItem.from_document(doc, layer=layer, relevance=relevance)
    if max_trust is not None and item.trust > max_trust:
        item = item.model_copy(update={"trust": max_trust})
    return item


def _document_from_item(item: ContextItem, original: Document | None) -> Document:
    meta = dict(item.metadata)
    meta["trust"] = item.trust.name
    if item.fact_key is not None:
        meta["fact_key"] = item.fact_key
    if item.relevance is not None:
        meta["relevance"] = item.relevance
    elif "relevance" in meta:  # not a [0, 1] relevance: keep it, under another key
        meta["raw_relevance"] = meta.pop("relevance")
    doc_id = original.id if original is not None else item.id
    return Document(page_content=item.content, metadata=meta, id=doc_id)


def _quarantine_payload(query: str, result: FilterResult) -> dict[str, Any]:
    return {
        "query": query,
        "kept": len(result.kept),
        "quarantined": [q.to_dict() for q in result.quarantined],
    }


def _quarantine_text(result: FilterResult) -> str:
    lines = [f"GuardedRetriever quarantined {len(result.quarantined)} document(s):"]
    lines += [f"  {q.item.id}: {q.reason}" for q in result.quarantined]
    return "\n".join(lines) + "\n"


class GuardedRetriever(BaseRetriever):
    """Runs a poison filter on what any retriever returns.

    The inner retriever's documents become `ContextItem`s (``ContextItem.from_document``), go
    through ``poison_filter`` and ``on_poison`` (``"quarantine"``: drop and report,
    ``"annotate"``: keep and mark, ``"raise"``: `PoisonedContextError`), and the kept ones come
    back as new documents with ``metadata["trust"]`` (the `Trust` name), ``fact_key`` and
    ``relevance`` (when known: a value in [0, 1] under ``relevance`` or ``relevance_score``;
    another ``relevance`` value is moved to ``raw_relevance``) normalised. Nothing is dropped
    silently: quarantined documents are reported by `invoke_with_report`, by a
    ``run_manager.on_text`` line and by a custom callback event named `QUARANTINE_EVENT`
    (visible in ``astream_events``) carrying their ids and findings. The instance keeps no
    per-query state, so it is safe under concurrent use.

    Example:
        ```python
        guarded = GuardedRetriever(retriever=vector_store.as_retriever())
        docs, result = guarded.invoke_with_report("refund policy")
        [q.item.id for q in result.quarantined]  # e.g. ["doc-7"] (an injected instruction)
        ```
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: BaseRetriever
    """The retriever whose results are filtered."""
    poison_filter: PoisonFilterLike = Field(default_factory=_default_poison_filter)
    """The filter (``PoisonFilter.default()`` unless given)."""
    on_poison: Literal["quarantine", "raise", "annotate"] = "quarantine"
    """What to do with flagged documents (see ``langchain_ctxorch.poison.apply_on_poison``)."""
    layer: Layer = Layer.KNOWLEDGE
    """The layer the documents are filtered as (decides their default trust)."""
    max_trust: Trust | None = Trust.EXTERNAL
    """Cap on the trust a document may claim in ``metadata["trust"]``. The default,
    ``Trust.EXTERNAL``, means every document is scanned however it is labelled (items at
    ``Trust.VERIFIED`` and above would skip the injection scan, and whoever writes an index can
    often write its metadata too). Raise it (or pass None) only for an index you control."""

    @field_validator("max_trust", mode="before")
    @classmethod
    def _parse_max_trust(cls, value: Any) -> Any:
        return None if value is None else Trust.parse(value)

    def _guard(
        self, query: str, docs: Sequence[Document]
    ) -> tuple[list[Document], FilterResult, FilterResult]:
        """Filter ``docs``: (kept documents, result under ``on_poison``, raw filter result)."""
        from langchain_ctxorch.poison import apply_on_poison  # noqa: PLC0415

        items: list[ContextItem] = []
        originals: dict[str, Document] = {}
        for position, doc in enumerate(docs):
            item = _item_from_document(doc, self.layer, self.max_trust)
            if item.id in originals:  # two results share an id: keep both, distinguishable
                item = item.model_copy(update={"id": f"{item.id}#{position}"})
            originals[item.id] = doc
            items.append(item)
        raw = self.poison_filter.filter(items, query=query)
        # "raise" is applied by _finish, after the quarantine has been reported.
        result = raw if self.on_poison == "raise" else apply_on_poison(raw, self.on_poison)
        kept = [_document_from_item(item, originals.get(item.id)) for item in result.kept]
        return kept, result, raw

    def _finish(self, kept: list[Document], result: FilterResult, sink: Any) -> list[Document]:
        from langchain_ctxorch.poison import apply_on_poison  # noqa: PLC0415

        if self.on_poison == "raise":
            apply_on_poison(result, "raise")  # PoisonedContextError when anything was flagged
        if isinstance(sink, list):
            sink.append(result)
        return kept

    @override
    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        """Retrieve with the inner retriever, filter, report quarantined documents.

        Args:
            query: the search text.
            run_manager: LangChain's callback manager for this run.
            **kwargs: passed on to the inner retriever's ``invoke`` (e.g. ``k``).
        """
        sink = kwargs.pop(_REPORT_SINK, None)
        child = run_manager.get_child()
        docs = self.retriever.invoke(query, {"callbacks": child}, **kwargs)
        kept, result, raw = self._guard(query, docs)
        if raw.quarantined:
            run_manager.on_text(_quarantine_text(raw))
            dispatch_custom_event(
                QUARANTINE_EVENT, _quarantine_payload(query, raw), config={"callbacks": child}
            )
        return self._finish(kept, result, sink)

    @override
    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        """Async twin of `_get_relevant_documents`: awaits the inner retriever's ``ainvoke``."""
        sink = kwargs.pop(_REPORT_SINK, None)
        child = run_manager.get_child()
        docs = await self.retriever.ainvoke(query, {"callbacks": child}, **kwargs)
        kept, result, raw = self._guard(query, docs)
        if raw.quarantined:
            await run_manager.on_text(_quarantine_text(raw))
            await adispatch_custom_event(
                QUARANTINE_EVENT, _quarantine_payload(query, raw), config={"callbacks": child}
            )
        return self._finish(kept, result, sink)

    def invoke_with_report(
        self, query: str, config: RunnableConfig | None = None, **kwargs: Any
    ) -> tuple[list[Document], FilterResult]:
        """Like ``invoke``, and also return the filter's result (kept items and quarantine).

        Example:
            ```python
            docs, result = guarded.invoke_with_report("refund policy", k=5)
            len(docs) == len(result.kept)  # True
            ```
        """
        sink: list[FilterResult] = []
        docs = self.invoke(query, config, **{_REPORT_SINK: sink}, **kwargs)
        return docs, sink[0]

    async def ainvoke_with_report(
        self, query: str, config: RunnableConfig | None = None, **kwargs: Any
    ) -> tuple[list[Document], FilterResult]:
        """Async twin of `invoke_with_report`."""
        sink: list[FilterResult] = []
        docs = await self.ainvoke(query, config, **{_REPORT_SINK: sink}, **kwargs)
        return docs, sink[0]
