"""Tests of robqunn.quanv: the fast quanvolution layer against the PennyLane QNode."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pennylane as qml
import pytest
import tensorflow as tf
from pennylane import numpy as pnp

from robqunn.circuits import make_circuit_spec, make_qnode
from robqunn.patches import extract_patches, output_size
from robqunn.quanv import Quanvolution, pennylane_quanvolution, quanvolution_layer
from robqunn.vocabulary import Ansatz, Layout

ALL_CIRCUITS = [(a, l) for a in Ansatz for l in Layout]
SEED = 42


def spec_for(params, ansatz, layout, **circuit_changes):
    return make_circuit_spec(ansatz, layout, dataclasses.replace(params.circuit, **circuit_changes), SEED)


def fast(layer, images):
    return np.asarray(layer(tf.constant(images, tf.float32)))


def fast_vjp(layer, images, cotangent):
    x = tf.constant(images, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(layer(x) * cotangent)
    return tape.gradient(loss, x).numpy()


def pennylane_vjp(spec, patches, cotangent):
    """PennyLane's own input gradient (autograd backpropagation) of sum(cotangent * <Z>)."""
    qnode = make_qnode(spec)
    grad = qml.grad(lambda x: pnp.sum(pnp.stack(qnode(x), axis=-1) * cotangent))
    return np.asarray(grad(pnp.array(patches, requires_grad=True)))


def identity_readout_layer(kernel_size, stride):
    """A layer whose channel k is cos(pi * pixel k): exposes the patch order of the fast path."""
    n = kernel_size**2
    strings = ["I" * k + "Z" + "I" * (n - k - 1) for k in range(n)]
    return Quanvolution(kernel_size, stride, pauli_strings=strings, coefficients=np.eye(n))


@pytest.fixture(scope="module")
def patch_images():
    """Random single-patch images (N, 2, 2): one patch each, pixels in row-major qubit order."""
    return np.random.default_rng(0).uniform(size=(32, 2, 2))


class TestPatches:
    """Patch extraction and qubit order (top-left, top-right, bottom-left, bottom-right)."""

    def test_numpy_patch_order(self):
        """Patch (i, j) of a 2x2/stride-2 grid lists its pixels row by row."""
        image = np.arange(16.0).reshape(1, 4, 4)
        patches = extract_patches(image, 2, 2)
        assert patches.shape == (1, 2, 2, 4)
        np.testing.assert_array_equal(patches[0, 0, 1], [2, 3, 6, 7])
        np.testing.assert_array_equal(patches[0, 1, 0], [8, 9, 12, 13])

    @pytest.mark.parametrize("kernel_size, stride", [(2, 2), (3, 3), (2, 1), (3, 2), (3, 1)])
    def test_fast_path_uses_the_same_patches(self, kernel_size, stride):
        """The layer's patches (reshape or extract_patches path) equal the numpy reference."""
        images = np.random.default_rng(1).uniform(size=(2, 28, 28))
        expected = np.cos(np.pi * extract_patches(images, kernel_size, stride))
        np.testing.assert_allclose(fast(identity_readout_layer(kernel_size, stride), images), expected, atol=1e-6)

    @pytest.mark.parametrize("size, kernel_size, stride, expected", [(28, 2, 2, 14), (28, 3, 3, 9), (28, 3, 2, 13)])
    def test_output_size(self, size, kernel_size, stride, expected):
        """'valid' patches: those that fit entirely."""
        assert output_size(size, kernel_size, stride) == expected


