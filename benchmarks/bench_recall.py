"""Evidence recall under a token budget.

Questions whose answers sit in known sentences of real text (Python standard-library docstrings),
among hundreds of distractor passages of very different lengths (40 to 3,000 tokens). For each budget (1k/2k/4k/8k) we
report the share of answer sentences that end up verbatim inside the window:

- ``ctxorch``: `ContextPacker.pack` with the question as query (BM25 over the pool, utility per
  token, query-relevant slices of long passages);
- ``bm25-topk-truncate``: the usual RAG recipe: rank passages with rank-bm25 ``BM25Okapi`` over the
  same tokens, concatenate the best ones until the budget is full, cut the last one;
- ``bm25-top4-truncate``: the same with a retriever's default ``k=4``.

The baselines get the same content budget the packer has left after its instructions and framing.

    python benchmarks/bench_recall.py [--questions N] [--pool N] [--seed S]
"""

from __future__ import annotations

import argparse
import math
import random
import re
import sys
import time
from pathlib import Path

from langchain_core.messages import HumanMessage
from rank_bm25 import BM25Okapi

sys.path.insert(0, str(Path(__file__).parent))
import corpus

from langchain_ctxorch import BudgetPolicy, ContextItem, ContextPacker, Layer, get_token_counter
from langchain_ctxorch.scoring import DEFAULT_TOKENIZER

_WS = re.compile(r"\s+")
_SENT = re.compile(r"(?<=[.!?])\s+")


def norm(text: str) -> str:
    return _WS.sub(" ", text).strip()


def build(
    pool_size: int, questions: int, seed: int, counter: object
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Passages of 40 to 3,000 tokens (log-uniform) and (question, answer sentence) pairs.

    A question is half of its answer sentence's terms, shuffled, plus one unrelated word.
    """
    rng = random.Random(seed)
    paragraphs = corpus.paragraphs()
    docs: list[tuple[str, str]] = []
    pos = 0
    while len(docs) < pool_size and pos < len(paragraphs):
        target = int(math.exp(rng.uniform(math.log(40), math.log(3000))))
        name, size, parts = paragraphs[pos][0], 0, []
        while size < target and pos < len(paragraphs):
            parts.append(paragraphs[pos][1])
            size += counter.count(paragraphs[pos][1])  # type: ignore[attr-defined]
            pos += 1
        docs.append((name, " ".join(parts)))
    vocabulary = sorted({w for _, d in docs[:50] for w in DEFAULT_TOKENIZER(d)})
    qa: list[tuple[str, str]] = []
    seen: set[str] = set()
    for _ in range(questions * 20):
        if len(qa) >= questions:
            break
        _, text = rng.choice(docs)
        sentences = [s for s in _SENT.split(text) if len(DEFAULT_TOKENIZER(s)) >= 8]
        if not sentences:
            continue
        answer = rng.choice(sentences)
        if answer in seen or sum(answer in d for _, d in docs) != 1:
            continue
        seen.add(answer)
        terms = DEFAULT_TOKENIZER(answer)
        picked = [*rng.sample(terms, k=max(3, len(terms) // 2)), rng.choice(vocabulary)]
        rng.shuffle(picked)
        qa.append((" ".join(picked), answer))
    return docs, qa


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=150)
    parser.add_argument("--pool", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    counter = get_token_counter()
    docs, qa = build(args.pool, args.questions, args.seed, counter)
    items = [
        ContextItem(id=f"d{i}", content=text, layer=Layer.KNOWLEDGE, source=name)
        for i, (name, text) in enumerate(docs)
    ]
    instructions = ContextItem(
        id="instructions",
        content="Answer the question using only the retrieved knowledge. Quote the sentence you use.",
        layer=Layer.INSTRUCTIONS,
    )
    pool_tokens = sum(counter.count(t) for _, t in docs)
    lengths = sorted(counter.count(t) for _, t in docs)
    bm25 = BM25Okapi([DEFAULT_TOKENIZER(t) for _, t in docs])
    budgets = (1000, 2000, 4000, 8000)
    results: dict[str, dict[int, int]] = {
        m: dict.fromkeys(budgets, 0)
        for m in ("ctxorch", "bm25-topk-truncate", "bm25-top4-truncate")
    }
    t_pack: list[float] = []
    for budget in budgets:
        packer = ContextPacker(BudgetPolicy(budget), counter)
        for n, (question, answer) in enumerate(qa):
            task = ContextItem.from_message(HumanMessage(question, id=f"q{n}"), layer=Layer.TASK)
            t0 = time.perf_counter()
            packed = packer.pack([instructions, *items, task], query=question)
            t_pack.append(time.perf_counter() - t0)
            window = norm(packed.to_text())
            results["ctxorch"][budget] += answer in window
            # the baselines get the room the packer had for knowledge
            content_budget = packed.report.budget - (
                packed.report.used - packed.report.layers[Layer.KNOWLEDGE].used
            )
            ranked = sorted(
                range(len(docs)),
                key=lambda i, s=bm25.get_scores(DEFAULT_TOKENIZER(question)): (-s[i], i),
            )
            for name, k in (("bm25-topk-truncate", len(docs)), ("bm25-top4-truncate", 4)):
                left = content_budget
                parts: list[str] = []
                for i in ranked[:k]:
                    text = docs[i][1]
                    cost = counter.count(text)
                    if cost <= left:
                        parts.append(text)
                        left -= cost
                    else:
                        tokens = counter.encode(text)[: max(left, 0)]
                        parts.append(counter.decode(tokens))
                        break
                results[name][budget] += answer in norm(" ".join(parts))
    print(
        f"{len(qa)} questions, {len(docs)} passages ({pool_tokens} tokens; median {lengths[len(lengths) // 2]}, "
        f"max {lengths[-1]} tokens per passage), seed {args.seed}"
    )
    print("\n| method | " + " | ".join(f"{b // 1000}k" for b in budgets) + " |")
    print("|---|" + "---:|" * len(budgets))
    for name, row in results.items():
        print(f"| {name} | " + " | ".join(f"{row[b] / len(qa):.2f}" for b in budgets) + " |")
    t_pack.sort()
    print(
        f"\npack time per question: median {t_pack[len(t_pack) // 2] * 1000:.1f} ms (pool of {len(items) + 2} candidates)"
    )


if __name__ == "__main__":
    main()
