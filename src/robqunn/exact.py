"""Exact robust accuracy under L-infinity: the ground truth every attack is measured against.

Threat model: docs/design.md, "Attacks": untargeted, white-box, ||x' - x||_inf <= eps, pixels in [0, 1].

Why it can be exact. The feature layer's kernel equals its stride, so patches are disjoint, and the head
is linear (docs/design.md, "Models"); every logit margin m_t(x) = z_y(x) - z_t(x) therefore splits into
per-patch terms,

    m_t(x) = b_y - b_t + sum_p g_{p,t}(x_p),    g_{p,t}(x_p) = sum_c (W[p,c,y] - W[p,c,t]) f_c(x_p),

each a function of the k*k pixels of patch p alone. The eps-ball intersected with [0, 1] is a product of
per-pixel intervals, so min_ball m_t = b_y - b_t + sum_p min_box g_{p,t}: one 784-dimensional problem
becomes 196 independent 4-dimensional ones. A digit is robust iff that minimum is > 0 for every t != y,
and the patch minimisers of the target with the lowest minimum, side by side, are its worst case.

Three methods, by feature layer:

- relu (the CNN): g = sum_c v_c ReLU(a_c . x + b_c) is continuous and piecewise linear, so its minimum
  over the box is at a vertex of the arrangement of the box facets and the hyperplanes a_c . x + b_c = 0.
  Each vertex candidate is an affine map of the box bounds, enumerated once per model (321 for k = 2).
  Exact up to float64 round-off.
- separable (a QuNN whose readout strings have at most one non-I letter: ansatz none, and the ZZ
  ansatze under rot_ent, docs/design.md "The invariance property"): g = const + sum_k (alpha_k cos pi x_k
  + beta_k sin pi x_k), minimised pixel by pixel in closed form. Exact up to float64 round-off.
- polynomial (the other QuNNs, docs/design.md "The fast exact layer"): g is multi-affine in the pairs
  (cos pi x_k, sin pi x_k), each confined to an arc of the unit circle. Lower bound: each arc is
  replaced by an enclosing polygon (its chord and three tangents); a multi-affine function attains its
  minimum over a product of polygons at a product of vertices, so enumerating them is a certified
  bound. Upper bound: the value at a real point, from the best vertex by coordinate descent with an
  exact per-pixel step. Branch and bound halves the boxes of the patches with the largest gap until
  every digit's sign is decided or its budget of splits ends; such a digit is undecided, and robust
  accuracy becomes an interval.

Dedupe: most patches are all black and share one box per eps, so the unit of work is the distinct
(patch position, label, box); the rest is vectorised over patches and targets in float64.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from robqunn.artifacts import N_CLASSES
from robqunn.errors import RobqunnError
from robqunn.patches import extract_patches
from robqunn.vocabulary import FEATURES, LOGITS

if TYPE_CHECKING:  # imported by the functions that read a model: importing robqunn.exact needs no TensorFlow
    import keras

    from robqunn.quanv import Quanvolution

logger = logging.getLogger(__name__)

RELU, SEPARABLE, POLYNOMIAL = "relu", "separable", "polynomial"
LETTERS = "IZX"  # readout letters: f_I = 1, f_Z = cos(pi x), f_X = sin(pi x)
MAX_VERTEX_PIXELS = 4  # relu and polynomial enumerate vertices: exponential in the pixels of a patch
INSIDE = 1e-9  # a relu vertex candidate this close to its box is kept (and clipped into it)
SINGULAR = 1e10  # condition number beyond which hyperplanes define no vertex on the free pixels
SWEEPS = 2  # coordinate-descent sweeps behind each polynomial upper bound
SPLITS_PER_ROUND = 8  # patches refined per undecided (digit, target) in one branch-and-bound round
CHUNK = 2048  # patch problems per vectorised block: bounds memory, not results
POLYGON_ANGLES = np.array([0.0, 0.25, 0.75, 1.0])  # polygon vertices, as fractions of the arc
POLYGON_CORNERS = np.array([False, True, True, False])  # tangent corners (off the circle)


class ExactError(RobqunnError, ValueError):
    """A model or an argument that exact verification cannot handle."""


@dataclass(frozen=True, eq=False)
class Decomposition:
    """What verify needs from a model: the per-patch feature map and the linear head.

    Attributes:
        kind: the method that minimises a patch term: "relu", "separable" or "polynomial".
        kernel_size: patch side k (equal to the stride).
        image_shape: (H, W) of the input images.
        head: (H/k, W/k, C, 10) the Dense kernel, one (C, 10) block per patch.
        head_bias: (10,) the Dense bias.
        filters: relu only, (k*k, C): the Conv2D filters a_c as columns, pixels row-major.
        offsets: relu only, (C,): the Conv2D biases b_c.
        pauli_strings: QuNN only: the readout strings over "IZX", qubit (pixel) 0 first.
        coefficients: QuNN only, (n_strings, C): channel j = sum_s coefficients[s, j] * monomial_s.
    """

    kind: str
    kernel_size: int
    image_shape: tuple[int, int]
    head: np.ndarray
    head_bias: np.ndarray
    filters: np.ndarray
    offsets: np.ndarray
    pauli_strings: tuple[str, ...]
    coefficients: np.ndarray

    @property
    def letters(self) -> np.ndarray:
        """(n_strings, k*k) codes of the readout letters (0 = I, 1 = Z, 2 = X)."""
        return np.array([[LETTERS.index(c) for c in s] for s in self.pauli_strings], dtype=int).reshape(
            len(self.pauli_strings), self.kernel_size**2
        )

    def features(self, patches: np.ndarray) -> np.ndarray:
        """(..., k*k) patches -> (..., C) features in float64: the model's feature layer, exactly."""
        if self.kind == RELU:
            return np.maximum(patches @ self.filters + self.offsets, 0.0)
        return _monomials(self.letters, np.pi * patches) @ self.coefficients

    def logits(self, images: np.ndarray) -> np.ndarray:
        """(N, H, W) images -> (N, 10) logits in float64 (the float32 model's maths, without its round-off)."""
        features = self.features(_patches(self, images))
        blocks = self.head.reshape(features.shape[1], features.shape[2], N_CLASSES)
        return np.einsum("npc,pct->nt", features, blocks) + self.head_bias


