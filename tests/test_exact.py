"""Tests of robqunn.exact: each method against brute force on small instances, then on real models.

Tolerances: the exact methods agree with brute force (LP per linear region, fine grid + local
refinement) to 1e-6; a certified bound may exceed a brute-force minimum by float64 round-off (1e-9);
the float64 decomposition agrees with the float32 Keras logits to 1e-4.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools

import keras
import numpy as np
import pytest
from scipy.optimize import linprog, minimize, minimize_scalar

from robqunn import exact
from robqunn.artifacts import check_threat_model
from robqunn.attacks import craft
from robqunn.config import PgdSteps
from robqunn.features import compute_features
from robqunn.models import build_model, build_qunn, load_model, logits_model, predict, save_model
from robqunn.quanv import Quanvolution
from robqunn.train import train
from robqunn.vocabulary import AttackName, ModelSpec

SEED = 42
N_DIGITS = 200  # test digits verified per model
N_TRAIN = 1000  # training digits of the quickly trained heads
BUDGET, TOLERANCE = 2000, 1e-4  # verify's settings in these tests (those of params.yaml's exact section)
AGREE = 1e-6  # exact method vs brute force
ROUND_OFF = 1e-9  # a certified lower bound may exceed a brute-force minimum by this
KERAS = 1e-4  # float64 decomposition vs the float32 Keras model
PGD = PgdSteps(nb_iter=20, eps_iter_fraction=0.1, rand_init=True)
MODELS = ["cnn", "qunn-none-rot_ent", "qunn-full-ent_rot", "qunn-random-ent_rot"]
KINDS = {
    "cnn": exact.RELU,
    "qunn-none-rot_ent": exact.SEPARABLE,
    "qunn-full-rot_ent": exact.SEPARABLE,
    "qunn-full-ent_rot": exact.POLYNOMIAL,
    "qunn-random-ent_rot": exact.POLYNOMIAL,
}
ROT_ENT = ["qunn-none-rot_ent", "qunn-full-rot_ent", "qunn-linear-rot_ent", "qunn-star-rot_ent"]
N_PIXELS = 4  # pixels of a 2x2 patch


# --- helpers and fixtures ------------------------------------------------------------------------


def random_boxes(rng, count, max_width=0.4):
    """Random boxes in [0, 1]^4, with a point box and a black-patch box [0, w]^4 among them."""
    lo = rng.uniform(0, 1, size=(count, N_PIXELS))
    hi = np.minimum(lo + rng.uniform(0, max_width, size=(count, N_PIXELS)), 1.0)
    lo[0], hi[0] = 0.0, max_width / 2
    hi[1] = lo[1]
    return lo, hi


def letters_of(strings):
    return np.array([[exact.LETTERS.index(c) for c in s] for s in strings])


def relu_lp_minimum(v, a, b, lo, hi):
    """min over the box of sum_c v_c ReLU(a_c . x + b_c): an LP per activation pattern."""
    best = np.inf
    for pattern in itertools.product((False, True), repeat=len(v)):
        on = np.array(pattern)
        sign = np.where(on, -1.0, 1.0)
        result = linprog(
            (v[on, None] * a[on]).sum(axis=0),
            A_ub=sign[:, None] * a,
            b_ub=-sign * b,
            bounds=list(zip(lo, hi, strict=True)),
            method="highs",
        )
        if result.status == 0:
            best = min(best, result.fun + float(v[on] @ b[on]))
    return best


def polynomial_value(letters, coefficients, x):
    return float(exact._values(letters, coefficients[None, None], np.pi * np.asarray(x)[None, None])[0, 0])


def polynomial_brute_minimum(letters, coefficients, lo, hi, steps=13):
    """Dense grid over the box, then L-BFGS-B from its best few points."""
    axes = [np.linspace(lo[k], hi[k], steps) for k in range(N_PIXELS)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, N_PIXELS)
    values = exact._values(letters, coefficients[None, None], np.pi * grid[:, None])[:, 0]
    best = values.min()
    for start in grid[np.argsort(values)[:3]]:
        result = minimize(
            lambda x: polynomial_value(letters, coefficients, x), start, bounds=list(zip(lo, hi, strict=True))
        )
        best = min(best, result.fun)
    return best


def polynomial_search(letters, lo, hi, coefficients, rounds):
    """Per-box bounds after ``rounds`` branch-and-bound refinements of every box."""
    bounds = exact._chunked(functools.partial(exact._polygon_bounds, letters), lo, hi, coefficients)
    problems = exact._Problems(np.zeros(len(lo), int), np.zeros(len(lo), int), lo, hi, np.arange(len(lo))[None])
    search = exact._Search(letters, problems, coefficients, bounds)
    for _ in range(rounds):
        search.refine(np.arange(len(lo)))
    return search.bounds()


def trained(params, digits, name):
    """``name`` with its head trained briefly (2 epochs on 1,000 digits): real margins, in a second."""
    model = build_model(ModelSpec.from_name(name), params.circuit, SEED)
    features = (compute_features(model, digits.x_train[:N_TRAIN]), compute_features(model, digits.x_test[:N_DIGITS]))
    labels = (digits.y_train[:N_TRAIN], digits.y_test[:N_DIGITS])
    settings = dataclasses.replace(params.train, epochs=2, batch_size=32)
    train(model, features, labels, settings, SEED)
    return model


@pytest.fixture(scope="module")
def models(params, digits):
    return {name: trained(params, digits, name) for name in MODELS}


@pytest.fixture(scope="module")
def test_digits(digits):
    return digits.x_test[:N_DIGITS], digits.y_test[:N_DIGITS]


def correct(model, x, y):
    return np.argmax(predict(model, x), axis=1) == y


# --- tests -----------------------------------------------------------------------------------------


class TestAgainstBruteForce:
    """Each patch method on random small instances, against brute force."""

    @pytest.mark.parametrize("seed", range(4))
    @pytest.mark.parametrize("bias", ["zero", "random"])
    def test_relu_vertex_minimum_is_the_lp_minimum(self, seed, bias):
        """The vertex minimum equals the LP minimum over every linear region to 1e-6."""
        rng = np.random.default_rng(seed)
        a, v = rng.normal(size=(N_PIXELS, N_PIXELS)), rng.normal(size=N_PIXELS)
        b = np.zeros(N_PIXELS) if bias == "zero" else rng.normal(scale=0.5, size=N_PIXELS)
        lo, hi = random_boxes(rng, 6)
        maps = exact._vertex_maps(a.T, b)
        value, _, point = exact._relu_minimum(maps, a.T, b, lo, hi, np.broadcast_to(v, (6, 1, 4)))
        assert len(maps) == 321
        for i in range(len(lo)):
            assert value[i, 0] == pytest.approx(relu_lp_minimum(v, a, b, lo[i], hi[i]), abs=AGREE)
            assert np.all((point[i, 0] >= lo[i]) & (point[i, 0] <= hi[i]))

    @pytest.mark.parametrize("seed", range(4))
    def test_relu_vertex_minimum_is_below_every_sample(self, seed):
        """No sampled point of the box has a value below the vertex minimum (beyond round-off)."""
        rng = np.random.default_rng(seed)
        a, b, v = rng.normal(size=(4, 4)), rng.normal(scale=0.5, size=4), rng.normal(size=4)
        lo, hi = random_boxes(rng, 20)
        maps = exact._vertex_maps(a.T, b)
        value, _, _ = exact._relu_minimum(maps, a.T, b, lo, hi, np.broadcast_to(v, (20, 1, 4)))
        samples = rng.uniform(lo[:, None], hi[:, None], size=(20, 2000, 4))
        sampled = (np.maximum(samples @ a.T + b, 0) @ v).min(axis=1)
        assert np.all(value[:, 0] <= sampled + ROUND_OFF)

    @pytest.mark.parametrize("seed", range(4))
    def test_separable_closed_form_is_the_grid_minimum(self, seed):
        """The closed form equals, pixel by pixel, a 2001-point grid refined by a bounded search, to 1e-6."""
        rng = np.random.default_rng(seed)
        strings = ["IIII"] + [
            s for k in range(4) for s in ("I" * k + "Z" + "I" * (3 - k), "I" * k + "X" + "I" * (3 - k))
        ]
        coefficients = rng.normal(size=len(strings))
        lo, hi = random_boxes(rng, 10, max_width=1.0)
        value, _, _ = exact._separable_minimum(letters_of(strings), lo, hi, np.broadcast_to(coefficients, (10, 1, 9)))
        for i in range(len(lo)):
            brute = coefficients[0]
            for k in range(4):
                alpha, beta = coefficients[1 + 2 * k], coefficients[2 + 2 * k]

                def f(x, alpha=alpha, beta=beta):
                    return alpha * np.cos(np.pi * x) + beta * np.sin(np.pi * x)

                grid = np.linspace(lo[i, k], hi[i, k], 2001)
                j = np.argmin(f(grid))
                near = (grid[max(j - 1, 0)], grid[min(j + 1, 2000)])
                refined = minimize_scalar(f, bounds=near, method="bounded", options={"xatol": 1e-12}).fun
                brute += min(f(grid[j]), refined) if near[0] < near[1] else f(grid[j])
            assert value[i, 0] == pytest.approx(brute, abs=AGREE)

    @pytest.mark.parametrize("seed", range(4))
    @pytest.mark.parametrize("rounds", [0, 6])
    def test_branch_and_bound_brackets_the_minimum(self, seed, rounds):
        """lower <= brute-force minimum, and upper is the value at a point of the box: a true bracket."""
        rng = np.random.default_rng(seed)
        strings = [s for s in ("".join(p) for p in itertools.product("IZX", repeat=4)) if s != "IIII"]
        strings = [strings[i] for i in rng.choice(len(strings), size=8, replace=False)]
        letters, coefficients = letters_of(strings), rng.normal(size=len(strings))
        lo, hi = random_boxes(rng, 5)
        bounds = polynomial_search(letters, lo, hi, np.broadcast_to(coefficients, (5, 1, 8)), rounds)
        for i in range(len(lo)):
            point = bounds.point[i, 0]
            assert bounds.lower[i, 0] <= polynomial_brute_minimum(letters, coefficients, lo[i], hi[i]) + ROUND_OFF
            assert np.all((point >= lo[i]) & (point <= hi[i]))
            assert bounds.upper[i, 0] == pytest.approx(polynomial_value(letters, coefficients, point), abs=1e-12)

    def test_branch_and_bound_narrows_the_bracket(self):
        """Refining never loosens a bracket, and 30 rounds shrink the widest one at least tenfold."""
        rng = np.random.default_rng(0)
        letters = letters_of(["ZZZX", "ZZXZ", "ZXZZ", "XZZZ", "IIIZ", "IIZI", "IZII", "ZIII"])
        coefficients = np.broadcast_to(rng.normal(size=8), (5, 1, 8))
        lo, hi = random_boxes(rng, 5, max_width=0.6)
        before = polynomial_search(letters, lo, hi, coefficients, 0)
        after = polynomial_search(letters, lo, hi, coefficients, 30)
        assert np.all(after.lower >= before.lower - 1e-12) and np.all(after.upper <= before.upper + 1e-12)
        assert np.max(after.upper - after.lower) <= np.max(before.upper - before.lower) / 10


class TestCorrectness:
    """verify on real models: consistent with the Keras model, with clean accuracy and with PGD."""

    @pytest.mark.parametrize("name", MODELS)
    def test_decomposition_computes_the_keras_logits(self, models, test_digits, name):
        """The float64 decomposition gives the Keras model's logits to 1e-4."""
        x, _ = test_digits
        keras_logits = predict(logits_model(models[name]), x)
        np.testing.assert_allclose(exact.decompose(models[name]).logits(x), keras_logits, atol=KERAS)

    @pytest.mark.parametrize("name", MODELS)
    def test_eps_zero_is_clean_correctness(self, models, test_digits, name):
        """At eps 0, robust == correct and non_robust == ~correct, but for margins within the tolerance."""
        x, y = test_digits
        result = exact.verify(models[name], x, y, 0.0, BUDGET, TOLERANCE)
        clear = np.abs(result.margin_lower) >= TOLERANCE
        ok = correct(models[name], x, y)
        assert np.array_equal(result.robust[clear], ok[clear])
        assert np.array_equal(result.non_robust[clear], ~ok[clear])
        np.testing.assert_array_equal(result.x_worst, x)

    @pytest.mark.parametrize("name", MODELS)
    def test_eps_zero_needs_no_search(self, models, test_digits, name):
        """At eps 0 verify reads each digit's margin instead of searching point boxes: the search's bound
        is the same margin to float64 round-off, so every decision against the tolerance is the same."""
        x, y = test_digits
        dec = exact.decompose(models[name])
        searched_worst, searched = exact._verify_batch(
            dec, exact._patch_solver(dec), x.astype(np.float32), y, 0.0, (BUDGET, TOLERANCE)
        )
        point_worst, point = exact._verify_point(dec, x.astype(np.float32), y)
        np.testing.assert_array_equal(point_worst, searched_worst)
        np.testing.assert_allclose(point, searched, rtol=0, atol=1e-12)
        assert np.array_equal(point > TOLERANCE, searched > TOLERANCE)

    @pytest.mark.parametrize("name", MODELS)
    def test_no_digit_pgd_breaks_is_certified(self, models, test_digits, name):
        """At eps 0.1, every digit PGD breaks is not certified robust, so exact accuracy <= PGD's."""
        x, y = test_digits
        x_pgd = craft(logits_model(models[name]), x, y, AttackName.PGD, 0.1, PGD, N_DIGITS, SEED)
        broken = ~correct(models[name], x_pgd, y)
        result = exact.verify(models[name], x, y, 0.1, BUDGET, TOLERANCE)
        assert not np.any(result.robust & broken)
        assert result.accuracy_lower <= 1 - broken.mean()

    @pytest.mark.parametrize("name", MODELS)
    @pytest.mark.parametrize("eps", [0.05, 0.1])
    def test_worst_case_is_a_checked_adversarial_example(self, models, test_digits, name, eps):
        """x_worst lies in the ball and [0, 1]; every non-robust digit is misclassified there."""
        x, y = test_digits
        result = exact.verify(models[name], x, y, eps, BUDGET, TOLERANCE)
        check_threat_model(x, result.x_worst, eps, name)
        assert result.x_worst.dtype == np.float32
        assert np.all(~correct(models[name], result.x_worst[result.non_robust], y[result.non_robust]))
        assert not np.any(result.robust & result.non_robust)

    @pytest.mark.parametrize("name", MODELS)
    def test_margins_are_bounds_attained_at_the_worst_case(self, models, test_digits, name):
        """margin_lower <= margin_upper, and margin_upper is the float64 margin at x_worst."""
        x, y = test_digits
        result = exact.verify(models[name], x, y, 0.05, BUDGET, TOLERANCE)
        logits = exact.decompose(models[name]).logits(result.x_worst)
        np.testing.assert_allclose(result.margin_upper, exact._margins(logits, y).min(axis=1), atol=1e-12)
        assert np.all(result.margin_lower <= result.margin_upper + ROUND_OFF)

    def test_batch_size_changes_nothing(self, models, test_digits):
        """Batches of 7 digits give the batch-of-200 result, to the bit."""
        x, y = test_digits
        whole = exact.verify(models["qunn-full-ent_rot"], x, y, 0.05, BUDGET, TOLERANCE)
        parts = exact.verify(models["qunn-full-ent_rot"], x, y, 0.05, BUDGET, TOLERANCE, batch_size=7)
        for field in ("robust", "non_robust", "x_worst", "margin_upper"):
            np.testing.assert_array_equal(getattr(whole, field), getattr(parts, field))


