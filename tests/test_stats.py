"""Confidence intervals: known values, and the choice of interval by the number of seeds."""

from __future__ import annotations

import pandas as pd
import pytest
from scipy import stats as scipy_stats

from robqunn import stats


@pytest.mark.parametrize(
    "correct, n, low, high",
    [(0, 10, 0.0, 0.27753), (5, 10, 0.23659, 0.76341), (10, 10, 0.72247, 1.0), (930, 1000, 0.91249, 0.94422)],
)
def test_wilson_known_values(correct, n, low, high):
    """Wilson 95% intervals from the textbook formula (Newcombe 1998), to 1e-5."""
    interval = stats.wilson(correct, n)
    assert (interval.low, interval.high) == pytest.approx((low, high), abs=1e-5)
    assert interval.mean == correct / n and "wilson" in interval.method


@pytest.mark.parametrize("correct, n", [(0, 100), (100, 100), (0, 1000), (1000, 1000)])
def test_wilson_contains_the_estimate_at_the_ends(correct, n):
    """0/n and n/n: the interval starts (ends) exactly at the estimate, not round-off beside it."""
    interval = stats.wilson(correct, n)
    assert interval.low <= interval.mean <= interval.high


def test_t_interval_matches_scipy():
    values = [0.91, 0.88, 0.90, 0.93, 0.87]
    expected = scipy_stats.t.interval(0.95, 4, loc=sum(values) / 5, scale=scipy_stats.sem(values))
    interval = stats.t_interval(values)
    assert (interval.low, interval.high) == pytest.approx(expected, abs=1e-12)
    assert interval.method == "t over 5 seeds"


def test_t_interval_needs_two_values():
    with pytest.raises(ValueError, match="two or more"):
        stats.t_interval([0.9])


def per_seed(accuracies, n=1000):
    return pd.DataFrame(
        {"seed": range(len(accuracies)), "n_correct": [round(a * n) for a in accuracies], "n_evaluated": n}
    )


class TestDifference:
    def test_one_seed_uses_two_proportions(self):
        """0.9 - 0.8 on 1,000 digits each: 0.1 +- 1.96 sqrt(0.09/1000 + 0.16/1000)."""
        interval = stats.difference_interval(per_seed([0.9]), per_seed([0.8]))
        half = 1.959964 * (0.09 / 1000 + 0.16 / 1000) ** 0.5
        assert (interval.low, interval.high) == pytest.approx((0.1 - half, 0.1 + half), abs=1e-6)

    def test_seeds_are_paired(self):
        """A constant per-seed difference has a zero-width interval, however much each accuracy varies."""
        interval = stats.difference_interval(per_seed([0.9, 0.7, 0.8]), per_seed([0.85, 0.65, 0.75]))
        assert interval.low == pytest.approx(0.05) and interval.high == pytest.approx(0.05)

    def test_needs_common_seeds(self):
        b = per_seed([0.8]).assign(seed=7)
        with pytest.raises(ValueError, match="same seeds"):
            stats.difference_interval(per_seed([0.9]), b)


def test_intervals_compare():
    low, high = stats.Interval(0.5, 0.4, 0.6, "x"), stats.Interval(0.8, 0.7, 0.9, "x")
    assert high.above(low) and not low.above(high) and not low.overlaps(high)
    assert stats.Interval(0.65, 0.55, 0.75, "x").overlaps(low)


def test_accuracy_interval_stays_in_zero_one():
    """Seeds at 0, 0, 0.01: the t-interval reaches below 0; the accuracy's interval stops at 0."""
    interval = stats.accuracy_interval([0, 0, 10], [1000, 1000, 1000])
    assert stats.t_interval([0, 0, 0.01]).low < 0
    assert interval.low == 0.0 and interval.high == pytest.approx(stats.t_interval([0, 0, 0.01]).high)


def test_summarize_one_row_per_point_with_its_method():
    """One seed: Wilson over digits; three seeds: t over seeds."""
    rows = []
    for seed, acc in zip([1, 2, 3], [0.5, 0.6, 0.7], strict=True):
        rows.append(
            {"seed": seed, "source": "cnn", "target": "cnn", "kind": "white-box", "attack": "pgd", "eps": 0.1}
            | {"n_correct": int(acc * 100), "n_evaluated": 100, "accuracy": acc}
        )
    table = pd.DataFrame(rows)
    three = stats.summarize(table)
    assert len(three) == 1 and three["ci_method"][0] == "t over 3 seeds"
    assert three["accuracy"][0] == pytest.approx(0.6) and three["n_seeds"][0] == 3
    one = stats.summarize(table[table["seed"] == 1])
    assert one["ci_method"][0] == "wilson over 100 digits" and one["ci_low"][0] < 0.5 < one["ci_high"][0]
