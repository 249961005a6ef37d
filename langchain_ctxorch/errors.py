"""Exceptions raised by langchain-ctxorch.

The hierarchy::

    CtxOrchError                     base of everything the package raises on purpose
    ├── BudgetExceededError          (also a ValueError) the pinned items alone exceed the window
    ├── TokenizerUnavailableError    an exact tokenizer was required and none could be loaded
    ├── PoisonedContextError         poisoned context found with ``on_poison="raise"``
    └── MemoryUnavailableError       the memory store failed (reads or writes)

Bad arguments raise plain ``ValueError``/``TypeError`` (pydantic's ``ValidationError`` is a
``ValueError``) whose message names the field, the bad value and the fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


class CtxOrchError(Exception):
    """Base class of every error raised on purpose by langchain-ctxorch."""


class BudgetExceededError(CtxOrchError, ValueError):
    """The items that must be included (pinned items) do not fit the token budget.

    Attributes:
        available: tokens available for the window (``max_tokens - reserve_output``).
        required: tokens the pinned items need once rendered.
        tokens_by_layer: the required tokens broken down per layer name.
    """

    def __init__(
        self,
        message: str,
        *,
        available: int,
        required: int,
        tokens_by_layer: Mapping[str, int],
    ) -> None:
        """Create the error; ``message`` should name the layers and their tokens."""
        super().__init__(message)
        self.available = available
        self.required = required
        self.tokens_by_layer = dict(tokens_by_layer)


class TokenizerUnavailableError(CtxOrchError):
    """No exact tokenizer could be loaded for the requested model or encoding."""


class PoisonedContextError(CtxOrchError):
    """Poisoned context was found and the policy is ``on_poison="raise"``.

    Attributes:
        quarantined: the quarantine records (item plus findings) that triggered the error.
    """

    def __init__(self, message: str, *, quarantined: Sequence[Any] = ()) -> None:
        """Create the error with the offending quarantine records."""
        super().__init__(message)
        self.quarantined = list(quarantined)


class MemoryUnavailableError(CtxOrchError):
    """The memory store could not be read or written (for example the database is down)."""