class TestModels:
    """Which method each model gets, and what the methods imply across models."""

    @pytest.mark.parametrize("name", sorted(KINDS))
    def test_method_per_model(self, params, name):
        """CNN: relu; none and the ZZ ansatze under rot_ent: separable; ent_rot and random: polynomial."""
        model = build_model(ModelSpec.from_name(name), params.circuit, SEED)
        assert exact.decompose(model).kind == KINDS[name]

    def test_rot_ent_ansatze_give_identical_results(self, params, test_digits):
        """none/full/linear/star under rot_ent, same seed and head: identical exact results (margins to 1e-9)."""
        x, y = test_digits
        head = np.random.default_rng(0).normal(scale=0.05, size=(784, 10))
        results = []
        for name in ROT_ENT:
            model = build_model(ModelSpec.from_name(name), params.circuit, SEED)
            model.get_layer("logits").kernel.assign(head.astype(np.float32))
            results.append(exact.verify(model, x, y, 0.1, BUDGET, TOLERANCE))
        for result in results[1:]:
            assert np.array_equal(result.robust, results[0].robust)
            assert np.array_equal(result.non_robust, results[0].non_robust)
            np.testing.assert_allclose(result.margin_lower, results[0].margin_lower, atol=1e-9)

    def test_budget_only_narrows_the_interval(self, models, test_digits):
        """Branch and bound with a budget gives an interval inside the one without any."""
        x, y = test_digits
        none = exact.verify(models["qunn-full-ent_rot"], x, y, 0.1, 0, TOLERANCE)
        some = exact.verify(models["qunn-full-ent_rot"], x, y, 0.1, BUDGET, TOLERANCE)
        assert none.accuracy_lower <= some.accuracy_lower <= some.accuracy_upper <= none.accuracy_upper
        assert np.all(some.margin_lower >= none.margin_lower - ROUND_OFF)

    @pytest.mark.parametrize("name", ["qunn-full-ent_rot", "qunn-random-ent_rot"])
    def test_branch_and_bound_decides_straddling_digits(self, models, test_digits, name):
        """Digits shifted so that their first bracket straddles 0 are undecided at budget 0, decided with a budget."""
        x, y = test_digits
        model = models[name]
        first = exact.verify(model, x, y, 0.1, 0, TOLERANCE)
        bias = model.get_layer("logits").bias
        original = bias.numpy()
        try:
            for n in np.argsort(first.margin_upper - first.margin_lower)[-3:]:
                middle = (first.margin_lower[n] + first.margin_upper[n]) / 2
                bias.assign(original - middle * (np.arange(10) == y[n]))
                digit = (x[n : n + 1], y[n : n + 1])
                assert exact.verify(model, *digit, 0.1, 0, TOLERANCE).undecided[0]
                assert not exact.verify(model, *digit, 0.1, BUDGET, TOLERANCE).undecided[0]
        finally:
            bias.assign(original)

    def test_saved_model_gives_the_same_result(self, models, test_digits, tmp_path):
        """A model saved and loaded again verifies to the same result."""
        x, y = test_digits
        save_model(models["qunn-random-ent_rot"], tmp_path / "m.keras")
        loaded = exact.verify(load_model(tmp_path / "m.keras"), x, y, 0.05, BUDGET, TOLERANCE)
        original = exact.verify(models["qunn-random-ent_rot"], x, y, 0.05, BUDGET, TOLERANCE)
        np.testing.assert_array_equal(loaded.margin_lower, original.margin_lower)


