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

Two tools beyond intervals: :func:`seeds_needed`, a power calculation (how many seeds would decide an
inconclusive claim at the observed spread), and :func:`variance_decomposition`, the crossed two-way
decomposition of the sweep (robqunn.sweep: how much of the variance the circuit angles explain).
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


def wilson(correct: float, n: int, level: float = LEVEL) -> Interval:
    """Wilson score interval of a proportion ``correct / n``; ``correct`` may be a sum of per-digit fractions (a
    model that samples: each digit's fraction of correct draws), whose variance is at most the binomial's."""
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
        return wilson(float(n_correct[0]), int(n_evaluated[0]))
    interval = t_interval(n_correct / n_evaluated)
    # An accuracy lies in [0, 1]; the t-interval of a few values near 0 or 1 can reach past it.
    return dataclasses.replace(interval, low=max(0.0, interval.low), high=min(1.0, interval.high))


def difference_interval(a: pd.DataFrame, b: pd.DataFrame) -> Interval:
    """Interval of accuracy(a) - accuracy(b), each a frame of per-seed rows (seed, n_correct, n_evaluated)."""
    paired = _Paired.of(a, b)
    if paired.n_seeds >= 2:
        return t_interval(paired.differences)
    difference, half = paired.differences[0], stats.norm.ppf(0.5 + LEVEL / 2) * paired.binomial_sd()
    return Interval(difference, difference - half, difference + half, f"normal over {paired.n_digits} digits, 1 seed")


@dataclass(frozen=True)
class _Paired:
    """Two accuracies paired by seed: the per-seed differences, and for one seed the binomial sd over digits."""

    p_a: np.ndarray
    p_b: np.ndarray
    n_a: np.ndarray
    n_b: np.ndarray

    @classmethod
    def of(cls, a: pd.DataFrame, b: pd.DataFrame) -> _Paired:
        paired = a.merge(b, on="seed", suffixes=("_a", "_b"))
        if paired.empty:
            raise ValueError("a difference needs the two accuracies on the same seeds; they share none")
        n_a, n_b = paired["n_evaluated_a"].to_numpy(), paired["n_evaluated_b"].to_numpy()
        return cls(paired["n_correct_a"].to_numpy() / n_a, paired["n_correct_b"].to_numpy() / n_b, n_a, n_b)

    @property
    def n_seeds(self) -> int:
        return len(self.p_a)

    @property
    def n_digits(self) -> int:
        return int(self.n_a[0])

    @property
    def differences(self) -> np.ndarray:
        return self.p_a - self.p_b

    def binomial_sd(self) -> float:
        """The sd of the first seed's difference over its digits (the two proportions taken as independent)."""
        pa, pb = float(self.p_a[0]), float(self.p_b[0])
        return math.sqrt(pa * (1 - pa) / int(self.n_a[0]) + pb * (1 - pb) / int(self.n_b[0]))


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


#: The columns of :func:`headline`: per model, three accuracies at one eps, each with its 95% interval.
HEADLINE_NUMBERS = ("clean", "exact", "attacks")


def headline(summary_ci: pd.DataFrame, eps: float) -> pd.DataFrame:
    """The answer per model, white-box, from the study's intervals (:func:`summarize`): clean accuracy, exact
    robust accuracy at ``eps`` (the ground truth) and the attacks' per-digit worst case there (what the best
    attack of the study claims), each with its 95% interval over seeds, and the attacks' overstatement
    (attacks - exact, an absolute difference). The accuracies are rounded to 3 decimals: the digits a reader
    compares. A model that samples (finite shots) has no exact robust accuracy of its own (its "exact" rows
    replay the expectation's worst cases through the shots, an attack): NaN there."""
    from robqunn.vocabulary import EXACT, WORST_CASE, ModelSpec

    white = summary_ci[(summary_ci["kind"] == "white-box") & (summary_ci["source"] == summary_ci["target"])]
    points = {"clean": (EXACT, 0.0), "exact": (EXACT, eps), "attacks": (WORST_CASE, eps)}
    rows = []
    for model, curves in white.groupby("target", sort=False):
        row = {"model": model, "eps": eps, "n_seeds": int(curves["n_seeds"].max())}
        samples = ModelSpec.from_name(model).shots is not None
        for name, (attack, at) in points.items():
            if name == "exact" and samples:
                row |= {name: np.nan, f"{name}_low": np.nan, f"{name}_high": np.nan}
                continue
            point = curves[(curves["attack"] == attack) & np.isclose(curves["eps"], at)]
            if len(point) != 1:
                raise ValueError(
                    f"the study's intervals must hold {attack} at eps {at:g} for {model}; found {len(point)}"
                )
            row |= {name: point["accuracy"].iat[0], f"{name}_low": point["ci_low"].iat[0]}
            row |= {f"{name}_high": point["ci_high"].iat[0]}
        rows.append(row | {"overstatement": row["attacks"] - row["exact"]})
    frame = pd.DataFrame(rows)
    numbers = [column for column in frame.columns if column not in ("model", "eps", "n_seeds")]
    frame[numbers] = frame[numbers].round(3)
    return frame


