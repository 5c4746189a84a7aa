"""Tests of robqunn.attacks: property tests on tiny analytic models and on the real models."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from robqunn import attacks
from robqunn.artifacts import AdversarialError, check_threat_model
from robqunn.attacks import ATTACKS, craft
from robqunn.features import compute_features
from robqunn.models import FEATURES, build_model, feature_model, logits_model, predict
from robqunn.train import train
from robqunn.vocabulary import AttackName, ModelSpec

SEED = 42
N = 64  # digits per attack in these tests


@pytest.fixture(scope="module")
def linear():
    """A fixed linear classifier on 28x28 pixels: logits = flatten(x) @ W + b."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(784, 10)).astype(np.float32)
    b = rng.normal(size=10).astype(np.float32)

    def logits_fn(x):
        return tf.reshape(x, (-1, 784)) @ w + b

    return logits_fn, w, b


@pytest.fixture(scope="module")
def trained_models(params, digits):
    """A CNN and a QuNN trained briefly (2 epochs on 400 digits): enough to be attacked."""
    models = {}
    for name in ("cnn", "qunn-full-ent_rot"):
        model = build_model(ModelSpec.from_name(name), params.circuit, SEED)
        x = digits.x_train[:400]
        feats = (compute_features(model, x), compute_features(model, digits.x_test[:N]))
        train(
            model, feats, (digits.y_train[:400], digits.y_test[:N]), dataclasses.replace(params.train, epochs=2), SEED
        )
        models[name] = model
    return models


def accuracy_on(model, x, y):
    return float(np.mean(np.argmax(predict(model, x), axis=1) == y))


class TestAnalytic:
    """Attacks on a linear model, whose loss gradient is known in closed form."""

    def test_fgsm_is_sign_of_the_gradient(self, params, digits, linear):
        """FGSM gives clip(x + eps * sign((softmax(z) - onehot(y)) W^T), 0, 1)."""
        logits_fn, w, b = linear
        x, y = digits.x_test[:N], digits.y_test[:N]
        z = x.reshape(N, 784) @ w + b
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        gradient = (p - np.eye(10)[y]) @ w.T
        expected = np.clip(x + 0.1 * np.sign(gradient).reshape(x.shape), 0, 1)
        got = craft(
            logits_fn, x, y, AttackName.FGSM, 0.1, params.attack.of(AttackName.FGSM), params.attack.batch_size, SEED
        )
        np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)

    @pytest.mark.parametrize("attack", list(AttackName))
    def test_eps_zero_returns_x(self, params, digits, linear, attack):
        """eps = 0 leaves every digit unchanged, so it measures the clean accuracy."""
        x, y = digits.x_test[:N], digits.y_test[:N]
        np.testing.assert_array_equal(
            craft(linear[0], x, y, attack, 0.0, params.attack.of(attack), params.attack.batch_size, SEED), x
        )

    @pytest.mark.parametrize("attack", list(AttackName))
    @pytest.mark.parametrize("eps", [0.05, 0.3])
    def test_inside_ball_and_pixel_range(self, params, digits, linear, attack, eps):
        """Every example is within eps of its digit (L-inf) and in [0, 1], and the attack moved it."""
        x, y = digits.x_test[:N], digits.y_test[:N]
        x_adv = craft(linear[0], x, y, attack, eps, params.attack.of(attack), params.attack.batch_size, SEED)
        assert np.abs(x_adv - x).max() <= eps + 1e-6
        assert x_adv.min() >= 0 and x_adv.max() <= 1
        assert np.abs(x_adv - x).max() > eps / 2

    @pytest.mark.parametrize("attack", list(AttackName))
    def test_reproducible(self, params, digits, linear, attack):
        """The same seed gives the same adversarial set (PGD's random start included)."""
        x, y = digits.x_test[:N], digits.y_test[:N]
        a = craft(linear[0], x, y, attack, 0.2, params.attack.of(attack), params.attack.batch_size, SEED)
        np.testing.assert_array_equal(
            a, craft(linear[0], x, y, attack, 0.2, params.attack.of(attack), params.attack.batch_size, SEED)
        )

    def test_registry(self):
        """Every attack name of params.yaml has an adapter."""
        assert set(ATTACKS) == set(AttackName)


