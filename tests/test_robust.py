"""Tests of robqunn.robust and robqunn.exact.WorstCaseFeatures: the worst-case margins exact training
differentiates are the verifier's, their gradient is Danskin's, and each method does what it is for.

Tolerances: margins from the worst-case features agree with robqunn.exact.verify to 1e-9 (float64 round-off);
Danskin's gradient agrees with a central finite difference to 1e-5 relative to the gradient's scale.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from robqunn import exact, robust
from robqunn.attacks import craft
from robqunn.config import PgdSteps, RobustParams, params_from_dict
from robqunn.features import compute_features
from robqunn.models import build_model
from robqunn.train import accuracy, train
from robqunn.vocabulary import LOGITS, AttackName, ModelSpec, TrainMethod

SEED = 42
N_TRAIN, N_TEST = 600, 200
ROUND_OFF = 1e-9
EPS = 0.1
SETTINGS = RobustParams(
    eps=EPS,
    ramp_epochs=2,
    epochs=4,
    batch_size=50,
    learning_rate=0.005,
    pgd=PgdSteps(nb_iter=5, eps_iter_fraction=0.4, rand_init=True),
)
KINDS = ["cnn", "qunn-none-rot_ent", "qunn-full-ent_rot"]  # relu, separable, polynomial


def margin_matrix(head: np.ndarray, bias: np.ndarray, phi: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(N, 10) m_t in float64 from the worst-case features ``phi``, as robust.worst_case_loss computes them
    (+inf at t = y)."""
    n, patches, classes, channels = phi.shape
    features = phi.transpose(0, 2, 1, 3).reshape(n, classes, -1)
    targets = np.einsum("ntf,ft->nt", features, head) + bias
    own = np.einsum("ntf,fn->nt", features, head[:, y]) + bias[y][:, None]
    margins = own - targets
    margins[np.arange(n), y] = np.inf
    return margins


