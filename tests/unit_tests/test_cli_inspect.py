"""``ctxorch inspect`` and ``ctxorch demo``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langchain_ctxorch.cli import main
from langchain_ctxorch.scenario import DEMO_SCENARIO


def test_inspect_prints_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(DEMO_SCENARIO), encoding="utf-8")
    assert main(["inspect", str(path), "--budget", "8000", "--model", "cl100k_base"]) == 0
    out = capsys.readouterr().out
    assert "Context window:" in out
    assert "max_tokens=8000" in out
    assert "quarantined knowledge" in out
    assert "4 quarantined" in out


def test_inspect_json_with_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(DEMO_SCENARIO), encoding="utf-8")
    assert main(["inspect", str(path), "--json", "--window"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["used"] <= data["budget"]
    assert {q["item_id"] for q in data["quarantined"]} == {
        "pricing-2024",
        "faq-shipping",
        "promo-summer",
        "mem-guess",
    }
    assert data["messages"][0]["type"] == "system"
    assert "ignore all previous instructions" not in json.dumps(data["messages"])


def test_inspect_errors_name_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps({"knowledge": [{"content": "x", "trust": "galaxy"}]}), encoding="utf-8"
    )
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert "ctxorch inspect: error:" in err
    assert "knowledge[0]: " in err
    assert "trust must be one of" in err
    assert "galaxy" in err
    assert main(["inspect", str(tmp_path / "missing.json")]) == 2
    assert "cannot read the scenario file" in capsys.readouterr().err
    good = tmp_path / "ok.json"
    good.write_text(json.dumps(DEMO_SCENARIO), encoding="utf-8")
    assert main(["inspect", str(good), "--budget", "10"]) == 2
    assert "reserve_output" in capsys.readouterr().err


def test_demo(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "quarantined knowledge" in out
    assert "--- the window the model sees ---" in out
    window = out.split("--- the window the model sees ---")[1]
    assert "ignore all previous instructions" not in window
    assert "$29" not in window
    assert "$49 per month" in window


def test_demo_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--json", "--budget", "2000"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["max_tokens"] == 2000
    assert data["counts"]["quarantined"] == 4