class TestVariants:
    """The soundness checks' attack variants: random starts and the margin loss."""

    def test_mim_from_the_digit_is_cleverhans_mim(self, params, digits, linear):
        """mim_from, started at x, is cleverhans' momentum_iterative_method step for step."""
        x, y = tf.constant(digits.x_test[:N]), tf.constant(digits.y_test[:N], tf.int64)
        steps = params.attack.mim.steps
        ours = attacks.mim_from(linear[0], x, y, 0.1, steps, start=x).numpy()
        np.testing.assert_allclose(ours, attacks.mim(linear[0], x, y, 0.1, steps).numpy(), atol=1e-6, rtol=0)

    def test_margin_loss_is_the_logit_margin(self):
        """max over other classes of z_t minus z_y: positive once the digit is misclassified."""
        logits = tf.constant([[3.0, 1.0, 2.0], [0.0, 5.0, 1.0]])
        got = attacks.margin_loss(tf.constant([0, 0], tf.int64), logits).numpy()
        np.testing.assert_allclose(got, [-1.0, 5.0])

    def test_jittered_fgsm_is_fgsm_for_a_linear_model(self, params, digits, linear):
        """A linear model's gradient does not depend on the point, apart from the softmax: a jitter of 1e-3
        changes almost no sign, so the step is FGSM's."""
        x, y = digits.x_test[:N], digits.y_test[:N]
        fgsm = craft(linear[0], x, y, AttackName.FGSM, 0.1, params.attack.fgsm, N, SEED)
        jittered = attacks.craft_with(
            lambda xb, yb: attacks.jittered_fgsm(linear[0], xb, yb, 0.1, 1e-3), (x, y), 0.1, (N, SEED), "test"
        )
        assert np.mean(jittered == fgsm) > 0.99

    @pytest.mark.parametrize("eps", [0.05, 0.3])
    def test_random_start_variants_stay_in_the_threat_model(self, params, digits, linear, eps):
        """R+FGSM's two steps and MIM's random start stay within the eps-ball and [0, 1] (craft_with checks),
        move the digit, and are reproducible from the seed."""
        x, y = digits.x_test[:N], digits.y_test[:N]
        variants = {
            "rfgsm": lambda xb, yb: attacks.rfgsm(linear[0], xb, yb, eps, eps / 2),
            "mim_random_start": lambda xb, yb: attacks.mim_random_start(
                linear[0], xb, yb, eps, params.attack.mim.steps
            ),
            "pgd_margin": lambda xb, yb: attacks.pgd_margin(linear[0], xb, yb, eps, params.attack.pgd.steps),
        }
        for name, run in variants.items():
            x_adv = attacks.craft_with(run, (x, y), eps, (N, SEED), name)
            assert np.abs(x_adv - x).max() > eps / 2, name
            np.testing.assert_array_equal(x_adv, attacks.craft_with(run, (x, y), eps, (N, SEED), name))

    def test_jitter_leaves_the_bounds(self):
        """Jitter reflects at 0 and 1: no pixel stays on a bound (where ReLUs and cos readouts are flat)."""
        tf.random.set_seed(0)
        x = tf.constant(np.tile([0.0, 1.0, 0.5], (500, 1)), tf.float32)
        moved = attacks.jitter(x, 1e-3).numpy()
        assert moved.min() > 0 and moved.max() < 1 and np.abs(moved - x.numpy()).max() <= 1e-3

    def test_zero_gradient_inputs_are_counted(self):
        """A ReLU that is off on black pixels has an exactly-zero input gradient there."""
        w = np.ones((784, 10), np.float32) * np.linspace(-1, 1, 10, dtype=np.float32)

        def logits_fn(x):
            return tf.nn.relu(tf.reshape(x, (-1, 784))) @ w

        x = np.zeros((2, 28, 28), np.float32)
        x[:, :14] = 0.5  # half the pixels lit
        grad = attacks.input_gradient(logits_fn, tf.constant(x), tf.constant([0, 1], tf.int64)).numpy()
        assert np.mean(grad == 0) == 0.5


class TestThreatModel:
    """A set outside its threat model is an error naming model, attack and eps."""

    def test_outside_ball(self):
        """A pixel moved by more than eps is refused."""
        x = np.full((2, 28, 28), 0.5, np.float32)
        x_adv = x.copy()
        x_adv[1, 3, 4] += 0.2
        with pytest.raises(AdversarialError, match="model 'cnn', attack pgd, eps 0.1.*radius 0.1"):
            check_threat_model(x, x_adv, 0.1, "model 'cnn', attack pgd, eps 0.1")

    def test_outside_pixel_range(self):
        """A pixel outside [0, 1] is refused."""
        x = np.zeros((1, 28, 28), np.float32)
        with pytest.raises(AdversarialError, match=r"must lie in \[0, 1\]"):
            check_threat_model(x, x - 0.05, 0.1, "test")

    def test_nan(self):
        """NaN is refused."""
        x = np.zeros((1, 28, 28), np.float32)
        with pytest.raises(AdversarialError, match="finite"):
            check_threat_model(x, x * np.nan, 0.1, "test")


class TestEpsZero:
    """At eps 0 the ball is the digit itself: craft returns it without running the attack."""

    @pytest.mark.parametrize("attack", list(AttackName))
    @pytest.mark.parametrize("name", ["cnn", "qunn-full-ent_rot"])
    def test_the_digit_bit_for_bit_as_cleverhans_returns_it(self, params, digits, trained_models, attack, name):
        """The shortcut's examples equal cleverhans' own at eps 0 to the bit (PGD with its random start)."""
        x, y = digits.x_test[:N], digits.y_test[:N]
        settings = params.attack.of(attack)
        logits = logits_model(trained_models[name])
        run = ATTACKS[attack]
        cleverhans = attacks.craft_with(lambda xb, yb: run(logits, xb, yb, 0.0, settings), (x, y), 0.0, (N, SEED), "t")
        shortcut = craft(logits, x, y, attack, 0.0, settings, N, SEED)
        assert shortcut.dtype == np.float32
        np.testing.assert_array_equal(shortcut.view(np.uint32), cleverhans.view(np.uint32))
        np.testing.assert_array_equal(shortcut, x.astype(np.float32))


