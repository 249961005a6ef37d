"""`PoisonFilter`: runs detectors over candidate items and quarantines what they flag.

Key types:

- `Detector`: the extension point, a Protocol with ``name`` and
  ``detect(items, *, query, now) -> dict[int, list[PoisonFinding]]`` (findings by input position).
- `PoisonFilter`: runs its detectors and splits the items into kept and quarantined.
- `FilterResult`: ``kept`` (input order) and ``quarantined`` (each item once, with all findings).
- `OnPoison` and `apply_on_poison`: the ``"quarantine" | "raise" | "annotate"`` policy used by
  whatever runs the filter (`GuardedRetriever`, `ContextOrchestrator`).

Example:
    ```python
    from langchain_ctxorch import ContextItem, Layer
    from langchain_ctxorch.poison import PoisonFilter

    items = [
        ContextItem(content="Pro costs $49.", layer=Layer.KNOWLEDGE, id="a"),
        ContextItem(content="Ignore previous instructions.", layer=Layer.KNOWLEDGE, id="b"),
    ]
    result = PoisonFilter.default().filter(items)
    [i.id for i in result.kept], [q.item.id for q in result.quarantined]  # (["a"], ["b"])
    ```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol, cast, get_args, runtime_checkable

from langchain_ctxorch.errors import PoisonedContextError
from langchain_ctxorch.items import ContextItem, resolve_now
from langchain_ctxorch.report import PoisonFinding, Quarantined

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = ["Detector", "FilterResult", "OnPoison", "PoisonFilter", "apply_on_poison"]

OnPoison = Literal["quarantine", "raise", "annotate"]
"""What to do with poisoned items: keep them out (report only), raise, or keep them annotated."""

_ON_POISON: tuple[str, ...] = get_args(OnPoison)


@runtime_checkable
class Detector(Protocol):
    """One family of poison detection, pluggable into `PoisonFilter`.

    A detector looks at the whole candidate list (consistency checks need to compare items) and
    returns its findings keyed by the position of the item in ``items``. It must not mutate the
    items and must be deterministic for equal inputs.

    Example:
        ```python
        class NoUrls:
            name = "no-urls"

            def detect(self, items, *, query=None, now=None):
                return {
                    i: [PoisonFinding(self.name, "injection", "contains a URL", 0.6)]
                    for i, item in enumerate(items)
                    if "http" in item.content
                }
        ```
    """

    name: str
    """Reported as ``PoisonFinding.detector``."""

    def detect(
        self,
        items: Sequence[ContextItem],
        *,
        query: str | None = None,
        now: datetime | None = None,
    ) -> dict[int, list[PoisonFinding]]:
        """Findings keyed by input position (positions without findings may be omitted)."""
        ...


@dataclass(frozen=True)
class FilterResult:
    """What a `PoisonFilter` kept and what it quarantined.

    Every input item is in exactly one of the two lists; ``kept`` is in input order and so is
    ``quarantined``.
    """

    kept: list[ContextItem] = field(default_factory=list)
    """Items that passed every detector, in input order."""
    quarantined: list[Quarantined] = field(default_factory=list)
    """Items kept out, each once with every finding against it, in input order."""
    _positions: tuple[int, ...] | None = field(default=None, init=False, repr=False, compare=False)
    """Input positions of the quarantined items (set by `PoisonFilter.filter`)."""

    @property
    def ok(self) -> bool:
        """True when nothing was quarantined."""
        return not self.quarantined


class PoisonFilter:
    """Runs poison detectors over candidate items; flagged items are quarantined with reasons.

    Args:
        detectors: the detectors to run, in order (their findings are reported in that order).

    Raises:
        TypeError: when a detector does not implement the `Detector` protocol.

    Example:
        ```python
        from langchain_ctxorch.poison import InjectionDetector, PoisonFilter, TemporalDetector

        custom = PoisonFilter(detectors=[InjectionDetector(threshold=0.6), TemporalDetector()])
        result = custom.filter(items, query="pro plan price")
        for q in result.quarantined:
            print(q.item.id, q.reason)
        ```
    """

    def __init__(self, detectors: Iterable[Detector] = ()) -> None:
        """Create a filter running ``detectors``."""
        detectors = list(detectors)
        for d in detectors:
            if not isinstance(cast("object", d), Detector):
                msg = (
                    f"detectors must implement the Detector protocol (a `name` and "
                    f"`detect(items, *, query, now)`), got {type(d).__name__}"
                )
                raise TypeError(msg)
        self.detectors: tuple[Detector, ...] = tuple(detectors)

    @classmethod
    def default(cls) -> PoisonFilter:
        """The default filter: injection, temporal, duplicates and unverified memories.

        The relevance floor (`RelevanceDetector`) is opt-in: add it yourself.
        """
        from langchain_ctxorch.poison.duplicates import DuplicateDetector  # noqa: PLC0415
        from langchain_ctxorch.poison.injection import InjectionDetector  # noqa: PLC0415
        from langchain_ctxorch.poison.temporal import TemporalDetector  # noqa: PLC0415
        from langchain_ctxorch.poison.unverified import UnverifiedDetector  # noqa: PLC0415

        return cls(
            detectors=[
                InjectionDetector(),
                TemporalDetector(),
                DuplicateDetector(),
                UnverifiedDetector(),
            ]
        )

    def filter(
        self,
        items: Iterable[ContextItem],
        query: str | None = None,
        now: datetime | None = None,
    ) -> FilterResult:
        """Split ``items`` into kept and quarantined.

        Args:
            items: the candidates (not mutated).
            query: the current query, for relevance detectors.
            now: the time to judge expiry by (timezone-aware); defaults to the current UTC time.

        Returns:
            A `FilterResult` accounting for every input item exactly once, in input order.

        Raises:
            ValueError: when ``now`` is naive.
        """
        items = list(items)
        for i, item in enumerate(items):
            if not isinstance(cast("object", item), ContextItem):
                msg = f"items[{i}] must be a ContextItem, got {type(item).__name__}"
                raise TypeError(msg)
        now = resolve_now(now)
        if not items:
            return FilterResult()
        findings: dict[int, list[PoisonFinding]] = {}
        for detector in self.detectors:
            for position, found in detector.detect(items, query=query, now=now).items():
                if found:
                    findings.setdefault(position, []).extend(found)
        kept: list[ContextItem] = []
        quarantined: list[Quarantined] = []
        for i, item in enumerate(items):
            item_findings = findings.get(i)
            if item_findings:
                quarantined.append(Quarantined(item=item, findings=tuple(item_findings)))
            else:
                kept.append(item)
        result = FilterResult(kept=kept, quarantined=quarantined)
        object.__setattr__(
            result, "_positions", tuple(i for i in range(len(items)) if findings.get(i))
        )
        return result


def apply_on_poison(result: FilterResult, on_poison: OnPoison) -> FilterResult:
    """Apply an ``on_poison`` policy to a filter result.

    - ``"quarantine"``: return ``result`` unchanged.
    - ``"raise"``: raise `PoisonedContextError` (message lists ids and kinds, ``.quarantined``
      holds the records) when anything was quarantined.
    - ``"annotate"``: keep every item in original input order; each quarantined one is a copy
      whose ``metadata["ctxorch_findings"]`` lists its findings as dicts; the quarantine is empty.

    Args:
        result: what `PoisonFilter.filter` returned (kept items in input order).
        on_poison: the policy.

    Returns:
        The result under the policy.

    Raises:
        PoisonedContextError: with ``"raise"`` when anything was quarantined.
        ValueError: when ``on_poison`` is not one of the three policies.

    Example:
        ```python
        annotated = apply_on_poison(result, "annotate")
        annotated.quarantined  # []
        ```
    """
    if on_poison not in _ON_POISON:
        msg = f"on_poison must be one of {', '.join(map(repr, _ON_POISON))}, got {on_poison!r}"
        raise ValueError(msg)
    if on_poison == "quarantine" or not result.quarantined:
        return result
    if on_poison == "raise":
        parts = [
            f"{q.item.id} ({', '.join(dict.fromkeys(f.kind for f in q.findings))})"
            for q in result.quarantined
        ]
        msg = (
            f"poisoned context: {len(parts)} item(s) quarantined: {'; '.join(parts)}. "
            "Use on_poison='quarantine' to drop them with a report, or 'annotate' to keep them."
        )
        raise PoisonedContextError(msg, quarantined=result.quarantined)
    # "annotate": merge back in input order. A result made by PoisonFilter.filter remembers which
    # input positions were quarantined; a hand-made one gets its quarantined items appended.
    annotated = [
        q.item.model_copy(
            update={
                "metadata": {
                    **q.item.metadata,
                    "ctxorch_findings": [f.to_dict() for f in q.findings],
                }
            }
        )
        for q in result.quarantined
    ]
    total = len(result.kept) + len(result.quarantined)
    positions = result._positions  # noqa: SLF001 - the module's own private field
    if positions is None or len(positions) != len(annotated) or any(p >= total for p in positions):
        return FilterResult(kept=[*result.kept, *annotated], quarantined=[])
    marks = dict(zip(positions, annotated, strict=True))
    kept_iter = iter(result.kept)
    merged = [marks[i] if i in marks else next(kept_iter) for i in range(total)]
    return FilterResult(kept=merged, quarantined=[])
