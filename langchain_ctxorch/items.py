"""Context items and the four layers.

Key types:

- `Layer`: INSTRUCTIONS (form), KNOWLEDGE (facts), MEMORY (history, long-term memories)
  and TASK (the current request and this turn's tool calls).
- `Trust`: an ordered trust level, ``SYSTEM > VERIFIED > INTERNAL > EXTERNAL > MODEL``.
- `ContextItem`: one candidate for the context window, with its provenance (frozen pydantic).

Example:
    ```python
    from langchain_core.messages import HumanMessage
    from langchain_ctxorch import ContextItem, Layer

    item = ContextItem(content="Refunds take 5 days.", layer=Layer.KNOWLEDGE, source="kb")
    item.trust  # Trust.EXTERNAL, the default for retrieved knowledge
    ContextItem.from_message(HumanMessage("hi", id="m1"), layer=Layer.TASK).id  # "m1"
    ```
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime, timezone
from enum import Enum, IntEnum
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from langchain_core.documents import Document
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

_T = TypeVar("_T")


def ensure_instance(value: object, cls: type[_T], what: str, hint: str = "") -> _T:
    """Return ``value`` if it is a ``cls``, else raise a ``TypeError`` naming ``what``."""
    if isinstance(value, cls):
        return value
    msg = f"{what} must be a {cls.__name__}, got {type(value).__name__}{hint}"
    raise TypeError(msg)


Role = Literal["system", "user", "assistant", "tool"]
"""The chat role an item is rendered with, when it is rendered as its own message."""


def check_aware(name: str, value: datetime | None) -> datetime | None:
    """``value`` unchanged when it is None or timezone-aware.

    Raises:
        TypeError: ``value`` is not a datetime.
        ValueError: ``value`` is naive; the message names ``name`` and the fix.
    """
    if value is None:
        return None
    if not isinstance(cast("object", value), datetime):
        msg = f"{name} must be a timezone-aware datetime or None, got {type(value).__name__}"
        raise TypeError(msg)
    if value.tzinfo is None or value.utcoffset() is None:
        msg = (
            f"{name} must be a timezone-aware datetime, got the naive {value.isoformat()!r}; use "
            "e.g. datetime(..., tzinfo=timezone.utc) or value.replace(tzinfo=timezone.utc)"
        )
        raise ValueError(msg)
    return value


def resolve_now(now: datetime | None) -> datetime:
    """``now`` checked by `check_aware`, or the current UTC time when it is None."""
    return check_aware("now", now) or datetime.now(timezone.utc)


class Layer(str, Enum):
    """The four layers of a context window, in rendering order."""

    INSTRUCTIONS = "instructions"
    """Form: role, tone, output schema, policies and tool-use rules (the stable prefix)."""
    KNOWLEDGE = "knowledge"
    """Facts: retrieved documents and reference data."""
    MEMORY = "memory"
    """Conversation history and long-term memories about the user or task."""
    TASK = "task"
    """The current request and this turn's working state (tool calls and results)."""

    @property
    def rank(self) -> int:
        """Position of the layer in the rendered window (0 for INSTRUCTIONS)."""
        return _LAYER_RANK[self]


_LAYER_RANK = {layer: i for i, layer in enumerate(Layer)}


class Trust(IntEnum):
    """How far an item's content can be trusted; higher is more trusted.

    ``SYSTEM > VERIFIED > INTERNAL > EXTERNAL > MODEL``. ``MODEL`` is text written by an LLM and not
    yet grounded (for example a memory the assistant wrote about the user).
    """

    MODEL = 0
    EXTERNAL = 1
    INTERNAL = 2
    VERIFIED = 3
    SYSTEM = 4

    @classmethod
    def parse(cls, value: Trust | str | int) -> Trust:
        """Read a trust level from an enum member, its name (any case) or its integer value.

        Raises:
            ValueError: naming the bad value and the valid names.
        """
        if isinstance(value, Trust):
            return value
        if isinstance(value, str):
            try:
                return cls[value.strip().upper()]
            except KeyError:
                pass
        elif isinstance(value, int) and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                pass
        names = ", ".join(m.name for m in cls)
        msg = f"trust must be one of {names} (or 0-4), got {value!r}"
        raise ValueError(msg)


_DEFAULT_TRUST = {
    Layer.INSTRUCTIONS: Trust.SYSTEM,
    Layer.KNOWLEDGE: Trust.EXTERNAL,
    Layer.MEMORY: Trust.INTERNAL,
    Layer.TASK: Trust.INTERNAL,
}

_ROLE_BY_TYPE: dict[str, Role] = {
    "system": "system",
    "human": "user",
    "ai": "assistant",
    "tool": "tool",
    "developer": "system",
}

_DATETIME_FIELDS = ("created_at", "valid_from", "expires_at")


