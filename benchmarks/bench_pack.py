"""Packing speed: 1,000 candidates (~100k tokens of real English) into 8k and 128k budgets.

Times are medians of CPU time (``time.process_time``), which other processes on the machine do
not inflate. Compares, in the same run, `ContextPacker.pack` cold (token counting included) and warm (cached
counts), with and without a query, against tiktoken-encoding the same candidates once and against
``langchain_core.messages.trim_messages`` with an uncached tiktoken counter on the same content as
1,000 messages. Prints medians (ms) and ratios as a markdown table.

Each row is timed in a block of its own runs. As a check on drifting load (the machine may be
shared), the cold 8k pack without a query is also timed alternating with the encoding baseline,
one run of each per round, and the median of the per-round ratios is printed above the table.

    python benchmarks/bench_pack.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    trim_messages,
)

sys.path.insert(0, str(Path(__file__).parent))
import corpus

from langchain_ctxorch import (
    BudgetPolicy,
    ContextItem,
    ContextPacker,
    Layer,
    TiktokenCounter,
    get_token_counter,
)
from langchain_ctxorch.scoring import DEFAULT_TOKENIZER


def median_ms(fn, repeat: int) -> float:
    """Median CPU time of ``fn`` in ms (``time.process_time``: robust to other load on the box)."""
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append((time.process_time() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--candidates", type=int, default=1000)
    args = parser.parse_args()

    counter = get_token_counter()
    assert isinstance(counter, TiktokenCounter)
    texts = [t for _, t in corpus.passages(75, args.candidates, counter)]
    if len(texts) < args.candidates:
        texts = (texts * (args.candidates // len(texts) + 1))[: args.candidates]
    items = [
        ContextItem(id=f"doc{i}", content=t, layer=Layer.KNOWLEDGE, source=f"stdlib/{i}")
        for i, t in enumerate(texts)
    ]
    total_tokens = sum(counter.count(t) for t in texts)
    queries = [" ".join(DEFAULT_TOKENIZER(t)[:6]) for t in texts[:: max(1, len(texts) // 50)]]
    encoding = counter.encoding

    def encode_once() -> None:
        for t in texts:
            encoding.encode_ordinary(t)

    rows: list[tuple[str, float]] = []
    rows.append(("tiktoken-encode all candidates once", median_ms(encode_once, args.repeat)))
    warm_counter = get_token_counter()
    for t in texts:
        warm_counter.count(t)

    def warm_counts() -> None:
        for _ in range(100):
            for t in texts:
                warm_counter.count(t)

    rows.append(
        ("count all candidates, warm cache (per pass)", median_ms(warm_counts, args.repeat) / 100)
    )

    for budget in (8000, 128_000):
        policy = BudgetPolicy(budget)

        def cold(query: str | None = None, policy: BudgetPolicy = policy) -> None:
            fresh = get_token_counter()
            ContextPacker(policy, fresh).pack(items, query=query)

        rows.append((f"pack {budget // 1000}k cold, no query", median_ms(cold, args.repeat)))
        rows.append(
            (
                f"pack {budget // 1000}k cold, with query",
                median_ms(lambda: cold(queries[0]), args.repeat),
            )
        )
        packer = ContextPacker(policy, get_token_counter())
        packer.pack(items)
        rows.append(
            (
                f"pack {budget // 1000}k warm, no query",
                median_ms(lambda p=packer: p.pack(items), args.repeat * 4),
            )
        )
        for q in queries:
            packer.pack(items, query=q)
        qi = iter(queries * (args.repeat * 8))
        rows.append(
            (
                f"pack {budget // 1000}k warm, with query",
                median_ms(lambda p=packer: p.pack(items, query=next(qi)), args.repeat * 4),
            )
        )
        packed = packer.pack(items, query=queries[0])
        assert packed.report.used <= policy.available
        if budget == 8000:
            fill = packed.report.used / policy.available

    messages: list[BaseMessage] = [SystemMessage("You are helpful.")]
    for i, t in enumerate(texts):
        messages.append(HumanMessage(t) if i % 2 == 0 else AIMessage(t))

    def tiktoken_counter(msgs: list[BaseMessage]) -> int:
        return sum(3 + len(encoding.encode_ordinary(str(m.content))) for m in msgs) + 3

    def trim(budget: int) -> None:
        trim_messages(
            messages,
            max_tokens=budget,
            token_counter=tiktoken_counter,
            strategy="last",
            include_system=True,
        )

    rows.append(
        (
            "trim_messages 8k (uncached tiktoken counter)",
            median_ms(lambda: trim(8000), max(3, args.repeat // 3)),
        )
    )
    rows.append(
        (
            "trim_messages 128k (uncached tiktoken counter)",
            median_ms(lambda: trim(128_000), max(3, args.repeat // 3)),
        )
    )

    policy8 = BudgetPolicy(8000)
    paired = []
    for _ in range(args.repeat):
        encode_ms = median_ms(encode_once, 1)
        cold_ms = median_ms(lambda: ContextPacker(policy8, get_token_counter()).pack(items), 1)
        paired.append(cold_ms / encode_ms)

    base = dict(rows)
    print(
        f"{len(items)} candidates, {total_tokens} tokens (cl100k_base); Python {sys.version.split()[0]}"
    )
    print(f"8k window filled to {fill:.1%} of the available budget")
    print(
        "pack 8k cold, no query / encode once, alternating runs: "
        f"median {statistics.median(paired):.3g}x over {len(paired)} rounds\n"
    )
    print("| operation | median ms | vs encode once | vs trim_messages 8k |")
    print("|---|---:|---:|---:|")
    enc = base["tiktoken-encode all candidates once"]
    trim8 = base["trim_messages 8k (uncached tiktoken counter)"]
    for name, ms in rows:
        print(f"| {name} | {ms:.3g} | {ms / enc:.3g}x | {ms / trim8:.3g}x |")


if __name__ == "__main__":
    main()
