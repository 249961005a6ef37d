"""The ``ctxorch`` command.

Subcommands:

- ``ctxorch audit FILE``: classify every sentence of a system prompt as a volatile fact or form
  (`langchain_ctxorch.audit.audit_instructions`) and price the fact sentences.
- ``ctxorch advise``: the form-vs-facts decision framework as a questionnaire, flag-driven
  (scriptable) or interactive in a terminal; prints a recommendation (orchestrate context,
  fine-tune for form, or both) with its reasons, and the audit of ``--prompt FILE``.

Adding a subcommand is one function: write ``add_<name>_command(subparsers)`` that adds a parser
and sets ``handler`` (a callable taking the parsed namespace and returning an exit code) with
``set_defaults``, then append it to `COMMANDS`.

Example:
    ```console
    $ ctxorch advise --failure facts --change-rate daily --corpus small --no-input
    Recommendation: orchestrate context
    ...
    $ ctxorch audit system_prompt.txt --json
    ```
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, TextIO

from langchain_ctxorch._version import __version__

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from langchain_core.language_models import BaseChatModel

    from langchain_ctxorch.audit import InstructionAudit

__all__ = [
    "COMMANDS",
    "QUESTIONS",
    "Advice",
    "Answers",
    "add_advise_command",
    "add_audit_command",
    "advise",
    "build_parser",
    "main",
]

Recommendation = Literal["orchestrate context", "fine-tune for form", "both"]
"""What `advise` recommends."""

EXIT_OK = 0
EXIT_USAGE = 2


# --------------------------------------------------------------------------------------------
# The questionnaire
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Question:
    name: str
    flag: str
    prompt: str
    choices: tuple[str, ...]
    default: str
    help: str


QUESTIONS: tuple[_Question, ...] = (
    _Question(
        "failure",
        "--failure",
        "When the model gets it wrong, what is wrong: the form (tone, format, schema, reasoning "
        "steps), the facts (wrong or outdated prices, policies, docs), or both?",
        ("form", "facts", "both", "unsure"),
        "unsure",
        "what the failures are about",
    ),
    _Question(
        "change_rate",
        "--change-rate",
        "How often do the facts the model needs change?",
        ("never", "yearly", "monthly", "weekly", "daily", "hourly"),
        "monthly",
        "how often the facts change",
    ),
    _Question(
        "corpus",
        "--corpus",
        "How large is the body of facts? tiny (< 2k tokens, a page), small (< 100k tokens), "
        "large (more)",
        ("tiny", "small", "large"),
        "small",
        "size of the facts corpus",
    ),
    _Question(
        "consistency",
        "--consistency",
        "Must every answer follow the same form exactly (strict schema, house style at scale) "
        "and do prompts and examples already fail to get it?",
        ("yes", "no"),
        "no",
        "strict behaviour consistency is required and prompting fails to get it",
    ),
    _Question(
        "offline",
        "--offline",
        "Must it run offline or on-premises (no hosted retrieval service)?",
        ("yes", "no"),
        "no",
        "offline / on-premises operation is required",
    ),
    _Question(
        "latency",
        "--latency",
        "How tight is the latency budget per call? tight (< 1 s), normal, relaxed",
        ("tight", "normal", "relaxed"),
        "normal",
        "latency budget per call",
    ),
    _Question(
        "cost",
        "--cost",
        "How sensitive is the cost per call? high (many calls, thin margins), normal, low",
        ("high", "normal", "low"),
        "normal",
        "sensitivity to cost per call",
    ),
)


@dataclass(frozen=True)
class Answers:
    """The answers to the questionnaire (each one of its question's choices).

    Example:
        ```python
        Answers(failure="facts", change_rate="daily", corpus="small")
        ```
    """

    failure: str = "unsure"
    """``form``, ``facts``, ``both`` or ``unsure``."""
    change_rate: str = "monthly"
    """``never``, ``yearly``, ``monthly``, ``weekly``, ``daily`` or ``hourly``."""
    corpus: str = "small"
    """``tiny``, ``small`` or ``large``."""
    consistency: str = "no"
    """``yes`` when strict form is required and prompting fails to get it."""
    offline: str = "no"
    """``yes`` when the system must run offline or on-premises."""
    latency: str = "normal"
    """``tight``, ``normal`` or ``relaxed``."""
    cost: str = "normal"
    """``high``, ``normal`` or ``low`` sensitivity to cost per call."""
    calls_per_day: int | None = None
    """Calls per day, for the savings estimate with ``--prompt``."""
    model: str = "gpt-4o"
    """The model whose prices are used."""

    def __post_init__(self) -> None:
        """Check every answer against its question's choices."""
        for q in QUESTIONS:
            value = getattr(self, q.name)
            if value not in q.choices:
                msg = f"{q.name} must be one of {', '.join(q.choices)}, got {value!r}"
                raise ValueError(msg)
        if self.calls_per_day is not None and self.calls_per_day < 0:
            msg = f"calls_per_day must be >= 0, got {self.calls_per_day!r}"
            raise ValueError(msg)


@dataclass(frozen=True)
class Advice:
    """A recommendation with its reasons and next steps."""

    recommendation: Recommendation
    """``orchestrate context``, ``fine-tune for form`` or ``both``."""
    reasons: list[str]
    """Why, one line each."""
    next_steps: list[str] = field(default_factory=list)
    """What to do first."""
    answers: Answers = field(default_factory=Answers)
    """The answers the advice was given for."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "recommendation": self.recommendation,
            "reasons": list(self.reasons),
            "next_steps": list(self.next_steps),
            "answers": asdict(self.answers),
        }

    def __str__(self) -> str:
        """The recommendation, the reasons and the next steps."""
        lines = [f"Recommendation: {self.recommendation}", "", "Reasons:"]
        lines += [f"  - {r}" for r in self.reasons]
        if self.next_steps:
            lines += ["", "Next steps:"]
            lines += [f"  {i}. {s}" for i, s in enumerate(self.next_steps, 1)]
        return "\n".join(lines)


_VOLATILE = ("monthly", "weekly", "daily", "hourly")
_CHANGES_PER_DAY: Mapping[str, float] = MappingProxyType(
    {
        "never": 0.0,
        "yearly": 1 / 365,
        "monthly": 1 / 30,
        "weekly": 1 / 7,
        "daily": 1.0,
        "hourly": 24.0,
    }
)


def advise(answers: Answers, audit: InstructionAudit | None = None) -> Advice:
    """The form-vs-facts decision for a set of answers (and optionally a prompt's audit).

    Facts that change belong in the context window (retrieved per call), never in weights; form
    that prompting cannot hold steady is the case for fine-tuning. Fact sentences found in the
    prompt count as a facts problem even when the failure is reported as form.

    Example:
        ```python
        advise(Answers(failure="facts", change_rate="daily")).recommendation
        # 'orchestrate context'
        advise(Answers(failure="form", change_rate="never", consistency="yes")).recommendation
        # 'fine-tune for form'
        ```
    """
    a = answers
    reasons: list[str] = []
    steps: list[str] = []
    facts_need = a.failure in {"facts", "both"}
    form_need = a.failure in {"form", "both"}
    if facts_need:
        reasons.append(
            "the failures are about facts: a model cannot know facts it was not given; put them "
            "in the context window (KNOWLEDGE layer), where each answer can cite its source"
        )
    if a.change_rate in _VOLATILE:
        facts_need = True
        reasons.append(
            f"the facts change {a.change_rate}: weights are frozen at training time and a "
            "re-training cycle per change is slow and costly; retrieval serves the new version "
            "on the next call (fact_key supersedes the old one)"
        )
    elif a.change_rate == "never" and a.failure != "facts":
        reasons.append("the facts never change: stable facts may stay in the instructions")
    if a.corpus == "large":
        facts_need = True
        reasons.append(
            "the corpus is large: it cannot fit a system prompt, and fine-tuning does not make a "
            "model recall thousands of facts reliably; retrieve the few relevant ones per call"
        )
    elif a.corpus == "tiny" and a.change_rate in {"never", "yearly"}:
        reasons.append("the corpus is tiny and stable: it can live in the cached prompt prefix")
    if audit is not None and audit.facts:
        facts_need = True
        reasons.append(
            f"the prompt holds {len(audit.facts)} fact sentences ({audit.fact_tokens} of "
            f"{audit.total_tokens} tokens): each edit breaks the provider's prompt cache and "
            "they go stale silently; move them to the KNOWLEDGE layer"
        )
    if a.consistency == "yes":
        form_need = form_need or a.failure == "unsure"
        reasons.append(
            "strict form is required and prompting does not hold it: form is stable, the narrow "
            "case where fine-tuning pays off (and it shortens the instructions)"
        )
    elif form_need:
        reasons.append(
            "form problems are first fixed with instructions, a schema (structured output) and "
            "a few examples; fine-tune for form only when those do not hold at scale"
        )
    if a.offline == "yes":
        reasons.append(
            "offline operation: retrieval runs in-process (BM25 over a local corpus, a local "
            "store), so it needs no hosted service; fine-tuning needs a model you can host"
        )
    if a.latency == "tight":
        reasons.append(
            "tight latency: keep the prompt short and its prefix stable for cache hits; "
            "in-process BM25 retrieval adds milliseconds, a long prompt adds more"
        )
    if a.cost == "high":
        reasons.append(
            "cost-sensitive: pay only for the facts a call needs, and keep the cached prefix "
            "unchanged so cache hits are priced at the cached rate"
        )

    # A genuine form problem with prompting exhausted is the only case for fine-tuning.
    fine_tune = form_need and a.consistency == "yes"
    if fine_tune and facts_need:
        recommendation: Recommendation = "both"
    elif fine_tune:
        recommendation = "fine-tune for form"
    else:
        recommendation = "orchestrate context"
        if form_need:
            reasons.append(
                "not fine-tuning yet: the form problem has not been shown to resist prompting"
            )
        if not facts_need and not form_need:
            reasons.append(
                "nothing points at fine-tuning: start with a well-built context window and "
                "measure what still fails"
            )
    if recommendation != "fine-tune for form":
        steps += [
            (
                "Run `ctxorch audit <prompt file>` and move the fact sentences to a retriever "
                "(e.g. BM25KnowledgeRetriever) with their fact_key."
            ),
            (
                "Assemble each call with ContextOrchestrator under a BudgetPolicy; read the "
                "ContextReport (and report.cost(...)) to see what every layer costs."
            ),
        ]
    if fine_tune:
        steps += [
            (
                "Collect a few hundred examples of the exact form you want; fine-tune on form "
                "only (no facts in the training targets), then shorten the instructions."
            ),
        ]
    steps.append("Re-evaluate on your own failure cases before and after each change.")
    return Advice(recommendation, reasons, steps, a)


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


def _read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    p = Path(path)
    if not p.is_file():
        msg = f"prompt file {path!r} does not exist or is not a file; pass the path of a text file"
        raise FileNotFoundError(msg)
    return p.read_text(encoding="utf-8")


def _audit_text(audit: InstructionAudit, model: str) -> str:
    from langchain_ctxorch.pricing import resolve_price  # noqa: PLC0415 - lazy

    price = resolve_price(model)
    per_1k = price.input_cost(audit.fact_tokens) * 1000
    return (
        f"{audit}\n\nThe fact sentences cost {per_1k:.4f} USD per 1,000 calls on {price.model} "
        "at the uncached input price (prices are list prices; check your provider)."
    )


def add_audit_command(subparsers: Any) -> None:
    """Add ``ctxorch audit FILE``."""
    p = subparsers.add_parser(
        "audit",
        help="classify each sentence of a system prompt as fact or form",
        description="Find volatile facts (prices, dates, versions, limits, contacts...) in a "
        "system prompt; they belong in the KNOWLEDGE layer.",
    )
    p.add_argument("file", metavar="FILE", help="the system prompt, a text file ('-' for stdin)")
    p.add_argument("--json", action="store_true", help="print the audit as JSON")
    p.add_argument("--model", default="gpt-4o", help="price the facts for this model")
    p.add_argument(
        "--refine-with",
        metavar="MODEL",
        help="a chat model that judges every sentence again, as init_chat_model names it "
        "(e.g. openai:gpt-4o-mini); needs the agents extra and the provider's package and key",
    )
    p.set_defaults(handler=_run_audit)


def _chat_model(spec: str) -> BaseChatModel:
    """The chat model ``spec`` names, through ``langchain.chat_models.init_chat_model``."""
    try:
        from langchain.chat_models import init_chat_model  # noqa: PLC0415 - optional extra
    except ImportError:
        msg = (
            f"--refine-with {spec!r} needs langchain: pip install 'langchain-ctxorch[agents]' "
            "and the provider's package (e.g. langchain-openai)"
        )
        raise ValueError(msg) from None
    try:
        return init_chat_model(spec, temperature=0)
    except ImportError as exc:  # the provider's package is missing
        msg = f"--refine-with {spec!r}: {exc}"
        raise ValueError(msg) from None


def _run_audit(args: argparse.Namespace, out: TextIO) -> int:
    from langchain_ctxorch.audit import audit_instructions  # noqa: PLC0415 - lazy

    model = _chat_model(args.refine_with) if args.refine_with else None
    audit = audit_instructions(_read_text(args.file), refine_with=model)
    if args.json:
        out.write(json.dumps(audit.to_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(_audit_text(audit, args.model) + "\n")
    return EXIT_OK


def add_advise_command(subparsers: Any) -> None:
    """Add ``ctxorch advise``: every question is a flag; unanswered ones are asked in a tty."""
    p = subparsers.add_parser(
        "advise",
        help="should you orchestrate context, fine-tune for form, or both?",
        description="The form-vs-facts questionnaire. Questions not answered by a flag are "
        "asked interactively when stdin is a terminal (default answers otherwise).",
    )
    for q in QUESTIONS:
        p.add_argument(
            q.flag, choices=q.choices, default=None, help=f"{q.help} (default: {q.default})"
        )
    p.add_argument("--prompt", metavar="FILE", help="also audit this system prompt file")
    p.add_argument(
        "--calls-per-day", type=int, default=None, help="calls per day, for a savings estimate"
    )
    p.add_argument("--model", default="gpt-4o", help="model whose prices are used")
    p.add_argument(
        "--no-input", action="store_true", help="never ask; use defaults for missing answers"
    )
    p.add_argument("--json", action="store_true", help="print the advice as JSON")
    p.set_defaults(handler=_run_advise)


def _ask(q: _Question, out: TextIO, read: Callable[[], str]) -> str:
    """Ask one question until the answer is one of its choices (a prefix is enough)."""
    while True:
        out.write(f"{q.prompt}\n  [{'/'.join(q.choices)}] (default: {q.default}): ")
        out.flush()
        try:
            raw = read()
        except EOFError:
            out.write("\n")
            return q.default
        answer = raw.strip().lower()
        if not answer:
            return q.default
        matches = [c for c in q.choices if c.startswith(answer)]
        if len(matches) == 1:
            return matches[0]
        out.write(f"  please answer one of: {', '.join(q.choices)}\n")


def _run_advise(args: argparse.Namespace, out: TextIO) -> int:
    interactive = not args.no_input and not args.json and sys.stdin.isatty()
    values: dict[str, Any] = {}
    if interactive:
        out.write("ctxorch advise: form vs facts (Enter keeps the default)\n\n")
    for q in QUESTIONS:
        value = getattr(args, q.name)
        if value is None:
            value = _ask(q, out, _readline) if interactive else q.default
        values[q.name] = value
    answers = Answers(**values, calls_per_day=args.calls_per_day, model=args.model)
    audit = None
    if args.prompt:
        from langchain_ctxorch.audit import audit_instructions  # noqa: PLC0415 - lazy

        audit = audit_instructions(_read_text(args.prompt))
    advice = advise(answers, audit)
    estimate = None
    if audit is not None and args.calls_per_day:
        from langchain_ctxorch.pricing import estimate_savings  # noqa: PLC0415 - lazy

        estimate = estimate_savings(
            fact_tokens=audit.fact_tokens,
            form_tokens=audit.total_tokens - audit.fact_tokens,
            calls=args.calls_per_day,
            fact_changes=_CHANGES_PER_DAY[answers.change_rate],
            price=args.model,
        )
    if args.json:
        data = advice.to_dict()
        data["audit"] = None if audit is None else audit.to_dict()
        data["savings"] = None if estimate is None else estimate.to_dict()
        out.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return EXIT_OK
    if interactive:
        out.write("\n")
    out.write(str(advice) + "\n")
    if estimate is not None:
        out.write("\n" + str(estimate) + "\n")
    if audit is not None:
        out.write("\n" + _audit_text(audit, args.model) + "\n")
    return EXIT_OK


def add_inspect_command(subparsers: Any) -> None:
    """Add ``ctxorch inspect SCENARIO [--budget N] [--model NAME] [--json] [--window]``."""

    def run(args: argparse.Namespace, out: TextIO) -> int:
        from langchain_ctxorch.scenario import format_packed, pack_scenario  # noqa: PLC0415

        packed = pack_scenario(args.scenario, budget=args.budget, model=args.model)
        out.write(format_packed(packed, as_json=args.json, window=args.window) + "\n")
        return EXIT_OK

    p = subparsers.add_parser(
        "inspect",
        help="pack a scenario file and print the context report",
        description="Pack a scenario (a JSON file with the four layers' items and the "
        "conversation; schema in langchain_ctxorch.scenario) through the orchestrator's "
        "pipeline and print what happened to every candidate.",
    )
    p.add_argument("scenario", metavar="SCENARIO", help="the scenario JSON file")
    p.add_argument("--budget", type=int, help="max_tokens of the window (overrides the file)")
    p.add_argument("--model", help="model or encoding for token counting, e.g. gpt-4o")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--window", action="store_true", help="also print the packed messages")
    p.set_defaults(handler=run)


def add_demo_command(subparsers: Any) -> None:
    """Add ``ctxorch demo``: pack the built-in quickstart scenario offline and show it."""

    def run(args: argparse.Namespace, out: TextIO) -> int:
        from langchain_ctxorch.scenario import (  # noqa: PLC0415
            DEMO_SCENARIO,
            format_packed,
            pack_scenario,
        )

        packed = pack_scenario(DEMO_SCENARIO, budget=args.budget)
        out.write(format_packed(packed, as_json=args.json, window=not args.json) + "\n")
        return EXIT_OK

    p = subparsers.add_parser(
        "demo",
        help="pack the built-in support scenario offline; show the report and the window",
        description="A support window with an injected page, a superseded price, an expired "
        "promotion and an unverified memory: see them quarantined and the rest packed.",
    )
    p.add_argument("--budget", type=int, help="max_tokens of the window (default 900)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=run)


def _readline() -> str:
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line


COMMANDS: tuple[Callable[[Any], None], ...] = (
    add_audit_command,
    add_advise_command,
    add_inspect_command,
    add_demo_command,
)
"""The functions that add each subcommand; add one function here to add a subcommand."""


def build_parser(commands: Sequence[Callable[[Any], None]] = COMMANDS) -> argparse.ArgumentParser:
    """The ``ctxorch`` argument parser with one subparser per function in ``commands``."""
    parser = argparse.ArgumentParser(
        prog="ctxorch",
        description="Context orchestration for LangChain and LangGraph: form vs facts.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_command in commands:
        add_command(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ctxorch`` with ``argv`` (``sys.argv[1:]`` when None); returns the exit code.

    Example:
        ```python
        main(["advise", "--failure", "facts", "--no-input"])  # prints the advice, returns 0
        ```
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args, sys.stdout)
    except (FileNotFoundError, KeyError, ValueError, UnicodeDecodeError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        sys.stderr.write(f"ctxorch {args.command}: error: {message}\n")
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    raise SystemExit(main())
