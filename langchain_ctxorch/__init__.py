"""langchain-ctxorch: context orchestration for LangChain and LangGraph.

Build every model call's context window from four layers (instructions, knowledge, memory, task)
under a token budget, keep poisoned context out, and account for every candidate in a report.

Names whose modules are heavy to import — LangGraph's store and graph, ``langchain.agents``, the
poison filter's compiled patterns and the instruction audit (`StoreMemory`, `ContextState`,
`ContextOrchestrationMiddleware`, `PoisonFilter`, `audit_instructions`...) — are imported on
first use, so ``import langchain_ctxorch`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from langchain_ctxorch._version import __version__
from langchain_ctxorch.budget import BudgetPolicy, LayerBudget
from langchain_ctxorch.compaction import (
    CompactionError,
    CompactionResult,
    acompact_history,
    compact_history,
    pin_message,
)
from langchain_ctxorch.errors import (
    BudgetExceededError,
    CtxOrchError,
    MemoryUnavailableError,
    PoisonedContextError,
    TokenizerUnavailableError,
)
from langchain_ctxorch.items import ContextItem, Layer, Trust
from langchain_ctxorch.orchestrator import ContextOrchestrator, resolve_user_id
from langchain_ctxorch.packing import ContextPacker, PackedContext
from langchain_ctxorch.pricing import (
    DEFAULT_PRICES,
    ContextCost,
    ModelPrice,
    PriceTable,
    SavingsEstimate,
    estimate_savings,
)
from langchain_ctxorch.render import Spotlighter
from langchain_ctxorch.report import ContextReport, Decision, LayerUsage, PoisonFinding, Quarantined
from langchain_ctxorch.retrievers import BM25KnowledgeRetriever, GuardedRetriever
from langchain_ctxorch.scoring import Tokenizer
from langchain_ctxorch.tokens import (
    ApproximateCounter,
    ChatModelCounter,
    EncodingFallbackWarning,
    TiktokenCounter,
    TokenCounter,
    get_token_counter,
)

if TYPE_CHECKING:
    from langchain_ctxorch.audit import (
        AuditFinding,
        InstructionAudit,
        aaudit_instructions,
        audit_instructions,
    )
    from langchain_ctxorch.graph import REPORT_EVENT, ContextState, build_context_graph
    from langchain_ctxorch.memory import RecallResult, RememberResult, StoreMemory
    from langchain_ctxorch.middleware import ContextAgentState, ContextOrchestrationMiddleware
    from langchain_ctxorch.poison import (
        Detector,
        FilterResult,
        InjectionDetector,
        InjectionScan,
        OnPoison,
        PoisonFilter,
        apply_on_poison,
    )

_POISON = "langchain_ctxorch.poison"
_AUDIT = "langchain_ctxorch.audit"
_LAZY = {
    "Detector": _POISON,
    "FilterResult": _POISON,
    "InjectionDetector": _POISON,
    "InjectionScan": _POISON,
    "OnPoison": _POISON,
    "PoisonFilter": _POISON,
    "apply_on_poison": _POISON,
    "AuditFinding": _AUDIT,
    "InstructionAudit": _AUDIT,
    "aaudit_instructions": _AUDIT,
    "audit_instructions": _AUDIT,
    "StoreMemory": "langchain_ctxorch.memory",
    "RecallResult": "langchain_ctxorch.memory",
    "RememberResult": "langchain_ctxorch.memory",
    "ContextState": "langchain_ctxorch.graph",
    "build_context_graph": "langchain_ctxorch.graph",
    "REPORT_EVENT": "langchain_ctxorch.graph",
    "ContextOrchestrationMiddleware": "langchain_ctxorch.middleware",
    "ContextAgentState": "langchain_ctxorch.middleware",
}


def __getattr__(name: str) -> Any:
    """Resolve the LangGraph- and langchain-backed names on first access (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'langchain_ctxorch' has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(importlib.import_module(module), name)


__all__ = [
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
