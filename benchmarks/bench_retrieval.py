"""Benchmark: BM25KnowledgeRetriever against LangChain's community BM25Retriever.

Builds both retrievers over the same passages of real text (docstrings of the Python standard
library and the installed packages, split into ~60-word passages) at 1k, 10k and 100k passages,
and measures in the same run:

- build time (``from_documents``) and the memory the index keeps (tracemalloc, after build);
- query latency through ``invoke(query)`` (k=10): median (p50) and p95;
- top-10 overlap with ``rank_bm25.BM25Okapi`` over the same tokens (the reference ranking:
  documents holding a query term, best score first, ties by position).

Queries are 2-5 consecutive terms taken from random passages (seeded). The community retriever
is given the same tokenizer (``preprocess_func``), so both rank the same tokens.

Run::

    .venv/bin/python benchmarks/bench_retrieval.py            # 1k, 10k, 100k
    .venv/bin/python benchmarks/bench_retrieval.py --quick    # 1k, 10k, fewer queries (CI)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import re
import statistics
import sys
import sysconfig
import time
import tracemalloc
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document
from rank_bm25 import BM25Okapi

from langchain_ctxorch.retrievers import BM25KnowledgeRetriever
from langchain_ctxorch.scoring import DEFAULT_TOKENIZER

_DOCSTRING = re.compile(r'"""(.*?)"""', re.DOTALL)


def _docstrings(roots: list[str]) -> Iterator[str]:
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                if not name.endswith(".py"):
                    continue
                try:
                    source = (Path(dirpath) / name).read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
                yield from _DOCSTRING.findall(source)


def passages(n: int, words: int = 60) -> list[str]:
    """``n`` distinct passages of real text (Python and package docstrings)."""
    paths = sysconfig.get_paths()
    roots = [paths["stdlib"], paths["purelib"]]
    out: dict[str, None] = {}
    for doc in _docstrings(roots):
        for para in re.split(r"\n\s*\n", doc):
            tokens = para.split()
            for i in range(0, len(tokens), words):
                chunk = tokens[i : i + words]
                if len(chunk) >= 8:
                    out[" ".join(chunk)] = None
                    if len(out) >= n:
                        return list(out)
    msg = f"only {len(out)} passages found, {n} requested"
    raise RuntimeError(msg)


def make_queries(texts: list[str], count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    queries: list[str] = []
    while len(queries) < count:
        terms = DEFAULT_TOKENIZER(texts[rng.randrange(len(texts))])
        if len(terms) < 3:
            continue
        size = rng.randint(2, 5)
        start = rng.randrange(max(1, len(terms) - size))
        queries.append(" ".join(terms[start : start + size]))
    return queries


def reference_top10(engine: BM25Okapi, tokens: list[set[str]], query: str) -> list[int]:
    terms = DEFAULT_TOKENIZER(query)
    scores = engine.get_scores(terms)
    wanted = set(terms)
    pos = np.array([i for i, t in enumerate(tokens) if not wanted.isdisjoint(t)], dtype=np.intp)
    if pos.size == 0:
        return []
    order = np.lexsort((pos, -scores[pos]))
    return [int(i) for i in pos[order][:10]]


def timed_build(factory: Callable[[], Any]) -> tuple[Any, float, int]:
    """Build once timed, once under tracemalloc; returns (object, seconds, bytes retained)."""
    gc.collect()
    start = time.perf_counter()
    obj = factory()
    seconds = time.perf_counter() - start
    del obj
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    obj = factory()
    gc.collect()
    retained = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return obj, seconds, retained


def latencies(retriever: Any, queries: list[str]) -> list[float]:
    retriever.invoke(queries[0])  # warm up
    out = []
    for q in queries:
        start = time.perf_counter()
        retriever.invoke(q)
        out.append(time.perf_counter() - start)
    return out


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95))


def run(size: int, texts: list[str], n_queries: int, n_community: int) -> dict[str, Any]:
    with warnings.catch_warnings():  # langchain-community announces its sunset on import
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_community.retrievers import BM25Retriever  # noqa: PLC0415

    docs = [Document(t, id=str(i)) for i, t in enumerate(texts[:size])]
    queries = make_queries(texts[:size], n_queries, seed=size)

    ours, ours_build, ours_mem = timed_build(
        lambda: BM25KnowledgeRetriever.from_documents(docs, k=10)
    )
    ours_lat = latencies(ours, queries)

    community, comm_build, comm_mem = timed_build(
        lambda: BM25Retriever.from_documents(docs, k=10, preprocess_func=DEFAULT_TOKENIZER)
    )
    comm_lat = latencies(community, queries[:n_community])

    tokens = [DEFAULT_TOKENIZER(d.page_content) for d in docs]
    reference = BM25Okapi(tokens)
    token_sets = [set(t) for t in tokens]
    overlaps = []
    for q in queries:
        ref = reference_top10(reference, token_sets, q)
        if not ref:
            continue
        got = {int(d.id) for d in ours.invoke(q)}
        overlaps.append(len(got & set(ref)) / len(ref))

    ours_p50 = statistics.median(ours_lat)
    comm_p50 = statistics.median(comm_lat)
    return {
        "passages": size,
        "queries": len(queries),
        "community_queries": n_community,
        "ours_build_s": ours_build,
        "ours_mem_mb": ours_mem / 2**20,
        "ours_p50_ms": ours_p50 * 1e3,
        "ours_p95_ms": p95(ours_lat) * 1e3,
        "community_build_s": comm_build,
        "community_mem_mb": comm_mem / 2**20,
        "community_p50_ms": comm_p50 * 1e3,
        "community_p95_ms": p95(comm_lat) * 1e3,
        "speedup_p50": comm_p50 / ours_p50,
        "top10_overlap": statistics.fmean(overlaps),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1k and 10k only, fewer queries")
    parser.add_argument("--sizes", type=int, nargs="*", help="passage counts (overrides --quick)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([1_000, 10_000] if args.quick else [1_000, 10_000, 100_000])
    texts = passages(max(sizes))
    rows = []
    for size in sizes:
        n_queries = 100 if args.quick else 300
        n_community = min(n_queries, max(20, 2_000_000 // size)) if not args.quick else 30
        rows.append(run(size, texts, n_queries, n_community))
        print(f"done: {size} passages", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        "| passages | ours p50 / p95 (ms) | community p50 / p95 (ms) | speed-up (p50) "
        "| build ours / community (s) | memory ours / community (MB) | top-10 overlap |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['passages']:,} | {r['ours_p50_ms']:.3f} / {r['ours_p95_ms']:.3f} "
            f"| {r['community_p50_ms']:.1f} / {r['community_p95_ms']:.1f} "
            f"| {r['speedup_p50']:.0f}x "
            f"| {r['ours_build_s']:.2f} / {r['community_build_s']:.2f} "
            f"| {r['ours_mem_mb']:.1f} / {r['community_mem_mb']:.1f} "
            f"| {r['top10_overlap']:.4f} |"
        )
    failed = [
        r
        for r in rows
        if r["top10_overlap"] < 0.97
        or (r["passages"] >= 100_000 and (r["ours_p50_ms"] > 2.0 or r["speedup_p50"] < 100))
    ]
    if failed:
        print("acceptance NOT met for: " + ", ".join(str(r["passages"]) for r in failed))
        return 1
    print("acceptance met (p50 <= 2 ms and >= 100x at 100k; overlap >= 0.97)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
