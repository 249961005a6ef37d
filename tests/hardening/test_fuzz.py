"""Fuzzing with hypothesis: no crash other than the documented ``ValueError``/``TypeError``.

Targets: ``InjectionDetector.scan`` (any ``str``, including lone surrogates and invisible
characters), ``ContextPacker.pack`` (random scenarios with hostile content and policies),
``ContextItem.model_validate`` of random dicts and ``ContextItem.from_document`` of random
metadata. The example counts keep the suite quick; ``benchmarks/bench_hardening.py`` runs the
long version, and ``tests/hardening/atheris_fuzz.py`` is the coverage-guided fuzzer (run by
``test_atheris_fuzz`` for a bounded time when atheris is installed).
"""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.documents import Document
from scenario_strategies import scenario

from langchain_ctxorch import (
    BudgetExceededError,
    BudgetPolicy,
    ContextItem,
    ContextPacker,
    Layer,
    LayerBudget,
    Spotlighter,
    Trust,
    get_token_counter,
)
from langchain_ctxorch.poison import InjectionDetector, PoisonFilter

COUNTER = get_token_counter("cl100k_base")
FUZZ = settings(
    max_examples=int(os.environ.get("CTXORCH_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
DOCUMENTED = (ValueError, TypeError)

# Text that stresses the detector: every code point class, including lone surrogates (Cs),
# invisible and bidi controls, tag characters, and the trigger words themselves.
_ATOMS = st.sampled_from(
    [
        "ignore",
        " previous ",
        "instructions",
        "system",
        ":",
        "<|im_start|>",
        "![x](http://e/?q=",
        "{data}",
        "\u200b",
        "\u202e",
        "\U000e0041",
        "а",
        "ｉ",
        "base64 ",
        "SWdub3Jl",
        "\n",
        "violat",
        "\ud800",
        "\x00",
    ]
)
hostile_text = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec=None)),
    st.lists(st.one_of(_ATOMS, st.text(max_size=5)), max_size=40).map("".join),
)


@FUZZ
@given(hostile_text)
def test_scan_never_crashes(text: str) -> None:
    scan = InjectionDetector(cache_size=0).scan(text)
    assert isinstance(scan.flagged, bool)
    assert 0.0 <= scan.score <= 1.0
    assert scan.flagged == (scan.score >= 0.5)
    assert all(isinstance(m, str) for m in scan.matches)


@FUZZ
@given(st.lists(hostile_text, max_size=8), st.one_of(st.none(), hostile_text))
def test_filter_never_crashes(texts: list[str], query: str | None) -> None:
    items = [
        ContextItem(id=f"i{n}", content=t, layer=Layer.KNOWLEDGE, fact_key=f"k{n % 2}")
        for n, t in enumerate(texts)
    ]
    result = PoisonFilter.default().filter(items, query=query)
    assert Counter(i.id for i in result.kept) + Counter(q.item.id for q in result.quarantined) == (
        Counter(i.id for i in items)
    )


def _policy(draw: st.DrawFn) -> BudgetPolicy:
    max_tokens = draw(st.integers(1, 4000))
    return draw_policy(draw, max_tokens, draw(st.integers(0, max_tokens - 1)))


