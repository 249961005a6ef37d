"""Real English text for the benchmarks: docstrings of the Python standard library.

Deterministic: the same modules in the same order give the same passages on every machine with
the same Python version. Nothing is downloaded.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
import warnings
from collections.abc import Iterator

MODULES = (
    "argparse asyncio collections concurrent.futures contextlib csv dataclasses datetime decimal "
    "difflib email enum fractions functools heapq hashlib html http.client http.server "
    "importlib inspect io ipaddress itertools json logging mailbox multiprocessing "
    "numbers operator os pathlib pickle pprint queue random re shlex shutil socket "
    "sqlite3 ssl statistics string subprocess tarfile tempfile textwrap threading "
    "timeit tkinter.ttk tokenize traceback turtle typing unittest urllib.parse "
    "urllib.request uuid warnings xml.etree.ElementTree zipfile zoneinfo"
).split()

_WS = re.compile(r"\s+")
_SKIP_STDLIB = frozenset({"antigravity", "this", "idlelib", "turtledemo", "tkinter", "test"})
"""Standard-library modules with side effects on import, or a GUI, or the test suite."""


def stdlib_modules() -> Iterator[tuple[str, object, list[object]]]:
    """``(name, module, [module, *public attributes])`` of every importable public stdlib module.

    In sorted order; modules that cannot be imported here are skipped.
    """
    for name in sorted(sys.stdlib_module_names):
        if name.startswith("_") or name in _SKIP_STDLIB:
            continue
        try:
            mod = importlib.import_module(name)
        except Exception:
            continue
        yield name, mod, [mod, *(getattr(mod, a, None) for a in dir(mod) if not a.startswith("_"))]


def docstrings() -> list[tuple[str, str]]:
    """(qualified name, docstring) of the modules, their classes, functions and methods."""
    out: list[tuple[str, str]] = []
    seen: set[int] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in MODULES:
            try:
                mod = importlib.import_module(name)
            except Exception:
                continue
            objs: list[tuple[str, object]] = [(name, mod)]
            for attr, obj in sorted(vars(mod).items()):
                if attr.startswith("_"):
                    continue
                if inspect.isclass(obj) or inspect.isfunction(obj):
                    objs.append((f"{name}.{attr}", obj))
                    if inspect.isclass(obj):
                        objs.extend(
                            (f"{name}.{attr}.{m}", f)
                            for m, f in sorted(vars(obj).items())
                            if not m.startswith("_") and inspect.isfunction(f)
                        )
            for qual, obj in objs:
                doc = inspect.getdoc(obj)
                if not doc or id(doc) in seen or len(doc) < 80:
                    continue
                seen.add(id(doc))
                out.append((qual, doc))
    return out


def paragraphs() -> list[tuple[str, str]]:
    """(source, paragraph) pairs: each docstring split at blank lines, whitespace folded."""
    out: list[tuple[str, str]] = []
    for qual, doc in docstrings():
        for i, para in enumerate(p for p in re.split(r"\n\s*\n", doc) if p.strip()):
            text = _WS.sub(" ", para).strip()
            if len(text) >= 40:
                out.append((f"{qual}#{i}", text))
    return out


def passages(target_tokens: int, count: int, counter: object) -> list[tuple[str, str]]:
    """``count`` passages of about ``target_tokens`` tokens each, made of whole paragraphs."""
    out: list[tuple[str, str]] = []
    buf: list[str] = []
    source = ""
    size = 0
    for src, para in paragraphs():
        n = counter.count(para)  # type: ignore[attr-defined]
        if not buf:
            source = src
        buf.append(para)
        size += n
        if size >= target_tokens:
            out.append((source, " ".join(buf)))
            buf, size = [], 0
            if len(out) >= count:
                break
    return out
