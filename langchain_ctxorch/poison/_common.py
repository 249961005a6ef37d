"""Helpers shared by the poison detectors (private)."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

    from langchain_ctxorch.items import ContextItem

_CONVERSATION_ROLES = frozenset({"user", "assistant", "system"})


def is_conversation_turn(item: ContextItem) -> bool:
    """True for the conversation's own turns (user, assistant or system messages).

    These are never quarantined: the user's request is the application's business, and the
    assistant's turns are its own context. Tool results are not conversation turns.
    """
    return item.message is not None and item.role in _CONVERSATION_ROLES


def normalise_text(text: str) -> str:
    """Case-folded text with runs of whitespace collapsed (NFKC first when not ASCII)."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.casefold().split())


def item_time(item: ContextItem) -> datetime | None:
    """When an item's fact became valid: ``valid_from``, else ``created_at``."""
    return item.valid_from if item.valid_from is not None else item.created_at
