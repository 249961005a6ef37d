"""Poison filtering: keep injected instructions, stale facts and unverified memories out.

Key types:

- `PoisonFilter`, `FilterResult`, the `Detector` protocol, `OnPoison` and `apply_on_poison`.
- Detectors: `InjectionDetector` (with `InjectionScan`), `TemporalDetector` (expired,
  superseded, contradicted), `DuplicateDetector`, `RelevanceDetector` (opt-in) and
  `UnverifiedDetector`.

Example:
    ```python
    from langchain_ctxorch.poison import PoisonFilter

    result = PoisonFilter.default().filter(items, query="pro plan price")
    result.kept  # what may go into the window
    result.quarantined  # [Quarantined(item, findings=(PoisonFinding(...), ...)), ...]
    ```
"""

from langchain_ctxorch.poison.duplicates import DuplicateDetector
from langchain_ctxorch.poison.filter import (
    Detector,
    FilterResult,
    OnPoison,
    PoisonFilter,
    apply_on_poison,
)
from langchain_ctxorch.poison.injection import InjectionDetector, InjectionScan
from langchain_ctxorch.poison.relevance import RelevanceDetector
from langchain_ctxorch.poison.temporal import TemporalDetector
from langchain_ctxorch.poison.unverified import UnverifiedDetector

__all__ = [
    "Detector",
    "DuplicateDetector",
    "FilterResult",
    "InjectionDetector",
    "InjectionScan",
    "OnPoison",
    "PoisonFilter",
    "RelevanceDetector",
    "TemporalDetector",
    "UnverifiedDetector",
    "apply_on_poison",
]
