"""Quanvolution: the circuit of robqunn.circuits applied to every k x k patch of an image.

Two paths compute the same feature maps:

- the PennyLane reference (:func:`pennylane_quanvolution`): a QNode, broadcast over all patches or
  called once per patch as in the PennyLane demo; the ground truth, slow;
- the fast exact path (:class:`Quanvolution`, a Keras layer): the circuit after the encoding is fixed
  (a unitary, or a channel when it is noisy), so <Z_j> is a fixed polynomial of (1, cos(pi x_k),
  sin(pi x_k)) whose coefficients come from the PennyLane circuit (circuits.readout_polynomial). It is
  differentiable in TensorFlow, so white-box attacks see the true gradient through the quantum layer.
  With finite shots the layer samples each patch's outcome counts from the outcome probabilities, the
  same kind of polynomial (circuits.outcome_polynomial).

PennyLane is imported only by the functions that need it, so that loading a saved model (an attack
job) does not pay its import time.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
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

    With ``shots`` S, each call reads every patch from S shots: it draws the patch's outcome counts from
    the multinomial of the outcome probabilities (the outcome polynomial, stored like the readout one)
    and returns the sample means of Z_j. Its gradient is the expectation's (straight-through,
    :meth:`_with_shots`). The draws come from a stateless generator whose (seed, call counter) state is
    a weight, so :func:`reseed` makes them reproducible; :func:`expectation_only` turns sampling off.

    Args:
        kernel_size: patch side k (k*k qubits).
        stride: patch stride.
        pauli_strings: the polynomial's strings over "IZX", qubit 0 first.
        coefficients: (len(pauli_strings), k*k) coefficients; None when Keras rebuilds the layer
            from a file and then loads them as a weight.
        circuit: JSON-friendly description of the circuit (CircuitSpec.describe()).
        shots: None for the exact expectation; S >= 1 to sample S shots per patch.
        outcome_strings: the outcome polynomial's strings (required with ``shots``).
        outcome_coefficients: (len(outcome_strings), 2**(k*k)) coefficients, columns in qml.probs' order;
            None when loaded from a file.
        seed: the sampling generator's seed.
    """

    def __init__(
        self,
        kernel_size: int,
        stride: int,
        pauli_strings: list[str],
        coefficients=None,
        circuit: dict | None = None,
        shots: int | None = None,
        outcome_strings: list[str] | None = None,
        outcome_coefficients=None,
        seed: int = 0,
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
        self.shots = _checked_shots(shots)
        self.outcome_strings = None if outcome_strings is None else [str(p) for p in outcome_strings]
        if self.shots is not None:
            _check_outcomes(self.outcome_strings, outcome_coefficients, self.n_qubits)
        self._initial_outcome_coefficients = outcome_coefficients
        self.seed = int(seed)
        if self.shots is not None:
            self.sampling = tf.Variable(True, trainable=False, name="sampling")  # a mode, not a weight: not saved

    def build(self, input_shape):
        self.coefficients = self._constant_weight(
            "readout_coefficients", (len(self.pauli_strings), self.n_qubits), self._initial_coefficients
        )
        if self.shots is not None:
            shape = (len(self.outcome_strings), 2**self.n_qubits)
            self.outcome_coefficients = self._constant_weight(
                "outcome_coefficients", shape, self._initial_outcome_coefficients
            )
            self.sampling_state = self._constant_weight("sampling_state", (2,), [self.seed, 0], dtype="int64")
        self._initial_coefficients = self._initial_outcome_coefficients = None

    def _constant_weight(self, name: str, shape: tuple, initial, dtype=None):
        initializer = "zeros" if initial is None else keras.initializers.Constant(np.asarray(initial))
        return self.add_weight(name=name, shape=shape, initializer=initializer, dtype=dtype, trainable=False)

    def call(self, images):
        angles = math.pi * self._qubit_major_pixels(images)
        factors = {"Z": tf.unstack(tf.cos(angles)), "X": tf.unstack(tf.sin(angles)), "I": tf.ones_like(angles[0])}
        features = _polynomial(self.pauli_strings, self.coefficients, factors)
        if self.shots is not None:
            features = tf.cond(self.sampling, lambda: self._with_shots(features, factors), lambda: features)
        rows, cols = self._output_grid(images.shape)
        return tf.reshape(features, (-1, rows, cols, self.n_qubits))

    def _with_shots(self, expectation, factors):
        """Sample means of Z_j from ``self.shots`` shots per patch, with the gradient of ``expectation``.

        Why straight-through (expectation + stop_gradient(sampled - expectation)): a draw of counts is
        piecewise constant in the pixels, so its own gradient is zero almost everywhere, useless to an
        attack; the expectation's Jacobian is the gradient of the mean of the draws, evaluated where the
        head sees the sampled features (what an attacker averaging over draws follows).
        """
        probabilities = _polynomial(self.outcome_strings, self.outcome_coefficients, factors)
        probabilities = tf.maximum(probabilities, 0.0)  # round-off can leave -1e-8 where p = 0
        probabilities /= tf.reduce_sum(probabilities, axis=1, keepdims=True)
        counts = multinomial_counts(self.shots, probabilities, self._next_seed())
        sampled = tf.matmul(counts, tf.constant(outcome_signs(self.n_qubits), counts.dtype)) / self.shots
        return expectation + tf.stop_gradient(sampled - expectation)

    def _next_seed(self):
        """This call's seed (the state), then the state's counter moves on: each call draws anew."""
        seed = tf.identity(self.sampling_state.value)
        with tf.control_dependencies([seed]):
            self.sampling_state.assign_add(tf.constant([0, 1], tf.int64))
        return seed

    def reseed(self, seed: int) -> None:
        """Restart the sampling generator at ``seed``: the draws after it depend on ``seed`` alone."""
        self.seed = int(seed)
        if self.built and self.shots is not None:
            self.sampling_state.assign([self.seed, 0])

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
        if self.shots is not None:
            config.update(shots=self.shots, outcome_strings=self.outcome_strings, seed=self.seed)
        return config


def _polynomial(strings: list[str], coefficients, factors: dict):
    """(P, m): sum_s coefficients[s] prod_k f_{s_k}(x_k) for every patch (factors as in Quanvolution.call)."""
    monomials = tf.stack([_monomial(p, factors) for p in strings])
    return tf.matmul(monomials, tf.cast(coefficients, monomials.dtype), transpose_a=True)


def multinomial_counts(shots: int, probabilities, seed):
    """Exact multinomial counts (P, m) of ``shots`` draws from each row of ``probabilities`` (P, m).

    Conditional binomials: n_b ~ Binomial(shots - n_0 - ... - n_{b-1}, p_b / (p_b + ... + p_{m-1})),
    the last outcome taking the rest. The tail sums come from a reversed cumsum, not 1 - cumsum, so a
    tiny p late in the row keeps its relative precision.
    """
    m = probabilities.shape[-1]
    tails = tf.math.cumsum(probabilities, axis=1, reverse=True)
    conditional = tf.clip_by_value(tf.math.divide_no_nan(probabilities, tails), 0.0, 1.0)
    seeds = tf.random.experimental.stateless_split(seed, m - 1)
    remaining = tf.fill(tf.shape(probabilities)[:1], tf.constant(shots, probabilities.dtype))
    counts = []
    for b in range(m - 1):
        count = tf.random.stateless_binomial(
            tf.shape(remaining), seeds[b], remaining, conditional[:, b], output_dtype=probabilities.dtype
        )
        counts.append(count)
        remaining -= count
    return tf.stack([*counts, remaining], axis=1)


def outcome_signs(n_qubits: int) -> np.ndarray:
    """(2^n, n): Z_j's eigenvalue on outcome b, +1 where bit j is 0 (wire 0 the most significant bit)."""
    bits = (np.arange(2**n_qubits)[:, None] >> np.arange(n_qubits - 1, -1, -1)) & 1
    return 1.0 - 2.0 * bits


def _monomial(pauli_string: str, factors: dict):
    """prod_k f_{p_k}(x_k) over the qubits whose letter is not I (factors["I"]: a row of ones)."""
    product = factors["I"]
    for k, letter in enumerate(pauli_string):
        if letter != "I":
            product = factors[letter][k] if product is factors["I"] else product * factors[letter][k]
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


def _checked_shots(shots) -> int | None:
    if shots is not None and (isinstance(shots, bool) or int(shots) != shots or shots < 1):
        raise ValueError(f"shots must be a positive integer or None; got {shots!r}")
    return None if shots is None else int(shots)


def _check_outcomes(outcome_strings: list[str] | None, outcome_coefficients, n_qubits: int) -> None:
    if outcome_strings is None:
        raise ValueError("outcome_strings must be given with shots (the outcome polynomial); got None")
    _check_polynomial(outcome_strings, None, n_qubits)
    expected = (len(outcome_strings), 2**n_qubits)
    if outcome_coefficients is not None and np.shape(outcome_coefficients) != expected:
        raise ValueError(f"outcome_coefficients must have shape {expected}; got {np.shape(outcome_coefficients)}")


def quanvolution_layer(
    spec: CircuitSpec, kernel_size: int, stride: int, shots: int | None = None, seed: int = 0, name: str = "features"
) -> Quanvolution:
    """The fast layer for ``spec`` (read from ``shots`` shots per patch unless None), its polynomials
    computed from the PennyLane circuit."""
    from robqunn.circuits import outcome_polynomial, readout_polynomial

    if spec.n_qubits != kernel_size**2:
        raise ValueError(f"circuit must have kernel_size**2 = {kernel_size**2} qubits; got {spec.n_qubits}")
    strings, coefficients = readout_polynomial(spec)
    outcome_strings, outcome_coefficients = outcome_polynomial(spec) if shots is not None else (None, None)
    return Quanvolution(
        kernel_size,
        stride,
        pauli_strings=strings,
        coefficients=coefficients,
        circuit=spec.describe(),
        shots=shots,
        outcome_strings=outcome_strings,
        outcome_coefficients=outcome_coefficients,
        seed=seed,
        name=name,
    )


def _shot_layers(model: keras.Model) -> list[Quanvolution]:
    """The finite-shot Quanvolution layers of ``model``, nested models included."""
    return [layer for layer in quanvolution_layers(model) if layer.shots is not None]


def quanvolution_layers(model: keras.Model) -> list[Quanvolution]:
    """Every Quanvolution layer of ``model`` (shared with any model built from its layers)."""
    found = []
    for layer in model.layers:
        if isinstance(layer, Quanvolution):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found += quanvolution_layers(layer)
    return found


def shots_of(model: keras.Model) -> int | None:
    """The shots of ``model``'s Quanvolution layer; None for the exact expectation or a model without one."""
    layers = quanvolution_layers(model)
    return layers[0].shots if layers else None


def reseed(model: keras.Model, seed: int) -> None:
    """Restart the sampling of every finite-shot layer of ``model`` at ``seed``, so that the draws after
    it depend on ``seed`` alone, not on what ran before in the process (no-op without shot layers)."""
    for layer in _shot_layers(model):
        layer.reseed(seed)


@contextlib.contextmanager
def expectation_only(model: keras.Model) -> Iterator[keras.Model]:
    """Inside, the finite-shot layers of ``model`` return the exact expectation (stored feature maps,
    the head trained on the expectation). A variable, not a Python flag, so that compiled functions
    traced outside the block obey it too."""
    layers = _shot_layers(model)
    previous = [bool(layer.sampling.numpy()) for layer in layers]
    for layer in layers:
        layer.sampling.assign(False)
    try:
        yield model
    finally:
        for layer, value in zip(layers, previous, strict=True):
            layer.sampling.assign(value)
