"""Confidence intervals: known values, and the choice of interval by the number of seeds."""

from __future__ import annotations

import math

import numpy as np
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


class TestSeedsNeeded:
    """The power calculation behind the claims' seeds_needed column."""

    def test_textbook_case(self):
        """d = 0.5, two-sided alpha 0.05, power 0.80, one-sample t-test: 34 (G*Power; Cohen 1988)."""
        assert stats.seeds_needed(0.5, 1.0) == 34

    @pytest.mark.parametrize("effect", [0.1, 0.2])
    def test_large_n_meets_the_normal_closed_form(self, effect):
        """For small effects n is large and the t-test's n approaches ((z_a/2 + z_power) / d)^2 from above."""
        normal = math.ceil(((scipy_stats.norm.ppf(0.975) + scipy_stats.norm.ppf(0.8)) / effect) ** 2)
        assert 0 <= stats.seeds_needed(effect, 1.0) - normal <= 2

    def test_only_the_distance_to_the_threshold_and_its_size_count(self):
        assert stats.seeds_needed(0.6, 1.0, threshold=0.1) == stats.seeds_needed(-0.5, 1.0) == 34
        assert stats.seeds_needed(1.0, 2.0) == 34

    def test_edges(self):
        assert stats.seeds_needed(0.3, 0.0) == 2  # no spread: two seeds decide it
        assert stats.seeds_needed(0.2, 0.2, threshold=0.2) is None  # on the bound: never decided
        assert stats.seeds_needed(1e-6, 1.0, max_seeds=100) is None

    @pytest.mark.parametrize(
        "args",
        [(0.1, -1.0), (math.nan, 1.0), (0.1, math.inf), (0.1, 1.0, 0.0, 1.5), (0.1, 1.0, 0.0, 0.8, 1.0)]
        + [(0.1, 1.0, 0.0, 0.8, 0.95, 1)],
    )
    def test_bad_input_is_refused(self, args):
        with pytest.raises(ValueError, match="must|needs"):
            stats.seeds_needed(*args)


def crossed(values: np.ndarray) -> pd.DataFrame:
    """A (draws x models) table of values in long form."""
    draws, models = np.indices(values.shape)
    return pd.DataFrame({"draw": draws.ravel(), "model": models.ravel(), "value": values.ravel()})


class TestVarianceDecomposition:
    """The crossed two-way decomposition of the sweep (draws x circuits)."""

    def test_sums_of_squares_by_hand(self):
        """A 3 x 2 table: SS_row, SS_col and SS_res as computed by hand add up to SS_total."""
        values = np.array([[1.0, 2.0], [3.0, 5.0], [4.0, 9.0]])
        frame = stats.variance_decomposition(crossed(values), "value", "draw", "model", n_boot=10)
        ss = dict(zip(frame["source"], frame["sum_squares"], strict=True))
        grand = values.mean()
        assert ss["draw"] == pytest.approx(2 * np.sum((values.mean(1) - grand) ** 2))  # 2 * (2.25+0.25+...)
        assert ss["model"] == pytest.approx(3 * np.sum((values.mean(0) - grand) ** 2))
        total = np.sum((values - grand) ** 2)
        assert ss["draw"] + ss["model"] + ss["draw x model"] == pytest.approx(total)
        assert frame["df"].iloc[:3].tolist() == [2, 1, 2]

    def test_the_dominant_factor_is_found(self):
        """value = a_draw + b_model + small noise, with draws spread 10 times wider than models."""
        rng = np.random.default_rng(0)
        values = rng.normal(0, 2.0, (60, 1)) + np.array([[0.0, 0.2, 0.4, -0.2]]) + rng.normal(0, 0.05, (60, 4))
        frame = stats.variance_decomposition(crossed(values), "value", "draw", "model", n_boot=200).set_index("source")
        assert frame.loc["draw", "share"] > 0.95 and frame.loc["model", "share"] < 0.02
        assert frame["share"].sum() == pytest.approx(1.0)
        assert (frame["share_low"] <= frame["share"] + 1e-12).all() and (
            frame["share"] <= frame["share_high"] + 1e-12
        ).all()

    def test_a_pure_model_effect_leaves_the_draws_nothing(self):
        values = np.tile([0.1, 0.5, 0.9], (20, 1)) + np.random.default_rng(1).normal(0, 0.01, (20, 3))
        frame = stats.variance_decomposition(crossed(values), "value", "draw", "model", n_boot=50).set_index("source")
        assert frame.loc["model", "share"] > 0.99 and frame.loc["draw", "share"] < 0.01

    def test_known_noise_is_split_from_the_interaction(self):
        values = np.random.default_rng(2).normal(0, 0.1, (30, 3))
        frame = stats.variance_decomposition(crossed(values), "value", "draw", "model", noise_variance=0.01, n_boot=20)
        noise = frame.set_index("source").loc["measurement noise"]
        assert noise["variance"] == 0.01 and noise["share"] > 0.5

    def test_reproducible_from_the_seed(self):
        values = np.random.default_rng(3).normal(size=(10, 3))
        first = stats.variance_decomposition(crossed(values), "value", "draw", "model", n_boot=30, seed=5)
        pd.testing.assert_frame_equal(
            first, stats.variance_decomposition(crossed(values), "value", "draw", "model", n_boot=30, seed=5)
        )

    @pytest.mark.parametrize("change", ["missing", "repeated"])
    def test_incomplete_designs_are_named(self, change):
        frame = crossed(np.ones((3, 2)))
        frame = frame.iloc[1:] if change == "missing" else pd.concat([frame, frame.iloc[:1]])
        with pytest.raises(ValueError, match=r"every \(draw, model\) cell exactly once; missing \[.*\], repeated"):
            stats.variance_decomposition(frame, "value", "draw", "model")

    def test_a_blank_cell_is_named(self):
        frame = crossed(np.ones((3, 2)))
        frame.loc[3, "value"] = math.nan
        with pytest.raises(ValueError, match=r"value is missing \(NaN\) in the \(draw, model\) cells \[\[1, 1\]\]"):
            stats.variance_decomposition(frame, "value", "draw", "model")

    @pytest.mark.parametrize(
        "values, options, message",
        [
            (np.ones((1, 3)), {}, ">= 2 draws and >= 2 models"),
            (np.ones((3, 2)), {"n_boot": 0}, "n_boot must be >= 1"),
            (np.ones((3, 2)), {"noise_variance": -0.1}, "noise_variance must be finite and >= 0"),
        ],
    )
    def test_bad_input_is_refused(self, values, options, message):
        with pytest.raises(ValueError, match=message):
            stats.variance_decomposition(crossed(values), "value", "draw", "model", **options)


def test_difference_spread_by_seeds_and_digits():
    """Two seeds: the sd of the paired differences; one seed: the binomial sd over the digits, a lower bound."""
    a = pd.DataFrame({"seed": [1, 2], "n_correct": [500, 540], "n_evaluated": [1000, 1000]})
    b = pd.DataFrame({"seed": [1, 2], "n_correct": [480, 480], "n_evaluated": [1000, 1000]})
    spread = stats.difference_spread(a, b)
    assert spread.sd == pytest.approx(np.std([0.02, 0.06], ddof=1)) and spread.basis == "t over 2 seeds"
    one = stats.difference_spread(a.iloc[:1], b.iloc[:1])
    assert one.sd == pytest.approx(math.sqrt(0.5 * 0.5 / 1000 + 0.48 * 0.52 / 1000)) and "lower bound" in one.basis
