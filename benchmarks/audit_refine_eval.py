r"""Score ``audit_instructions(..., refine_with=model)`` on the labelled system prompts.

The audit's heuristics decide first; a chat model then judges every sentence again (one call per
prompt, see `langchain_ctxorch.audit.REFINE_INSTRUCTIONS`). This script measures what that buys
on the labelled prompts of benchmarks/data/ (the tuning splits, and the test split with
``--test``), with the scoring of ``audit_eval.py`` (a sentence is "fact" when fact findings cover
at least half of it), per split, next to the heuristics alone and the naive digit rule, and
counts the calls and tokens the model costs.

Model answers are replayed from a recording (JSONL, one ``{"key", "response"}`` per call, keyed
by the SHA-256 of the exact messages the audit sends), so the figures reproduce offline:

    .venv/bin/python benchmarks/audit_refine_eval.py                    # replay the recording
    .venv/bin/python benchmarks/audit_refine_eval.py --dump-requests requests.jsonl
    .venv/bin/python benchmarks/audit_refine_eval.py --model openai:gpt-4o-mini \\
        --recordings mine.jsonl                                          # live, recorded
    .venv/bin/python benchmarks/audit_refine_eval.py --import-answers answers.txt \\
        --requests requests.jsonl --responder "who answered"            # answered by hand

``--dump-requests`` writes the requests (``{"key", "prompt_id", "split", "messages"}``) for
someone or something to answer; ``--model`` calls a live chat model through
``langchain.chat_models.init_chat_model`` (needs the ``agents`` extra and the provider's
package and key) and appends its answers to ``--recordings``. A request with no recorded answer
stops the replay with the key and prompt id, unless ``--missing heuristic`` keeps the heuristic
verdicts for it (and says how many).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

sys.path.insert(0, str(Path(__file__).parent))

from audit_eval import SPLITS, TEST_SPLIT, labels_of, load, naive_labels, scores, splits_of

from langchain_ctxorch.audit import audit_instructions
from langchain_ctxorch.tokens import get_token_counter

RECORDINGS = Path(__file__).parent / "data" / "audit_refine_recordings.jsonl"


def request_key(messages: Sequence[BaseMessage]) -> str:
    """SHA-256 of the messages' roles and texts: the key of a recorded answer."""
    payload = json.dumps([[m.type, m.content] for m in messages], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class ReplayChatModel(BaseChatModel):
    """A chat model that answers from a recording, keyed by `request_key`.

    With ``live`` set, unrecorded requests go to that model and its answers are recorded; with
    ``capture`` set, they are collected there and answered with an empty message (which keeps
    the heuristic verdicts); otherwise an unrecorded request raises `KeyError`.
    """

    recorded: dict[str, str]
    capture: list[list[BaseMessage]] | None = None
    live: Any = None
    missing: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "replay"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,  # noqa: ARG002 - BaseChatModel's signature
        run_manager: CallbackManagerForLLMRun | None = None,  # noqa: ARG002
        **kwargs: Any,  # noqa: ARG002
    ) -> ChatResult:
        key = request_key(messages)
        if key not in self.recorded:
            if self.live is not None:
                self.recorded[key] = str(self.live.invoke(messages).content)
            elif self.capture is not None:
                self.capture.append(messages)
                self.missing.append(key)
                return ChatResult(generations=[ChatGeneration(message=AIMessage(""))])
            else:
                msg = f"no recorded answer for request {key}; see --dump-requests and --missing"
                raise KeyError(msg)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self.recorded[key]))])


def read_recordings(path: Path) -> dict[str, str]:
    """``{key: response}`` from a JSONL recording (an absent file is an empty recording)."""
    if not path.exists():
        return {}
    with path.open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return {row["key"]: row["response"] for row in rows}


def dump_requests(prompts: list[dict], path: Path) -> None:
    """Write every request the refining audit sends, one JSON object per line."""
    with path.open("w", encoding="utf-8") as out:
        for p in prompts:
            spy = ReplayChatModel(recorded={}, capture=[])
            audit_instructions(p["text"], refine_with=spy)
            for messages in spy.capture or []:
                row = {
                    "key": request_key(messages),
                    "prompt_id": p["id"],
                    "split": p.get("split", "dev"),
                    "messages": [{"role": m.type, "content": m.content} for m in messages],
                }
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote the requests for {len(prompts)} prompts to {path}")


def _asked_range(human: str) -> range:
    """The marker numbers a request asks about."""
    chunk = re.search(r"Answer for sentences (\d+) to (\d+)\.", human)
    if chunk:
        return range(int(chunk.group(1)), int(chunk.group(2)) + 1)
    total = re.search(r"marked \[1\] to \[(\d+)\]", human)
    return range(1, int(total.group(1)) + 1 if total else 1)


