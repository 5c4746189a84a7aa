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
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import cache
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
    the multinomial of the outcome probabilities (the outcome polynomial, stored like the readout one, both
    evaluated in float64) and returns the sample means of Z_j. Its gradient is the expectation's
    (straight-through, :meth:`_with_shots`). The k-th draw of digit d since :func:`reseed` comes from its own
    generator, seeded by (seed, d, k) (:func:`multinomial_counts`); d is the digit's row in the call plus the
    first digit that :func:`digits_from` declares, so the draws never depend on how the digits are batched.
    :func:`expectation_only` turns sampling off.

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
        self._draws_per_digit = np.zeros(0, np.int64)
        if self.shots is not None:
            self.sampling = tf.Variable(True, trainable=False, name="sampling")  # a mode, not a weight: not saved

    def build(self, input_shape):
        self.coefficients = self._constant_weight(
            "readout_coefficients", (len(self.pauli_strings), self.n_qubits), self._initial_coefficients
        )
        if self.shots is not None:
            shape = (len(self.outcome_strings), 2**self.n_qubits)
            self.outcome_coefficients = self._constant_weight(
                "outcome_coefficients", shape, self._initial_outcome_coefficients, dtype="float64"
            )
        self._initial_coefficients = self._initial_outcome_coefficients = None

    def _constant_weight(self, name: str, shape: tuple, initial, dtype=None):
        initializer = "zeros" if initial is None else keras.initializers.Constant(np.asarray(initial))
        return self.add_weight(name=name, shape=shape, initializer=initializer, dtype=dtype, trainable=False)

    def call(self, images):
        pixels = self._qubit_major_pixels(images)
        angles = math.pi * pixels
        features = _polynomial(self.pauli_strings, self.coefficients, _factors(angles))
        if self.shots is not None:
            sample = lambda: self._with_shots(features, pixels, tf.shape(images)[0])  # noqa: E731
            features = tf.cond(self.sampling, sample, lambda: features)
        rows, cols = self._output_grid(images.shape)
        return tf.reshape(features, (-1, rows, cols, self.n_qubits))

    def _with_shots(self, expectation, pixels, n_digits):
        """Sample means of Z_j from ``self.shots`` shots per patch, with the gradient of ``expectation``.

        Why straight-through (expectation + stop_gradient(sampled - expectation)): a draw of counts is
        piecewise constant in the pixels, so its own gradient is zero almost everywhere, useless to an
        attack; the expectation's Jacobian is the gradient of the mean of the draws, evaluated where the
        head sees the sampled features (what an attacker averaging over draws follows).
        """
        probabilities = self._outcome_probabilities(pixels)
        counts = tf.numpy_function(self._draw, [probabilities, n_digits], tf.float64, stateful=True)
        counts.set_shape(probabilities.shape)
        sampled = tf.matmul(counts, tf.constant(outcome_signs(self.n_qubits))) / self.shots
        return expectation + tf.stop_gradient(tf.cast(sampled, expectation.dtype) - expectation)

    def outcome_probabilities(self, images) -> np.ndarray:
        """(B, P, 2^n) float64: the outcome probabilities that a finite-shot layer samples, per digit and patch."""
        probabilities = self._outcome_probabilities(self._qubit_major_pixels(tf.convert_to_tensor(images)))
        return probabilities.numpy().reshape(len(images), -1, 2**self.n_qubits)

    def _outcome_probabilities(self, pixels):
        """(P, 2^n) outcome probabilities of qubit-major ``pixels``, in float64, the round-off floor set to 0.

        Why all-black patches apart: they are most of a digit's patches (74% of MNIST's 2x2 ones), and at x = 0
        every monomial is 1 or 0, so their probabilities are one row, the sum of the strings without X; the
        float64 polynomial, the layer's costliest step after the draws, runs on the other patches alone."""
        lit = tf.reduce_any(pixels != 0, axis=0)
        angles = math.pi * tf.cast(tf.boolean_mask(pixels, lit, axis=1), tf.float64)
        lit_probabilities = _polynomial(self.outcome_strings, self.outcome_coefficients, _factors(angles))
        without_x = [i for i, string in enumerate(self.outcome_strings) if "X" not in string]
        black = tf.reduce_sum(tf.gather(self.outcome_coefficients, without_x), axis=0)
        probabilities = tf.tensor_scatter_nd_update(
            tf.tile(black[None], [tf.shape(pixels)[1], 1]), tf.where(lit), lit_probabilities
        )
        probabilities = tf.where(probabilities <= self._round_off_floor(), tf.zeros_like(probabilities), probabilities)
        return probabilities / tf.reduce_sum(probabilities, axis=1, keepdims=True)

    def _round_off_floor(self):
        """Per outcome, the most that float64 round-off can make a zero probability read: the polynomial's
        terms times twice the machine epsilon, times the sum of its coefficients' magnitudes (every monomial
        is at most 1). A probability at or below it is set to 0, so an impossible outcome is never drawn; a
        true probability that small (below 1e-13 for these circuits) is lost, which no feasible S can see."""
        terms = len(self.outcome_strings) + self.n_qubits
        return 2 * terms * np.finfo(np.float64).eps * tf.reduce_sum(tf.abs(self.outcome_coefficients), axis=0)

    def _draw(self, probabilities: np.ndarray, n_digits) -> np.ndarray:
        """(P, m) outcome counts of this call's patches: digit d (its row plus the declared first digit) drawn
        for the k-th time since :meth:`reseed` from the generator seeded (seed, d, k)."""
        digits = _first_digit + np.arange(int(n_digits))
        if not len(digits):
            return np.zeros(probabilities.shape)
        missing = digits[-1] + 1 - len(self._draws_per_digit)
        if missing > 0:
            self._draws_per_digit = np.pad(self._draws_per_digit, (0, missing))
        keys = np.stack([np.full_like(digits, self.seed), digits, self._draws_per_digit[digits]], axis=1)
        self._draws_per_digit[digits] += 1
        per_digit = probabilities.reshape(len(digits), -1, probabilities.shape[-1])
        return multinomial_counts(self.shots, per_digit, keys).reshape(probabilities.shape).astype(np.float64)

    def reseed(self, seed: int) -> None:
        """Restart the sampling at ``seed``: the draws after it depend on ``seed`` and the digits alone."""
        self.seed = int(seed)
        self._draws_per_digit = np.zeros(0, np.int64)

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