class TestCorrectness:
    """Fast layer == PennyLane QNode to 1e-5, for every ansatz and layout."""

    @pytest.mark.parametrize("ansatz, layout", ALL_CIRCUITS)
    def test_random_patches(self, params, patch_images, ansatz, layout, tol):
        """On random patches."""
        spec = spec_for(params, ansatz, layout)
        expected = np.stack(make_qnode(spec)(patch_images.reshape(-1, 4)), axis=-1).reshape(-1, 1, 1, 4)
        np.testing.assert_allclose(fast(quanvolution_layer(spec, 2, 2), patch_images), expected, atol=tol, rtol=0)

    @pytest.mark.parametrize("ansatz, layout", ALL_CIRCUITS)
    def test_real_digits(self, params, digits, ansatz, layout, tol):
        """On whole real digits (feature maps 14x14x4)."""
        spec = spec_for(params, ansatz, layout)
        images = digits.x_test[:3]
        expected = pennylane_quanvolution(images, spec, 2, 2)
        assert expected.shape == (3, 14, 14, 4)
        np.testing.assert_allclose(fast(quanvolution_layer(spec, 2, 2), images), expected, atol=tol, rtol=0)

    @pytest.mark.parametrize("ansatz", [Ansatz.FULL, Ansatz.RANDOM])
    @pytest.mark.parametrize("stride", [3, 2])
    def test_nine_qubits(self, params, digits, ansatz, stride, tol):
        """A 3x3 kernel (9 qubits), tiling and overlapping."""
        spec = spec_for(params, ansatz, Layout.ENT_ROT, kernel_size=3, stride=stride)
        images = digits.x_test[:1]
        expected = pennylane_quanvolution(images, spec, 3, stride)
        np.testing.assert_allclose(fast(quanvolution_layer(spec, 3, stride), images), expected, atol=tol, rtol=0)

    def test_per_patch_reference_equals_broadcast(self, params, digits):
        """The demo's one-call-per-patch path gives the broadcast path's numbers."""
        spec = spec_for(params, Ansatz.FULL, Layout.ENT_ROT)
        image = digits.x_test[:1]
        np.testing.assert_allclose(
            pennylane_quanvolution(image, spec, 2, 2, broadcast=False),
            pennylane_quanvolution(image, spec, 2, 2),
            atol=1e-12,
        )

    @pytest.mark.parametrize("ansatz", [Ansatz.FULL, Ansatz.LINEAR, Ansatz.STAR])
    def test_invariance_on_digits(self, params, digits, ansatz):
        """Under rot_ent the ZZ ansaetze give `none`'s feature maps; under ent_rot they do not."""
        images = digits.x_test[:2]
        for layout, same in [(Layout.ROT_ENT, True), (Layout.ENT_ROT, False)]:
            none = pennylane_quanvolution(images, spec_for(params, Ansatz.NONE, layout), 2, 2)
            other = pennylane_quanvolution(images, spec_for(params, ansatz, layout), 2, 2)
            assert np.allclose(other, none, atol=1e-12) is same