@dataclass(frozen=True, eq=False)
class ExactResult:
    """Exact verification of N digits at one eps.

    Attributes:
        eps: the L-infinity budget.
        robust: (N,) certified: the minimum margin over the ball exceeds the tolerance for every target.
        non_robust: (N,) the Keras model misclassifies x_worst (an adversarial example, checked).
        x_worst: (N, H, W) float32 in the eps-ball and in [0, 1]: the minimiser (undecided: best found).
        margin_lower: (N,) lower bound of min_t min_ball (z_y - z_t).
        margin_upper: (N,) min_t (z_y - z_t) at x_worst, in float64: an upper bound of the same.
    """

    eps: float
    robust: np.ndarray
    non_robust: np.ndarray
    x_worst: np.ndarray
    margin_lower: np.ndarray
    margin_upper: np.ndarray

    @property
    def undecided(self) -> np.ndarray:
        """(N,) neither certified nor broken: the budget ended, or float32 disagrees with float64."""
        return ~(self.robust | self.non_robust)

    @property
    def accuracy_lower(self) -> float:
        """Certified robust fraction: exact robust accuracy is at least this."""
        return float(np.mean(self.robust))

    @property
    def accuracy_upper(self) -> float:
        """The fraction not broken (one minus the broken fraction): exact robust accuracy is at most this."""
        return float(np.mean(~self.non_robust))


@dataclass(frozen=True)
class _Problems:
    """The distinct (patch position, label, box) of a batch: each patch minimum is computed once.

    index[n, p] is the problem of patch p of digit n.
    """

    position: np.ndarray
    label: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    index: np.ndarray


@dataclass(frozen=True)
class _Bounds:
    """Per (problem, target): a lower bound, an upper bound and the point (pixels) that attains it."""

    lower: np.ndarray
    upper: np.ndarray
    point: np.ndarray


# --- decomposition -------------------------------------------------------------------------------


def decompose(model: keras.Model) -> Decomposition:
    """The per-patch decomposition of ``model``, refusing (before any work) what it cannot verify.

    Raises:
        ExactError: no linear Dense "logits" fed by Flatten of the layer "features"; a feature layer
            that is neither a Conv2D with ReLU ('valid', no dilation) nor a Quanvolution; stride !=
            kernel_size; an image side that is not a multiple of the kernel.
    """
    import keras

    layer = _feature_layer(model)
    kernel_size = _kernel_size(layer)
    image_shape = _image_shape(layer, kernel_size)
    fields = _relu_fields(layer) if isinstance(layer, keras.layers.Conv2D) else _quanvolution_fields(layer)
    _check_vertex_pixels(fields["kind"], kernel_size)
    head, head_bias = _head(model.get_layer(LOGITS), image_shape, kernel_size)
    return Decomposition(kernel_size=kernel_size, image_shape=image_shape, head=head, head_bias=head_bias, **fields)


def _feature_layer(model: keras.Model) -> keras.layers.Layer:
    """The layer "features" behind Flatten behind the linear Dense "logits"."""
    import keras

    from robqunn.quanv import Quanvolution

    dense = next((layer for layer in model.layers if layer.name == LOGITS), None)
    if not isinstance(dense, keras.layers.Dense) or dense.get_config()["activation"] != "linear":
        found = "none" if dense is None else type(dense).__name__
        raise ExactError(f"model must have a linear Dense layer named {LOGITS!r}; got {found}")
    flatten = _source(dense)
    if not isinstance(flatten, keras.layers.Flatten):
        raise ExactError(f"layer {LOGITS!r} must be fed by a Flatten layer; got {type(flatten).__name__}")
    features = _source(flatten)
    if getattr(features, "name", None) != FEATURES:
        raise ExactError(f"the Flatten before {LOGITS!r} must flatten the layer {FEATURES!r}; got {features}")
    if not isinstance(features, (keras.layers.Conv2D, Quanvolution)):
        raise ExactError(f"layer {FEATURES!r} must be a Conv2D or a Quanvolution; got {type(features).__name__}")
    return features


def _source(layer: keras.layers.Layer) -> keras.layers.Layer | None:
    """The layer whose output feeds ``layer`` (None when it has no single input)."""
    try:
        return layer.input._keras_history.operation
    except (AttributeError, ValueError):
        return None


def _kernel_size(layer: keras.layers.Layer) -> int:
    """k, after checking that patches are disjoint k x k squares (stride = kernel)."""
    from robqunn.quanv import Quanvolution

    if isinstance(layer, Quanvolution):
        kernel, stride = (layer.kernel_size,) * 2, (layer.stride,) * 2
    else:
        _check_conv(layer)
        kernel, stride = tuple(layer.kernel_size), tuple(layer.strides)
    if stride != kernel or kernel[0] != kernel[1]:
        raise ExactError(
            f"stride must equal kernel_size (square, disjoint patches); got stride {stride} and kernel_size {kernel}"
        )
    return int(kernel[0])


def _check_conv(layer: keras.layers.Conv2D) -> None:
    config = layer.get_config()
    found = {key: config[key] for key in ("activation", "padding", "dilation_rate", "groups", "data_format")}
    wanted = {
        "activation": "relu",
        "padding": "valid",
        "dilation_rate": (1, 1),
        "groups": 1,
        "data_format": "channels_last",
    }
    if {key: tuple(v) if isinstance(v, list) else v for key, v in found.items()} != wanted:
        raise ExactError(f"Conv2D layer {FEATURES!r} must have {wanted}; got {found}")


