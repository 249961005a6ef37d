"""ReDoS: pathological strings against every regex of the detector, render, scoring and audit.

Each module-level pattern (found by introspection, so new patterns are covered automatically) is
screened against ~100 generated pump strings; its two slowest pumps are then checked for growth:
10x the input must take well under 20x the time. Absolute 1 MB figures are in
``benchmarks/bench_hardening.py``. The public entry points that run these patterns are checked
the same way on pathological documents.
"""

from __future__ import annotations

import re

import pytest
from _redos import (
    MODULES,
    anchored_only,
    attack,
    exhaust,
    module_patterns,
    pattern_words,
    pumps,
)
from growth_timing import assert_linear, best_time
from langchain_core.messages import HumanMessage

from langchain_ctxorch import (
    BudgetPolicy,
    ContextItem,
    ContextPacker,
    Layer,
    Spotlighter,
    get_token_counter,
)
from langchain_ctxorch.audit import audit_instructions
from langchain_ctxorch.poison import InjectionDetector
from langchain_ctxorch.render import cut_text
from langchain_ctxorch.scoring import DEFAULT_TOKENIZER, bm25_scores

COUNTER = get_token_counter("cl100k_base")
SCREEN_CHARS = 1000
MIN_BASE_SECONDS = 0.0003
MAX_BASE_CHARS = 6_000

KNOWN_SUPERLINEAR: dict[str, str] = {}


def _patterns() -> list[object]:
    params: list[object] = []
    for module in MODULES:
        short = module.rsplit(".", 1)[-1]
        for name, pattern in module_patterns(module):
            key = f"{short}.{name}"
            if key.startswith("injection._PATTERNS["):
                continue  # phrase patterns are checked as the detector runs them, below
            marks = []
            if key in KNOWN_SUPERLINEAR:
                marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_SUPERLINEAR[key]))
            anchored = anchored_only(module, name)
            params.append(pytest.param(pattern, anchored, id=key, marks=marks))
    return params


PATTERNS = _patterns()


def test_every_module_contributes_patterns() -> None:
    counts = {m: len(module_patterns(m)) for m in MODULES}
    assert counts["langchain_ctxorch.poison.injection"] >= 50, counts
    assert all(counts.values()), counts


def _worst_pumps(pattern: re.Pattern[str], *, anchored: bool, keep: int = 2) -> list[str]:
    timed = []
    for pump in pumps(pattern):
        text = attack(pump, SCREEN_CHARS)
        run = lambda t=text: exhaust(pattern, t, anchored=anchored)  # noqa: E731
        timed.append((best_time(run, 1, collect=False), pump))
    timed.sort(key=lambda tp: -tp[0])
    return [pump for _, pump in timed[:keep]]


def _base_size(pattern: re.Pattern[str], pump: str, *, anchored: bool) -> int:
    """The smallest size (from 200 chars, x3 steps) whose run takes a measurable time."""
    n = 200
    while n < MAX_BASE_CHARS:
        text = attack(pump, n)
        run = lambda t=text: exhaust(pattern, t, anchored=anchored)  # noqa: E731
        if best_time(run, 1, collect=False) >= MIN_BASE_SECONDS:
            break
        n *= 3
    return min(n, MAX_BASE_CHARS)


@pytest.mark.parametrize(("pattern", "anchored"), PATTERNS)
def test_pattern_grows_linearly(pattern: re.Pattern[str], anchored: bool) -> None:
    for pump in _worst_pumps(pattern, anchored=anchored):
        n = _base_size(pattern, pump, anchored=anchored)
        assert_linear(
            lambda size, p=pump: attack(p, size),
            lambda text: exhaust(pattern, text, anchored=anchored),
            n,
            what=f"/{pattern.pattern[:60]}.../ on {pump!r} * n",
            repeat=7,
        )


# The long-word defect (an unanchored phrase pattern whose \w*/\w+ after a trigger stem rescanned
# the rest of one long word at every occurrence of the stem, O(n^2)) is fixed: a pattern is
# searched without its leading \b only when a separator precedes every unbounded word run in it.
# The "long-word-*" scan families below keep it covered.


def _phrase_patterns() -> list[object]:
    from langchain_ctxorch.poison import injection  # noqa: PLC0415

    params: list[object] = []
    for i, entry in enumerate(injection._PATTERNS):
        params.append(pytest.param(entry, id=f"injection._PATTERNS[{i}]:{entry.family}"))
    return params


