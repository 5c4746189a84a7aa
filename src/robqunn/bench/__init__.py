"""Benchmarks, one module per `robqunn bench` target: quanv, attack, exact, loops, startup, workflow.

Each takes its ratios from measurements of its own run, never from stored numbers. This module holds what
the quanvolution and attack benchmarks share: a path's :class:`Timing` and :func:`best_seconds`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Seconds per image of one path, forward and forward + input gradient (None: not measured)."""

    path: str
    n_images: int
    forward: float
    forward_gradient: float | None


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time of ``repeats`` calls (after one warm-up call, which traces/compiles)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