class TestInterfaces:
    """The fast layer's input gradient is PennyLane's own gradient."""

    @pytest.mark.parametrize("ansatz, layout", ALL_CIRCUITS)
    def test_gradient_random_patches(self, params, patch_images, ansatz, layout, grad_tol):
        """VJP with a random cotangent, against qml.grad on the QNode."""
        spec = spec_for(params, ansatz, layout)
        cotangent = np.random.default_rng(2).normal(size=(len(patch_images), 1, 1, 4))
        expected = pennylane_vjp(spec, patch_images.reshape(-1, 4), cotangent.reshape(-1, 4))
        got = fast_vjp(quanvolution_layer(spec, 2, 2), patch_images, cotangent)
        np.testing.assert_allclose(got.reshape(-1, 4), expected, atol=grad_tol, rtol=0)

    @pytest.mark.parametrize("ansatz, layout", [(Ansatz.FULL, Layout.ENT_ROT), (Ansatz.RANDOM, Layout.ROT_ENT)])
    def test_gradient_real_digit(self, params, digits, ansatz, layout, grad_tol):
        """On a whole digit: the image gradient, patch by patch, is PennyLane's patch gradient."""
        spec = spec_for(params, ansatz, layout)
        image = digits.x_test[:1]
        cotangent = np.random.default_rng(3).normal(size=(1, 14, 14, 4))
        expected = pennylane_vjp(spec, extract_patches(image, 2, 2).reshape(-1, 4), cotangent.reshape(-1, 4))
        got = extract_patches(fast_vjp(quanvolution_layer(spec, 2, 2), image, cotangent), 2, 2)
        np.testing.assert_allclose(got.reshape(-1, 4), expected, atol=grad_tol, rtol=0)

    def test_gradient_central_difference(self, params, digits, grad_tol):
        """On a digit, the gradient matches a float64 central difference of the QNode path."""
        spec = spec_for(params, Ansatz.STAR, Layout.ENT_ROT)
        image = digits.x_test[:1].astype(np.float64)
        cotangent = np.random.default_rng(4).normal(size=(1, 14, 14, 4))
        got = fast_vjp(quanvolution_layer(spec, 2, 2), image, cotangent)
        h = 1e-5
        for row, col in [(14, 14), (10, 7), (20, 15)]:
            step = np.zeros_like(image)
            step[0, row, col] = h
            plus = np.sum(pennylane_quanvolution(image + step, spec, 2, 2) * cotangent)
            minus = np.sum(pennylane_quanvolution(image - step, spec, 2, 2) * cotangent)
            np.testing.assert_allclose(got[0, row, col], (plus - minus) / (2 * h), atol=grad_tol, rtol=0)


class TestLayer:
    """The Keras layer itself: frozen, serialisable, validated."""

    def test_not_trainable(self, params):
        """The quantum layer is fixed: no trainable weights."""
        layer = quanvolution_layer(spec_for(params, Ansatz.FULL, Layout.ENT_ROT), 2, 2)
        layer.build((None, 28, 28))
        assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 1

    def test_config_round_trip(self, params, digits):
        """A layer rebuilt from its config and weights computes the same features."""
        spec = spec_for(params, Ansatz.RANDOM, Layout.ROT_ENT)
        layer = quanvolution_layer(spec, 2, 2)
        expected = fast(layer, digits.x_test[:2])
        clone = Quanvolution.from_config(layer.get_config())
        clone.build((None, 28, 28))
        clone.set_weights(layer.get_weights())
        np.testing.assert_array_equal(fast(clone, digits.x_test[:2]), expected)
        assert clone.get_config()["circuit"] == spec.describe()

    def test_output_shape(self, params):
        """compute_output_shape agrees with the tensor the layer returns."""
        layer = quanvolution_layer(spec_for(params, Ansatz.FULL, Layout.ENT_ROT), 2, 2)
        output = keras.Input((28, 28))
        assert tuple(layer(output).shape) == layer.compute_output_shape((None, 28, 28)) == (None, 14, 14, 4)

    @pytest.mark.parametrize(
        "strings, coefficients, match",
        [
            ([], None, "at least one"),
            (["ZIYI"], None, "letters from 'IZX'"),
            (["ZII"], None, "4 letters"),
            (["ZIII", "IZII"], np.ones((3, 4)), r"shape \(2, 4\)"),
        ],
    )
    def test_bad_polynomial(self, strings, coefficients, match):
        """A malformed polynomial is refused with the expected form."""
        with pytest.raises(ValueError, match=match):
            Quanvolution(2, 2, pauli_strings=strings, coefficients=coefficients)

    def test_kernel_mismatch(self, params):
        """A 4-qubit circuit cannot serve a 3x3 kernel."""
        with pytest.raises(ValueError, match="9 qubits; got 4"):
            quanvolution_layer(spec_for(params, Ansatz.FULL, Layout.ENT_ROT), 3, 3)

    def test_image_smaller_than_kernel(self):
        """An image smaller than the kernel is refused."""
        with pytest.raises(ValueError, match="kernel_size 3"):
            output_size(2, 3, 1)
