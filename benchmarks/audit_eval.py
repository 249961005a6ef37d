"""Evaluate `audit_instructions` on the labelled system prompts in benchmarks/data/.

For every gold sentence the audit's verdict is "fact" when fact findings cover at least half of
the sentence's characters (the audit splits sentences itself, so spans are matched by overlap).
Reports precision, recall and F1 of the fact class for the ``dev`` split (the prompts the
heuristics were developed on), the ``holdout`` split (labelled before the audit was run on them),
the ``holdout2`` split (a second held-out set in ``system_prompts_holdout2.jsonl``, collected and
labelled by another annotator before the audit was run on it) and all of them together, next to
a naive baseline a user might write instead ("a sentence with a digit, a $ or a URL is a fact").

``holdout2`` is also split by prompt into two fixed halves, ``holdout2-A`` and ``holdout2-B``: a
prompt is in half A when the SHA-256 of its id, read as an integer, is even (`holdout2_half`).

Each held-out set was scored once, untouched, and then used for tuning (the figures are
recorded in docs/form-vs-facts.md): ``holdout2-B`` (precision 0.818, recall 0.865),
``holdout3`` (0.726 / 0.570), ``holdout4`` (0.544 / 0.843), ``holdout5`` (0.667 / 0.656),
``holdout6`` (0.444 / 0.562), ``holdout7`` (0.597 / 0.705), ``holdout8`` (0.560 / 0.651),
``holdout9`` (0.730 / 0.540) and ``holdout10`` (0.889 / 0.649). The next test split is
``holdout11`` (``system_prompts_holdout11.jsonl``), to be collected and labelled before the audit
runs on it (see benchmarks/data/system_prompts.README.md); until it exists ``--test`` stops with
a message. It is scored only with ``--test`` and left out of every other figure (``all``
included), so tuning runs never show it. ``--errors`` lists the errors of the tuning splits
unless ``--errors-split`` names another one.

Run:
    .venv/bin/python benchmarks/audit_eval.py [--errors] [--json] [--repeat N] [--test]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import time
from pathlib import Path

from langchain_ctxorch.audit import InstructionAudit, audit_instructions

DATA = Path(__file__).parent / "data" / "system_prompts.jsonl"
HELD_OUT = tuple(f"holdout{k}" for k in range(2, 11))
"""The held-out files after the first, in the order they were collected; all are tuning sets now."""
TEST_SPLIT = f"holdout{len(HELD_OUT) + 2}"
DATA_TEST = DATA.with_name(f"system_prompts_{TEST_SPLIT}.jsonl")
_NAIVE = re.compile(r"\d|\$|https?://|www\.")


def load(*, test: bool = False) -> list[dict]:
    """The labelled prompts; the test split (`TEST_SPLIT`) only when ``test`` is true."""
    prompts: list[dict] = []
    tuning = (DATA, *(DATA.with_name(f"system_prompts_{name}.jsonl") for name in HELD_OUT))
    if test and not DATA_TEST.exists():
        msg = f"no test split yet: {DATA_TEST} does not exist (label one before scoring it)"
        raise SystemExit(msg)
    for path in (*tuning, *((DATA_TEST,) if test else ())):
        with path.open(encoding="utf-8") as f:
            prompts += [json.loads(line) for line in f if line.strip()]
    return prompts


def holdout2_half(prompt_id: str) -> str:
    """``"A"`` (tuning half) or ``"B"`` (test half) of ``holdout2``, fixed by the prompt id."""
    return "A" if int(hashlib.sha256(prompt_id.encode()).hexdigest(), 16) % 2 == 0 else "B"


def splits_of(prompt: dict) -> set[str]:
    """The evaluation splits a prompt belongs to (besides ``all``)."""
    split = prompt.get("split", "dev")
    out = {split}
    if split == "holdout2":
        out.add(f"holdout2-{holdout2_half(prompt['id'])}")
    return out


SPLITS = ("dev", "holdout", "holdout2", "holdout2-A", "holdout2-B", *HELD_OUT[1:], "all")
TEST_SPLITS = (TEST_SPLIT, f"all+{TEST_SPLIT}")
TUNING_SPLITS = ("dev", "holdout", *HELD_OUT)


def labels_of(prompt: dict, audit: InstructionAudit) -> list[str]:
    """Fact/form per gold sentence: fact when the audit's fact findings cover half of it."""
    fact_spans = [(f.start, f.end) for f in audit.facts]
    out = []
    for s in prompt["sentences"]:
        covered = sum(max(0, min(e, s["end"]) - max(b, s["start"])) for b, e in fact_spans)
        out.append("fact" if covered * 2 >= s["end"] - s["start"] else "form")
    return out