RESOLUTION = 1 / 64  # of the radii in these tests (params would ask 1/512: 3 bisection rounds more)
N_RADII = 40  # digits whose radius is bisected per model


@pytest.fixture(scope="module")
def radii(models, test_digits):
    x, y = test_digits
    return {
        name: exact.certified_radii(models[name], x[:N_RADII], y[:N_RADII], BUDGET, TOLERANCE, RESOLUTION)
        for name in MODELS
    }


class TestCertifiedRadii:
    """certified_radii against verify at fixed budgets: the bracket never contradicts a verification."""

    @pytest.mark.parametrize("name", MODELS)
    @pytest.mark.parametrize("eps", [0.02, 0.05, 0.1, 0.2])
    def test_the_bracket_agrees_with_verify(self, models, test_digits, radii, name, eps):
        """A digit certified at eps (by verify) has upper > eps; one broken at eps has lower < eps; where the
        bracket lies wholly below or above eps, verify does not decide the other way."""
        x, y = test_digits
        result = exact.verify(models[name], x[:N_RADII], y[:N_RADII], eps, BUDGET, TOLERANCE)
        radius = radii[name]
        assert np.all(radius.upper[result.robust] > eps)
        assert np.all(radius.lower[result.non_robust] < eps)
        assert not np.any(result.robust & (radius.upper <= eps))
        assert not np.any(result.non_robust & (radius.lower >= eps))

    @pytest.mark.parametrize("name", MODELS)
    def test_brackets_are_narrow_and_start_at_the_clean_prediction(self, models, test_digits, radii, name):
        """Every decided bracket is within the resolution; a misclassified digit has radius 0; the exact
        methods (CNN, separable) decide every digit."""
        x, y = test_digits
        radius = radii[name]
        assert np.all((radius.lower <= radius.upper) & (radius.lower >= 0) & (radius.upper <= 1))
        wrong = ~correct(models[name], x[:N_RADII], y[:N_RADII])
        assert np.all(radius.upper[wrong] == 0) and np.all(radius.lower[wrong] == 0)
        if exact.decompose(models[name]).kind != exact.POLYNOMIAL:
            assert np.all(radius.decided)
        assert np.mean(radius.decided) > 0.9
        assert np.all(radius.upper[radius.decided] - radius.lower[radius.decided] <= RESOLUTION)

    @pytest.mark.parametrize("resolution", [0, 1, -0.1, "1/512"])
    def test_a_resolution_outside_0_1_is_refused(self, models, test_digits, resolution):
        x, y = test_digits
        with pytest.raises(exact.ExactError, match="resolution must be a number in \\(0, 1\\)"):
            exact.certified_radii(models["cnn"], x[:2], y[:2], BUDGET, TOLERANCE, resolution)


