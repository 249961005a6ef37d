"""Scenario files: schema validation with clear errors, and packing through the orchestrator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from langchain_ctxorch.errors import BudgetExceededError
from langchain_ctxorch.scenario import (
    DEMO_SCENARIO,
    ScenarioError,
    inspect_scenario,
    load_scenario,
    pack_scenario,
)


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_demo_scenario_quarantines_every_kind_of_poison() -> None:
    report = inspect_scenario(DEMO_SCENARIO)
    actions = {d.item_id: d.action for d in report.decisions}
    assert actions["faq-shipping"] == "quarantined"
    assert actions["pricing-2024"] == "quarantined"
    assert actions["promo-summer"] == "quarantined"
    assert actions["mem-guess"] == "quarantined"
    assert actions["refunds"] == "truncated"
    assert actions["u2"] == "included"
    assert report.used <= report.budget == 700


def test_file_budget_and_model_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, DEMO_SCENARIO)
    small = inspect_scenario(path, budget=600)
    assert small.max_tokens == 600
    assert small.used <= small.budget == 400
    big = inspect_scenario(path, budget=4000, model="cl100k_base")
    assert big.max_tokens == 4000
    assert big.counts()["quarantined"] == 4
    assert big.decision("refunds").tokens > small.decision("refunds").tokens


def test_budget_as_int_and_minimal_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "budget": 300,
            "instructions": ["Be brief."],
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    packed = pack_scenario(path)
    assert packed.report.max_tokens == 300
    assert [m.type for m in packed.messages] == ["system", "human"]


def test_now_decides_expiry() -> None:
    data = {
        "knowledge": [
            {"id": "promo", "content": "Promo: 20% off.", "expires_at": "2026-06-01T00:00:00+00:00"}
        ],
        "messages": [{"role": "user", "content": "Any promo?"}],
    }
    before = inspect_scenario({**data, "now": "2026-05-01T00:00:00+00:00"})
    after = inspect_scenario({**data, "now": "2026-07-01T00:00:00+00:00"})
    assert before.decision("promo").action == "included"
    assert after.decision("promo").action == "quarantined"


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ([1, 2], "top level must be a JSON object"),
        (
            {"knowledge": [{"content": "x", "trust": "galaxy"}]},
            r"knowledge\[0\].*trust must be one of",
        ),
        (
            {"knowledge": [{"content": "x", "layer": "task"}]},
            r"knowledge\[0\]: unknown field\(s\) \['layer'\]",
        ),
        (
            {"memory": [{"content": "x", "expires_at": "2026-01-01T00:00:00"}]},
            r"memory\[0\].*naive",
        ),
        ({"messages": [{"role": "robot", "content": "x"}]}, r"messages\[0\]\.role"),
        (
            {"messages": [{"role": "tool", "content": "x"}]},
            r"messages\[0\]: a tool message needs tool_call_id",
        ),
        ({"budget": {"max_tokens": 100, "reserve_output": 200}}, "budget: .*reserve_output"),
        ({"colour": "red"}, r"\.colour: Extra inputs are not permitted"),
        ({"now": "2026-01-01T00:00:00"}, "has no timezone"),
    ],
)
def test_schema_errors_name_the_bad_value(tmp_path: Path, data: Any, match: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(ScenarioError, match=match) as info:
        load_scenario(path)
    assert str(info.value).startswith(f"{path}: ")


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read the scenario file"):
        load_scenario(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"not valid JSON: .* line 1"):
        load_scenario(bad)


def test_budget_too_small_for_the_instructions() -> None:
    with pytest.raises(BudgetExceededError):
        inspect_scenario(DEMO_SCENARIO, budget=250)
