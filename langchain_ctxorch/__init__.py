"""langchain-ctxorch: context orchestration for LangChain and LangGraph.

Build every model call's context window from four layers (instructions, knowledge, memory, task)
under a token budget, keep poisoned context out, and account for every candidate in a report.
"""

from langchain_ctxorch._version import __version__
from langchain_ctxorch.budget import BudgetPolicy, LayerBudget
from langchain_ctxorch.errors import (
    BudgetExceededError,
    CtxOrchError,
    MemoryUnavailableError,
    PoisonedContextError,
    TokenizerUnavailableError,
)
from langchain_ctxorch.items import ContextItem, Layer, Trust
from langchain_ctxorch.packing import ContextPacker, PackedContext
from langchain_ctxorch.render import Spotlighter
from langchain_ctxorch.report import ContextReport, Decision, LayerUsage, PoisonFinding, Quarantined
from langchain_ctxorch.scoring import Tokenizer
from langchain_ctxorch.tokens import (
    ApproximateCounter,
    ChatModelCounter,
    EncodingFallbackWarning,
    TiktokenCounter,
    TokenCounter,
    get_token_counter,
)

__all__ = [
    "ApproximateCounter",
    "BudgetExceededError",
    "BudgetPolicy",
    "ChatModelCounter",
    "ContextItem",
    "ContextPacker",
    "ContextReport",
    "CtxOrchError",
    "Decision",
    "EncodingFallbackWarning",
    "Layer",
    "LayerBudget",
    "LayerUsage",
    "MemoryUnavailableError",
    "PackedContext",
    "PoisonFinding",
    "PoisonedContextError",
    "Quarantined",
    "Spotlighter",
    "TiktokenCounter",
    "TokenCounter",
    "Tokenizer",
    "TokenizerUnavailableError",
    "Trust",
    "__version__",
    "get_token_counter",
]
