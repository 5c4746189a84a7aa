"""Where robustness comes from: many draws of the circuits' rotation angles against the ansatz and layout.

The study seed redraws everything at once (split, angles, head, order), and the angles alone move a QuNN's
robust accuracy by tens of points. The sweep separates them: one data split and one head initialisation
and training order (those of ``seed``), ``sweep.n_draws`` draws of the rotation angles (shared by every
circuit of a draw, as in the study), and for each draw and circuit of ``sweep.ansatze`` x ``sweep.layouts``
the paper's training of the head and the exact robust accuracy at ``sweep.eps`` (robqunn.exact, cheap).

Then (robqunn.stats.variance_decomposition) draws and circuits are crossed factors: the share of the
variance of robust accuracy carried by the angles (the draw's main effect and its interaction with the
circuit) against the ansatz and layout (the circuit's main effect), with bootstrap intervals over draws.
What the angles change is the readout polynomial: :func:`readout_statistics` summarises it per circuit
and draw, for the figure of robust accuracy against those statistics.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from robqunn.config import CircuitParams, ExactParams, SweepParams, TrainParams
from robqunn.data import Dataset
from robqunn.seeding import derived_seed
from robqunn.vocabulary import ModelSpec

if TYPE_CHECKING:  # imported by the functions that use it: importing robqunn.sweep needs no PennyLane
    from robqunn.circuits import CircuitSpec

logger = logging.getLogger(__name__)

COLUMNS = ["draw", "angles_seed", "model", "ansatz", "layout", "eps", "robust_accuracy_lower"]
COLUMNS += ["robust_accuracy_upper", "undecided", "n_evaluated", "test_accuracy", "cos_weight", "black_slope"]


def angles_seed(seed: int, draw: int) -> int:
    """The seed of draw ``draw``'s rotation angles; ``seed`` keeps the split, the head and the order."""
    return derived_seed(seed, f"sweep/angles{draw}")


def sweep_models(settings: SweepParams) -> list[ModelSpec]:
    """The circuits of every draw: each (layout, ansatz) of the sweep."""
    return [ModelSpec("qunn", ansatz, layout) for layout in settings.layouts for ansatz in settings.ansatze]


def readout_statistics(spec: CircuitSpec) -> dict[str, float]:
    """Two summaries of the readout polynomial <Z_j> = sum_s c[s, j] prod_k t_k[s_k] (robqunn.circuits), means
    over the readouts j:

    - cos_weight: the share of the squared non-constant weight on strings with no sin factor (letters I and
      Z only). cos(pi x) is flat at pixel values 0 and 1, where most MNIST pixels sit, so a readout made of
      such terms barely moves under a small perturbation of a black or white pixel.
    - black_slope: the norm of the readout's gradient at an all-black patch (cos = 1, sin = 0 there): pi *
      the sum over strings with exactly one X (sin) letter: how fast the features change when a black pixel
      is lit.
    """
    from robqunn.circuits import readout_polynomial

    strings, coefficients = readout_polynomial(spec)
    squared = coefficients**2
    constant = np.array([set(s) == {"I"} for s in strings])
    cos_only = np.array([set(s) <= {"I", "Z"} for s in strings]) & ~constant
    non_constant = squared[~constant].sum(axis=0)
    cos_weight = np.divide(
        squared[cos_only].sum(axis=0), non_constant, where=non_constant > 0, out=np.zeros(spec.n_qubits)
    )
    gradient = np.zeros((spec.n_qubits, coefficients.shape[1]))
    for string, row in zip(strings, coefficients, strict=True):
        if string.count("X") == 1:
            gradient[string.index("X")] += np.pi * row
    return {"cos_weight": float(cos_weight.mean()), "black_slope": float(np.linalg.norm(gradient, axis=0).mean())}


@dataclass(frozen=True)
class Recipe:
    """How each circuit of a draw is built, trained and verified: the study's own settings (of ``exact``
    only the budget, tolerance and batch size are used; the sweep has its own eps)."""

    circuit: CircuitParams
    training: TrainParams
    exact: ExactParams