class TestLogits:
    """Attacks differentiate the logits, not the softmax output."""

    def test_fgsm_uses_the_logit_gradient(self, params, digits, trained_models):
        """The FGSM step is the sign of the cross-entropy-from-logits gradient, not from probabilities."""
        model = trained_models["qunn-full-ent_rot"]
        x, y = tf.constant(digits.x_test[:N]), digits.y_test[:N]
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            from_logits = tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits_model(model)(x))
            from_probabilities = tf.nn.sparse_softmax_cross_entropy_with_logits(y, model(x))
        g_logits, g_probs = tape.gradient(from_logits, x).numpy(), tape.gradient(from_probabilities, x).numpy()
        got = craft(
            logits_model(model),
            digits.x_test[:N],
            y,
            AttackName.FGSM,
            0.1,
            params.attack.of(AttackName.FGSM),
            params.attack.batch_size,
            SEED,
        )
        np.testing.assert_allclose(got, np.clip(digits.x_test[:N] + 0.1 * np.sign(g_logits), 0, 1), atol=1e-6)
        # Treating probabilities as logits flattens the gradient: it is a different vector.
        assert np.abs(g_logits - g_probs).max() > 0.1 * np.abs(g_logits).max()

    def test_qunn_gradient_is_pennylanes(self, params, digits, trained_models, grad_tol):
        """The pixel gradient through the QuNN is PennyLane's circuit gradient chained with the head's."""
        import pennylane as qml
        from pennylane import numpy as pnp

        from robqunn.circuits import make_circuit_spec, make_qnode
        from robqunn.patches import extract_patches
        from robqunn.vocabulary import Ansatz, Layout

        model = trained_models["qunn-full-ent_rot"]
        x, y = tf.constant(digits.x_test[:2]), digits.y_test[:2]
        features = feature_model(model)(x)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            tape.watch(features)
            loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits_model(model)(x)))
            head_loss = tf.reduce_sum(
                tf.nn.sparse_softmax_cross_entropy_with_logits(
                    y, model.get_layer("logits")(model.get_layer("flatten")(features))
                )
            )
        d_features = tape.gradient(head_loss, features).numpy().reshape(-1, 4)
        qnode = make_qnode(make_circuit_spec(Ansatz.FULL, Layout.ENT_ROT, params.circuit, SEED))
        vjp = qml.grad(lambda p: pnp.sum(pnp.stack(qnode(p), axis=-1) * d_features))
        patches = extract_patches(digits.x_test[:2].astype(np.float64), 2, 2).reshape(-1, 4)
        expected = np.asarray(vjp(pnp.array(patches, requires_grad=True)))
        got = extract_patches(tape.gradient(loss, x).numpy(), 2, 2).reshape(-1, 4)
        assert model.get_layer(FEATURES).__class__.__name__ == "Quanvolution"
        np.testing.assert_allclose(got, expected, atol=grad_tol, rtol=0)


class TestStrength:
    """The attacks do their job on the real models."""

    @pytest.mark.parametrize("name", ["cnn", "qunn-full-ent_rot"])
    def test_large_eps_pgd_breaks_the_model(self, params, digits, trained_models, name):
        """At eps = 0.5, PGD drives accuracy to chance or below."""
        x, y = digits.x_test[:N], digits.y_test[:N]
        x_adv = craft(
            logits_model(trained_models[name]),
            x,
            y,
            AttackName.PGD,
            0.5,
            params.attack.of(AttackName.PGD),
            params.attack.batch_size,
            SEED,
        )
        assert accuracy_on(trained_models[name], x_adv, y) <= 0.1

    @pytest.mark.parametrize("name", ["cnn", "qunn-full-ent_rot"])
    def test_pgd_at_least_as_strong_as_fgsm(self, params, digits, trained_models, name):
        """PGD's accuracy is no higher than FGSM's at the same eps."""
        x, y = digits.x_test[:N], digits.y_test[:N]
        logits = logits_model(trained_models[name])
        fgsm_x = craft(
            logits, x, y, AttackName.FGSM, 0.1, params.attack.of(AttackName.FGSM), params.attack.batch_size, SEED
        )
        pgd_x = craft(
            logits, x, y, AttackName.PGD, 0.1, params.attack.of(AttackName.PGD), params.attack.batch_size, SEED
        )
        assert accuracy_on(trained_models[name], pgd_x, y) <= accuracy_on(trained_models[name], fgsm_x, y)