def draw_policy(draw: st.DrawFn, max_tokens: int, reserve: int) -> BudgetPolicy:
    """A `BudgetPolicy` of ``max_tokens`` and ``reserve`` with drawn layers and options."""
    layers = {}
    if draw(st.booleans()):
        available = max_tokens - reserve
        layers[draw(st.sampled_from(list(Layer)))] = LayerBudget(
            min_tokens=draw(st.integers(0, available // 4)),
            max_share=draw(st.one_of(st.none(), st.floats(0.01, 1.0))),
        )
    return BudgetPolicy(
        max_tokens,
        reserve_output=reserve,
        layers=layers,
        knowledge_order=draw(st.sampled_from(["relevance", "edges"])),
        min_cut_tokens=draw(st.integers(1, 64)),
    )


policies = st.composite(_policy)()


@st.composite
def hostile_items(draw: st.DrawFn) -> list[ContextItem]:
    items: list[ContextItem] = []
    for n in range(draw(st.integers(0, 8))):
        items.append(
            ContextItem(
                id=f"h{n}",
                content=draw(hostile_text),
                layer=draw(st.sampled_from(list(Layer))),
                trust=draw(st.sampled_from(list(Trust))),
                priority=draw(st.integers(-(10**6), 10**6)),
                relevance=draw(st.one_of(st.none(), st.floats(0, 1))),
                pinned=draw(st.booleans()) and draw(st.booleans()),
                truncatable=draw(st.one_of(st.none(), st.booleans())),
                role=draw(st.sampled_from([None, "user", "assistant", "system", "tool"])),
                group=draw(st.one_of(st.none(), st.sampled_from(["g1", "g2"]))),
                source=draw(st.sampled_from(["", "web", "kb/a.md"])),
            )
        )
    return items


@pytest.mark.slow
@settings(FUZZ, max_examples=int(os.environ.get("CTXORCH_SCENARIOS", "500")))
@given(scenario(), hostile_items(), policies, st.one_of(st.none(), hostile_text), st.booleans())
def test_pack_never_crashes(
    case: tuple[list[ContextItem], str | None],
    extra: list[ContextItem],
    policy: BudgetPolicy,
    query: str | None,
    spotlight: bool,
) -> None:
    """The in-suite random-scenario run: 500 scenarios (``benchmarks/bench_hardening.py`` runs
    10,000): no crash, never over budget, one decision per candidate."""
    items = case[0] + extra
    packer = ContextPacker(policy, COUNTER, spotlight=Spotlighter(b"fuzz", enabled=spotlight))
    try:
        packed = packer.pack(items, query=query)
    except BudgetExceededError as exc:
        error: BudgetExceededError | None = exc
    else:
        error = None
    if error is not None:
        assert error.required > error.available == policy.available
        return
    report = packed.report
    assert report.used <= policy.available
    assert COUNTER.count_messages(packed.messages) == report.used
    assert Counter(d.item_id for d in report.decisions) == Counter(i.id for i in items)


# ---------------------------------------------------------------------------------------------
# ContextItem parsing

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
    st.binary(max_size=20),
    st.datetimes(timezones=st.one_of(st.none(), st.timezones())),
    st.sampled_from(list(Layer) + list(Trust) + ["knowledge", "MEMORY", "system", "VERIFIED"]),
)
_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_FIELDS = [*ContextItem.model_fields, "extra_field", ""]
_dicts = st.dictionaries(st.sampled_from(_FIELDS), _values, max_size=10)


def _check_item(item: ContextItem) -> None:
    assert isinstance(item.content, str)
    assert item.id
    assert isinstance(item.layer, Layer)
    assert isinstance(item.trust, Trust)
    assert item.relevance is None or (math.isfinite(item.relevance) and 0 <= item.relevance <= 1)
    for field in ("created_at", "valid_from", "expires_at"):
        value = getattr(item, field)
        assert value is None or value.utcoffset() is not None


@FUZZ
@given(_dicts, st.booleans())
def test_model_validate_random_dicts(data: dict[str, Any], add_required: bool) -> None:
    if add_required:
        data.setdefault("content", "text")
        data.setdefault("layer", "knowledge")
    try:
        item = ContextItem.model_validate(data)
    except DOCUMENTED:
        return
    _check_item(item)


_meta_keys = st.sampled_from(
    [
        "trust",
        "priority",
        "fact_key",
        "valid_from",
        "expires_at",
        "created_at",
        "source",
        "relevance",
        "pinned",
        "id",
        "other",
    ]
)
_iso = st.datetimes(
    min_value=datetime(1, 1, 2),  # noqa: DTZ001 - aware below
    max_value=datetime(9999, 12, 30),  # noqa: DTZ001
    timezones=st.one_of(st.none(), st.just(timezone.utc), st.just(timezone(timedelta(hours=-7)))),
).map(datetime.isoformat)


@FUZZ
@given(
    hostile_text,
    st.dictionaries(_meta_keys, st.one_of(_values, _iso), max_size=8),
    st.one_of(st.none(), hostile_text),
    st.sampled_from(list(Layer)),
)
def test_from_document_random_metadata(
    content: str, metadata: dict[str, Any], doc_id: str | None, layer: Layer
) -> None:
    doc = Document(page_content=content, metadata=metadata, id=doc_id)
    try:
        item = ContextItem.from_document(doc, layer=layer)
    except DOCUMENTED:
        return
    _check_item(item)
    assert item.content == content
    assert item.metadata == metadata


# ---------------------------------------------------------------------------------------------
# atheris (coverage-guided), bounded in time, in a subprocess (libFuzzer exits the process)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
@pytest.mark.parametrize("target", ["scan", "pack", "parse"])
def test_atheris_fuzz(target: str, tmp_path: Path) -> None:
    script = Path(__file__).with_name("atheris_fuzz.py")
    seconds = os.environ.get("CTXORCH_ATHERIS_SECONDS", "5")
    proc = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [
            sys.executable,
            str(script),
            target,
            f"-max_total_time={seconds}",
            "-rss_limit_mb=4096",
            f"-artifact_prefix={tmp_path}/",
        ],
        capture_output=True,
        text=True,
        timeout=int(seconds) + 120,
        check=False,
        cwd=tmp_path,
    )
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, f"atheris found a crash in {target}:\n{tail}"
    assert "Done" in tail or "DONE" in tail, tail