def quanvolution_model(kernel_size, stride):
    n = kernel_size**2
    strings = ["I" * k + "Z" + "I" * (n - k - 1) for k in range(n)]
    return build_qunn(Quanvolution(kernel_size, stride, strings, np.eye(n), name="features"), SEED, "q")


def conv_model(**conv):
    inputs = keras.Input((28, 28))
    features = keras.layers.Conv2D(4, 2, name="features", **conv)(keras.layers.Reshape((28, 28, 1))(inputs))
    return keras.Model(inputs, keras.layers.Dense(10, name="logits")(keras.layers.Flatten()(features)))


class TestRefusals:
    """What exact verification cannot handle is refused with the reason, before any work."""

    def test_no_logits_layer(self):
        """A model whose Dense layer is not named 'logits'."""
        inputs = keras.Input((28, 28))
        model = keras.Model(inputs, keras.layers.Dense(10, name="head")(keras.layers.Flatten()(inputs)))
        with pytest.raises(exact.ExactError, match="Dense layer named 'logits'"):
            exact.decompose(model)

    def test_logits_not_fed_by_flatten(self):
        """A 'logits' layer that reads the pooled features rather than their Flatten."""
        inputs = keras.Input((28, 28))
        features = keras.layers.Conv2D(4, 2, strides=2, activation="relu", name="features")(
            keras.layers.Reshape((28, 28, 1))(inputs)
        )
        pooled = keras.layers.GlobalAveragePooling2D()(features)
        with pytest.raises(exact.ExactError, match="Flatten"):
            exact.decompose(keras.Model(inputs, keras.layers.Dense(10, name="logits")(pooled)))

    @pytest.mark.parametrize(
        ("conv", "reason"),
        [
            ({"strides": 2, "activation": "tanh"}, "relu"),
            ({"strides": 2, "activation": "relu", "padding": "same"}, "valid"),
            ({"strides": 1, "activation": "relu"}, r"stride \(1, 1\) and kernel_size \(2, 2\)"),
        ],
    )
    def test_conv_it_cannot_decompose(self, conv, reason):
        """A Conv2D without ReLU, with 'same' padding, or with stride != kernel_size."""
        with pytest.raises(exact.ExactError, match=reason):
            exact.decompose(conv_model(**conv))

    def test_quanvolution_stride_not_kernel(self):
        """A Quanvolution with kernel 2 and stride 1 (overlapping patches); the message names both."""
        with pytest.raises(exact.ExactError, match=r"stride \(1, 1\) and kernel_size \(2, 2\)"):
            exact.decompose(quanvolution_model(2, 1))

    def test_image_side_not_a_multiple_of_the_kernel(self):
        """A 3x3 kernel on 28x28 images would leave pixels out of every patch."""
        with pytest.raises(exact.ExactError, match="multiples of kernel_size 3"):
            exact.decompose(quanvolution_model(3, 3))

    @pytest.mark.parametrize("eps", [-0.1, 1.5, float("nan"), float("inf"), True, "0.1"])
    def test_eps_outside_the_unit_interval(self, models, test_digits, eps):
        """eps must be a finite number in [0, 1]."""
        x, y = test_digits
        with pytest.raises(exact.ExactError, match="eps must be a finite number in"):
            exact.verify(models["cnn"], x, y, eps, BUDGET, TOLERANCE)

    @pytest.mark.parametrize(
        ("shapes", "reason"),
        [(((3, 28, 28), (4,)), "shapes"), (((3, 14, 14), (3,)), "shapes"), (((0, 28, 28), (0,)), "N >= 1")],
    )
    def test_digit_shapes(self, models, shapes, reason):
        """x must be (N, 28, 28) and y (N,), N >= 1; the message names both shapes."""
        x, y = np.zeros(shapes[0], np.float32), np.zeros(shapes[1], int)
        with pytest.raises(exact.ExactError, match=reason):
            exact.verify(models["cnn"], x, y, 0.1, BUDGET, TOLERANCE)

    def test_pixels_outside_the_unit_interval(self, models):
        """Pixels must lie in [0, 1] (NaN does not)."""
        x = np.full((2, 28, 28), np.nan, np.float32)
        with pytest.raises(exact.ExactError, match=r"pixels in \[0, 1\]"):
            exact.verify(models["cnn"], x, np.zeros(2, int), 0.1, BUDGET, TOLERANCE)
