"""Quanvolution: the circuit of robqunn.circuits applied to every k x k patch of an image.

Two paths compute the same feature maps:

- the PennyLane reference (:func:`pennylane_quanvolution`): a QNode, broadcast over all patches or
  called once per patch as in the PennyLane demo; the ground truth, slow;
- the fast exact path (:class:`Quanvolution`, a Keras layer): the circuit after the encoding is fixed,
  so <Z_j> is a fixed polynomial of (1, cos(pi x_k), sin(pi x_k)) whose 3^n coefficients come from the
  PennyLane circuit (circuits.readout_coefficients). It is differentiable in TensorFlow, so white-box
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

if TYPE_CHECKING:
    from robqunn.circuits import CircuitSpec

N_ENCODED_TERMS = 3  # (1, cos, sin) per qubit


def output_size(size: int, kernel_size: int, stride: int) -> int:
    """Patches along one axis ('valid' padding: patches that fit entirely)."""
    if size < kernel_size:
        raise ValueError(f"image side must be >= kernel_size {kernel_size}; got {size}")
    return (size - kernel_size) // stride + 1


def extract_patches(images: np.ndarray, kernel_size: int, stride: int) -> np.ndarray:
    """(N, H, W) images -> (N, H', W', k*k) patches, pixels of a patch in row-major order.

    Row-major order makes qubit 0 the top-left pixel, then top-right, bottom-left, bottom-right
    for k = 2, as in SPEC.md.
    """
    if images.ndim != 3:
        raise ValueError(f"images must have shape (N, H, W); got {images.shape}")
    windows = np.lib.stride_tricks.sliding_window_view(images, (kernel_size, kernel_size), axis=(1, 2))
    windows = windows[:, ::stride, ::stride]
    return windows.reshape(windows.shape[:3] + (kernel_size**2,))


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

    The readout polynomial's coefficients are a non-trainable weight, so a saved model holds the
    exact circuit it was built with; ``circuit`` records which circuit that was (for provenance).

    Args:
        kernel_size: patch side k (k*k qubits).
        stride: patch stride.
        coefficients: (3^n, n) readout coefficients (circuits.readout_coefficients, flattened);
            None when Keras rebuilds the layer from a file and loads them as a weight.
        circuit: JSON-friendly description of the circuit (CircuitSpec.describe()).
    """

    def __init__(self, kernel_size: int, stride: int, coefficients=None, circuit: dict | None = None, **kwargs):
        super().__init__(trainable=False, **kwargs)
        self.kernel_size = int(kernel_size)
        self.stride = int(stride)
        self.n_qubits = self.kernel_size**2
        self.circuit = dict(circuit or {})
        self._initial_coefficients = coefficients
        expected = (N_ENCODED_TERMS**self.n_qubits, self.n_qubits)
        if coefficients is not None and np.shape(coefficients) != expected:
            raise ValueError(f"coefficients must have shape {expected}; got {np.shape(coefficients)}")
        self._left = self.n_qubits // 2

    def build(self, input_shape):
        initial = self._initial_coefficients
        initializer = "zeros" if initial is None else keras.initializers.Constant(np.asarray(initial))
        self.coefficients = self.add_weight(
            name="readout_coefficients",
            shape=(N_ENCODED_TERMS**self.n_qubits, self.n_qubits),
            initializer=initializer,
            trainable=False,
        )
        self._initial_coefficients = None

    def call(self, images):
        patches = self._patches(images)
        angles = math.pi * tf.reshape(patches, (-1, self.n_qubits))
        terms = tf.stack([tf.ones_like(angles), tf.cos(angles), tf.sin(angles)], axis=-1)
        return tf.reshape(self._readout(terms), tf.shape(patches))

    def _patches(self, images):
        """(B, H, W) -> (B, H', W', k*k); a reshape when patches tile the image, else extract_patches."""
        k, s = self.kernel_size, self.stride
        height, width = images.shape[1], images.shape[2]
        if k == s and height % k == 0 and width % k == 0:
            blocks = tf.reshape(images, (-1, height // k, k, width // k, k))
            return tf.reshape(tf.transpose(blocks, (0, 1, 3, 2, 4)), (-1, height // k, width // k, k * k))
        return tf.image.extract_patches(
            images[..., None], sizes=[1, k, k, 1], strides=[1, s, s, 1], rates=[1, 1, 1, 1], padding="VALID"
        )

    def _readout(self, terms):
        """(P, n, 3) per-qubit terms -> (P, n) features <Z_j> = sum_p c[p, j] prod_k terms[k, p_k].

        Contracted as (left-half products) @ C @ (right-half products). Why split: the outer product
        of all n qubits' terms has 3^n entries per patch; two halves keep the largest intermediate at
        3^ceil(n/2) * n per patch and make the contraction one dense matmul, which also keeps the
        gradient cheap.
        """
        left = _outer_terms(terms[:, : self._left])
        right = _outer_terms(terms[:, self._left :])
        n_right = right.shape[-1]
        matrix = tf.reshape(tf.cast(self.coefficients, terms.dtype), (-1, n_right * self.n_qubits))
        mixed = tf.reshape(tf.matmul(left, matrix), (-1, n_right, self.n_qubits))
        return tf.reduce_sum(mixed * right[..., None], axis=1)

    def compute_output_shape(self, input_shape):
        rows = output_size(input_shape[1], self.kernel_size, self.stride)
        cols = output_size(input_shape[2], self.kernel_size, self.stride)
        return (input_shape[0], rows, cols, self.n_qubits)

    def get_config(self):
        config = super().get_config()
        config.pop("trainable", None)
        config.update(kernel_size=self.kernel_size, stride=self.stride, circuit=self.circuit)
        return config


def _outer_terms(terms):
    """(P, m, 3) per-qubit terms -> (P, 3^m) products over the m qubits (qubit 0 varies slowest)."""
    product = tf.ones_like(terms[:, 0, :1])
    for q in range(terms.shape[1]):
        product = tf.reshape(product[:, :, None] * terms[:, q, None, :], (-1, product.shape[-1] * N_ENCODED_TERMS))
    return product


def quanvolution_layer(spec: CircuitSpec, kernel_size: int, stride: int, name: str = "features") -> Quanvolution:
    """The fast layer for ``spec``, its coefficients computed from the PennyLane circuit."""
    from robqunn.circuits import readout_coefficients

    if spec.n_qubits != kernel_size**2:
        raise ValueError(f"circuit must have kernel_size**2 = {kernel_size**2} qubits; got {spec.n_qubits}")
    coefficients = readout_coefficients(spec).reshape(-1, spec.n_qubits)
    return Quanvolution(kernel_size, stride, coefficients=coefficients, circuit=spec.describe(), name=name)
