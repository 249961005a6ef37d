"""Every example runs offline (no CTXORCH_MODEL, no network) and shows what it promises."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPTS = ["quickstart.py", "poisoned_rag.py", "langgraph_agent.py", "create_agent_middleware.py"]


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("CTXORCH_MODEL", raising=False)
    monkeypatch.syspath_prepend(str(EXAMPLES))

    def load(name: str) -> dict[str, Any]:
        return runpy.run_path(str(EXAMPLES / name))

    return load


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs_as_a_script(script: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CTXORCH_MODEL"}
    args = ["--dir", str(tmp_path)] if script == "langgraph_agent.py" else []
    proc = subprocess.run(  # noqa: S603 - our own example, fixed arguments
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "tokens" in proc.stdout


def test_poisoned_rag(example: Any, capsys: pytest.CaptureFixture[str]) -> None:
    result = example("poisoned_rag.py")["main"]()
    assert result == {"quarantined": ["faq-shipping", "pricing-2024"], "leaked": []}
    out = capsys.readouterr().out
    assert "injection" in out
    assert "superseded" in out
    assert "$49 per month" in out
    assert "Poisoned text in the model's input: none" in out


def test_langgraph_agent(example: Any, tmp_path: Path) -> None:
    result = example("langgraph_agent.py")["main"](str(tmp_path))
    assert (tmp_path / "memories.sqlite").exists()
    assert result["memories"] == ["The customer said: I prefer email, not phone calls."]
    alice = result["alice"]["messages"][-1].text
    bob = result["bob"]["messages"][-1].text
    assert "I prefer email" in alice  # recalled after the "restart", from SQLite
    assert "I prefer email" not in bob
    poisoned = result["poisoned_tool"]
    assert "flagged as unsafe" in poisoned["messages"][-1].text
    assert any("evil.example" in m.text for m in poisoned["messages"])  # state keeps it
    assert all("evil.example" not in m.text for m in poisoned["context_messages"])  # model did not


def test_create_agent_middleware(example: Any) -> None:
    result = example("create_agent_middleware.py")["main"]()
    assert result["recalled"] == ["our company invoices go to billing@dana.example, monthly."]
    assert len(result["quarantined"]) == 1
    assert "injection" in result["quarantined"][0][1]
    state = result["state"]
    assert len(state["messages"]) == 10
    assert "billing@dana.example" in state["messages"][-1].text
    assert state["context_report"]["used"] <= state["context_report"]["budget"]


def test_examples_pick_a_real_model_from_the_environment(
    example: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = example("scripted_model.py")
    assert type(module["load_chat_model"]()).__name__ == "ScriptedSupportModel"
    monkeypatch.setenv("CTXORCH_MODEL", "no-such-provider:model-x")
    with pytest.raises(ValueError, match="no-such-provider"):
        module["load_chat_model"]()