def _image_shape(layer: keras.layers.Layer, kernel_size: int) -> tuple[int, int]:
    height, width = (int(side) for side in layer.input.shape[1:3])
    if height % kernel_size or width % kernel_size:
        raise ExactError(f"image sides must be multiples of kernel_size {kernel_size}; got {(height, width)}")
    return height, width


def _relu_fields(layer: keras.layers.Conv2D) -> dict:
    kernel = np.asarray(layer.kernel, dtype=np.float64)
    if kernel.shape[2] != 1:
        raise ExactError(f"Conv2D layer {FEATURES!r} must read 1 input channel; got {kernel.shape[2]}")
    channels = kernel.shape[3]
    offsets = np.asarray(layer.bias, np.float64) if layer.use_bias else np.zeros(channels)
    return dict(
        kind=RELU,
        filters=kernel.reshape(-1, channels),
        offsets=offsets,
        pauli_strings=(),
        coefficients=np.zeros((0, channels)),
    )


def _quanvolution_fields(layer: Quanvolution) -> dict:
    strings = tuple(layer.pauli_strings)
    coefficients = np.asarray(layer.coefficients, dtype=np.float64)
    separable = all(sum(letter != "I" for letter in s) <= 1 for s in strings)
    return dict(
        kind=SEPARABLE if separable else POLYNOMIAL,
        filters=np.zeros((0, coefficients.shape[1])),
        offsets=np.zeros(0),
        pauli_strings=strings,
        coefficients=coefficients,
    )


def _check_vertex_pixels(kind: str, kernel_size: int) -> None:
    if kind != SEPARABLE and kernel_size**2 > MAX_VERTEX_PIXELS:
        raise ExactError(
            f"kernel_size must be at most 2 for the {kind} method (its vertex enumeration is "
            f"exponential in the k*k pixels of a patch); got {kernel_size}"
        )


def _head(dense: keras.layers.Dense, image_shape: tuple[int, int], kernel_size: int) -> tuple[np.ndarray, np.ndarray]:
    kernel = np.asarray(dense.kernel, dtype=np.float64)
    rows, cols = image_shape[0] // kernel_size, image_shape[1] // kernel_size
    if kernel.shape[1] != N_CLASSES or kernel.shape[0] % (rows * cols):
        raise ExactError(f"layer {LOGITS!r} must map {rows}x{cols} patches to {N_CLASSES} logits; got {kernel.shape}")
    bias = np.asarray(dense.bias, np.float64) if dense.use_bias else np.zeros(N_CLASSES)
    return kernel.reshape(rows, cols, -1, N_CLASSES), bias


# --- verification ----------------------------------------------------------------------------------


def verify(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    eps: float,
    budget: int,
    tolerance: float,
    batch_size: int = 500,
) -> ExactResult:
    """Exact (or, for polynomial QuNNs, certified interval) robustness of each digit at ``eps``.

    Args:
        x: (N, H, W) pixels in [0, 1] (taken as float32, the model's input precision).
        y: (N,) true labels.
        budget: box splits per digit allowed to branch and bound (polynomial QuNNs only).
        tolerance: certified robust needs margin_lower > tolerance; branch and bound also stops a
            target whose bounds are closer than this. Margins this close to 0 are left undecided,
            since the float32 model may round them either way.
        batch_size: digits solved together (memory only, not results).
    """
    check_eps(eps)
    _check_settings(budget, tolerance, batch_size)
    decomposition = decompose(model)
    x, y = _checked_digits(x, y, decomposition.image_shape)
    x_worst, margin_lower = _worst_cases(decomposition, (x, y, float(eps)), (budget, tolerance), batch_size)
    return _result(model, decomposition, (x, y, float(eps)), x_worst, margin_lower, tolerance)