def _factors(angles) -> dict:
    """The monomials' factors of qubit-major angles pi x: f_Z = cos, f_X = sin, f_I a row of ones."""
    return {"Z": tf.unstack(tf.cos(angles)), "X": tf.unstack(tf.sin(angles)), "I": tf.ones_like(angles[0])}


def _polynomial(strings: list[str], coefficients, factors: dict):
    """(P, m): sum_s coefficients[s] prod_k f_{s_k}(x_k) for every patch (factors as in Quanvolution.call)."""
    monomials = tf.stack([_monomial(p, factors) for p in strings])
    return tf.matmul(monomials, tf.cast(coefficients, monomials.dtype), transpose_a=True)


def multinomial_counts(shots: int, probabilities: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Exact multinomial counts (D, P, m) of ``shots`` draws from each row of ``probabilities`` (D, P, m),
    float64: digit d's P patches from NumPy's generator seeded by the integers ``keys[d]``.

    Why one generator per digit: a digit's draws then depend on its key alone, not on which digits share
    its batch, and the digits can be drawn on every core (NumPy releases the GIL while it samples).
    """
    counts = np.empty(probabilities.shape, np.int64)

    def draw(digits: range) -> None:
        for d in digits:
            counts[d] = np.random.default_rng(keys[d].tolist()).multinomial(shots, probabilities[d])

    workers = min(sampling_workers(), len(keys))
    if workers <= 1:
        draw(range(len(keys)))
    else:
        list(_sampling_pool().map(draw, [range(w, len(keys), workers) for w in range(workers)]))
    return counts


def sampling_workers() -> int:
    """The threads the sampler draws digits on: this process's cores."""
    return len(os.sched_getaffinity(0))


@cache
def _sampling_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(sampling_workers(), thread_name_prefix="robqunn-shots")


_first_digit = 0  # module-wide, not a context variable: a compiled function's NumPy callback runs on TF's threads


@contextlib.contextmanager
def digits_from(first: int) -> Iterator[None]:
    """Inside, row r of a call to a finite-shot layer is digit ``first + r`` of the data being processed, so
    each digit keeps its own draws whatever the batch it is in. Loops over batches of digits wrap each
    batch in it (models.predict, attacks.craft_with); outside, rows count from 0."""
    global _first_digit
    previous, _first_digit = _first_digit, int(first)
    try:
        yield
    finally:
        _first_digit = previous


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