def margins_of(head: np.ndarray, bias: np.ndarray, phi: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(N,) min_t m_t."""
    return margin_matrix(head, bias, phi, y).min(axis=1)


def trained(params, digits, name: str, method: TrainMethod = TrainMethod.STANDARD, settings=SETTINGS):
    model = build_model(ModelSpec.from_name(name), params.circuit, SEED)
    x, y = digits.x_train[:N_TRAIN], digits.y_train[:N_TRAIN]
    maps = (compute_features(model, x), compute_features(model, digits.x_test[:N_TEST]))
    training = dataclasses.replace(params.train, epochs=2, batch_size=32, robust=settings)
    train(model, maps, (y, digits.y_test[:N_TEST]), training, SEED, method, x)
    return model


@pytest.fixture(scope="module")
def standard(params, digits):
    return {name: trained(params, digits, name) for name in KINDS}


@pytest.fixture(scope="module")
def test_digits(digits):
    return digits.x_test[:N_TEST], digits.y_test[:N_TEST]


def head_of(model) -> tuple[np.ndarray, np.ndarray]:
    dense = model.get_layer(LOGITS)
    return np.asarray(dense.kernel, np.float64), np.asarray(dense.bias, np.float64)


class TestWorstCaseFeatures:
    @pytest.mark.parametrize("name", KINDS)
    def test_their_margins_are_the_verifiers(self, standard, test_digits, name):
        """For the CNN and the separable QuNN the margins are exact and equal verify's; for a polynomial QuNN
        they are the polygon bound branch and bound starts from, so never above verify's certified bound."""
        model, (x, y) = standard[name], test_digits
        head, bias = head_of(model)
        phi = exact.WorstCaseFeatures(model)(head, bias, x, y, EPS)
        ours, verified = margins_of(head, bias, phi, y), exact.verify(model, x, y, EPS, 2000, 1e-4).margin_lower
        if name == "qunn-full-ent_rot":
            assert np.all(ours <= verified + ROUND_OFF)
        else:
            np.testing.assert_allclose(ours, verified, atol=ROUND_OFF)

    @pytest.mark.parametrize("name", KINDS)
    def test_at_eps_0_the_loss_is_the_cross_entropy(self, standard, test_digits, name):
        model, (x, y) = standard[name], test_digits
        head, bias = head_of(model)
        phi = exact.WorstCaseFeatures(model)(head, bias, x, y, 0.0)
        loss = robust.worst_case_loss(tf.constant(head), tf.constant(bias), tf.constant(phi), tf.constant(y))
        logits = model.get_layer(LOGITS).output
        logit_model = keras.Model(model.input, logits)
        expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, logit_model(x)).numpy()
        assert float(loss) == pytest.approx(float(expected), rel=1e-5)

    @pytest.mark.parametrize("name", KINDS)
    def test_each_head_gets_its_own_minimisers(self, standard, test_digits, name):
        """Each margin is a minimum of functions linear in the head, attained at the features returned: features
        taken from another head give every margin a value no lower (what makes Danskin's theorem apply)."""
        model, (x, y) = standard[name], test_digits
        head, bias = head_of(model)
        other = head + np.random.default_rng(0).normal(scale=0.1, size=head.shape)
        worst = exact.WorstCaseFeatures(model)
        own, borrowed = (margin_matrix(other, bias, worst(h, bias, x, y, EPS), y) for h in (other, head))
        assert np.all(own <= borrowed + ROUND_OFF)
        assert np.any(own < borrowed - 1e-3)  # the heads' worst cases differ: the check has teeth

    def test_the_gradient_is_danskins(self, standard, test_digits):
        """Where the minimisers are unique (the separable QuNN's closed form), the gradient with the features held
        fixed equals a central finite difference of the loss recomputed with the moved head's worst cases."""
        model, (x, y) = standard["qunn-none-rot_ent"], test_digits
        head, bias = head_of(model)
        worst = exact.WorstCaseFeatures(model)
        direction = np.random.default_rng(0).normal(size=head.shape)

        def loss(kernel, phi):
            return robust.worst_case_loss(kernel, tf.constant(bias), tf.constant(phi), tf.constant(y))

        kernel = tf.Variable(head)
        with tf.GradientTape() as tape:
            value = loss(kernel, worst(head, bias, x, y, EPS))
        analytic = float(np.sum(tape.gradient(value, kernel).numpy() * direction))
        step = 1e-6
        moved = [head + sign * step * direction for sign in (1, -1)]
        numeric = (
            float(loss(moved[0], worst(moved[0], bias, x, y, EPS)))
            - float(loss(moved[1], worst(moved[1], bias, x, y, EPS)))
        ) / (2 * step)
        assert numeric == pytest.approx(analytic, rel=1e-5, abs=1e-8)

    def test_it_refuses_a_budget_outside_0_1(self, standard, test_digits):
        model, (x, y) = standard["cnn"], test_digits
        with pytest.raises(exact.ExactError, match="eps must be a finite number in"):
            exact.WorstCaseFeatures(model)(*head_of(model), x, y, 1.5)


class TestTraining:
    @pytest.mark.parametrize("name", ["cnn", "qunn-none-rot_ent"])
    def test_exact_training_raises_exact_robust_accuracy(self, params, digits, standard, test_digits, name):
        robustly = trained(params, digits, name, TrainMethod.EXACT)
        before = exact.verify(standard[name], *test_digits, EPS, 2000, 1e-4).robust.mean()
        after = exact.verify(robustly, *test_digits, EPS, 2000, 1e-4).robust.mean()
        assert after >= before + 0.1, f"exact robust accuracy at eps {EPS}: {before:.3f} -> {after:.3f}"

    def test_pgd_training_raises_pgd_accuracy(self, params, digits, standard, test_digits):
        robustly = trained(params, digits, "cnn", TrainMethod.PGD)
        x, y = test_digits
        scores = []
        for model in (standard["cnn"], robustly):
            from robqunn.models import logits_model

            x_adv = craft(logits_model(model), x, y, AttackName.PGD, EPS, SETTINGS.pgd, 100, SEED)
            scores.append(accuracy(model, x_adv, y))
        assert scores[1] >= scores[0] + 0.1, f"PGD accuracy at eps {EPS}: {scores[0]:.3f} -> {scores[1]:.3f}"

    @pytest.mark.parametrize("method", [TrainMethod.EXACT, TrainMethod.PGD])
    def test_the_same_seed_gives_the_same_head(self, params, digits, method):
        short = dataclasses.replace(SETTINGS, epochs=1)
        heads = [head_of(trained(params, digits, "cnn", method, short))[0] for _ in range(2)]
        np.testing.assert_array_equal(*heads)

    def test_the_budget_ramps_to_eps_train(self):
        assert robust.eps_schedule(SETTINGS) == [0.05, 0.1, 0.1, 0.1]
        assert robust.eps_schedule(dataclasses.replace(SETTINGS, ramp_epochs=0)) == [EPS] * 4


