"""Confidence intervals for accuracies and their differences, across seeds or test digits.

Which interval, and why:

- two or more seeds: a Student t-interval over the per-seed accuracies. The seed redraws the
  split, the circuit's rotation angles, the CNN filters, the head's initialisation, the training
  order and the attacks' random starts, so the spread across seeds is the variation a reader who
  re-runs the study would see.
- one seed: a Wilson score interval over the test digits (binomial: each digit is correct or not).
  It covers only the sampling of test digits, not training variation, and says so in its
  ``ci_method``.

Differences (a claim that one model beats another) use the same split: a t-interval over the
per-seed differences (paired by seed), or, with one seed, the normal approximation for two
proportions, which ignores that both models saw the same digits and is therefore conservative.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

LEVEL = 0.95
POINT_KEYS = ["source", "target", "kind", "attack", "eps"]


@dataclass(frozen=True)
class Interval:
    """A mean with its two-sided confidence interval at LEVEL."""

    mean: float
    low: float
    high: float
    method: str

    def above(self, other: Interval) -> bool:
        """Clearly larger: this interval lies entirely above ``other``."""
        return self.low > other.high

    def overlaps(self, other: Interval) -> bool:
        return not (self.above(other) or other.above(self))


def wilson(correct: int, n: int, level: float = LEVEL) -> Interval:
    """Wilson score interval of a proportion ``correct / n``."""
    if n <= 0:
        raise ValueError(f"a proportion needs n >= 1 trials; got n = {n}")
    z = stats.norm.ppf(0.5 + level / 2)
    p = correct / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    low = 0.0 if correct == 0 else max(0.0, centre - half)  # exact at the ends, not round-off away from them
    high = 1.0 if correct == n else min(1.0, centre + half)
    return Interval(p, low, high, f"wilson over {n} digits")


def t_interval(values: np.ndarray, level: float = LEVEL) -> Interval:
    """Student t-interval of the mean of ``values`` (two or more)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        raise ValueError(f"a t-interval needs two or more values; got {len(values)}")
    mean = float(values.mean())
    half = float(stats.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))
    return Interval(mean, mean - half, mean + half, f"t over {len(values)} seeds")


def accuracy_interval(n_correct: np.ndarray, n_evaluated: np.ndarray) -> Interval:
    """The interval of one point (model, attack, eps...) from its per-seed counts (module docstring)."""
    n_correct, n_evaluated = np.asarray(n_correct), np.asarray(n_evaluated)
    if len(n_correct) == 1:
        return wilson(int(n_correct[0]), int(n_evaluated[0]))
    interval = t_interval(n_correct / n_evaluated)
    # An accuracy lies in [0, 1]; the t-interval of a few values near 0 or 1 can reach past it.
    return dataclasses.replace(interval, low=max(0.0, interval.low), high=min(1.0, interval.high))


def difference_interval(a: pd.DataFrame, b: pd.DataFrame) -> Interval:
    """Interval of accuracy(a) - accuracy(b), each a frame of per-seed rows (seed, n_correct, n_evaluated)."""
    paired = a.merge(b, on="seed", suffixes=("_a", "_b"))
    if paired.empty:
        raise ValueError("a difference needs the two accuracies on the same seeds; they share none")
    p_a = paired["n_correct_a"] / paired["n_evaluated_a"]
    p_b = paired["n_correct_b"] / paired["n_evaluated_b"]
    if len(paired) >= 2:
        return t_interval((p_a - p_b).to_numpy())
    pa, pb = float(p_a.iloc[0]), float(p_b.iloc[0])
    na, nb = int(paired["n_evaluated_a"].iloc[0]), int(paired["n_evaluated_b"].iloc[0])
    z = stats.norm.ppf(0.5 + LEVEL / 2)
    half = z * math.sqrt(pa * (1 - pa) / na + pb * (1 - pb) / nb)
    return Interval(pa - pb, pa - pb - half, pa - pb + half, f"normal over {na} digits, 1 seed")


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """One row per point of the results table: mean accuracy over seeds and its interval."""
    rows = []
    for key, group in table.groupby(POINT_KEYS, sort=True):
        interval = accuracy_interval(group["n_correct"].to_numpy(), group["n_evaluated"].to_numpy())
        rows.append(
            dict(zip(POINT_KEYS, key, strict=True))
            | {
                "n_seeds": group["seed"].nunique(),
                "accuracy": interval.mean,
                "ci_low": interval.low,
                "ci_high": interval.high,
                "ci_method": interval.method,
            }
        )
    return pd.DataFrame(rows)
