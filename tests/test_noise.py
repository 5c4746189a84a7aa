"""Tests of the noisy circuits (robqunn.circuits) and the finite-shot readout (robqunn.quanv)."""

from __future__ import annotations

import dataclasses
import itertools

import keras
import numpy as np
import pennylane as qml
import pytest
import tensorflow as tf
from scipy.stats import chi2_contingency

from robqunn import models, quanv
from robqunn.attacks import craft
from robqunn.circuits import (
    elementary_gates,
    entanglers_visible,
    grid_polynomials,
    make_circuit_spec,
    make_qnode,
    noisy_qnode,
    outcome_polynomial,
    readout_coefficients,
    readout_polynomial,
    with_noise,
)
from robqunn.models import build_model, load_model, logits_model, save_model
from robqunn.noise import Noise, NoiseChannel
from robqunn.quanv import Quanvolution, multinomial_counts, outcome_signs, quanvolution_layer
from robqunn.vocabulary import CNN, Ansatz, AttackName, Layout, ModelSpec

ALL_CIRCUITS = [(a, l) for a in Ansatz for l in Layout]
ZZ_ANSATZE = [Ansatz.FULL, Ansatz.LINEAR, Ansatz.STAR]
STRENGTH = 0.05
NOISES = [Noise(c, STRENGTH) for c in NoiseChannel]
SEED = 42
EXACT = 1e-12  # float64 agreement between two exact computations
ALPHA = 1e-3  # significance of the goodness-of-fit tests (fixed seeds: each outcome is deterministic)


def spec_for(params, ansatz=Ansatz.FULL, layout=Layout.ENT_ROT, noise=None):
    return make_circuit_spec(ansatz, layout, params.circuit, SEED, noise)


def evaluate(strings, coefficients, patches):
    """A sparse polynomial on patches (N, n) with numpy, independent of the Keras layer."""
    letters = {"I": np.ones_like(patches), "Z": np.cos(np.pi * patches), "X": np.sin(np.pi * patches)}
    monomials = np.stack([np.prod([letters[p][:, k] for k, p in enumerate(s)], axis=0) for s in strings], axis=1)
    return monomials @ coefficients


def qnode_readout(spec, patches):
    return np.stack(make_qnode(spec)(patches), axis=-1)


def qnode_probs(spec, patches):
    return noisy_qnode(spec, lambda: qml.probs(wires=spec.wires))(patches)


def pennylane_counts(spec, patch, shots, seed):
    """PennyLane's own finite-shot outcome counts (default.mixed, qml.counts) of one patch, in qml.probs' order."""

    def circuit(x):
        elementary_gates(spec, x)
        return qml.counts(wires=spec.wires, all_outcomes=True)

    qnode = qml.QNode(circuit, qml.device("default.mixed", wires=spec.n_qubits, seed=seed), shots=shots)
    counts = with_noise(qnode, spec.noise)(patch)
    return np.array([counts[format(b, f"0{spec.n_qubits}b")] for b in range(2**spec.n_qubits)])


def product_state_layer(shots: int) -> Quanvolution:
    """2x2 patches encoded and read out with nothing between: qubit k reads 1 with probability (1 - cos pi x_k)/2,
    outcome b's probability the product prod_k (1 +- cos pi x_k) / 2 written as a polynomial over {I, Z}^4."""
    strings = ["".join(letters) for letters in itertools.product("IZ", repeat=4)]
    signs = outcome_signs(4)
    coefficients = np.array(
        [[np.prod([signs[b, k] if s[k] == "Z" else 1.0 for k in range(4)]) / 16 for b in range(16)] for s in strings]
    )
    readout = ["ZIII", "IZII", "IIZI", "IIIZ"]
    return Quanvolution(
        2, 2, readout, np.eye(4), shots=shots, outcome_strings=strings, outcome_coefficients=coefficients
    )


def shot_layer(spec, shots, seed=0):
    layer = quanvolution_layer(spec, 2, 2, shots=shots, seed=seed)
    layer.build((None, 2, 2))
    return layer


@pytest.fixture(scope="module")
def patches():
    """Random patches (N, 4), and the same as single-patch 2x2 images."""
    return np.random.default_rng(0).uniform(size=(32, 4))


