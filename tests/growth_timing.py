"""Growth-timing helpers shared by the unit and hardening suites.

Growth checks compare the time of the same operation on an input and on one ``factor`` times
larger: linear code grows ~``factor``x, quadratic code ~``factor**2``x. Only the ratio is
asserted, never an absolute time, so the checks hold on slow and busy machines; each side is the
best of a few runs with the garbage collector paused, and a failing ratio is measured up to
``attempts`` times before it counts (a busy CI box can make one measurement ~2x off; a quadratic
algorithm is ~5x over the limit every time).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

GROWTH_FACTOR = 10
GROWTH_LIMIT = 20.0
"""10x the input must take well under 20x the time (a quadratic algorithm takes ~100x)."""
MIN_EVIDENCE_SECONDS = 0.001
"""A large run faster than this is no evidence of superlinear growth: at microseconds the ratio
is timer and call overhead (one CI-like run saw 0.002 ms -> 0.1 ms, "46x", on a linear search),
while a quadratic algorithm on the sizes checked here takes far longer than a millisecond."""


def best_time(fn: Callable[[], Any], repeat: int = 3, *, collect: bool = True) -> float:
    """The best wall time of ``repeat`` calls of ``fn`` (seconds), with gc paused.

    ``collect=False`` skips the full collection before timing (it costs milliseconds on a big
    heap, too much when timing hundreds of sub-millisecond calls).
    """
    best = float("inf")
    enabled = gc.isenabled()
    if collect:
        gc.collect()
    gc.disable()
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
    finally:
        if enabled:
            gc.enable()
    return best


def growth(
    make: Callable[[int], Any],
    run: Callable[[Any], Any],
    n: int,
    *,
    factor: int = GROWTH_FACTOR,
    repeat: int = 3,
) -> tuple[float, float, float]:
    """``(ratio, t_small, t_large)`` of ``run(make(n * factor))`` against ``run(make(n))``.

    Small and large runs alternate, so a change in machine load hits both sides alike.
    """
    small, large = make(n), make(n * factor)
    run(small)  # warm caches that are not part of the cost (imports, compiled patterns)
    t_small = t_large = float("inf")
    for i in range(repeat):
        t_small = min(t_small, best_time(lambda: run(small), 1, collect=i == 0))
        if i == 0 or t_small * factor < 1.0:  # one slow large run is enough evidence
            t_large = min(t_large, best_time(lambda: run(large), 1, collect=False))
    return t_large / max(t_small, 1e-9), t_small, t_large


def assert_linear(
    make: Callable[[int], Any],
    run: Callable[[Any], Any],
    n: int,
    *,
    what: str,
    factor: int = GROWTH_FACTOR,
    limit: float = GROWTH_LIMIT,
    repeat: int = 3,
    attempts: int = 3,
) -> None:
    """Fail when ``factor``x the input takes ``limit``x the time or more in every attempt.

    A large run under `MIN_EVIDENCE_SECONDS` passes: its ratio measures overhead, not growth.
    """
    ratio, t_small, t_large = growth(make, run, n, factor=factor, repeat=repeat)
    for _ in range(attempts - 1):
        if ratio < limit or t_large < MIN_EVIDENCE_SECONDS:
            break
        # measure again before blaming the code for machine noise
        ratio, t_small, t_large = min(
            (ratio, t_small, t_large), growth(make, run, n, factor=factor, repeat=repeat)
        )
    assert ratio < limit or t_large < MIN_EVIDENCE_SECONDS, (
        f"{what}: {factor}x the input ({n} -> {n * factor}) took {ratio:.1f}x the time "
        f"({t_small * 1e3:.2f} ms -> {t_large * 1e3:.1f} ms); expected well under {limit:.0f}x"
    )