@dataclass(frozen=True)
class SeedSpread:
    """The standard deviation of a per-seed quantity, and what it rests on (``basis``)."""

    sd: float
    basis: str


def difference_spread(a: pd.DataFrame, b: pd.DataFrame) -> SeedSpread:
    """The per-seed standard deviation of accuracy(a) - accuracy(b) (frames as in :func:`difference_interval`).

    With two or more seeds, the sample sd of the paired per-seed differences. With one seed the spread across
    seeds is unobserved and the binomial sd of the difference over the digits stands in: it leaves out training
    variation, so a power calculation on it gives a lower bound.
    """
    paired = _Paired.of(a, b)
    if paired.n_seeds >= 2:
        return SeedSpread(float(np.std(paired.differences, ddof=1)), f"t over {paired.n_seeds} seeds")
    return SeedSpread(
        paired.binomial_sd(), f"lower bound: 1 seed, the spread of {paired.n_digits} digits for that of seeds"
    )


def seeds_needed(
    mean: float, sd: float, threshold: float = 0.0, power: float = 0.8, level: float = LEVEL, max_seeds: int = 10_000
) -> int | None:
    """The seeds a study needs to decide whether a per-seed quantity lies above or below ``threshold``.

    Why: an inconclusive claim should say how far it is from decidable. Taking the observed ``mean`` and
    per-seed ``sd`` as the truth, this is the smallest n >= 2 for which a two-sided one-sample t-test of
    mu = threshold at ``level`` rejects with probability >= ``power`` (the t-interval over n seeds then
    excludes the threshold): with d = |mean - threshold| / sd, power(n) = P(T > t*) + P(T < -t*) for T
    noncentral t with n - 1 degrees of freedom and noncentrality d sqrt(n), t* the t quantile.

    Returns:
        n, or None when no n <= ``max_seeds`` decides it (mean equal to the threshold, or too small an effect).
    """
    if not all(math.isfinite(v) for v in (mean, sd, threshold)):
        raise ValueError(f"seeds_needed needs finite mean, sd and threshold; got {mean}, {sd}, {threshold}")
    if sd < 0:
        raise ValueError(f"a standard deviation must be >= 0; got {sd}")
    if not (0 < power < 1 and 0 < level < 1):
        raise ValueError(f"power and level must lie in (0, 1); got {power} and {level}")
    if max_seeds < 2:
        raise ValueError(f"max_seeds must be >= 2 (a t-test needs two seeds); got {max_seeds}")
    if mean == threshold:
        return None
    if sd == 0:
        return 2
    effect = abs(mean - threshold) / sd

    def enough(n: int) -> bool:
        critical = stats.t.ppf(0.5 + level / 2, n - 1)
        shift = effect * math.sqrt(n)
        return stats.nct.sf(critical, n - 1, shift) + stats.nct.cdf(-critical, n - 1, shift) >= power

    high = 2
    while not enough(high):
        if high >= max_seeds:
            return None
        high = min(2 * high, max_seeds)
    low = high // 2 if high > 2 else 1  # enough(low) is False (or low < 2)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle, high)
    return high