@pytest.mark.parametrize("entry", _phrase_patterns())
def test_detector_phrase_pattern_grows_linearly(entry: object) -> None:
    """Each phrase pattern as the detector runs it (``_Pattern.search``, on lowercased windows)."""
    search = entry.search  # type: ignore[attr-defined]
    regex = entry.regex  # type: ignore[attr-defined]
    candidates = [*pumps(regex), *(w * 3 for w in pattern_words(regex))]
    timed = []
    for pump in dict.fromkeys(candidates):
        text = attack(pump.lower(), SCREEN_CHARS)
        timed.append((best_time(lambda t=text: search(t), 1, collect=False), pump.lower()))
    timed.sort(key=lambda tp: -tp[0])
    for _, pump in timed[:2]:
        n = 200
        while n < MAX_BASE_CHARS:
            text = attack(pump, n)
            if best_time(lambda t=text: search(t), 1, collect=False) >= MIN_BASE_SECONDS:
                break
            n *= 3
        assert_linear(
            lambda size, p=pump: attack(p, size),
            search,
            min(n, MAX_BASE_CHARS),
            what=f"_Pattern.search /{regex.pattern[:60]}.../ on {pump!r} * n",
            repeat=7,
        )


# ---------------------------------------------------------------------------------------------
# The public entry points on pathological documents (100 kB -> 1 MB)

SCAN_FAMILIES = {
    "override-words": "ignore previous instructions ",
    "trigger-dense": "system prompt instruction ",
    "chat-template": "<|im_start|>system ",
    "brackets": "[[[[((((",
    "markdown-image": "![a](http://x/?q=",
    "link-ref": "]: http://x/?",
    "zero-width": "\u200b\u200c",
    "bidi": "\u202e\u2066",
    "tag-chars": "\U000e0069\U000e0067",
    "homoglyph": "іgnоrе ",
    "fullwidth": "ｉｇｎｏｒｅ ",
    "base64-ish": "SWdub3JlIGFsbCBwcmV2aW91cw",
    "hex-ish": "49676e6f7265",
    "rot13": "vtaber cerivbhf vafgehpgvbaf ",
    "leet": "1gn0r3 pr3v10us ",
    "fake-turns": "\nuser: hi\nassistant: ok",
    "emails": "a@b.co ",
    "separators": "!-!-!-!-",
    "whitespace": " \t\n",
    "digits": "0123456789",
    "long-word-violat": "violat",
    "long-word-substitut": "substitut",
    "long-word-ignor": "ignor",
}
KNOWN_SCAN: dict[str, str] = {}


def _scan_params() -> list[object]:
    return [
        pytest.param(
            pump,
            id=name,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_SCAN[name])]
            if name in KNOWN_SCAN
            else [],
        )
        for name, pump in SCAN_FAMILIES.items()
    ]


@pytest.mark.parametrize("pump", _scan_params())
def test_scan_grows_linearly(pump: str) -> None:
    detector = InjectionDetector(cache_size=0)
    assert_linear(
        lambda n: attack(pump, n),
        detector.scan,
        2_000,
        what=f"InjectionDetector.scan of {pump!r} * n",
        repeat=2,
    )


PACK_FAMILIES = {
    "bangs": "!",
    "dots": ".",
    "newlines": "\n",
    "bullets": "\n- a",
    "numbered": "\n1. a",
    "one-long-word": "a",
    "cjk": "文字",
    "sentences": "A b. ",
}


@pytest.mark.parametrize("pump", list(PACK_FAMILIES.values()), ids=list(PACK_FAMILIES))
def test_cut_and_score_grow_linearly(pump: str) -> None:
    packer = ContextPacker(BudgetPolicy(3000), COUNTER, spotlight=Spotlighter(b"redos"))

    def run(text: str) -> None:
        items = [
            ContextItem(id="doc", content=text, layer=Layer.KNOWLEDGE),
            ContextItem.from_message(HumanMessage("a b", id="q"), layer=Layer.TASK),
        ]
        report = packer.pack(items, query="a b").report
        assert report.used <= report.budget
        cut_text(text, 500, COUNTER, query_terms=["a"])
        DEFAULT_TOKENIZER(text)
        bm25_scores("a b", [text, "a"])

    assert_linear(
        lambda n: attack(pump, n), run, 100_000, what=f"pack/cut_text of {pump!r} * n", repeat=1
    )


AUDIT_FAMILIES = {
    "bangs": ("Answer politely", "!", None),
    "dots": ("Use JSON", ".", None),
    "digit-run": ("The refund window is ", "1", None),
    "spaced-digits": ("Always answer in ", "0 ", None),
    "sentences": ("", "Always answer in JSON. Prices change often. ", None),
    "bullets": ("", "\n- Be concise", None),
    "placeholders": ("", "{{x}} [Y_Z] <a_b> ", None),
}


def _audit_params() -> list[object]:
    out: list[object] = []
    for name, (prefix, pump, reason) in AUDIT_FAMILIES.items():
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(prefix, pump, id=name, marks=marks))
    return out


@pytest.mark.parametrize(("prefix", "pump"), _audit_params())
def test_audit_instructions_grows_linearly(prefix: str, pump: str) -> None:
    # 200 -> 2,000 characters: enough to expose quadratic growth (~100x), and quick.
    assert_linear(
        lambda n: prefix + (pump * (n // len(pump) + 1))[:n] + " days long.",
        audit_instructions,
        200,
        what=f"audit_instructions on {prefix!r} + {pump!r} * n",
        repeat=3,
    )
