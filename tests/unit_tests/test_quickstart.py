"""The quickstart scenario does what the README says it does."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from langchain_core.messages import SystemMessage, ToolMessage

from langchain_ctxorch import BudgetPolicy, ContextPacker, Layer
from langchain_ctxorch.poison import PoisonFilter

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def quickstart() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ctxorch_quickstart", EXAMPLES / "quickstart.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_quickstart_scenario(quickstart: ModuleType) -> None:
    items, question = quickstart.build_items()
    assert len(items) > 130
    assert {i.layer for i in items} == set(Layer)
    screened = PoisonFilter.default().filter(items, query=question, now=quickstart.NOW)
    assert sorted(q.item.id for q in screened.quarantined) == [
        "forum-post",
        "old-promo",
        "plan-team-2025",
    ]
    kinds = {q.item.id: q.findings[0].kind for q in screened.quarantined}
    assert kinds == {
        "forum-post": "injection",
        "old-promo": "expired",
        "plan-team-2025": "superseded",
    }
    packer = ContextPacker(BudgetPolicy(2000, reserve_output=300))
    packed = packer.pack(screened.kept, query=question, quarantined=screened.quarantined)
    report = packed.report
    assert report.used <= 1700
    assert report.used >= 0.95 * 1700
    assert len(report.decisions) == len(items)
    text = packed.to_text()
    assert "card number" not in text
    assert "$19 per month" not in text
    assert "Annual plans can be refunded in full within 30 days" in text  # cut to the relevant part
    assert report.decision("terms").action == "truncated"
    assert isinstance(packed.messages[0], SystemMessage)
    assert packed.messages[-1].content == question
    calls = {c["id"] for m in packed.messages for c in getattr(m, "tool_calls", [])}
    assert all(m.tool_call_id in calls for m in packed.messages if isinstance(m, ToolMessage))


def test_quickstart_main_prints_the_report(
    quickstart: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    quickstart.main()
    out = capsys.readouterr().out
    assert "Context window:" in out
    assert "quarantined forum-post: injection" in out
