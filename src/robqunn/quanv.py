"""Quanvolution: the circuit of robqunn.circuits applied to every k x k patch of an image.

Two paths compute the same feature maps:

- the PennyLane reference (:func:`pennylane_quanvolution`): a QNode, broadcast over all patches or
  called once per patch as in the PennyLane demo; the ground truth, slow;
- the fast exact path (:class:`Quanvolution`, a Keras layer): the circuit after the encoding is fixed,
  so <Z_j> is a fixed polynomial of (1, cos(pi x_k), sin(pi x_k)) whose coefficients come from the
  PennyLane circuit (circuits.readout_polynomial). It is differentiable in TensorFlow, so white-box
  attacks see the true gradient through the quantum layer.

PennyLane is imported only by the functions that need it, so that loading a saved model (an attack
job) does not pay its import time.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import keras
import numpy as np
import tensorflow as tf

from robqunn.patches import extract_patches, output_size

if TYPE_CHECKING:
    from robqunn.circuits import CircuitSpec


def pennylane_quanvolution(
    images: np.ndarray, spec: CircuitSpec, kernel_size: int, stride: int, broadcast: bool = True
) -> np.ndarray:
    """Reference feature maps (N, H', W', n_qubits) from the PennyLane QNode (float64).

    Args:
        broadcast: one QNode call over all patches (fast); False calls the QNode once per patch,
            the PennyLane quanvolution demo's way (kept for the benchmark).
    """
    from robqunn.circuits import make_qnode

    patches = extract_patches(np.asarray(images, dtype=np.float64), kernel_size, stride)
    flat = patches.reshape(-1, kernel_size**2)
    qnode = make_qnode(spec)
    if broadcast:
        features = np.stack(qnode(flat), axis=-1)
    else:
        features = np.array([np.stack(qnode(patch)) for patch in flat])
    return features.reshape(patches.shape[:3] + (spec.n_qubits,))


@keras.saving.register_keras_serializable(package="robqunn")
class Quanvolution(keras.layers.Layer):
    """Fixed (non-trainable) quanvolution layer: (B, H, W) pixels in [0, 1] -> (B, H', W', k*k).

    Evaluates the circuit's readout polynomial <Z_j> = sum_s c[s, j] prod_k f_{s_k}(x_k), with
    f_I = 1, f_Z = cos(pi x), f_X = sin(pi x) (circuits.readout_polynomial). The Pauli strings are
    part of the config, the coefficients a non-trainable weight, so a saved model holds the exact
    circuit it was built with; ``circuit`` records which circuit that was (for provenance).

    Args:
        kernel_size: patch side k (k*k qubits).
        stride: patch stride.
        pauli_strings: the polynomial's strings over "IZX", qubit 0 first.
        coefficients: (len(pauli_strings), k*k) coefficients; None when Keras rebuilds the layer
            from a file and then loads them as a weight.
        circuit: JSON-friendly description of the circuit (CircuitSpec.describe()).
    """

    def __init__(
        self,
        kernel_size: int,
        stride: int,
        pauli_strings: list[str],
        coefficients=None,
        circuit: dict | None = None,
        **kwargs,
    ):
        kwargs.pop("trainable", None)
        super().__init__(trainable=False, **kwargs)
        self.kernel_size = int(kernel_size)
        self.stride = int(stride)
        self.n_qubits = self.kernel_size**2
        self.pauli_strings = [str(p) for p in pauli_strings]
        self.circuit = dict(circuit or {})
        _check_polynomial(self.pauli_strings, coefficients, self.n_qubits)
        self._initial_coefficients = coefficients

    def build(self, input_shape):
        initial = self._initial_coefficients
        initializer = "zeros" if initial is None else keras.initializers.Constant(np.asarray(initial))
        self.coefficients = self.add_weight(
            name="readout_coefficients",
            shape=(len(self.pauli_strings), self.n_qubits),
            initializer=initializer,
            trainable=False,
        )
        self._initial_coefficients = None

    def call(self, images):
        angles = math.pi * self._qubit_major_pixels(images)
        factors = {"Z": tf.unstack(tf.cos(angles)), "X": tf.unstack(tf.sin(angles))}
        ones = tf.ones_like(angles[0])
        monomials = tf.stack([_monomial(p, factors, ones) for p in self.pauli_strings])
        features = tf.matmul(monomials, tf.cast(self.coefficients, monomials.dtype), transpose_a=True)
        rows, cols = self._output_grid(images.shape)
        return tf.reshape(features, (-1, rows, cols, self.n_qubits))

    def _qubit_major_pixels(self, images):
        """(B, H, W) -> (n_qubits, B * H' * W'): row k holds pixel k of every patch.

        Why qubit-major: each monomial is then a product of whole rows (unstacked once), which
        keeps both the forward pass and its gradient to a few large elementwise ops.
        """
        k, s = self.kernel_size, self.stride
        height, width = images.shape[1], images.shape[2]
        if k == s and height % k == 0 and width % k == 0:
            blocks = tf.reshape(images, (-1, height // k, k, width // k, k))
            return tf.reshape(tf.transpose(blocks, (2, 4, 0, 1, 3)), (self.n_qubits, -1))
        patches = tf.image.extract_patches(
            images[..., None], sizes=[1, k, k, 1], strides=[1, s, s, 1], rates=[1, 1, 1, 1], padding="VALID"
        )
        return tf.transpose(tf.reshape(patches, (-1, self.n_qubits)))

    def _output_grid(self, input_shape) -> tuple[int, int]:
        return (
            output_size(input_shape[1], self.kernel_size, self.stride),
            output_size(input_shape[2], self.kernel_size, self.stride),
        )

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self._output_grid(input_shape), self.n_qubits)

    def get_config(self):
        config = super().get_config()
        config.pop("trainable", None)
        config.update(
            kernel_size=self.kernel_size, stride=self.stride, pauli_strings=self.pauli_strings, circuit=self.circuit
        )
        return config


def _monomial(pauli_string: str, factors: dict, ones):
    """prod_k f_{p_k}(x_k) over the qubits whose letter is not I."""
    product = ones
    for k, letter in enumerate(pauli_string):
        if letter != "I":
            product = factors[letter][k] if product is ones else product * factors[letter][k]
    return product


def _check_polynomial(pauli_strings: list[str], coefficients, n_qubits: int) -> None:
    if not pauli_strings:
        raise ValueError("pauli_strings must hold at least one string; got none")
    for p in pauli_strings:
        if len(p) != n_qubits or set(p) - set("IZX"):
            raise ValueError(f"pauli_strings must be {n_qubits} letters from 'IZX'; got {p!r}")
    expected = (len(pauli_strings), n_qubits)
    if coefficients is not None and np.shape(coefficients) != expected:
        raise ValueError(f"coefficients must have shape {expected}; got {np.shape(coefficients)}")


def quanvolution_layer(spec: CircuitSpec, kernel_size: int, stride: int, name: str = "features") -> Quanvolution:
    """The fast layer for ``spec``, its polynomial computed from the PennyLane circuit."""
    from robqunn.circuits import readout_polynomial

    if spec.n_qubits != kernel_size**2:
        raise ValueError(f"circuit must have kernel_size**2 = {kernel_size**2} qubits; got {spec.n_qubits}")
    strings, coefficients = readout_polynomial(spec)
    return Quanvolution(
        kernel_size, stride, pauli_strings=strings, coefficients=coefficients, circuit=spec.describe(), name=name
    )