def default_trust(layer: Layer, role: str | None = None) -> Trust:
    """The trust an item gets when none is given: by layer, tool results are EXTERNAL."""
    if role == "tool":
        return Trust.EXTERNAL
    return _DEFAULT_TRUST[layer]


def stable_hash(*parts: str, length: int = 16) -> str:
    """A short, stable hex digest of ``parts`` (blake2b; the same in every process)."""
    h = hashlib.blake2b(digest_size=max(4, length // 2 + length % 2))
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()[:length]


def message_text(message: BaseMessage) -> str:
    """The text of a message's content: a string as is, content blocks joined by newlines.

    Non-text blocks (images, files) contribute a short placeholder such as ``[image]`` so they are
    visible to counting and scanning; the message itself is always rendered unchanged.
    """
    content = message.content
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict):
            text = block.get("text")
            if isinstance(text, str):
                parts.append(text)
            else:
                parts.append(f"[{block.get('type', 'block')}]")
    return "\n".join(parts)


def tool_calls_text(message: BaseMessage) -> str:
    """A canonical JSON text of an ``AIMessage``'s tool calls ("" when there are none)."""
    if not isinstance(message, AIMessage) or not message.tool_calls:
        return ""
    calls = [
        {"id": c.get("id"), "name": c["name"], "args": c.get("args", {})}
        for c in message.tool_calls
    ]
    return json.dumps(calls, sort_keys=True, ensure_ascii=False, default=str)


class ContextItem(BaseModel):
    """One candidate for the context window: content plus layer, trust and provenance.

    Items are immutable. ``id`` defaults to a stable digest of layer, source, role and content, so
    the same input always gives the same id. Datetimes must be timezone-aware.

    Example:
        ```python
        from datetime import datetime, timezone

        ContextItem(
            content="Pro plan: $49/month.",
            layer=Layer.KNOWLEDGE,
            source="pricing.md",
            fact_key="price:pro",
            valid_from=datetime(2026, 1, 1, tzinfo=timezone.utc),
        )
        ```
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, extra="forbid")

    id: str = Field(default="", min_length=1)
    """Stable identifier; derived from content and source when not given."""
    content: str = Field(strict=True)
    """The text that goes into the window (for messages: the text of the message)."""
    layer: Layer
    """Which of the four layers the item belongs to."""
    source: str = ""
    """Where the item came from (a document path, a tool name, ``"history"``...)."""
    trust: Trust = Trust.INTERNAL
    """How far the content can be trusted; defaults from the layer (tool results: EXTERNAL)."""
    priority: int = 0
    """Developer-assigned priority; each step up doubles the item's utility."""
    relevance: float | None = None
    """Relevance to the current query in [0, 1], or None to let the packer score it."""
    pinned: bool = False
    """A pinned item is always included (or packing fails with BudgetExceededError)."""
    truncatable: bool | None = None
    """Whether the packer may cut the item; None means the layer's default (knowledge, tools)."""
    created_at: datetime | None = None
    """When the content was created (timezone-aware); used for recency."""
    valid_from: datetime | None = None
    """When the fact became valid (timezone-aware); newer versions supersede older ones."""
    expires_at: datetime | None = None
    """When the fact stops being valid (timezone-aware); expired items are quarantined."""
    fact_key: str | None = None
    """What the fact is about; items sharing a key are versions of / claims about one fact."""
    role: Role | None = None
    """The chat role the item is rendered with when it is its own message."""
    message: BaseMessage | None = None
    """For history and current-turn items: the original message, rendered back as is."""
    group: str | None = None
    """Atomic packing group: all items of a group are included together or not at all."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Free-form metadata carried through to the report."""

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        layer = data.get("layer")
        if isinstance(layer, str) and not isinstance(layer, Layer):
            try:
                layer = Layer(layer.lower())
            except ValueError:
                names = ", ".join(m.value for m in Layer)
                msg = f"layer must be one of {names}, got {layer!r}"
                raise ValueError(msg) from None
            data["layer"] = layer
        trust = data.get("trust")
        if trust is None and isinstance(layer, Layer):
            data["trust"] = default_trust(layer, data.get("role"))
        elif trust is not None and not isinstance(trust, Trust):
            data["trust"] = Trust.parse(trust)
        if not data.get("id") and isinstance(data.get("content"), str) and isinstance(layer, Layer):
            data["id"] = stable_hash(
                layer.value,
                str(data.get("source") or ""),
                str(data.get("role") or ""),
                data["content"],
            )
        return data

    @field_validator("relevance")
    @classmethod
    def _check_relevance(cls, value: float | None) -> float | None:
        if value is None:
            return None
        if not math.isfinite(value) or not 0.0 <= value <= 1.0:
            msg = (
                f"relevance must be a finite number in [0, 1] or None, got {value!r}; "
                "normalise raw retriever scores (e.g. divide by the best score)"
            )
            raise ValueError(msg)
        return float(value)

    @field_validator(*_DATETIME_FIELDS)
    @classmethod
    def _check_aware(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        return check_aware(info.field_name or "datetime", value)

    @property
    def is_tool_result(self) -> bool:
        """True for a tool result (a ``ToolMessage`` or an item with role ``"tool"``)."""
        return self.role == "tool"

    @property
    def can_truncate(self) -> bool:
        """Whether the packer may cut this item (never instructions or pinned items)."""
        if self.pinned or self.layer is Layer.INSTRUCTIONS:
            return False
        if self.truncatable is not None:
            return self.truncatable
        return self.layer is Layer.KNOWLEDGE or self.is_tool_result

    @classmethod
    def from_document(
        cls, doc: Document, layer: Layer = Layer.KNOWLEDGE, **overrides: Any
    ) -> ContextItem:
        """Build an item from a LangChain ``Document``.

        ``doc.metadata`` keys ``trust``, ``priority``, ``fact_key``, ``valid_from``, ``expires_at``,
        ``source``, ``relevance``, ``pinned`` and ``created_at`` map onto the fields (ISO 8601
        strings are parsed); the document's ``id`` becomes the item id; the whole metadata is kept
        in ``metadata``. Keyword ``overrides`` win over both.

        Example:
            ```python
            doc = Document("Pro is $49.", metadata={"source": "pricing.md", "fact_key": "price"})
            ContextItem.from_document(doc).fact_key  # "price"
            ```
        """
        doc = ensure_instance(doc, Document, "from_document's doc")
        meta = dict(doc.metadata or {})
        data: dict[str, Any] = {"content": doc.page_content, "layer": layer, "metadata": meta}
        if doc.id:
            data["id"] = str(doc.id)
        for key in ("source", "fact_key"):
            if meta.get(key) is not None:
                data[key] = str(meta[key])
        for key in ("priority", "relevance", "pinned", "trust", *_DATETIME_FIELDS):
            if meta.get(key) is not None:
                data[key] = meta[key]
        data.update(overrides)
        return cls.model_validate(data)

    @classmethod
    def from_message(
        cls, message: BaseMessage, layer: Layer = Layer.MEMORY, **overrides: Any
    ) -> ContextItem:
        """Build an item from a LangChain message; the message is rendered back unchanged.

        The id is the message's id when it has one, else a stable hash of role, content and tool
        calls. ``ToolMessage``s get ``Trust.EXTERNAL``; an ``AIMessage`` with tool calls and the
        ``ToolMessage``s answering it are grouped automatically by the packer.

        Example:
            ```python
            ContextItem.from_message(HumanMessage("What does Pro cost?"), layer=Layer.TASK)
            ```
        """
        message = ensure_instance(message, BaseMessage, "from_message's message")
        role = _ROLE_BY_TYPE.get(message.type, "user")
        text = message_text(message)
        data: dict[str, Any] = {
            "content": text,
            "layer": layer,
            "role": role,
            "message": message,
            "source": "history" if layer is Layer.MEMORY else "conversation",
        }
        if isinstance(message, ToolMessage) and message.name:
            data["source"] = f"tool:{message.name}"
        data["id"] = message.id or stable_hash(role, text, tool_calls_text(message))
        data.update(overrides)
        return cls.model_validate(data)

    @classmethod
    def from_messages(
        cls, messages: Iterable[BaseMessage], layer: Layer = Layer.MEMORY, **overrides: Any
    ) -> list[ContextItem]:
        """Convert a list of messages; messages without an id get ids made unique by position."""
        items: list[ContextItem] = []
        seen: dict[str, int] = {}
        for position, message in enumerate(messages):
            item = cls.from_message(message, layer=layer, **overrides)
            if message.id is None and "id" not in overrides:
                count = seen.get(item.id, 0)
                seen[item.id] = count + 1
                if count:
                    item = item.model_copy(update={"id": f"{item.id}#{position}"})
            items.append(item)
        return items

    def to_message(self) -> BaseMessage:
        """The message this item renders as: its original message, or one built from its role."""
        if self.message is not None:
            return self.message
        role = self.role or ("system" if self.layer is Layer.INSTRUCTIONS else "user")
        if role == "system":
            return SystemMessage(self.content, id=self.id)
        if role == "assistant":
            return AIMessage(self.content, id=self.id)
        if role == "tool":
            call_id = str(self.metadata.get("tool_call_id", self.group or self.id))
            return ToolMessage(self.content, tool_call_id=call_id, id=self.id)
        return HumanMessage(self.content, id=self.id)


def items_by_id(items: Iterable[ContextItem]) -> Mapping[str, ContextItem]:
    """Index items by id; a repeated id is a ``ValueError`` naming it."""
    out: dict[str, ContextItem] = {}
    for item in items:
        if item.id in out:
            msg = (
                f"two candidates share the id {item.id!r}; ids must be unique within one call "
                "(give one of them another id, or use ContextItem.from_messages for message lists)"
            )
            raise ValueError(msg)
        out[item.id] = item
    return out
