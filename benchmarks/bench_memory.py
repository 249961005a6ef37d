"""StoreMemory cost vs using the LangGraph store directly, in the same run.

For N memories per user (and 20 other users in the same store), measures:

- ``remember``: StoreMemory.remember (poison check + get + put) vs a raw ``store.put``;
- ``recall``: StoreMemory.recall (scan the user's memories + BM25 rank) vs (a) a raw
  ``store.search(namespace, limit=5)`` (unranked: what you get without ctxorch when the store has
  no embedding index) and (b) the do-it-yourself ranking: list the user's namespace and rank with
  ``rank_bm25.BM25Okapi`` (rebuilt per call, since memories change between calls).

Run: ``.venv/bin/python benchmarks/bench_memory.py [--sizes 10 100 1000] [--store memory|sqlite]``
Reports medians in milliseconds and the ratio StoreMemory / raw store.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from langchain_ctxorch.memory import StoreMemory

WORDS = (
    "tea coffee paris london cat dog jazz rock vegan allergy peanuts window aisle seat email phone "
    "night day refund order plan pro team invoice monday friday car bike train music books"
).split()


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 12))).capitalize() + "."


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _make_store(kind: str, tmp: Path) -> BaseStore:
    if kind == "memory":
        return InMemoryStore()
    import sqlite3  # noqa: PLC0415 - only for --store sqlite

    from langgraph.store.sqlite import SqliteStore  # noqa: PLC0415

    conn = sqlite3.connect(str(tmp / "bench.db"), check_same_thread=False, isolation_level=None)
    store = SqliteStore(conn)
    store.setup()
    return store


def run(size: int, kind: str, tmp: Path, repeat: int) -> dict[str, float]:
    rng = random.Random(size)
    store = _make_store(kind, tmp)
    memory = StoreMemory(store, namespace_prefix=("bench", f"n{size}"))
    for user in [f"user-{i}" for i in range(20)] + ["target"]:
        for j in range(size):
            memory.remember(user, f"{_sentence(rng)} #{j}")
    raw_ns = ("raw", f"n{size}", "target")
    for j in range(size):
        store.put(raw_ns, f"k{j}", {"content": f"{_sentence(rng)} #{j}"})
    counter = iter(range(10**9))
    query = "vegan peanuts allergy window seat"
    return {
        "remember_ms": _median_ms(
            lambda: memory.remember("target", f"New fact {next(counter)}."), repeat
        ),
        "raw_put_ms": _median_ms(
            lambda: store.put(raw_ns, f"x{next(counter)}", {"content": "New fact."}), repeat
        ),
        "recall_ms": _median_ms(lambda: memory.recall("target", query, limit=5), repeat),
        "raw_search_ms": _median_ms(lambda: store.search(raw_ns, limit=5), repeat),
        "diy_bm25_ms": _median_ms(lambda: _diy_recall(store, raw_ns, query, size), repeat),
    }


def _diy_recall(store: BaseStore, ns: tuple[str, ...], query: str, size: int) -> list[str]:
    from rank_bm25 import BM25Okapi  # noqa: PLC0415

    from langchain_ctxorch.scoring import DEFAULT_TOKENIZER  # noqa: PLC0415

    texts = [it.value["content"] for it in store.search(ns, limit=size + 1000)]
    bm25 = BM25Okapi([DEFAULT_TOKENIZER(t) for t in texts])
    scores = bm25.get_scores(DEFAULT_TOKENIZER(query))
    return [texts[i] for i in sorted(range(len(texts)), key=lambda i: -scores[i])[:5]]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--store", choices=["memory", "sqlite"], default="memory")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    print(f"store={args.store}, 21 users, medians of {args.repeat} calls")
    print(
        f"{'memories/user':>14} {'remember':>10} {'raw put':>9} {'ratio':>6} {'recall':>9} "
        f"{'raw search':>11} {'ratio':>6} {'DIY BM25':>10} {'ratio':>6}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            r = run(size, args.store, Path(tmp), args.repeat)
            print(
                f"{size:>14} {r['remember_ms']:>9.3f}ms {r['raw_put_ms']:>7.3f}ms "
                f"{r['remember_ms'] / r['raw_put_ms']:>5.1f}x {r['recall_ms']:>7.3f}ms "
                f"{r['raw_search_ms']:>9.3f}ms {r['recall_ms'] / r['raw_search_ms']:>5.1f}x "
                f"{r['diy_bm25_ms']:>8.3f}ms {r['recall_ms'] / r['diy_bm25_ms']:>5.2f}x"
            )


if __name__ == "__main__":
    main()