def _worst_cases(dec: Decomposition, digits: tuple, limits: tuple, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(x_worst in float64, margin_lower) of digits (x, y, eps), ``eps`` one budget or one per digit; at eps 0
    the digit itself, without the search."""
    x, y, eps = digits
    if not np.any(eps):
        return _verify_point(dec, x, y)
    solve, eps = _patch_solver(dec), np.broadcast_to(np.asarray(eps, np.float64), (len(x),))
    parts = [
        _verify_batch(dec, solve, x[i : i + batch_size], y[i : i + batch_size], eps[i : i + batch_size], limits)
        for i in range(0, len(x), batch_size)
    ]
    return tuple(np.concatenate(part) for part in zip(*parts, strict=True))


@dataclass(frozen=True, eq=False)
class Radii:
    """The certified L-infinity radius of each digit, bracketed by bisection on exact verification.

    Robustness is monotone in eps (the balls are nested), so a digit certified at eps is robust at every
    smaller budget and one broken at eps is broken at every larger one; its radius lies in [lower, upper].

    Attributes:
        lower: (N,) the largest budget at which the digit was certified robust (0 when never).
        upper: (N,) the smallest budget at which a checked adversarial example was found (0 for a digit the
            model misclassifies; 1 when none was found: no budget above 1 exists for pixels in [0, 1]).
        resolution: the bisection stops when upper - lower <= resolution.
    """

    lower: np.ndarray
    upper: np.ndarray
    resolution: float

    @property
    def decided(self) -> np.ndarray:
        """(N,) bracketed to the resolution; a digit left undecided at a midpoint by branch and bound keeps a
        wider bracket (still certified: its radius lies inside it)."""
        return self.upper - self.lower <= self.resolution


def certified_radii(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    budget: int,
    tolerance: float,
    resolution: float,
    batch_size: int = 500,
) -> Radii:
    """Each digit's certified radius, to ``resolution``: every digit bisects its own bracket [lower, upper],
    starting from [0, 1], and each round verifies every open digit at its own midpoint in one pass, so the cost
    is about log2(1 / resolution) verifications at one eps.

    Args: as :func:`verify`; ``resolution`` in (0, 1).
    """
    if not isinstance(resolution, (int, float, np.floating)) or not 0.0 < resolution < 1.0:
        raise ExactError(f"resolution must be a number in (0, 1); got {resolution!r}")
    _check_settings(budget, tolerance, batch_size)
    decomposition = decompose(model)
    x, y = _checked_digits(x, y, decomposition.image_shape)
    robust, broken = _decided_at(model, decomposition, (x, y, np.zeros(len(x))), (budget, tolerance, batch_size))
    lower, upper = np.zeros(len(x)), np.where(broken, 0.0, 1.0)
    open_ = ~broken & robust  # correctly classified with a margin above the tolerance: bisect
    while np.any(open_ := open_ & (upper - lower > resolution)):
        index = np.flatnonzero(open_)
        mid = (lower[index] + upper[index]) / 2
        robust, broken = _decided_at(model, decomposition, (x[index], y[index], mid), (budget, tolerance, batch_size))
        lower[index[robust]], upper[index[broken]] = mid[robust], mid[broken]
        open_[index[~robust & ~broken]] = False  # undecided at mid: its bracket stays as it is
    return Radii(lower, upper, float(resolution))


def _decided_at(model, dec: Decomposition, digits: tuple, settings: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(certified, broken) of each digit at its own budget ``digits[2]``, checked as :func:`verify` checks."""
    from robqunn.models import predict

    (x, y, eps), limits = digits, settings[:2]
    x_worst, lower = _worst_cases(dec, digits, limits, settings[2])
    wrong = np.argmax(predict(model, _inside_ball(x_worst, x, eps)), axis=1) != y
    return (lower > limits[1]) & ~wrong, wrong


class WorstCaseFeatures:
    """The features at which a head's worst-case margins over the eps-ball are attained: what exact robust
    training (robqunn.robust) differentiates.

    For a digit (x, y) and target t, m_t = b_y - b_t + sum_p (W[p, :, y] - W[p, :, t]) . phi[p, t] where phi[p, t]
    is the feature vector of patch p at its minimiser for t: for relu and separable layers the features of the
    exact minimiser, so m_t is the exact worst-case margin; for polynomial layers the mix of readout monomials at
    the polygon vertex product that attains the verifier's lower bound, so m_t is that certified lower bound. Each
    is a minimum of functions linear in the head, so its gradient with respect to the head is the same expression
    with phi held fixed (Danskin's theorem).
    """

    def __init__(self, model: keras.Model):
        self.decomposition = decompose(model)
        self._solve = _patch_solver(self.decomposition)

    def __call__(self, head: np.ndarray, head_bias: np.ndarray, x: np.ndarray, y: np.ndarray, eps: float) -> np.ndarray:
        """(N, P, 10, C) phi of digits ``x`` (N, H, W) with labels ``y`` at ``eps``, for the Dense kernel ``head``
        (P * C, 10) and bias; at t = y some point of the box (its term's weights W[., y] - W[., y] are 0)."""
        check_eps(eps)
        dec = self.decomposition
        dec = dataclasses.replace(dec, head=np.asarray(head, np.float64).reshape(dec.head.shape), head_bias=head_bias)
        x, y = _checked_digits(x, y, dec.image_shape)
        problems = _problems(dec, x, y, float(eps))
        coefficients = _term_coefficients(dec, problems)
        parts = [
            self._features(problems.lo[i : i + CHUNK], problems.hi[i : i + CHUNK], coefficients[i : i + CHUNK])
            for i in range(0, len(problems.lo), CHUNK)
        ]
        return np.concatenate(parts)[problems.index]

    def _features(self, lo: np.ndarray, hi: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
        dec = self.decomposition
        if dec.kind == POLYNOMIAL:
            _, best, _, monomials = _polygon_minimum(dec.letters, lo, hi, coefficients)
            return np.take_along_axis(monomials, best[..., None], axis=1) @ dec.coefficients
        return dec.features(self._solve(lo, hi, coefficients)[2])


def check_eps(eps: float) -> None:
    """An L-infinity budget for pixels in [0, 1]: a finite number in [0, 1] (ExactError otherwise)."""
    number = isinstance(eps, (int, float, np.integer, np.floating)) and not isinstance(eps, bool)
    if not number or not math.isfinite(eps) or not 0.0 <= eps <= 1.0:
        raise ExactError(f"eps must be a finite number in [0, 1]; got {eps!r}")


def _check_settings(budget: int, tolerance: float, batch_size: int) -> None:
    if not isinstance(budget, (int, np.integer)) or budget < 0:
        raise ExactError(f"budget must be an integer >= 0; got {budget!r}")
    if not isinstance(tolerance, (int, float, np.number)) or not math.isfinite(tolerance) or tolerance < 0:
        raise ExactError(f"tolerance must be a finite number >= 0; got {tolerance!r}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ExactError(f"batch_size must be an integer >= 1; got {batch_size!r}")


def _checked_digits(x: np.ndarray, y: np.ndarray, image_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 3 or x.shape[1:] != image_shape or len(x) == 0 or y.shape != (len(x),):
        raise ExactError(
            f"x and y must have shapes (N, {image_shape[0]}, {image_shape[1]}) and (N,) with N >= 1; "
            f"got {x.shape} and {y.shape}"
        )
    if not np.issubdtype(x.dtype, np.floating) or not np.all((x >= 0) & (x <= 1)):
        raise ExactError(f"x must hold float pixels in [0, 1]; got dtype {x.dtype}, range [{x.min()}, {x.max()}]")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= N_CLASSES:
        raise ExactError(
            f"y must hold integer labels in [0, {N_CLASSES}); got dtype {y.dtype}, range [{y.min()}, {y.max()}]"
        )
    return x.astype(np.float32), y.astype(np.int64)


def _verify_batch(dec: Decomposition, solve, x: np.ndarray, y: np.ndarray, eps, limits: tuple) -> tuple:
    """(x_worst in float64, margin_lower) of one batch of digits; ``eps`` one budget or one per digit."""
    problems = _problems(dec, x, y, eps)
    coefficients = _term_coefficients(dec, problems)
    bounds = _chunked(solve, problems.lo, problems.hi, coefficients)
    if dec.kind == POLYNOMIAL:
        bounds = _branch_and_bound(_Search(dec.letters, problems, coefficients, bounds), dec, y, *limits)
    lower, upper = _digit_bounds(dec, problems, bounds, y)
    worst = np.argmin(upper, axis=1)
    points = bounds.point[problems.index, worst[:, None]]
    return _image(dec, points), lower.min(axis=1)


def _verify_point(dec: Decomposition, x: np.ndarray, y: np.ndarray) -> tuple:
    """(x_worst, margin_lower) at eps = 0, where the ball is the digit: its float64 margin is the bound, as
    the per-patch search over point boxes would find it (to float64 round-off, tested), without the search."""
    x_worst = x.astype(np.float64)
    return x_worst, _margins(dec.logits(x_worst), y).min(axis=1)


def _result(model, dec: Decomposition, digits: tuple, x_worst: np.ndarray, lower: np.ndarray, tolerance: float):
    """Round x_worst into the ball in float32, measure its margin, and check it on the Keras model."""
    from robqunn.models import predict

    x, y, eps = digits
    x_worst = _inside_ball(x_worst, x, eps)
    upper = _margins(dec.logits(x_worst), y).min(axis=1)
    wrong = np.argmax(predict(model, x_worst), axis=1) != y
    certified = lower > tolerance
    _report(certified, wrong, upper, eps)
    # A point of the ball that the float32 model misclassifies breaks the digit for the model as deployed,
    # whatever the float64 bound says: so this result and the evaluated worst-case set always agree.
    return ExactResult(eps, certified & ~wrong, wrong, x_worst, lower, upper)


def _report(robust: np.ndarray, wrong: np.ndarray, upper: np.ndarray, eps: float) -> None:
    """Log where float32 and float64 disagree, rather than hiding it."""
    if np.any(robust & wrong):
        logger.warning("eps %g: %d certified digits misclassified by the float32 model", eps, np.sum(robust & wrong))
    if np.any((upper < 0) & ~wrong):
        logger.warning(
            "eps %g: %d digits with a negative float64 margin that the float32 model still classifies "
            "correctly (left undecided)",
            eps,
            np.sum((upper < 0) & ~wrong),
        )


def _inside_ball(points: np.ndarray, x: np.ndarray, eps) -> np.ndarray:
    """``points`` as float32, nudged by one ulp where rounding left the box [x - eps, x + eps] ∩ [0, 1] (``eps``
    one budget or one per digit)."""
    eps = _per_digit(eps)
    lo, hi = np.maximum(x.astype(np.float64) - eps, 0.0), np.minimum(x.astype(np.float64) + eps, 1.0)
    rounded = points.astype(np.float32)
    rounded = np.where(rounded > hi, np.nextafter(rounded, np.float32(0)), rounded)
    return np.where(rounded < lo, np.nextafter(rounded, np.float32(1)), rounded).astype(np.float32)


def _margins(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(N, 10) z_y - z_t, +inf at t = y (not a target)."""
    margins = np.take_along_axis(logits, y[:, None], axis=1) - logits
    margins[np.arange(len(y)), y] = np.inf
    return margins


def _patches(dec: Decomposition, images: np.ndarray) -> np.ndarray:
    """(N, H, W) -> (N, P, k*k) float64, patches and pixels in row-major order (patches.extract_patches)."""
    k = dec.kernel_size
    return extract_patches(np.asarray(images, np.float64), k, k).reshape(len(images), -1, k * k)


def _image(dec: Decomposition, patches: np.ndarray) -> np.ndarray:
    """The inverse of :func:`_patches`."""
    k, (height, width) = dec.kernel_size, dec.image_shape
    blocks = patches.reshape(len(patches), height // k, width // k, k, k)
    return blocks.transpose(0, 1, 3, 2, 4).reshape(len(patches), height, width)


def _per_digit(eps) -> np.ndarray:
    """One budget, or an (N,) array of one per digit, shaped to broadcast over (N, ., .) arrays."""
    return np.asarray(eps, np.float64).reshape(-1, 1, 1)


def _problems(dec: Decomposition, x: np.ndarray, y: np.ndarray, eps) -> _Problems:
    eps = _per_digit(eps)
    patches = _patches(dec, x)
    n_digits, n_patches, n = patches.shape
    position = np.broadcast_to(np.arange(n_patches)[None, :, None], (n_digits, n_patches, 1))
    label = np.broadcast_to(y[:, None, None], (n_digits, n_patches, 1))
    boxes = [np.maximum(patches - eps, 0.0), np.minimum(patches + eps, 1.0)]
    rows = np.concatenate([position, label, *boxes], axis=2).reshape(-1, 2 + 2 * n)
    unique, inverse = np.unique(rows, axis=0, return_inverse=True)
    return _Problems(
        unique[:, 0].astype(int),
        unique[:, 1].astype(int),
        unique[:, 2 : 2 + n],
        unique[:, 2 + n :],
        inverse.reshape(n_digits, n_patches),
    )


def _term_coefficients(dec: Decomposition, problems: _Problems) -> np.ndarray:
    """(Q, 10, m): g_{p,t} as a linear combination of channels (relu) or of readout monomials (QuNN)."""
    head = dec.head.reshape(-1, dec.head.shape[2], N_CLASSES)[problems.position]
    own = np.take_along_axis(head, problems.label[:, None, None], axis=2)
    weights = (own - head).transpose(0, 2, 1)
    return weights if dec.kind == RELU else weights @ dec.coefficients.T


def _digit_bounds(dec: Decomposition, problems: _Problems, bounds: _Bounds, y: np.ndarray) -> tuple:
    """(N, 10) lower and upper bounds of each margin's minimum over the ball (+inf at t = y)."""
    offset = dec.head_bias[y][:, None] - dec.head_bias[None, :]
    own = np.arange(N_CLASSES) == y[:, None]
    lower = offset + bounds.lower[problems.index].sum(axis=1)
    upper = offset + bounds.upper[problems.index].sum(axis=1)
    return np.where(own, np.inf, lower), np.where(own, np.inf, upper)


def _chunked(solve, lo: np.ndarray, hi: np.ndarray, coefficients: np.ndarray) -> _Bounds:
    parts = [solve(lo[i : i + CHUNK], hi[i : i + CHUNK], coefficients[i : i + CHUNK]) for i in range(0, len(lo), CHUNK)]
    return _Bounds(*(np.concatenate(part) for part in zip(*parts, strict=True)))


def _patch_solver(dec: Decomposition):
    """solve(lo, hi, coefficients) -> (lower, upper, point) per (box, target), for the method of ``dec``."""
    if dec.kind == RELU:
        return functools.partial(_relu_minimum, _vertex_maps(dec.filters, dec.offsets), dec.filters, dec.offsets)
    method = _separable_minimum if dec.kind == SEPARABLE else _polygon_bounds
    return functools.partial(method, dec.letters)


# --- relu: vertex enumeration ----------------------------------------------------------------------


def _vertex_maps(filters: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(V, n, 2n+1): every vertex candidate as an affine map of the box bounds [lo, hi, 1].

    A vertex has n independent active constraints: a set S of hyperplanes a_c . x + b_c = 0 and
    n - |S| pixels at a bound. Solving for the |S| free pixels is linear in the bounds, so the maps
    are computed once per model and every box's candidates are one matrix product.
    """
    n, channels = filters.shape
    maps = []
    for size in range(min(n, channels) + 1):
        for planes in itertools.combinations(range(channels), size):
            for free in itertools.combinations(range(n), size):
                maps += _face_maps(filters, offsets, np.array(planes, int), np.array(free, int))
    return np.array(maps)


def _face_maps(filters: np.ndarray, offsets: np.ndarray, planes: np.ndarray, free: np.ndarray) -> list:
    """The maps of the vertices where ``planes`` hold and every pixel outside ``free`` is at a bound."""
    n = len(filters)
    fixed = np.setdiff1d(np.arange(n), free)
    system = filters[np.ix_(free, planes)].T
    if len(planes) and np.linalg.cond(system) > SINGULAR:
        return []
    solve = -np.linalg.inv(system) if len(planes) else np.zeros((0, 0))
    constant = np.zeros((len(planes), 2 * n + 1))
    constant[:, -1] = offsets[planes]
    maps = []
    for pattern in itertools.product((0, n), repeat=len(fixed)):
        select = np.zeros((len(fixed), 2 * n + 1))
        select[np.arange(len(fixed)), fixed + np.array(pattern, int)] = 1.0
        affine = np.zeros((n, 2 * n + 1))
        affine[fixed] = select
        affine[free] = solve @ (filters[np.ix_(fixed, planes)].T @ select + constant)
        maps.append(affine)
    return maps


def _relu_minimum(maps, filters, offsets, lo: np.ndarray, hi: np.ndarray, weights: np.ndarray) -> tuple:
    """Exact minimum of sum_c w_c ReLU(a_c . x + b_c) over each box: its best vertex candidate."""
    points, inside = _relu_candidates(maps, lo, hi)
    values = np.maximum(points @ filters + offsets, 0.0) @ weights.transpose(0, 2, 1)
    values[~inside] = np.inf
    best = np.argmin(values, axis=1)
    value = np.take_along_axis(values, best[:, None], axis=1)[:, 0]
    return value, value, np.take_along_axis(points, best[..., None], axis=1)


def _relu_candidates(maps: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(M, V', n) candidates clipped into their boxes and (M, V') which of them lie in the box.

    The candidates inside come first and the columns that hold none are cut (about 30 of 321 are
    inside a typical box), which is what keeps the head's products cheap.
    """
    bounds = np.concatenate([lo, hi, np.ones((len(lo), 1))], axis=1)
    points = (bounds @ maps.reshape(-1, maps.shape[2]).T).reshape(len(lo), len(maps), -1)
    inside = np.all((points >= lo[:, None] - INSIDE) & (points <= hi[:, None] + INSIDE), axis=2)
    inside[:, 1:] &= np.any(hi > lo, axis=1)[:, None]  # a point box (eps = 0) needs its one corner, map 0
    keep = np.argsort(~inside, axis=1, kind="stable")[:, : inside.sum(axis=1).max()]
    points = np.take_along_axis(points, keep[..., None], axis=1)
    return np.clip(points, lo[:, None], hi[:, None]), np.take_along_axis(inside, keep, axis=1)


# --- QuNN: closed form, polygon bounds, coordinate descent -----------------------------------------


def _monomials(letters: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """(..., n) angles -> (..., n_strings) monomials prod_k f_{s_k}(theta_k)."""
    factors = np.stack([np.ones_like(theta), np.cos(theta), np.sin(theta)], axis=-1)
    return _products(factors, letters)


def _products(factors: np.ndarray, letters: np.ndarray) -> np.ndarray:
    """(..., n, 3) factors per pixel and letter -> (..., n_strings) products over the pixels."""
    return factors[..., np.arange(letters.shape[1]), letters].prod(axis=-1)


def _values(letters: np.ndarray, coefficients: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """(M, T) values of the patch terms with (M, T, S) coefficients at (M, T, n) angles."""
    return np.sum(coefficients * _monomials(letters, theta), axis=-1)


def _arc_argmin(cos_part: np.ndarray, sin_part: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """argmin of a cos(t) + b sin(t) over [lo, hi] within [0, pi]: an end, or the critical point if inside."""
    critical = np.clip(np.arctan2(-sin_part, -cos_part), lo, hi)
    candidates = np.stack(np.broadcast_arrays(lo, hi, critical), axis=-1)
    values = cos_part[..., None] * np.cos(candidates) + sin_part[..., None] * np.sin(candidates)
    return np.take_along_axis(candidates, np.argmin(values, axis=-1)[..., None], axis=-1)[..., 0]


def _at_points(letters: np.ndarray, coefficients: np.ndarray, theta: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """(value, point): the pixels of the angles ``theta``, clipped into their boxes, and the value there."""
    point = np.clip(theta / np.pi, lo[:, None], hi[:, None])
    return _values(letters, coefficients, np.pi * point), point


def _separable_minimum(letters: np.ndarray, lo: np.ndarray, hi: np.ndarray, coefficients: np.ndarray) -> tuple:
    """Exact minimum of const + sum_k (alpha_k cos pi x_k + beta_k sin pi x_k): pixel by pixel."""
    cos_part = coefficients @ (letters == 1).astype(float)
    sin_part = coefficients @ (letters == 2).astype(float)
    theta = _arc_argmin(cos_part, sin_part, np.pi * lo[:, None], np.pi * hi[:, None])
    value, point = _at_points(letters, coefficients, theta, lo, hi)
    return value, value, point


def _polygon_bounds(letters: np.ndarray, lo: np.ndarray, hi: np.ndarray, coefficients: np.ndarray) -> tuple:
    """Certified lower bound over each box (polygon vertices) and an upper bound attained at a point."""
    lower, best, angles, _ = _polygon_minimum(letters, lo, hi, coefficients)
    combos = np.array(list(itertools.product(range(len(POLYGON_ANGLES)), repeat=lo.shape[1])))
    start = np.take_along_axis(angles[:, None], combos[best][..., None], axis=-1)[..., 0]
    theta = _descend(letters, coefficients, start, np.pi * lo, np.pi * hi)
    upper, point = _at_points(letters, coefficients, theta, lo, hi)
    return lower, upper, point


def _polygon_minimum(letters: np.ndarray, lo: np.ndarray, hi: np.ndarray, coefficients: np.ndarray) -> tuple:
    """(lower, best vertex, vertex angles, vertex monomials): the term's minimum over the polygons' vertex products,
    a certified lower bound of its minimum over the box, and where it is attained."""
    angles, table = _arc_polygons(np.pi * lo, np.pi * hi)
    monomials = _vertex_monomials(table, letters)
    values = monomials @ coefficients.transpose(0, 2, 1)
    best = np.argmin(values, axis=1)
    return np.take_along_axis(values, best[:, None], axis=1)[:, 0], best, angles, monomials


def _arc_polygons(theta_lo: np.ndarray, theta_hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of a polygon enclosing each arc {(cos t, sin t): lo <= t <= hi}, width w <= pi.

    The polygon is bounded by the chord and the tangents at lo, the middle and hi: its vertices are the
    two ends and the two tangent corners, at angles lo + w/4 and lo + 3w/4 and radius 1/cos(w/4).
    Returns the vertex angles (..., 4) and the factor table (..., 4, 3) of (1, cos-part, sin-part).
    """
    width = (theta_hi - theta_lo)[..., None]
    angles = theta_lo[..., None] + width * POLYGON_ANGLES
    radius = np.where(POLYGON_CORNERS, 1.0 / np.cos(width / 4), 1.0)
    table = np.stack([np.ones_like(angles), radius * np.cos(angles), radius * np.sin(angles)], axis=-1)
    return angles, table


def _vertex_monomials(table: np.ndarray, letters: np.ndarray) -> np.ndarray:
    """(M, n, 4, 3) factor tables -> (M, 4**n, n_strings) monomials at every product of polygon vertices.

    Vertex products in itertools.product order (pixel 0 slowest), built by outer products pixel by pixel.
    """
    product = np.ones((len(table), 1, len(letters)))
    for k in range(letters.shape[1]):
        factor = table[:, k][..., letters[:, k]]
        product = (product[:, :, None] * factor[:, None]).reshape(len(table), -1, len(letters))
    return product


def _descend(letters: np.ndarray, coefficients: np.ndarray, theta: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Coordinate descent on (M, T, n) angles: each step minimises exactly over one pixel's interval."""
    theta = theta.copy()
    for _ in range(SWEEPS):
        for k in range(letters.shape[1]):
            cos_part, sin_part = _pixel_terms(letters, coefficients, theta, k)
            theta[..., k] = _arc_argmin(cos_part, sin_part, lo[:, None, k], hi[:, None, k])
    return theta


def _pixel_terms(letters: np.ndarray, coefficients: np.ndarray, theta: np.ndarray, k: int) -> tuple:
    """The term as A + B cos(theta_k) + C sin(theta_k) with the other pixels fixed: (B, C)."""
    factors = np.stack([np.ones_like(theta), np.cos(theta), np.sin(theta)], axis=-1)
    factors[..., k, :] = 1.0
    others = coefficients * _products(factors, letters)
    return others @ (letters[:, k] == 1).astype(float), others @ (letters[:, k] == 2).astype(float)


# --- polynomial: branch and bound ------------------------------------------------------------------


class _Search:
    """Branch-and-bound state of a batch: bounds per (problem, target) key, leaves of refined keys.

    A key's lower bound is the smallest lower bound of its leaves (which cover its box) and its upper
    bound the best value found at a real point; leaves whose lower bound exceeds that are dropped.
    """

    def __init__(self, letters: np.ndarray, problems: _Problems, coefficients: np.ndarray, bounds: _Bounds):
        self.letters, self.problems = letters, problems
        self.n_targets = bounds.lower.shape[1]
        self.lower, self.upper = bounds.lower.ravel().copy(), bounds.upper.ravel().copy()
        self.point = bounds.point.reshape(len(self.lower), -1).copy()
        self.coefficients = coefficients.reshape(len(self.lower), -1)
        self.refined = np.zeros(len(self.lower), bool)
        n = problems.lo.shape[1]
        self.leaves = (np.zeros(0, int), np.zeros((0, n)), np.zeros((0, n)), np.zeros(0))

    def bounds(self) -> _Bounds:
        shape = (-1, self.n_targets)
        points = self.point.reshape(len(self.point) // self.n_targets, self.n_targets, -1)
        return _Bounds(self.lower.reshape(shape), self.upper.reshape(shape), points)

    def refine(self, keys: np.ndarray) -> None:
        """Halve the leaf of smallest lower bound of each key along its widest side."""
        self._plant(keys[~self.refined[keys]])
        parents = self._worst_leaves(keys)
        key, lo, hi, _ = (part[parents] for part in self.leaves)
        lo, hi = _halves(lo, hi)
        key = np.concatenate([key, key])
        solve = functools.partial(_polygon_bounds, self.letters)
        children = _chunked(solve, lo, hi, self.coefficients[key][:, None])
        self._improve(key, children.upper[:, 0], children.point[:, 0])
        keep = np.ones(len(self.leaves[0]), bool)
        keep[parents] = False
        self._replace(keep, (key, lo, hi, children.lower[:, 0]))

    def _plant(self, keys: np.ndarray) -> None:
        """Make each key's whole box its first leaf."""
        problem = keys // self.n_targets
        roots = (keys, self.problems.lo[problem], self.problems.hi[problem], self.lower[keys])
        self.leaves = tuple(np.concatenate(pair) for pair in zip(self.leaves, roots, strict=True))
        self.refined[keys] = True

    def _worst_leaves(self, keys: np.ndarray) -> np.ndarray:
        mine = np.flatnonzero(np.isin(self.leaves[0], keys))
        order = mine[np.lexsort((self.leaves[3][mine], self.leaves[0][mine]))]
        return order[np.unique(self.leaves[0][order], return_index=True)[1]]

    def _improve(self, key: np.ndarray, upper: np.ndarray, point: np.ndarray) -> None:
        """Keep, per key, the best point found among the children if it beats the current one."""
        order = np.lexsort((upper, key))
        best = order[np.unique(key[order], return_index=True)[1]]
        better = best[upper[best] < self.upper[key[best]]]
        self.upper[key[better]] = upper[better]
        self.point[key[better]] = point[better]

    def _replace(self, keep: np.ndarray, children: tuple) -> None:
        """Swap split leaves for their children, drop leaves that cannot hold the minimum, tighten."""
        leaves = tuple(np.concatenate([part[keep], child]) for part, child in zip(self.leaves, children, strict=True))
        alive = leaves[3] <= self.upper[leaves[0]]
        self.leaves = tuple(part[alive] for part in leaves)
        smallest = self.upper.copy()
        np.minimum.at(smallest, self.leaves[0], self.leaves[3])
        self.lower = np.where(self.refined, np.maximum(self.lower, smallest), self.lower)


def _halves(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both halves of each box, cut across its widest side: (2M, n) lower and upper corners."""
    rows, side = np.arange(len(lo)), np.argmax(hi - lo, axis=1)
    middle = (lo[rows, side] + hi[rows, side]) / 2
    upper_half_lo, lower_half_hi = lo.copy(), hi.copy()
    upper_half_lo[rows, side] = middle
    lower_half_hi[rows, side] = middle
    return np.concatenate([lo, upper_half_lo]), np.concatenate([lower_half_hi, hi])


def _branch_and_bound(search: _Search, dec: Decomposition, y: np.ndarray, budget: int, tolerance: float) -> _Bounds:
    """Refine the patches with the largest gap of every open (digit, target) until none is open."""
    spent = np.zeros(len(y), int)
    while True:
        lower, upper = _digit_bounds(dec, search.problems, search.bounds(), y)
        work = _open(lower, upper, spent < budget, tolerance)
        if not work.any():
            return search.bounds()
        keys, cost = _choose(search, work)
        spent += cost
        search.refine(keys)


def _open(lower: np.ndarray, upper: np.ndarray, budget_left: np.ndarray, tolerance: float) -> np.ndarray:
    """(N, 10): targets still worth refining, of digits neither certified nor broken and within budget."""
    decided = (lower.min(axis=1) > tolerance) | (upper.min(axis=1) < -tolerance) | ~budget_left
    with np.errstate(invalid="ignore"):  # inf - inf at t = y, which is never open
        return ~decided[:, None] & (lower <= tolerance) & (upper - lower > tolerance)


def _choose(search: _Search, work: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The keys to refine (the largest gaps of each open (digit, target)) and the splits each digit spends."""
    digits, targets = np.nonzero(work)
    keys = search.problems.index[digits] * search.n_targets + targets[:, None]
    gaps = search.upper[keys] - search.lower[keys]
    count = min(SPLITS_PER_ROUND, keys.shape[1])
    top = np.argpartition(-gaps, count - 1, axis=1)[:, :count]
    useful = np.take_along_axis(gaps, top, axis=1) > 0
    cost = np.bincount(digits, weights=useful.sum(axis=1), minlength=len(work)).astype(int)
    return np.unique(np.take_along_axis(keys, top, axis=1)[useful]), cost