class TestCorrectness:
    """Noisy polynomials against PennyLane's default.mixed QNode, for every ansatz, layout and channel."""

    @pytest.mark.parametrize("noise", NOISES, ids=lambda n: n.channel.value)
    @pytest.mark.parametrize("ansatz, layout", ALL_CIRCUITS)
    def test_fast_layer_equals_mixed_qnode(self, params, patches, ansatz, layout, noise, tol):
        """The fast layer's <Z_j> equals the noisy QNode's on random patches (float32: 1e-5)."""
        spec = spec_for(params, ansatz, layout, noise)
        got = np.asarray(quanvolution_layer(spec, 2, 2)(tf.constant(patches.reshape(-1, 2, 2), tf.float32)))
        np.testing.assert_allclose(got.reshape(-1, 4), qnode_readout(spec, patches), atol=tol, rtol=0)

    @pytest.mark.parametrize("noise", [None, *NOISES], ids=lambda n: n.channel.value if n else "noiseless")
    @pytest.mark.parametrize("ansatz, layout", ALL_CIRCUITS)
    def test_outcome_polynomial_equals_probs(self, params, patches, ansatz, layout, noise):
        """The outcome polynomial equals qml.probs (wire 0 most significant) to 1e-6."""
        spec = spec_for(params, ansatz, layout, noise)
        np.testing.assert_allclose(evaluate(*outcome_polynomial(spec), patches), qnode_probs(spec, patches), atol=1e-6)

    @pytest.mark.parametrize("ansatz, layout", ALL_CIRCUITS)
    def test_grid_method_equals_heisenberg(self, params, ansatz, layout):
        """On the noiseless circuit the grid method gives the Heisenberg-picture coefficients (1e-12)."""
        spec = spec_for(params, ansatz, layout)
        np.testing.assert_allclose(grid_polynomials(spec)[0], readout_coefficients(spec), atol=EXACT, rtol=0)

    @pytest.mark.parametrize("ansatz, layout", ALL_CIRCUITS)
    def test_readout_flip_closed_form(self, params, patches, ansatz, layout):
        """A bit flip p before the readout gives <Z_j> -> (1 - 2p) <Z_j>."""
        noisy = spec_for(params, ansatz, layout, Noise(NoiseChannel.READOUT, STRENGTH))
        expected = (1 - 2 * STRENGTH) * qnode_readout(spec_for(params, ansatz, layout), patches)
        np.testing.assert_allclose(evaluate(*readout_polynomial(noisy), patches), expected, atol=EXACT, rtol=0)

    @pytest.mark.parametrize("layout", list(Layout))
    def test_depolarizing_closed_form_without_entanglers(self, params, patches, layout):
        """Without entanglers each qubit sees two gates (RY, Rot), each followed by a depolarizing channel,
        which shrinks the Bloch vector by 1 - 4p/3: <Z_j> -> (1 - 4p/3)^2 <Z_j>."""
        noisy = spec_for(params, Ansatz.NONE, layout, Noise(NoiseChannel.DEPOLARIZING, STRENGTH))
        expected = (1 - 4 * STRENGTH / 3) ** 2 * qnode_readout(spec_for(params, Ansatz.NONE, layout), patches)
        np.testing.assert_allclose(evaluate(*readout_polynomial(noisy), patches), expected, atol=EXACT, rtol=0)

    @pytest.mark.parametrize("ansatz", ZZ_ANSATZE + [Ansatz.RANDOM])
    def test_depolarizing_shrinks_the_readout(self, params, patches, ansatz):
        """With entanglers too, depolarizing noise shrinks the readout on average."""
        noisy = spec_for(params, ansatz, Layout.ENT_ROT, Noise(NoiseChannel.DEPOLARIZING, STRENGTH))
        ideal = qnode_readout(spec_for(params, ansatz, Layout.ENT_ROT), patches)
        assert np.abs(evaluate(*readout_polynomial(noisy), patches)).mean() < np.abs(ideal).mean()

    @pytest.mark.parametrize("ansatz", [Ansatz.FULL, Ansatz.RANDOM])
    def test_full_damping_resets_to_zero(self, params, patches, ansatz):
        """Amplitude damping with gamma = 1 after every gate leaves |0...0>: <Z_j> = 1, P(0000) = 1."""
        spec = spec_for(params, ansatz, Layout.ENT_ROT, Noise(NoiseChannel.AMPLITUDE_DAMPING, 1.0))
        np.testing.assert_allclose(evaluate(*readout_polynomial(spec), patches), 1.0, atol=EXACT)
        np.testing.assert_allclose(
            evaluate(*outcome_polynomial(spec), patches), np.eye(16)[[0] * len(patches)], atol=EXACT
        )


