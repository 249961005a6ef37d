"""Coverage-guided fuzzing of langchain-ctxorch's parsers with atheris (libFuzzer).

Run: ``.venv/bin/python tests/hardening/atheris_fuzz.py {scan,pack,parse} -max_total_time=60``

- ``scan``: ``InjectionDetector.scan`` on any decoded text (lone surrogates included).
- ``pack``: ``ContextPacker.pack`` on items built from the fuzzer's bytes.
- ``parse``: ``ContextItem.model_validate`` of a dict and ``from_document`` of metadata, both
  built from the fuzzer's bytes.

Only the documented errors (``ValueError``, ``TypeError``, and ``BudgetExceededError`` for
``pack``) are allowed; anything else is a crash libFuzzer reports with the input that caused it.
Not collected by pytest (no ``test_`` prefix); ``test_fuzz.test_atheris_fuzz`` runs it.
"""

from __future__ import annotations

import contextlib
import sys
from collections import Counter
from typing import Any

import atheris

with atheris.instrument_imports(include=["langchain_ctxorch"]):
    from langchain_core.documents import Document

    from langchain_ctxorch import (
        BudgetExceededError,
        BudgetPolicy,
        ContextItem,
        ContextPacker,
        Layer,
        Spotlighter,
        Trust,
        get_token_counter,
    )
    from langchain_ctxorch.poison import InjectionDetector

DETECTOR = InjectionDetector(cache_size=0)
COUNTER = get_token_counter("cl100k_base")
LAYERS = list(Layer)
TRUSTS = list(Trust)
KEYS = [
    "content",
    "layer",
    "trust",
    "priority",
    "relevance",
    "pinned",
    "id",
    "fact_key",
    "valid_from",
    "expires_at",
    "created_at",
    "source",
    "role",
    "group",
    "metadata",
    "x",
]


def _value(fdp: atheris.FuzzedDataProvider) -> Any:
    kind = fdp.ConsumeIntInRange(0, 7)
    if kind == 0:
        return fdp.ConsumeUnicode(32)
    if kind == 1:
        return fdp.ConsumeInt(8)
    if kind == 2:
        return fdp.ConsumeRegularFloat() if fdp.ConsumeBool() else fdp.ConsumeFloat()
    if kind == 3:
        return fdp.ConsumeBool()
    if kind == 4:
        return fdp.ConsumeBytes(8)
    if kind == 5:
        return None
    if kind == 6:
        return fdp.PickValueInList([*LAYERS, *TRUSTS, "knowledge", "2026-01-01T00:00:00+00:00"])
    return {fdp.ConsumeUnicode(4): fdp.ConsumeUnicode(8)}


def fuzz_scan(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    text = fdp.ConsumeUnicode(fdp.remaining_bytes())
    scan = DETECTOR.scan(text)
    if not 0.0 <= scan.score <= 1.0:
        raise AssertionError(scan)


def fuzz_parse(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    record = {fdp.PickValueInList(KEYS): _value(fdp) for _ in range(fdp.ConsumeIntInRange(0, 8))}
    with contextlib.suppress(ValueError, TypeError):
        ContextItem.model_validate(record)
    meta = {fdp.PickValueInList(KEYS): _value(fdp) for _ in range(fdp.ConsumeIntInRange(0, 8))}
    with contextlib.suppress(ValueError, TypeError):
        ContextItem.from_document(Document(page_content=fdp.ConsumeUnicode(64), metadata=meta))


def fuzz_pack(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    max_tokens = fdp.ConsumeIntInRange(1, 3000)
    policy = BudgetPolicy(max_tokens, reserve_output=fdp.ConsumeIntInRange(0, max_tokens - 1))
    items = [
        ContextItem(
            id=f"i{n}",
            content=fdp.ConsumeUnicode(200),
            layer=fdp.PickValueInList(LAYERS),
            trust=fdp.PickValueInList(TRUSTS),
            priority=fdp.ConsumeIntInRange(-50, 50),
            pinned=fdp.ConsumeProbability() < 0.1,
            role=fdp.PickValueInList([None, "user", "assistant", "tool", "system"]),
        )
        for n in range(fdp.ConsumeIntInRange(0, 12))
    ]
    packer = ContextPacker(policy, COUNTER, spotlight=Spotlighter(b"atheris"))
    try:
        packed = packer.pack(items, query=fdp.ConsumeUnicode(40) or None)
    except BudgetExceededError:
        return
    report = packed.report
    if report.used > policy.available:
        raise AssertionError(("over budget", report.used, policy.available))
    if Counter(d.item_id for d in report.decisions) != Counter(i.id for i in items):
        msg = "accounting mismatch"
        raise AssertionError(msg)


TARGETS = {"scan": fuzz_scan, "parse": fuzz_parse, "pack": fuzz_pack}


def main() -> None:
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
