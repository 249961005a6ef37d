"""How much do two annotators agree on fact vs form, and how does the audit score against each?

`system_prompts_holdout6.jsonl` and `system_prompts_holdout9.jsonl` were each labelled by one
annotator; `system_prompts_holdout6.second_annotator.jsonl` (466 sentences) and
`system_prompts_holdout9.second_annotator.jsonl` (445) hold a second annotator's labels for the
same sentences, made blind (the second annotator saw the texts and spans, never the first labels,
the audit or its output). For each set the script prints:

- raw agreement and Cohen's kappa between the two annotators, and the second annotator scored as
  if it were a classifier against the first (the ceiling a perfect imitation of one annotator can
  expect against another);
- the audit scored against each annotator, both as it was frozen before the set was first
  scored (read with ``git show``; the untouched figure) and as it is now, and on the sentences
  both annotators agree on;
- the audit with the chat model (``refine_with=``, the recorded answers of
  `audit_refine_eval.RECORDINGS` for the current prompt), against each annotator.

Run:
    .venv/bin/python benchmarks/annotator_agreement.py [--set holdout6|holdout9]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import audit_eval
from audit_learned_eval import frozen_audit
from audit_refine_eval import RECORDINGS, ReplayChatModel, read_recordings

from langchain_ctxorch.audit import audit_instructions

DATA = Path(__file__).parent / "data"
FROZEN_COMMITS = {"holdout6": "190a2a7", "holdout9": "9451674"}
"""Per doubly annotated set: the commit whose audit was scored once on it, untouched."""


def predicted(audit: Callable[[str], Any], prompt: dict) -> list[str]:
    """Fact/form per gold sentence, matched like `audit_eval.audit_labels`."""
    return audit_eval.labels_of(prompt, audit(prompt["text"]))


def kappa(a: list[str], b: list[str]) -> tuple[float, float]:
    """Raw agreement and Cohen's kappa of two fact/form label lists."""
    n = len(a)
    agree = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pa, pb = a.count("fact") / n, b.count("fact") / n
    chance = pa * pb + (1 - pa) * (1 - pb)
    return agree, (agree - chance) / (1 - chance)


def line(name: str, gold: list[str], pred: list[str]) -> str:
    s = audit_eval.scores(gold, pred)
    return (
        f"| {name} | {s['precision']:.3f} | {s['recall']:.3f} | {s['tp']} / {s['fp']} / {s['fn']} |"
    )


def report(name: str) -> None:
    """Print the agreement table of one doubly annotated set."""
    first_path = DATA / f"system_prompts_{name}.jsonl"
    second_path = DATA / f"system_prompts_{name}.second_annotator.jsonl"
    with first_path.open(encoding="utf-8") as f:
        first = [json.loads(row) for row in f if row.strip()]
    with second_path.open(encoding="utf-8") as f:
        second = [json.loads(row) for row in f if row.strip()]
    if [p["id"] for p in first] != [p["id"] for p in second]:
        msg = f"{second_path.name} does not list the prompts of {first_path.name} in the same order"
        raise SystemExit(msg)
    gold1 = [s["label"] for p in first for s in p["sentences"]]
    gold2 = [label for p in second for label in p["labels"]]
    if len(gold1) != len(gold2):
        msg = f"{second_path.name} has {len(gold2)} labels for {len(gold1)} sentences"
        raise SystemExit(msg)
    agree, k = kappa(gold1, gold2)
    print(
        f"## {name}\n\n{len(gold1)} sentences; facts: first annotator {gold1.count('fact')}, "
        f"second {gold2.count('fact')}; agreement {agree:.3f}; Cohen's kappa {k:.3f}\n"
    )
    commit = FROZEN_COMMITS[name]
    old_audit = frozen_audit(commit)
    model = ReplayChatModel(recorded=read_recordings(RECORDINGS))
    predictors = {
        f"audit frozen at {commit}": [x for p in first for x in predicted(old_audit, p)],
        "audit now": [x for p in first for x in predicted(audit_instructions, p)],
        "audit now with the chat model (recorded)": [
            x
            for p in first
            for x in predicted(lambda text: audit_instructions(text, refine_with=model), p)
        ],
    }
    both = [i for i, (x, y) in enumerate(zip(gold1, gold2, strict=True)) if x == y]
    agreed = [gold1[i] for i in both]
    print("| predictor, gold | precision | recall | tp / fp / fn |")
    print("|---|---:|---:|---|")
    print(line("second annotator, gold = first", gold1, gold2))
    for label, pred in predictors.items():
        print(line(f"{label}, gold = first", gold1, pred))
        print(line(f"{label}, gold = second", gold2, pred))
        print(line(f"{label}, {len(both)} agreed sentences", agreed, [pred[i] for i in both]))
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=sorted(FROZEN_COMMITS), action="append")
    for name in parser.parse_args().set or sorted(FROZEN_COMMITS):
        report(name)


if __name__ == "__main__":
    main()