def variance_decomposition(
    frame: pd.DataFrame,
    value: str,
    row: str,
    column: str,
    noise_variance: float = 0.0,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Variance components of ``value`` in a crossed two-way design without replication (one observation per
    (``row``, ``column``) cell, e.g. draws of the circuit angles x circuits), with bootstrap intervals.

    Why this design: the angles of a draw are shared by every circuit, so draws and circuits are crossed.
    Sums of squares split into the row effect, the column effect and the residual (row x column interaction
    plus measurement noise); method-of-moments components: row (MS_row - MS_res) / n_columns, column
    (MS_col - MS_res) / n_rows, and the residual's MS_res split into the known ``noise_variance`` (e.g. the
    digits' binomial p(1-p)/n) and the interaction. Each share is a component over the sum of the
    components clipped at 0. Intervals: 95% percentile bootstrap resampling the rows (the random factor;
    the columns are fixed), ``n_boot`` times with a generator seeded by ``seed``.

    Returns:
        One row per source (``row``, ``column``, "<row> x <column>", "measurement noise") with df,
        sum_squares, share, share_low, share_high, variance, sd. The interaction's df and sum_squares are the
        whole residual's (noise included: without replication the two cannot be separated by sums of squares);
        its variance may be negative when the noise alone exceeds the residual. All shares are NaN when every
        component is <= 0 (a constant table).
    """
    if not (math.isfinite(noise_variance) and noise_variance >= 0):
        raise ValueError(f"noise_variance must be finite and >= 0; got {noise_variance}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1; got {n_boot}")
    table = _crossed_table(frame, value, row, column)
    point = _components(table, noise_variance)
    generator = np.random.default_rng(seed)
    draws = [_components(table[generator.integers(0, len(table), len(table))], noise_variance) for _ in range(n_boot)]
    shares = np.array([d["share"] for d in draws])
    low, high = np.percentile(shares, [100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2], axis=0)
    sources = [row, column, f"{row} x {column}", "measurement noise"]
    return pd.DataFrame(
        {"source": sources, "df": point["df"], "sum_squares": point["sum_squares"], "share": point["share"]}
        | {"share_low": low, "share_high": high, "variance": point["variance"]}
        | {"sd": np.sqrt(np.clip(point["variance"], 0, None))}
    )


def _crossed_table(frame: pd.DataFrame, value: str, row: str, column: str) -> np.ndarray:
    counts = frame.groupby([row, column]).size()
    rows, columns = frame[row].unique(), frame[column].unique()
    missing = [(r, c) for r in rows for c in columns if (r, c) not in counts.index]
    repeated = counts[counts > 1].index.tolist()
    if missing or repeated:
        raise ValueError(
            f"a crossed design needs every ({row}, {column}) cell exactly once; "
            f"missing {missing[:5]}, repeated {repeated[:5]}"
        )
    if len(rows) < 2 or len(columns) < 2:
        raise ValueError(
            f"a two-way decomposition needs >= 2 {row}s and >= 2 {column}s; got {len(rows)} and {len(columns)}"
        )
    blank = frame.loc[frame[value].isna(), [row, column]]
    if not blank.empty:
        raise ValueError(f"{value} is missing (NaN) in the ({row}, {column}) cells {blank.to_numpy().tolist()[:5]}")
    return frame.pivot(index=row, columns=column, values=value).to_numpy(dtype=float)


def _components(table: np.ndarray, noise_variance: float) -> dict:
    n_rows, n_columns = table.shape
    grand = table.mean()
    ss_row = n_columns * np.sum((table.mean(axis=1) - grand) ** 2)
    ss_column = n_rows * np.sum((table.mean(axis=0) - grand) ** 2)
    ss_residual = np.sum((table - grand) ** 2) - ss_row - ss_column
    df = np.array([n_rows - 1, n_columns - 1, (n_rows - 1) * (n_columns - 1), np.nan])
    ms_row, ms_column, ms_residual = ss_row / df[0], ss_column / df[1], ss_residual / df[2]
    variance = np.array(
        [
            (ms_row - ms_residual) / n_columns,
            (ms_column - ms_residual) / n_rows,
            ms_residual - noise_variance,
            noise_variance,
        ]
    )
    clipped = np.clip(variance, 0, None)
    share = clipped / clipped.sum() if clipped.sum() > 0 else np.full(4, np.nan)
    return {
        "df": df,
        "sum_squares": np.array([ss_row, ss_column, ss_residual, np.nan]),
        "variance": variance,
        "share": share,
    }