class TestInvariance:
    """entanglers_visible on noisy circuits: the entanglers' unitary action, their noise kept."""

    @pytest.mark.parametrize("noise", NOISES, ids=lambda n: n.channel.value)
    @pytest.mark.parametrize("layout, visible", [(Layout.ROT_ENT, False), (Layout.ENT_ROT, True)])
    def test_noisy_invariance(self, params, noise, layout, visible):
        """Under rot_ent the ZZ entanglers stay invisible under any channel; under ent_rot they act."""
        assert entanglers_visible(spec_for(params, Ansatz.FULL, layout, noise)) is visible

    def test_describe(self, params):
        """The circuit's description names its noise (None for the ideal circuit)."""
        noise = Noise(NoiseChannel.AMPLITUDE_DAMPING, STRENGTH)
        assert spec_for(params, noise=noise).describe()["noise"] == {"channel": "amplitude_damping", "strength": 0.05}
        assert spec_for(params).describe()["noise"] is None


class TestShots:
    """The finite-shot readout against PennyLane's own sampling and the multinomial's moments."""

    def test_counts_homogeneous_with_pennylane(self, params, patches):
        """Our outcome counts and PennyLane's (default.mixed, qml.counts) pass a chi-square test of
        homogeneity at ALPHA, on four patches of the noisy full ent_rot circuit."""
        spec = spec_for(params, noise=Noise(NoiseChannel.DEPOLARIZING, STRENGTH))
        shots, x = 4000, patches[:4]
        probabilities = evaluate(*outcome_polynomial(spec), x)
        keys = np.array([[1, i, 0] for i in range(len(x))])
        ours = multinomial_counts(shots, probabilities[:, None, :], keys)[:, 0]
        for i, patch in enumerate(x):
            table = np.stack([ours[i], pennylane_counts(spec, patch, shots, seed=i)])
            table = table[:, table.sum(axis=0) > 0]
            assert chi2_contingency(table).pvalue > ALPHA, table

    def test_layer_marginals_homogeneous_with_pennylane(self, params, patches):
        """Each qubit's count of 0s behind the layer's sample means passes the same test against PennyLane."""
        spec = spec_for(params, Ansatz.RANDOM, Layout.ROT_ENT, Noise(NoiseChannel.AMPLITUDE_DAMPING, STRENGTH))
        shots, patch = 4000, patches[0]
        means = np.asarray(shot_layer(spec, shots, seed=3)(tf.constant(patch.reshape(1, 2, 2), tf.float32)))
        zeros = np.rint(shots * (1 + means.reshape(4)) / 2)
        theirs = pennylane_counts(spec, patch, shots, seed=7) @ (outcome_signs(4) > 0)
        for ours_j, theirs_j in zip(zeros, theirs, strict=True):
            assert chi2_contingency([[ours_j, shots - ours_j], [theirs_j, shots - theirs_j]]).pvalue > ALPHA

    def test_sample_mean_moments(self, params, patches):
        """Over 1000 draws per patch, the sample means have mean <Z_j> and variance (1 - <Z_j>^2) / S."""
        spec = spec_for(params, noise=Noise(NoiseChannel.DEPOLARIZING, STRENGTH))
        shots, draws = 100, 1000
        images = np.tile(patches[:4].reshape(4, 2, 2), (draws, 1, 1))
        means = np.asarray(shot_layer(spec, shots)(tf.constant(images, tf.float32))).reshape(draws, 4, 4)
        expectation = qnode_readout(spec, patches[:4])
        variance = (1 - expectation**2) / shots
        np.testing.assert_array_less(np.abs(means.mean(axis=0) - expectation), 5 * np.sqrt(variance / draws))
        np.testing.assert_allclose(means.var(axis=0), variance, rtol=0.25)

    def test_outcome_probabilities_are_the_polynomial_in_float64(self, params, digits):
        """The probabilities the layer samples, all-black patches included (taken as one row), equal the outcome
        polynomial evaluated by NumPy in float64 on every patch, to float64 round-off."""
        spec = spec_for(params, Ansatz.RANDOM, Layout.ROT_ENT, Noise(NoiseChannel.AMPLITUDE_DAMPING, STRENGTH))
        layer = shot_layer(spec, shots=10)
        x = digits.x_test[:3]
        patches = x.reshape(3, 14, 2, 14, 2).transpose(0, 1, 3, 2, 4).reshape(-1, 4).astype(np.float64)
        assert np.mean(~patches.any(axis=1)) > 0.5  # most patches are black
        expected = evaluate(layer.outcome_strings, layer.outcome_coefficients.numpy(), patches)
        np.testing.assert_allclose(layer.outcome_probabilities(x).reshape(-1, 16), expected, rtol=0, atol=EXACT)

    def test_an_impossible_outcome_is_never_drawn(self, digits):
        """A qubit whose pixel is 0 cannot read 1: over a million shots per patch its sample mean stays exactly 1.
        A product-state layer (<Z_k> = cos pi x_k), on digits whose first pixel of every patch is 0 and the rest
        above 0: in float32, the outcome polynomial's cancellations left ~1e-8 on such outcomes, and 10^4 patches
        of 10^6 shots drew them."""
        layer = product_state_layer(shots=10**6)
        x = np.array(digits.x_test[:50], np.float32).clip(0.05, 0.95)
        x[:, ::2, ::2] = 0.0
        means = np.asarray(layer(tf.constant(x)))
        np.testing.assert_array_equal(means[..., 0], 1.0)
        assert np.all(np.abs(means[..., 1:]) < 1)  # the other qubits did read both outcomes

    def test_batching_never_changes_the_draws(self, params, digits):
        """FGSM with 2 EOT draws on 8 digits of a finite-shot model gives the same examples in batches of 8, 4 and
        3, and its scores too (to the head's last bits; other draws move them by ~1e-2); a digit's draws are the
        same whichever digits share its call."""
        model = build_model(ModelSpec.from_name("qunn-full-ent_rot-dep0.05-shots100"), params.circuit, SEED)
        x, y = digits.x_test[:8], digits.y_test[:8]

        def examples(batch_size):
            quanv.reseed(model, 5)
            return craft(logits_model(model), x, y, AttackName.FGSM, 0.1, params.attack.fgsm, batch_size, 1, draws=2)

        def scores(batch):
            quanv.reseed(model, 5)
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(models, "PREDICT_BATCH", batch)
                return models.predict(model, x)

        by_eight = examples(8)
        for batch_size in (4, 3):
            np.testing.assert_array_equal(examples(batch_size), by_eight)
        np.testing.assert_allclose(scores(3), scores(8), rtol=0, atol=1e-6)  # the head's float32 sums: last bits
        features = model.get_layer("features")
        quanv.reseed(model, 5)
        alone = np.asarray(features(tf.constant(x[:4])))
        quanv.reseed(model, 5)
        with quanv.digits_from(2):
            shifted = np.asarray(features(tf.constant(x[2:4])))
        np.testing.assert_array_equal(shifted, alone[2:4])
        assert not np.array_equal(alone[2:4], alone[:2])  # digits 0, 1 and 2, 3 differ: draws not shared by rows

    def test_reseed(self, params, digits):
        """reseed gives the same draws twice (through a model sharing the layer too); another seed, others."""
        model = build_model(ModelSpec.from_name("qunn-full-ent_rot-dep0.05-shots100"), params.circuit, SEED)
        features = model.get_layer("features")
        x = tf.constant(digits.x_test[:2], tf.float32)
        quanv.reseed(model, 1)
        first, second = np.asarray(features(x)), np.asarray(features(x))
        quanv.reseed(logits_model(model), 1)
        np.testing.assert_array_equal(np.asarray(features(x)), first)
        quanv.reseed(model, 2)
        assert not np.array_equal(np.asarray(features(x)), first) and not np.array_equal(first, second)

    def test_expectation_only(self, params, digits):
        """Inside expectation_only a shot layer returns the exact layer's output, in a function compiled outside
        the block too; after it, it samples again."""
        spec = spec_for(params, noise=Noise(NoiseChannel.READOUT, STRENGTH))
        exact = quanvolution_layer(spec, 2, 2)
        model = build_qunn_model(quanvolution_layer(spec, 2, 2, shots=50))
        compiled = tf.function(lambda images: model.get_layer("features")(images))
        x = tf.constant(digits.x_test[:3], tf.float32)
        compiled(x)
        with quanv.expectation_only(model):
            np.testing.assert_array_equal(np.asarray(compiled(x)), np.asarray(exact(x)))
        assert not np.allclose(np.asarray(compiled(x)), np.asarray(exact(x)), atol=1e-3)

    def test_straight_through_gradient(self, params, digits):
        """With a linear head the input gradient of the shot layer (graph mode, unknown batch size) is the
        exact layer's."""
        spec = spec_for(params, noise=Noise(NoiseChannel.DEPOLARIZING, STRENGTH))
        weights = tf.constant(np.random.default_rng(1).normal(size=(1, 14, 14, 4)), tf.float32)

        def gradient(layer):
            @tf.function(input_signature=[tf.TensorSpec((None, 28, 28), tf.float32)])
            def run(x):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    loss = tf.reduce_sum(layer(x) * weights)
                return tape.gradient(loss, x)

            return run(tf.constant(digits.x_test[:2], tf.float32)).numpy()

        expected = gradient(quanvolution_layer(spec, 2, 2))
        np.testing.assert_allclose(gradient(quanvolution_layer(spec, 2, 2, shots=10)), expected, atol=1e-6, rtol=0)

    def test_save_load_round_trip(self, params, digits, tmp_path):
        """A saved shot model loads with its shots, outcome polynomial and draws (after reseed) intact."""
        spec = ModelSpec.from_name("qunn-star-ent_rot-amp0.05-shots200")
        model = build_model(spec, params.circuit, SEED)
        save_model(model, tmp_path / "model.keras")
        loaded = load_model(tmp_path / "model.keras", spec.name)
        assert quanv.shots_of(loaded) == 200
        layer, original = loaded.get_layer("features"), model.get_layer("features")
        assert layer.outcome_strings == original.outcome_strings
        np.testing.assert_array_equal(layer.outcome_coefficients.numpy(), original.outcome_coefficients.numpy())
        x = digits.x_test[:2]
        for m in (model, loaded):
            quanv.reseed(m, 9)
        np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))

    def test_models_without_shots(self, params):
        """The CNN and an exact QuNN have no shots; reseed and expectation_only leave them alone."""
        for name in (CNN, "qunn-full-ent_rot-dep0.05"):
            model = build_model(ModelSpec.from_name(name), params.circuit, SEED)
            assert quanv.shots_of(model) is None
            quanv.reseed(model, 1)
            with quanv.expectation_only(model):
                pass

    @pytest.mark.parametrize("shots", [0, -3, 2.5, True])
    def test_bad_shots(self, params, shots):
        """shots must be a positive integer."""
        strings, coefficients = outcome_polynomial(spec_for(params))
        with pytest.raises(ValueError, match="shots must be a positive integer"):
            Quanvolution(2, 2, ["ZIII"], shots=shots, outcome_strings=strings, outcome_coefficients=coefficients)

    def test_bad_outcome_polynomial(self, params):
        """The outcome coefficients need one column per outcome; shots need the outcome strings."""
        strings, coefficients = outcome_polynomial(spec_for(params))
        with pytest.raises(ValueError, match=r"outcome_coefficients must have shape \(\d+, 16\)"):
            Quanvolution(2, 2, ["ZIII"], shots=10, outcome_strings=strings, outcome_coefficients=coefficients[:, :4])
        with pytest.raises(ValueError, match="outcome_strings must be given"):
            Quanvolution(2, 2, ["ZIII"], shots=10)


def build_qunn_model(layer):
    inputs = keras.Input((28, 28))
    return keras.Model(inputs, layer(inputs))


def test_noisy_spec_keeps_angles(params):
    """Noise draws nothing: a noisy circuit has its ideal twin's angles."""
    noisy = spec_for(params, noise=Noise(NoiseChannel.DEPOLARIZING, STRENGTH))
    assert dataclasses.replace(noisy, noise=None).describe() == spec_for(params).describe()
    np.testing.assert_array_equal(noisy.rotation_weights, spec_for(params).rotation_weights)
