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

COLUMNS = ["seed", "draw", "angles_seed", "model", "ansatz", "layout", "eps", "robust_accuracy_lower"]
COLUMNS += ["robust_accuracy_upper", "undecided", "n_evaluated", "test_accuracy", "cos_weight", "black_slope"]
COLUMNS += ["validation_lower", "validation_upper", "n_validation"]


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
    """One draw of the angles: every circuit of the sweep built, its head trained (on the training digits less
    the ``settings.n_validation`` held out, robqunn.data.hold_out), its exact robust accuracy on the first
    ``settings.n_images`` test digits and on the validation digits at each of ``settings.eps``.

    Returns:
        One row per (circuit, eps), columns :data:`COLUMNS` (validation bounds NaN when none are held out).
    """
    from robqunn.circuits import make_circuit_spec
    from robqunn.data import hold_out
    from robqunn.features import compute_features
    from robqunn.models import build_qunn
    from robqunn.quanv import quanvolution_layer
    from robqunn.train import train

    circuit = recipe.circuit
    holdout = hold_out(dataset, settings.n_validation, seed)
    digits = dataset.first_test_digits(settings.n_images, "sweep.n_images")
    rows, done = [], {}
    for spec in sweep_models(settings):
        circuit_spec = make_circuit_spec(spec.ansatz, spec.layout, circuit, angles_seed(seed, draw))
        facts = {"seed": seed, "draw": draw, "angles_seed": angles_seed(seed, draw), "model": spec.name}
        facts |= {"ansatz": spec.ansatz.value, "layout": spec.layout.value}
        readout = _readout_key(circuit_spec)
        if readout in done:  # same features, same seed: the same head and results (docs/design.md)
            logger.info("draw %d, %s: the readout of %s, results reused", draw, spec.name, done[readout][0]["model"])
            rows += [row | facts for row in done[readout]]
            continue
        layer = quanvolution_layer(circuit_spec, circuit.kernel_size, circuit.stride)
        model = build_qunn(layer, seed, spec.name)
        features = compute_features(model, holdout.x_fit), compute_features(model, dataset.x_test)
        result = train(model, features, (holdout.y_fit, dataset.y_test), recipe.training, seed)
        facts |= {"test_accuracy": result.test_accuracy} | readout_statistics(circuit_spec)
        done[readout] = [
            facts | _exact_row(model, digits, eps, recipe.exact) | _validation_row(model, holdout, eps, recipe.exact)
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


def _exact_row(model, digits: tuple, eps: float, exact: ExactParams) -> dict:
    from robqunn.exact import verify

    verified = verify(model, *digits, eps, exact.budget, exact.tolerance, exact.batch_size)
    return {
        "eps": verified.eps,
        "robust_accuracy_lower": verified.accuracy_lower,
        "robust_accuracy_upper": verified.accuracy_upper,
        "undecided": int(verified.undecided.sum()),
        "n_evaluated": len(digits[1]),
    }


def _validation_row(model, holdout, eps: float, exact: ExactParams) -> dict:
    n_validation = len(holdout.y_validation)
    if n_validation == 0:
        return {"validation_lower": np.nan, "validation_upper": np.nan, "n_validation": 0}
    verified = _exact_row(model, (holdout.x_validation, holdout.y_validation), eps, exact)
    return {
        "validation_lower": verified["robust_accuracy_lower"],
        "validation_upper": verified["robust_accuracy_upper"],
        "n_validation": n_validation,
    }


def variance_table(table: pd.DataFrame, n_boot: int) -> pd.DataFrame:
    """Per seed and eps, the variance decomposition of exact robust accuracy over draws x circuits
    (robqunn.stats), with the digits' binomial variance as the measurement noise. Undecided digits count as
    robust (the upper bound); the sweep table keeps both bounds."""
    from robqunn.stats import variance_decomposition

    frames = []
    for (seed, eps), rows in table.groupby(["seed", "eps"]):
        accuracy = rows["robust_accuracy_upper"]
        noise = float(np.mean(accuracy * (1 - accuracy) / rows["n_evaluated"]))
        boot_seed = derived_seed(int(seed), f"sweep/bootstrap/eps{eps:g}")
        decomposition = variance_decomposition(
            rows, "robust_accuracy_upper", "draw", "model", noise_variance=noise, n_boot=n_boot, seed=boot_seed
        )
        sizes = {"n_draws": rows["draw"].nunique(), "n_models": rows["model"].nunique()}
        frames.append(decomposition.assign(seed=seed, eps=eps, **sizes))
    return pd.concat(frames, ignore_index=True)


def correlations(table: pd.DataFrame, n_boot: int) -> pd.DataFrame:
    """Spearman rank correlation of exact robust accuracy (upper bound) with each readout statistic, per
    (seed, eps, layout), over the draws and circuits, with a 95% percentile interval from resampling draws."""
    rows = []
    for seed, of_seed in table.groupby("seed"):
        rng = np.random.default_rng(derived_seed(int(seed), "sweep/correlations"))
        for (eps, layout), group in of_seed.groupby(["eps", "layout"]):
            for statistic in ("cos_weight", "black_slope"):
                rows.append({"seed": seed, "eps": eps, "layout": layout} | _correlation(group, statistic, n_boot, rng))
    return pd.DataFrame(rows)


def _correlation(group: pd.DataFrame, statistic: str, n_boot: int, rng: np.random.Generator) -> dict:
    from scipy.stats import spearmanr

    def rho(frame: pd.DataFrame) -> float:
        return float(spearmanr(frame[statistic], frame["robust_accuracy_upper"]).statistic)

    by_draw = [rows_of_draw for _, rows_of_draw in group.groupby("draw")]
    resamples = (rng.integers(0, len(by_draw), len(by_draw)) for _ in range(n_boot))
    low, high = np.nanpercentile([rho(pd.concat([by_draw[i] for i in drawn])) for drawn in resamples], [2.5, 97.5])
    return {"statistic": statistic, "spearman": rho(group), "ci_low": float(low), "ci_high": float(high)} | {
        "n_draws": len(by_draw)
    }


def selection_table(table: pd.DataFrame) -> pd.DataFrame:
    """Circuit choice by exact robustness, made on validation digits only: per (seed, eps) and circuit, the draw
    whose certified validation accuracy (the lower bound) is highest, ties to the lowest draw; and across every
    circuit of the sweep (model ``any``), the circuit and draw so chosen. Each row gives the chosen draw's test
    numbers (certified robust and clean accuracy) beside two references the choice did not see: the draws'
    mean on the test digits (no choice) and their best on the test digits (a choice made on the test digits,
    which overstates what choosing gives)."""
    from robqunn.errors import DataError

    if table["validation_lower"].isna().any():
        raise DataError("circuit choice needs validation digits: params key 'sweep.n_validation' must be above 0")
    rows = []
    for (seed, eps), of_eps in table.groupby(["seed", "eps"]):
        for model, candidates in [*of_eps.groupby("model", sort=False), (ANY_CIRCUIT, of_eps)]:
            rows.append({"seed": seed, "eps": eps, "model": model} | _choice(candidates))
    return pd.DataFrame(rows, columns=SELECTION_COLUMNS)


#: The model name of the choice among every circuit of the sweep (its ansatz and layout chosen too).
ANY_CIRCUIT = "any"
SELECTION_COLUMNS = ["seed", "eps", "model", "chosen_model", "chosen_draw", "validation", "n_validation", "test"]
SELECTION_COLUMNS += ["test_upper", "test_accuracy", "n_evaluated", "draws_mean", "draws_best", "n_candidates"]


def _choice(candidates: pd.DataFrame) -> dict:
    ranked = candidates.sort_values(["validation_lower", "draw", "model"], ascending=[False, True, True], kind="stable")
    chosen = ranked.iloc[0]
    return {
        "chosen_model": chosen["model"],
        "chosen_draw": int(chosen["draw"]),
        "validation": float(chosen["validation_lower"]),
        "n_validation": int(chosen["n_validation"]),
        "test": float(chosen["robust_accuracy_lower"]),
        "test_upper": float(chosen["robust_accuracy_upper"]),
        "test_accuracy": float(chosen["test_accuracy"]),
        "n_evaluated": int(chosen["n_evaluated"]),
        "draws_mean": float(candidates["robust_accuracy_lower"].mean()),
        "draws_best": float(candidates["robust_accuracy_lower"].max()),
        "n_candidates": len(candidates),
    }


def selection_summary(selection: pd.DataFrame) -> pd.DataFrame:
    """Per (eps, circuit), over the seeds: the chosen draw's certified test accuracy (mean, 95% t-interval,
    the seeds' range; one seed: the Wilson interval over its test digits), its clean accuracy, and what
    choosing gained over the draws' mean on the test digits (paired by seed, with its interval)."""
    from robqunn import stats

    rows = []
    for (eps, model), group in selection.groupby(["eps", "model"], sort=False):
        test = stats.accuracy_interval(group["test"] * group["n_evaluated"], group["n_evaluated"])
        gain = group["test"].to_numpy() - group["draws_mean"].to_numpy()
        gain_interval = stats.t_interval(gain) if len(group) >= 2 else None
        rows.append(
            {"eps": eps, "model": model, "seeds": len(group), "test_mean": test.mean, "ci_low": test.low}
            | {"ci_high": test.high, "min": group["test"].min(), "max": group["test"].max()}
            | {"clean_mean": group["test_accuracy"].mean(), "draws_mean": group["draws_mean"].mean()}
            | {"gain": float(gain.mean())}
            | {"gain_low": gain_interval.low if gain_interval else np.nan}
            | {"gain_high": gain_interval.high if gain_interval else np.nan}
            | {"draws_best_mean": group["draws_best"].mean()}
        )
    return pd.DataFrame(rows)


def selection_markdown(summary: pd.DataFrame) -> str:
    """The selection summary as the Markdown table docs/results.md holds (`robqunn select-table`): per ε and
    circuit, the chosen draw's certified test accuracy (mean [95% interval], the seeds' range), its clean
    accuracy, the gain over the draws' mean (mean [interval]), and the best draw on the test digits."""
    header = ["ε", "circuit", "seeds", "chosen: certified test", "seeds' range", "clean", "gain over the draws' mean"]
    header += ["draws' mean", "best draw on test (not a result)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in summary.itertuples():
        cells = [f"{row.eps:g}", row.model.removeprefix("qunn-"), str(row.seeds)]
        cells += [f"{row.test_mean:.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}]", f"{row.min:.3f} – {row.max:.3f}"]
        gain = f"{row.gain:+.3f}" + ("" if np.isnan(row.gain_low) else f" [{row.gain_low:+.3f}, {row.gain_high:+.3f}]")
        cells += [f"{row.clean_mean:.3f}", gain, f"{row.draws_mean:.3f}", f"{row.draws_best_mean:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def selection_agreement(table: pd.DataFrame, selection: pd.DataFrame) -> str:
    """Whether the validation digits choose as the test digits would (`robqunn select-table`, below the table):
    per eps, the Pearson correlation of the certified accuracy on the two over every (seed, draw, circuit), how
    often the chosen draw is the test digits' best and by how much it falls short at most; and which circuit
    the choice among all (model ``any``) took, per eps."""
    lines = []
    for eps, rows in table.groupby("eps"):
        chosen = selection[np.isclose(selection["eps"], eps)]
        r = float(np.corrcoef(rows["validation_lower"], rows["robust_accuracy_lower"])[0, 1])
        shortfall = chosen["draws_best"] - chosen["test"]
        taken = chosen[chosen["model"] == ANY_CIRCUIT]["chosen_model"].value_counts().sort_index()
        lines.append(
            f"- ε = {eps:g}: validation vs test correlation {r:.3f} over {len(rows)} (seed, draw, circuit); the chosen "
            f"draw is the test's best in {int((shortfall < 1e-12).sum())} of {len(chosen)} (seed, circuit) cells, "
            f"at most {shortfall.max():.3f} below it; `any` took "
            + ", ".join(f"{model.removeprefix('qunn-')} {n}" for model, n in taken.items())
        )
    return "\n".join(lines)


def check_complete(table: pd.DataFrame, settings: SweepParams, seeds: tuple[int, ...]) -> None:
    """Every seed, draw, circuit and eps of ``settings`` exactly once, or a DataError naming what is missing."""
    from robqunn.errors import DataError

    expected = {
        (seed, draw, spec.name, float(eps))
        for seed in seeds
        for draw in range(settings.n_draws)
        for spec in sweep_models(settings)
        for eps in settings.eps
    }
    found = list(zip(table["seed"], table["draw"], table["model"], table["eps"].astype(float), strict=True))
    missing, extra = expected - set(found), set(found) - expected
    if missing or extra or len(found) != len(set(found)):
        raise DataError(
            f"the sweep's draw tables must hold every (seed, draw, model, eps) of params 'sweep' and 'study.seeds' "
            f"once; missing {sorted(missing)[:5]}, unexpected {sorted(extra)[:5]}, "
            f"{len(found) - len(set(found))} repeated"
        )


def load_draws(paths: list, settings: SweepParams, seeds: tuple[int, ...]) -> pd.DataFrame:
    """The draw tables, concatenated and checked complete."""
    table = pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)
    check_complete(table, settings, seeds)
    return table.sort_values(["seed", "eps", "layout", "ansatz", "draw"]).reset_index(drop=True)