class TestRefusals:
    @pytest.mark.parametrize("name", ["qunn-full-ent_rot-shots64-exacttrained", "qunn-full-ent_rot-shots64-pgdtrained"])
    def test_a_method_the_layer_cannot_support(self, name):
        with pytest.raises(robust.RobustTrainingError, match=f"model '{name}': .* training needs a feature layer"):
            robust.check_supported(ModelSpec.from_name(name))

    def test_a_noisy_layer_is_decomposed_as_a_noiseless_one(self, params):
        """Exact training of a noisy circuit is supported: its expectation is a readout polynomial too."""
        name = "qunn-full-ent_rot-dep0.01-exacttrained"
        robust.check_supported(ModelSpec.from_name(name))
        noisy = build_model(ModelSpec.from_name(name), params.circuit, SEED)
        assert exact.WorstCaseFeatures(noisy).decomposition.kind == exact.POLYNOMIAL

    @pytest.mark.parametrize(
        ("key", "value", "message"),
        [
            ("eps", 1.5, r"train\.robust\.eps"),
            ("eps", -0.1, r"train\.robust\.eps"),
            ("ramp_epochs", -1, r"train\.robust\.ramp_epochs"),
        ],
    )
    def test_bad_robust_settings_name_the_key(self, raw_params, key, value, message):
        raw_params["train"]["robust"][key] = value
        with pytest.raises(ValueError, match=message):
            params_from_dict(raw_params)

    def test_an_unknown_method_names_the_choices(self, raw_params):
        raw_params["train"]["methods"] = ["standard", "trades"]
        with pytest.raises(ValueError, match=r"train\.methods.*(standard|pgd|exact)"):
            params_from_dict(raw_params)


@pytest.fixture
def raw_params():
    import yaml

    from conftest import REPO

    return yaml.safe_load((REPO / "params.yaml").read_text())


class TestRobustResults:
    """robqunn.robust_results: the robust section's table, over seeds, from the exact tables."""

    @staticmethod
    def tables(values: dict[str, list[float]]) -> dict:
        """Exact tables at eps 0 (0.9) and 0.1 (one value per seed) of each model."""
        import pandas as pd

        return {
            (seed, model): pd.DataFrame(
                {
                    "eps": [0.0, 0.1],
                    "robust_accuracy_lower": [0.9, accuracy],
                    "robust_accuracy_upper": [0.9, accuracy + 0.01 * (model == "cnn")],
                    "undecided": [0, 10 * (model == "cnn")],
                    "n_evaluated": [1000, 1000],
                }
            )
            for model, per_seed in values.items()
            for seed, accuracy in zip((1, 2, 3), per_seed, strict=True)
        }

    def test_mean_interval_and_range_per_layer_and_method(self):
        from robqunn.robust_results import robust_markdown, robust_summary

        summary = robust_summary(self.tables({"cnn": [0.1, 0.2, 0.3], "cnn-exacttrained": [0.5, 0.6, 0.7]}))
        robust = summary[(summary["method"] == "exact") & (summary["eps"] == 0.1)].iloc[0]
        assert robust["layer"] == "cnn" and robust["mean"] == pytest.approx(0.6) and robust["seeds"] == 3
        assert robust["ci_low"] < 0.5 and robust["ci_high"] > 0.7 and (robust["min"], robust["max"]) == (0.5, 0.7)
        plain = summary[(summary["method"] == "standard") & (summary["eps"] == 0.1)].iloc[0]
        assert plain["undecided_gap"] == pytest.approx(0.01)
        text = robust_markdown(summary, (0.1,))
        assert text.splitlines()[2].startswith("| cnn | standard | 3 | 0.900 [0.900, 0.900] | 0.200 [")
        assert text.splitlines()[3].endswith("| 0.500–0.700 |")

    def test_the_claims_are_decided_on_the_certified_fractions(self):
        from robqunn.robust_results import claims_markdown

        text = claims_markdown(self.tables({"cnn": [0.1, 0.2, 0.3], "cnn-exacttrained": [0.5, 0.6, 0.7]}), 0.1)
        assert text.startswith("- `robust_qunn_beats_cnn` (exact robust accuracy (ground truth), exact training)")
        assert "**not testable**" in text  # no QuNN in these tables
