"""Speed of `InjectionDetector.scan` and `PoisonFilter.default().filter`.

Run: ``.venv/bin/python benchmarks/bench_poison.py``

Reports medians of process (CPU) time over repeated runs, which other load on a shared machine
does not inflate, of:

- 1 MB pathological inputs (repeated separators, nested brackets, zero-width runs, base64-ish runs,
  repeated trigger words) scanned by a fresh detector (no cache);
- throughput on ordinary English text (stdlib docstrings) for the detector, beside a naive
  baseline a user might write instead (a dozen case-insensitive `re` patterns over the text);
- `PoisonFilter.default().filter` on 1,000 candidates (~100k tokens of stdlib docstrings), cold
  (new filter) and warm (same filter, cached scans), beside `ContextPacker.pack` when available.
"""

from __future__ import annotations

import re
import statistics
import sys
import sysconfig
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import corpus

from langchain_ctxorch.items import ContextItem, Layer
from langchain_ctxorch.poison import DuplicateDetector, InjectionDetector, PoisonFilter
from langchain_ctxorch.tokens import get_token_counter


def median_time(fn, repeat: int = 7) -> float:
    """Median process (CPU) time of ``fn``: other load on a shared machine does not inflate it."""
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def stdlib_text(limit: int) -> list[str]:
    docs: list[str] = []
    for _, _, objs in corpus.stdlib_modules():
        for obj in objs:
            doc = getattr(obj, "__doc__", None)
            if isinstance(doc, str) and len(doc) > 200:
                docs.append(doc)
        if sum(map(len, docs)) > limit:
            break
    return list(dict.fromkeys(docs))


NAIVE = [
    re.compile(p, re.IGNORECASE)
    for p in [
        r"ignore (all )?(previous|prior|above) instructions",
        r"disregard (all )?(previous|prior|above) (instructions|rules)",
        r"forget (all )?(previous|your) instructions",
        r"you are now (a|an|DAN)",
        r"do anything now",
        r"system prompt",
        r"<\|im_start\|>",
        r"\[INST\]",
        r"developer mode",
        r"reveal (your|the) (instructions|prompt)",
        r"!\[.*\]\(https?://.*\?.*=",
        r"new instructions:",
    ]
]


def naive_scan(text: str) -> bool:
    return any(p.search(text) for p in NAIVE)


def main() -> None:
    mb = 1_000_000
    pathological = {
        "repeated separators": ("-=" * 40 + "\n") * (mb // 81),
        "nested brackets": "[" * (mb // 2) + "]" * (mb // 2),
        "zero-width runs": ("a" + "\u200b" * 50) * (mb // 51),
        "base64-ish run": ("QUJD" * (mb // 4)),
        "repeated trigger words": "ignore system prompt " * (mb // 21),
        "markdown images": "![a](http://x.y/?q=" * (mb // 19),
        "whitespace": " " * mb,
    }
    print("## Pathological 1 MB inputs (fresh detector, no cache)\n")
    print("| input | median ms | naive 12-regex ms |")
    print("|---|---|---|")
    for name, text in pathological.items():
        t = median_time(lambda text=text: InjectionDetector(cache_size=0).scan(text), repeat=3)
        tn = median_time(lambda text=text: naive_scan(text), repeat=3)
        print(f"| {name} | {t * 1000:.1f} | {tn * 1000:.1f} |")

    docs = stdlib_text(6 * mb)
    corpus = "\n\n".join(docs)[: 5 * mb]
    size = len(corpus.encode())
    t = median_time(lambda: InjectionDetector(cache_size=0).scan(corpus), repeat=3)
    tn = median_time(lambda: naive_scan(corpus), repeat=3)
    print("\n## Ordinary text throughput (stdlib docstrings)\n")
    print(
        f"- {size / 1e6:.1f} MB: InjectionDetector {size / t / 1e6:.1f} MB/s (median {t * 1000:.0f} ms); "
        f"naive 12-regex IGNORECASE baseline {size / tn / 1e6:.1f} MB/s; ratio {tn / t:.1f}x"
    )

    counter = get_token_counter("cl100k_base")
    paragraphs: list[str] = []
    for d in docs:
        paragraphs.extend(p.strip() for p in re.split(r"\n\s*\n", d) if len(p.strip()) > 200)
    paragraphs = list(dict.fromkeys(paragraphs))
    # Two candidate sets of 1,000 items: single stdlib paragraphs (~83k tokens), and paragraphs
    # of 80-600 characters merged with their neighbours up to >= 300 characters (~100k tokens,
    # the target's size), stdlib docstrings first, then installed packages' READMEs.
    site = Path(sysconfig.get_paths()["purelib"])
    for meta in sorted(site.glob("*.dist-info/METADATA")):
        body = meta.read_text(errors="ignore").split("\n\n", 1)[-1]
        docs.append(body)
    merged: list[str] = []
    for d in docs:
        for p in (p.strip() for p in re.split(r"\n\s*\n", d)):
            if not 80 <= len(p) <= 600:
                continue
            if merged and len(merged[-1]) < 300:
                merged[-1] = f"{merged[-1]}\n\n{p}"
            else:
                merged.append(p)
    merged = list(dict.fromkeys(merged))
    res = None
    for chunks in (paragraphs, merged):
        items = [
            ContextItem(content=c, layer=Layer.KNOWLEDGE, id=f"d{i}", source="stdlib")
            for i, c in enumerate(chunks[:1000])
        ]
        tokens = sum(counter.count(i.content) for i in items)
        chars = sum(len(i.content) for i in items)
        print(
            f"\n## PoisonFilter.default().filter on {len(items)} candidates "
            f"({tokens} tokens, {chars / 1e3:.0f}k characters)\n"
        )
        query = "how to parse command line arguments"

        def cold(items: list[ContextItem] = items, query: str = query) -> None:
            PoisonFilter.default().filter(items, query=query)

        warm_filter = PoisonFilter.default()
        warm_filter.filter(items)
        t_cold = median_time(cold, repeat=21)
        t_inj = median_time(lambda items=items: InjectionDetector().detect(items), repeat=21)
        t_dup = median_time(lambda items=items: DuplicateDetector().detect(items), repeat=21)
        t_warm = median_time(
            lambda items=items, f=warm_filter, q=query: f.filter(items, query=q), repeat=21
        )
        naive = median_time(lambda items=items: [naive_scan(i.content) for i in items])
        res = warm_filter.filter(items)
        print(f"- cold (new filter): median {t_cold * 1000:.1f} ms")
        print(f"  - of which injection scan: median {t_inj * 1000:.1f} ms")
        print(f"  - of which duplicates: median {t_dup * 1000:.1f} ms")
        print(f"- warm (cached scans): median {t_warm * 1000:.2f} ms")
        print(f"- naive 12-regex scan of the same items: median {naive * 1000:.1f} ms")
        kinds = ", ".join(sorted({f.kind for q in res.quarantined for f in q.findings}))
        print(f"- quarantined: {len(res.quarantined)} ({kinds})")
    assert res is not None
    try:
        from langchain_ctxorch.budget import BudgetPolicy  # noqa: PLC0415 - written concurrently
        from langchain_ctxorch.packing import ContextPacker  # noqa: PLC0415
    except ImportError as exc:
        print(f"- pack: not measured ({exc})")
    else:
        packer = ContextPacker(BudgetPolicy(max_tokens=32000), counter=counter)
        packer.pack(res.kept, query="argparse")
        t_pack = median_time(
            lambda: packer.pack(res.kept, query="argparse", quarantined=res.quarantined)
        )
        print(
            f"- ContextPacker.pack of the kept items (warm counts): median {t_pack * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
