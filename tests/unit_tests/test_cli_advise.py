"""Tests for the ``ctxorch`` command: ``advise`` (flags and a real terminal) and ``audit``."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import langchain.chat_models
import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from langchain_ctxorch.cli import (
    COMMANDS,
    QUESTIONS,
    Advice,
    Answers,
    advise,
    build_parser,
    main,
)

PROMPT = (
    "You are a support agent for Acme. Answer in two sentences.\n"
    "The Pro plan costs $49/month and includes 10 seats.\n"
    "Support hours: Monday-Friday 9am-5pm CET.\n"
)


@pytest.fixture
def prompt_file(tmp_path: Path) -> Path:
    path = tmp_path / "system_prompt.txt"
    path.write_text(PROMPT, encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--failure", "facts", "--change-rate", "daily"], "orchestrate context"),
        (
            ["--failure", "form", "--change-rate", "never", "--consistency", "yes"],
            "fine-tune for form",
        ),
        (["--failure", "both", "--change-rate", "weekly", "--consistency", "yes"], "both"),
        (["--failure", "form", "--consistency", "no"], "orchestrate context"),
        (["--corpus", "large"], "orchestrate context"),
    ],
)
def test_advise_with_flags(capsys, flags: list[str], expected: str) -> None:
    code, out, err = run(capsys, "advise", *flags, "--no-input")
    assert code == 0
    assert err == ""
    assert out.splitlines()[0] == f"Recommendation: {expected}"
    assert "Reasons:" in out
    assert "Next steps:" in out


def test_advise_json_includes_audit_and_savings(capsys, prompt_file: Path) -> None:
    code, out, _ = run(
        capsys,
        "advise",
        "--failure",
        "form",
        "--change-rate",
        "hourly",
        "--prompt",
        str(prompt_file),
        "--calls-per-day",
        "20000",
        "--model",
        "gpt-4o-mini",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    # Facts found in the prompt count as a facts problem even when form was reported.
    assert data["recommendation"] == "orchestrate context"
    assert any("fact sentences" in r for r in data["reasons"])
    assert data["audit"]["counts"]["fact"] == 2
    assert data["savings"]["model"] == "gpt-4o-mini"
    assert data["savings"]["calls"] == 20000
    assert data["answers"]["change_rate"] == "hourly"


def test_advise_text_with_prompt_prints_the_audit(capsys, prompt_file: Path) -> None:
    code, out, _ = run(capsys, "advise", "--prompt", str(prompt_file), "--no-input")
    assert code == 0
    assert "Instruction audit: 2 fact and 2 form sentences" in out
    assert "The Pro plan costs $49/month and includes 10 seats." in out


def test_advise_rejects_an_invalid_choice(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["advise", "--failure", "weights"])
    assert exc.value.code == 2
    assert "invalid choice: 'weights'" in capsys.readouterr().err


def test_audit_command_text_and_json(capsys, prompt_file: Path) -> None:
    code, out, _ = run(capsys, "audit", str(prompt_file))
    assert code == 0
    assert "fact_key=price:pro-plan-costs-month" in out
    assert "USD per 1,000 calls on gpt-4o" in out
    code, out, _ = run(capsys, "audit", str(prompt_file), "--json")
    data = json.loads(out)
    assert [f["kind"] for f in data["findings"]] == ["form", "form", "fact", "fact"]
    assert (
        PROMPT[data["findings"][2]["start"] : data["findings"][2]["end"]]
        == (data["findings"][2]["text"])
    )


def test_audit_missing_file_and_unknown_model_exit_2(capsys, tmp_path: Path, prompt_file) -> None:
    code, out, err = run(capsys, "audit", str(tmp_path / "nope.txt"))
    assert (code, out) == (2, "")
    assert "does not exist" in err
    code, _, err = run(capsys, "audit", str(prompt_file), "--model", "acme-9000")
    assert code == 2
    assert "no price for model 'acme-9000'" in err


def test_audit_refine_with_uses_init_chat_model(
    capsys, monkeypatch: pytest.MonkeyPatch, prompt_file: Path
) -> None:
    asked: list[tuple[str, Any]] = []

    def init_chat_model(spec: str, **kwargs: Any) -> GenericFakeChatModel:
        asked.append((spec, kwargs))
        reply = "1: form\n2: fact\n3: form\n4: fact"
        return GenericFakeChatModel(messages=iter([AIMessage(reply)]))

    monkeypatch.setattr(langchain.chat_models, "init_chat_model", init_chat_model)
    code, out, _ = run(
        capsys, "audit", str(prompt_file), "--json", "--refine-with", "openai:gpt-4o-mini"
    )
    assert code == 0
    assert asked == [("openai:gpt-4o-mini", {"temperature": 0})]
    findings = json.loads(out)["findings"]
    assert [(f["kind"], f["refined"]) for f in findings] == [
        ("form", True),
        ("fact", True),
        ("form", True),
        ("fact", True),
    ]


def test_audit_refine_with_an_unknown_or_missing_provider_exits_2(
    capsys, prompt_file: Path
) -> None:
    code, out, err = run(capsys, "audit", str(prompt_file), "--refine-with", "acme:foo")
    assert (code, out) == (2, "")
    assert "Unable to infer model provider for model='acme:foo'" in err
    code, out, err = run(capsys, "audit", str(prompt_file), "--refine-with", "openai:gpt-4o")
    assert (code, out) == (2, "")
    assert "--refine-with 'openai:gpt-4o'" in err
    assert "pip install langchain-openai" in err


def test_a_subcommand_is_one_function(capsys) -> None:
    def add_demo_command(subparsers: Any) -> None:
        p = subparsers.add_parser("hello")
        p.set_defaults(handler=lambda args, out: out.write("demo ran\n") and 0)

    parser = build_parser([*COMMANDS, add_demo_command])
    args = parser.parse_args(["hello"])
    assert args.handler(args, sys.stdout) == 0
    assert capsys.readouterr().out == "demo ran\n"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["hello"])  # not registered by default
    capsys.readouterr()


def test_version_and_missing_command(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("ctxorch ")
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2


def test_answers_validate_choices() -> None:
    with pytest.raises(ValueError, match="change_rate must be one of never, yearly"):
        Answers(change_rate="sometimes")


_answers = st.builds(Answers, **{q.name: st.sampled_from(q.choices) for q in QUESTIONS})


@given(_answers)
def test_advice_invariants(answers: Answers) -> None:
    advice = advise(answers)
    assert isinstance(advice, Advice)
    assert advice.reasons
    assert advice.next_steps
    # Fine-tuning is only ever advised for form that prompting could not hold.
    if advice.recommendation in {"fine-tune for form", "both"}:
        assert answers.consistency == "yes"
        assert answers.failure in {"form", "both", "unsure"}
    # Facts that change or a facts failure always need the context window.
    if answers.failure == "facts" or answers.change_rate in {"weekly", "daily", "hourly"}:
        assert advice.recommendation != "fine-tune for form"
    assert json.loads(json.dumps(advice.to_dict()))["recommendation"] == advice.recommendation


# ------------------------------------------------------------------------------------------
# A real terminal
# ------------------------------------------------------------------------------------------


# What the ``ctxorch`` console script runs (pyproject: ``langchain_ctxorch.cli:main``).
_ENTRY_POINT = "import sys; from langchain_ctxorch.cli import main; sys.exit(main())"


def _read_until(fd: int, marker: bytes, buffer: bytearray, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while marker not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            msg = f"timed out waiting for {marker!r}; got {bytes(buffer)[-500:]!r}"
            raise AssertionError(msg)
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                chunk = b""
            if not chunk:
                msg = f"terminal closed before {marker!r}; got {bytes(buffer)[-500:]!r}"
                raise AssertionError(msg)
            buffer.extend(chunk)


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_advise_interactively_in_a_pseudo_terminal(prompt_file: Path) -> None:
    import pty  # noqa: PLC0415 - POSIX only

    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    proc = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", _ENTRY_POINT, "advise", "--prompt", str(prompt_file)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    answers = {
        "failure": b"fa\n",  # a unique prefix of "facts"
        "change_rate": b"sometimes\n",  # invalid: asked again
        "change_rate_retry": b"daily\n",
        "corpus": b"\n",  # the default
        "consistency": b"no\n",
        "offline": b"yes\n",
        "latency": b"tight\n",
        "cost": b"high\n",
    }
    buffer = bytearray()
    try:
        _read_until(master, b"form vs facts", buffer)
        for q in QUESTIONS:
            _read_until(master, q.prompt[:30].encode(), buffer)
            _read_until(master, b"(default: " + q.default.encode() + b"): ", buffer)
            del buffer[:]
            os.write(master, answers[q.name])
            if q.name == "change_rate":
                _read_until(master, b"please answer one of", buffer)
                _read_until(master, b"): ", buffer)
                del buffer[:]
                os.write(master, answers["change_rate_retry"])
        _read_until(master, b"USD per 1,000 calls", buffer)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    text = buffer.decode("utf-8", "replace").replace("\r\n", "\n")
    assert "Recommendation: orchestrate context" in text
    assert "the facts change daily" in text
    assert "offline operation" in text
    assert "tight latency" in text
    assert "Instruction audit: 2 fact and 2 form sentences" in text
