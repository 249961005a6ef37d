"""The public surface, pinned; and importing the package stays cheap."""

from __future__ import annotations

import subprocess
import sys

import pytest

import langchain_ctxorch
from langchain_ctxorch import _version

EXPECTED_ALL = [
    "DEFAULT_PRICES",
    "REPORT_EVENT",
    "ApproximateCounter",
    "AuditFinding",
    "BM25KnowledgeRetriever",
    "BudgetExceededError",
    "BudgetPolicy",
    "ChatModelCounter",
    "CompactionError",
    "CompactionResult",
    "ContextAgentState",
    "ContextCost",
    "ContextItem",
    "ContextOrchestrationMiddleware",
    "ContextOrchestrator",
    "ContextPacker",
    "ContextReport",
    "ContextState",
    "CtxOrchError",
    "Decision",
    "Detector",
    "EncodingFallbackWarning",
    "FilterResult",
    "GuardedRetriever",
    "InjectionDetector",
    "InjectionScan",
    "InstructionAudit",
    "Layer",
    "LayerBudget",
    "LayerUsage",
    "MemoryUnavailableError",
    "ModelPrice",
    "OnPoison",
    "PackedContext",
    "PoisonFilter",
    "PoisonFinding",
    "PoisonedContextError",
    "PriceTable",
    "Quarantined",
    "RecallResult",
    "RememberResult",
    "SavingsEstimate",
    "Spotlighter",
    "StoreMemory",
    "TiktokenCounter",
    "TokenCounter",
    "Tokenizer",
    "TokenizerUnavailableError",
    "Trust",
    "__version__",
    "aaudit_instructions",
    "acompact_history",
    "apply_on_poison",
    "audit_instructions",
    "build_context_graph",
    "compact_history",
    "estimate_savings",
    "get_token_counter",
    "pin_message",
    "resolve_user_id",
]


def test_all_is_pinned() -> None:
    assert sorted(langchain_ctxorch.__all__) == sorted(EXPECTED_ALL)


def test_every_public_name_resolves() -> None:
    for name in langchain_ctxorch.__all__:
        assert getattr(langchain_ctxorch, name) is not None, name


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        langchain_ctxorch.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018


def test_version_has_one_source() -> None:
    assert langchain_ctxorch.__version__ == _version.__version__


def test_import_is_cheap_and_has_no_side_effects() -> None:
    # langchain_core itself installs warning filters on import; ours must add none.
    code = (
        "import sys, warnings; import langchain_core.messages, langchain_core.retrievers, "
        "langchain_core.runnables, langchain_core.language_models, tiktoken; "
        "filters = list(warnings.filters); import langchain_ctxorch; "
        "heavy = [m for m in ('langgraph', 'langchain.agents', 'bm25s', 'rank_bm25', 'numpy', "
        "'langchain_ctxorch.poison.injection') "
        "if m in sys.modules]; "
        "assert warnings.filters == filters, 'import changed warning filters'; print(heavy)"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