def audit_labels(prompt: dict) -> list[str]:
    return labels_of(prompt, audit_instructions(prompt["text"]))


def naive_labels(prompt: dict) -> list[str]:
    return ["fact" if _NAIVE.search(s["text"]) else "form" for s in prompt["sentences"]]


def scores(gold: list[str], pred: list[str]) -> dict[str, float]:
    tp = sum(g == p == "fact" for g, p in zip(gold, pred, strict=True))
    fp = sum(g == "form" and p == "fact" for g, p in zip(gold, pred, strict=True))
    fn = sum(g == "fact" and p == "form" for g, p in zip(gold, pred, strict=True))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall, "f1": f1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--errors", action="store_true", help="list misclassified sentences (tuning splits)"
    )
    parser.add_argument(
        "--errors-split",
        choices=SPLITS + TEST_SPLITS,
        action="append",
        help=f"list the errors of this split instead (repeatable); {TEST_SPLIT} needs --test",
    )
    parser.add_argument(
        "--test",
        action="store_true",
        help=f"also score the held-out test split {TEST_SPLIT} (and all+{TEST_SPLIT})",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--repeat", type=int, default=20, help="timing runs over the set")
    args = parser.parse_args()
    prompts = load(test=args.test)
    result: dict = {"prompts": len(prompts), "splits": {}}
    errors: list[str] = []
    error_splits = set(args.errors_split or TUNING_SPLITS)
    every = f"all+{TEST_SPLIT}" if args.test else "all"  # the split holding every loaded prompt
    for split in SPLITS + (TEST_SPLITS if args.test else ()):
        chosen = [
            p
            for p in prompts
            if split == f"all+{TEST_SPLIT}"
            or (split == "all" and p.get("split") != TEST_SPLIT)
            or split in splits_of(p)
        ]
        gold: list[str] = []
        pred: list[str] = []
        naive: list[str] = []
        for p in chosen:
            labels = audit_labels(p)
            for s, label in zip(p["sentences"], labels, strict=True):
                if label != s["label"] and split == every and error_splits & splits_of(p):
                    errors.append(
                        f"{p['id']}: gold={s['label']} audit={label}: {s['text'][:100]!r}"
                    )
            gold += [s["label"] for s in p["sentences"]]
            pred += labels
            naive += naive_labels(p)
        result["splits"][split] = {
            "prompts": len(chosen),
            "sentences": len(gold),
            "fact_sentences": gold.count("fact"),
            "audit": scores(gold, pred),
            "naive_digit_baseline": scores(gold, naive),
        }
    # Timing, same run: the audit (with per-sentence token counts) against the naive regex.
    audit_times: list[float] = []
    naive_times: list[float] = []
    for _ in range(args.repeat):
        for p in prompts:
            t0 = time.perf_counter()
            audit_instructions(p["text"])
            audit_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            naive_labels(p)
            naive_times.append(time.perf_counter() - t0)
    result["median_ms_per_prompt"] = 1000 * statistics.median(audit_times)
    result["naive_median_ms_per_prompt"] = 1000 * statistics.median(naive_times)
    result["time_ratio_audit_over_naive"] = statistics.median(audit_times) / max(
        statistics.median(naive_times), 1e-12
    )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for split, r in result["splits"].items():
            print(
                f"[{split}] {r['prompts']} prompts, {r['sentences']} sentences, "
                f"{r['fact_sentences']} labelled fact"
            )
            for name in ("audit", "naive_digit_baseline"):
                m = r[name]
                print(
                    f"  {name:<22} precision={m['precision']:.3f} recall={m['recall']:.3f} "
                    f"f1={m['f1']:.3f} (tp={m['tp']} fp={m['fp']} fn={m['fn']})"
                )
        print(
            f"median time per prompt ({args.repeat} runs): audit "
            f"{result['median_ms_per_prompt']:.3f} ms, naive regex "
            f"{result['naive_median_ms_per_prompt']:.3f} ms "
            f"(ratio {result['time_ratio_audit_over_naive']:.0f}x)"
        )
    if args.errors or args.errors_split:
        print("\n".join(errors) or "no errors")


if __name__ == "__main__":
    main()