def sweep_draw(settings: SweepParams, recipe: Recipe, dataset: Dataset, seed: int, draw: int) -> pd.DataFrame:
    """One draw of the angles: every circuit of the sweep built, its head trained, its exact robust accuracy
    on the first ``settings.n_images`` test digits at each of ``settings.eps``.

    Returns:
        One row per (circuit, eps), columns :data:`COLUMNS`.
    """
    from robqunn.circuits import make_circuit_spec
    from robqunn.exact import verify
    from robqunn.features import compute_features
    from robqunn.models import build_qunn
    from robqunn.quanv import quanvolution_layer
    from robqunn.train import train

    circuit, exact = recipe.circuit, recipe.exact
    digits = dataset.x_test[: settings.n_images], dataset.y_test[: settings.n_images]
    rows, done = [], {}
    for spec in sweep_models(settings):
        circuit_spec = make_circuit_spec(spec.ansatz, spec.layout, circuit, angles_seed(seed, draw))
        facts = {"draw": draw, "angles_seed": angles_seed(seed, draw), "model": spec.name}
        facts |= {"ansatz": spec.ansatz.value, "layout": spec.layout.value}
        readout = _readout_key(circuit_spec)
        if readout in done:  # same features, same seed: the same head and results (docs/design.md)
            logger.info("draw %d, %s: the readout of %s, results reused", draw, spec.name, done[readout][0]["model"])
            rows += [row | facts for row in done[readout]]
            continue
        layer = quanvolution_layer(circuit_spec, circuit.kernel_size, circuit.stride)
        model = build_qunn(layer, seed, spec.name)
        features = compute_features(model, dataset.x_train), compute_features(model, dataset.x_test)
        result = train(model, features, (dataset.y_train, dataset.y_test), recipe.training, seed)
        facts |= {"test_accuracy": result.test_accuracy} | readout_statistics(circuit_spec)
        done[readout] = [
            facts | _exact_row(verify(model, *digits, eps, exact.budget, exact.tolerance, exact.batch_size), digits)
            for eps in settings.eps
        ]
        rows += done[readout]
        logger.info("draw %d, %s: test accuracy %.4f", draw, spec.name, result.test_accuracy)
    return pd.DataFrame(rows, columns=COLUMNS)


def _readout_key(spec: CircuitSpec) -> tuple:
    """Circuits with equal readout polynomials compute equal features for every input (the invariance
    property, and ansatz none under either layout): one training serves them all."""
    from robqunn.circuits import readout_polynomial

    strings, coefficients = readout_polynomial(spec)
    return tuple(strings), np.round(coefficients, 12).tobytes()


def _exact_row(verified, digits: tuple) -> dict:
    return {
        "eps": verified.eps,
        "robust_accuracy_lower": verified.accuracy_lower,
        "robust_accuracy_upper": verified.accuracy_upper,
        "undecided": int(verified.undecided.sum()),
        "n_evaluated": len(digits[1]),
    }


def variance_table(table: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """Per eps, the variance decomposition of exact robust accuracy over draws x circuits (robqunn.stats),
    with the digits' binomial variance as the measurement noise. Undecided digits count as robust (the upper
    bound); the sweep table keeps both bounds."""
    from robqunn.stats import variance_decomposition

    frames = []
    for eps, rows in table.groupby("eps"):
        accuracy = rows["robust_accuracy_upper"]
        noise = float(np.mean(accuracy * (1 - accuracy) / rows["n_evaluated"]))
        boot_seed = derived_seed(seed, f"sweep/bootstrap/eps{eps:g}")
        decomposition = variance_decomposition(
            rows, "robust_accuracy_upper", "draw", "model", noise_variance=noise, n_boot=n_boot, seed=boot_seed
        )
        frames.append(decomposition.assign(eps=eps, n_draws=rows["draw"].nunique(), n_models=rows["model"].nunique()))
    return pd.concat(frames, ignore_index=True)


def correlations(table: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """Spearman rank correlation of exact robust accuracy (upper bound) with each readout statistic, per
    (eps, layout), over the draws and circuits, with a 95% percentile interval from resampling draws."""
    from scipy.stats import spearmanr

    rng = np.random.default_rng(derived_seed(seed, "sweep/correlations"))
    rows = []
    for (eps, layout), group in table.groupby(["eps", "layout"]):
        by_draw = [rows_of_draw for _, rows_of_draw in group.groupby("draw")]
        for statistic in ("cos_weight", "black_slope"):

            def rho(frame: pd.DataFrame, statistic: str = statistic) -> float:
                return float(spearmanr(frame[statistic], frame["robust_accuracy_upper"]).statistic)

            resampled = [
                rho(pd.concat([by_draw[i] for i in rng.integers(0, len(by_draw), len(by_draw))])) for _ in range(n_boot)
            ]
            low, high = np.nanpercentile(resampled, [2.5, 97.5])
            rows.append({"eps": eps, "layout": layout, "statistic": statistic, "spearman": rho(group)})
            rows[-1] |= {"ci_low": float(low), "ci_high": float(high), "n_draws": len(by_draw)}
    return pd.DataFrame(rows)


def check_complete(table: pd.DataFrame, settings: SweepParams) -> None:
    """Every draw, circuit and eps of ``settings`` exactly once, or a DataError naming what is missing."""
    from robqunn.errors import DataError

    expected = {
        (draw, spec.name, float(eps))
        for draw in range(settings.n_draws)
        for spec in sweep_models(settings)
        for eps in settings.eps
    }
    found = list(zip(table["draw"], table["model"], table["eps"].astype(float), strict=True))
    missing, extra = expected - set(found), set(found) - expected
    if missing or extra or len(found) != len(set(found)):
        raise DataError(
            f"the sweep's draw tables must hold every (draw, model, eps) of params 'sweep' once; "
            f"missing {sorted(missing)[:5]}, unexpected {sorted(extra)[:5]}, {len(found) - len(set(found))} repeated"
        )


def load_draws(paths: list, settings: SweepParams) -> pd.DataFrame:
    """The draw tables, concatenated and checked complete."""
    table = pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)
    check_complete(table, settings)
    return table.sort_values(["eps", "layout", "ansatz", "draw"]).reset_index(drop=True)