def import_answers(answers: list[Path], requests: Path, responder: str, out: Path) -> None:
    """Append answers written as ``### <key>`` blocks of ``n: fact|form`` lines to ``out``.

    Every block must answer exactly the markers its request asks about, in order.
    """
    with requests.open(encoding="utf-8") as f:
        asked = {row["key"]: row for row in map(json.loads, f) if row}
    recorded = read_recordings(out)
    rows = []
    for path in answers:
        blocks = re.split(r"^### ([0-9a-f]{64})\s*$", path.read_text("utf-8"), flags=re.MULTILINE)
        for key, body in zip(blocks[1::2], blocks[2::2], strict=True):
            if key not in asked:
                msg = f"{path}: key {key} is not one of the requests in {requests}"
                raise SystemExit(msg)
            lines = body.strip().splitlines()
            numbers = [int(line.split(":")[0]) for line in lines]
            if numbers != list(_asked_range(asked[key]["messages"][-1]["content"])) or not all(
                line.split(":")[1].strip() in ("fact", "form") for line in lines
            ):
                msg = f"{path}: the answer for {key} does not cover its markers in order"
                raise SystemExit(msg)
            if key not in recorded:
                recorded[key] = body.strip()
                prompt_id = asked[key]["prompt_id"]
                row = {"key": key, "prompt_id": prompt_id, "responder": responder}
                rows.append({**row, "response": body.strip()})
    missing = set(asked) - set(recorded)
    with out.open("a", encoding="utf-8") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    print(f"recorded {len(rows)} answers in {out}; {len(missing)} requests still unanswered")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--recordings",
        type=Path,
        action="append",
        help="a recording to replay (repeatable: a later file's answers win); new answers go "
        "to the last one (default: benchmarks/data/audit_refine_recordings.jsonl)",
    )
    parser.add_argument("--dump-requests", type=Path, help="write the requests here and stop")
    parser.add_argument(
        "--import-answers",
        type=Path,
        nargs="+",
        help="append answers (### <key> blocks of `n: fact|form` lines) to --recordings and stop",
    )
    parser.add_argument("--requests", type=Path, help="the --dump-requests file answered")
    parser.add_argument("--responder", default="", help="who or what wrote the imported answers")
    parser.add_argument("--model", help="a live chat model for init_chat_model, e.g. openai:gpt-4o")
    parser.add_argument(
        "--missing",
        choices=("error", "heuristic"),
        default="error",
        help="what to do with a request that has no recorded answer",
    )
    parser.add_argument("--test", action="store_true", help=f"also score {TEST_SPLIT}")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    recordings: list[Path] = args.recordings or [RECORDINGS]
    prompts = load(test=args.test)
    if args.dump_requests:
        dump_requests(prompts, args.dump_requests)
        return
    if args.import_answers:
        if not args.requests:
            parser.error("--import-answers needs --requests (the file the answers are for)")
        import_answers(args.import_answers, args.requests, args.responder, recordings[-1])
        return
    recorded = {key: answer for path in recordings for key, answer in read_recordings(path).items()}
    before = len(recorded)
    live = None
    if args.model:
        from langchain.chat_models import init_chat_model  # noqa: PLC0415 - optional extra

        live = init_chat_model(args.model, temperature=0)
    capture: list[list[BaseMessage]] | None = [] if args.missing == "heuristic" else None
    model = ReplayChatModel(recorded=recorded, capture=capture, live=live)  # copies both
    counter = get_token_counter()
    per_prompt: dict[str, tuple[list[str], list[str]]] = {}
    calls = tokens_in = tokens_out = 0
    for p in prompts:
        # the spy answers nothing, so this is the heuristic audit, and it keeps the requests
        spy = ReplayChatModel(recorded={}, capture=[])
        heuristic = audit_instructions(p["text"], refine_with=spy)
        try:
            refined = audit_instructions(p["text"], refine_with=model)
        except KeyError as exc:
            msg = f"{p['id']}: {exc.args[0]}"
            raise SystemExit(msg) from None
        for messages in spy.capture or []:
            calls += 1
            tokens_in += sum(counter.count(str(m.content)) for m in messages)
            tokens_out += counter.count(model.recorded.get(request_key(messages), ""))
        per_prompt[p["id"]] = (labels_of(p, heuristic), labels_of(p, refined))
    if live is not None and len(model.recorded) > before:
        with recordings[-1].open("a", encoding="utf-8") as out:
            for key, response in list(model.recorded.items())[before:]:
                out.write(json.dumps({"key": key, "response": response}) + "\n")
    result: dict[str, Any] = {
        "prompts": len(prompts),
        "calls": calls,
        "input_tokens_per_prompt": tokens_in / max(len(prompts), 1),
        "output_tokens_per_prompt": tokens_out / max(len(prompts), 1),
        "unanswered_requests": len(model.missing),
        "splits": {},
    }
    for split in (*SPLITS, *((TEST_SPLIT,) if args.test else ())):
        chosen = [
            p
            for p in prompts
            if (split == "all" and p.get("split") != TEST_SPLIT) or split in splits_of(p)
        ]
        gold = [s["label"] for p in chosen for s in p["sentences"]]
        result["splits"][split] = {
            "prompts": len(chosen),
            "sentences": len(gold),
            "fact_sentences": gold.count("fact"),
            "refined": scores(gold, [x for p in chosen for x in per_prompt[p["id"]][1]]),
            "heuristic": scores(gold, [x for p in chosen for x in per_prompt[p["id"]][0]]),
            "naive_digit_baseline": scores(gold, [x for p in chosen for x in naive_labels(p)]),
        }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{result['prompts']} prompts, {calls} model calls, "
        f"{result['input_tokens_per_prompt']:.0f} input / "
        f"{result['output_tokens_per_prompt']:.0f} output tokens per prompt (cl100k_base)"
    )
    if model.missing:
        print(f"{len(model.missing)} requests had no recorded answer: heuristic verdicts kept")
    for split, r in result["splits"].items():
        print(
            f"[{split}] {r['prompts']} prompts, {r['sentences']} sentences, "
            f"{r['fact_sentences']} labelled fact"
        )
        for name in ("refined", "heuristic", "naive_digit_baseline"):
            m = r[name]
            print(
                f"  {name:<22} precision={m['precision']:.3f} recall={m['recall']:.3f} "
                f"f1={m['f1']:.3f} (tp={m['tp']} fp={m['fp']} fn={m['fn']})"
            )


if __name__ == "__main__":
    main()
