"""Pathological-string generation for ReDoS checks (shared by the tests and the benchmark).

`module_patterns` finds every compiled regex a module holds at module level, including those
nested in tuples, lists, dicts and dataclass instances (the injection detector keeps its phrase
patterns in ``_PATTERNS``, a tuple of dataclasses). `pumps` derives candidate "pump" strings for a
pattern: generic characters that regex engines backtrack on (runs of separators, punctuation,
digits, brackets, invisible characters) plus the literal words of the pattern itself, alone and
in sequence. `attack` repeats a pump to a length and ends it with a character no pattern expects,
the classic shape of a catastrophic-backtracking input (prefix, pump * n, failing suffix).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import itertools
import re
from typing import Any

MODULES = (
    "langchain_ctxorch.poison.injection",
    "langchain_ctxorch.render",
    "langchain_ctxorch.scoring",
    "langchain_ctxorch.audit",
)

GENERIC_PUMPS = (
    "a",
    "A",
    "0",
    "1 ",
    " ",
    "a ",
    "A ",
    "\n",
    "a\n",
    "\n\n",
    " \n",
    "\t",
    "!",
    "?",
    ".",
    ". ",
    "a.",
    ",",
    ":",
    "a:",
    "-",
    "_",
    "=",
    "a=",
    "'",
    '"',
    "@",
    "a@",
    "/",
    "%",
    "#",
    "<",
    "<|",
    "|",
    "[",
    "]",
    "![",
    "](",
    "(",
    ")",
    "{",
    "}",
    "*",
    "\u200b",
    "\u202e",
    "\U000e0041",
    "а",  # Cyrillic a
    "aа",
    "ａ",  # fullwidth a
    "é",
)
_ESCAPE = re.compile(r"\\[a-zA-Z]|\\.")
_WORD = re.compile(r"[^\W\d_]{2,}")
_MAX_WORDS = 40
_END = "\x00"


def module_patterns(module_name: str) -> list[tuple[str, re.Pattern[str]]]:
    """Every compiled ``str`` pattern reachable from the module's globals, with a dotted name."""
    module = importlib.import_module(module_name)
    found: dict[int, tuple[str, re.Pattern[str]]] = {}

    def walk(name: str, obj: Any, depth: int) -> None:
        if isinstance(obj, re.Pattern):
            if isinstance(obj.pattern, str):
                found.setdefault(id(obj), (name, obj))
            return
        if depth > 3:  # patterns sit at most a few containers deep
            return
        if isinstance(obj, (tuple, list)):
            for i, child in enumerate(obj):
                walk(f"{name}[{i}]", child, depth + 1)
        elif isinstance(obj, dict):
            for key, child in obj.items():
                walk(f"{name}[{key!r}]", child, depth + 1)
        elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            for f in dataclasses.fields(obj):
                walk(f"{name}.{f.name}", getattr(obj, f.name), depth + 1)

    for name, value in vars(module).items():
        if getattr(value, "__module__", module_name) != module_name and isinstance(value, type):
            continue
        walk(name, value, 0)
    return list(found.values())


def anchored_only(module_name: str, name: str) -> bool:
    """Whether the module only ever calls ``name.match``/``name.fullmatch`` (one start position).

    Such a pattern is measured with ``match``, as it is used: ``finditer`` would try every start
    position and report a quadratic cost the code never pays.
    """
    if not name.isidentifier():
        return False
    module = importlib.import_module(module_name)
    source = inspect.getsource(module)
    methods = set(re.findall(rf"\b{re.escape(name)}\.(\w+)\(", source))
    return bool(methods) and methods <= {"match", "fullmatch"}


def pattern_words(pattern: re.Pattern[str]) -> list[str]:
    """The literal words of a pattern's source (escapes removed), in order, deduplicated."""
    source = _ESCAPE.sub(" ", pattern.pattern)
    return list(dict.fromkeys(_WORD.findall(source)))[:_MAX_WORDS]


def pumps(pattern: re.Pattern[str]) -> list[str]:
    """Candidate pump strings for ``pattern``: generic ones plus its own words and sequences."""
    words = pattern_words(pattern)
    out = list(GENERIC_PUMPS)
    for w in words:
        out += [w, w + " ", w + "\n", w + ":", w + ". ", "[" + w, w + " 0"]
    out += [f"{a} {b} " for a, b in itertools.pairwise(words)]
    return list(dict.fromkeys(out))


def attack(pump: str, n: int) -> str:
    """``pump`` repeated to ``n`` characters, then a character that makes any match fail."""
    return (pump * (n // len(pump) + 1))[:n] + _END


def exhaust(pattern: re.Pattern[str], text: str, *, anchored: bool = False) -> None:
    """Run ``pattern`` over the whole text (every match, as ``finditer``/``sub`` would).

    With ``anchored``, only ``pattern.match(text)`` (for patterns used that way).
    """
    if anchored:
        pattern.match(text)
        return
    for _ in pattern.finditer(text):
        pass
