"""Accuracy of models on adversarial sets: white-box and transfer, as one tidy table.

One row per (seed, source, target, attack, eps): the source model crafted the set, the target model
is evaluated on it (source == target: white-box; otherwise: transfer). Counts are kept beside the
accuracy so that later statistics can use them. Attack ``exact`` is the exact verification's worst case
(robqunn.exact): its white-box accuracy is the exact robust accuracy, and every white-box row of an attack
carries its gap to it (an attack's accuracy is only an upper bound on robustness). Attack ``worst_case``
is the worst case over the attacks (RobustBench's rule): a digit counts as correct only if it survives
every attack run on it at that eps.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from robqunn.artifacts import AdversarialSet
from robqunn.errors import DataError
from robqunn.io import atomic_path
from robqunn.vocabulary import EXACT, WORST_CASE, AttackName, ModelSpec

COLUMNS = ["seed", "source", "target", "kind", "attack", "eps", "n_correct", "n_evaluated", "accuracy"]
COLUMNS += ["attack_gap", "n_missed"]  # white-box rows of an attack: beside the exact robust accuracy


def read_results_table(path: str | Path) -> pd.DataFrame:
    """Read a results table written by the evaluate stage, checked before a later stage draws or decides
    anything from it: its columns, and every row's counts and accuracy (0 <= n_correct <= n_evaluated,
    accuracy = n_correct / n_evaluated in [0, 1]; a finite-shot target's counts may be fractional).

    Raises:
        DataError: naming the file, the column and the first offending row.
    """
    table = pd.read_csv(path)
    if list(table.columns) != COLUMNS:
        raise DataError(f"results table {path} must have the columns {COLUMNS}; got {list(table.columns)}")
    counts = table[["n_correct", "n_evaluated", "accuracy"]].astype(float)
    problems = {
        "n_evaluated": ~(counts["n_evaluated"] > 0),
        "n_correct": ~counts["n_correct"].between(0, counts["n_evaluated"]),
        "accuracy": ~counts["accuracy"].between(0, 1)
        | ~np.isclose(counts["accuracy"], counts["n_correct"] / counts["n_evaluated"], rtol=0, atol=1e-9),
    }
    for column, bad in problems.items():
        if bad.any():
            row = table[bad].iloc[0]
            raise DataError(
                f"results table {path} must have 0 <= n_correct <= n_evaluated, n_evaluated > 0 and accuracy = "
                f"n_correct / n_evaluated in [0, 1]; column {column!r} of row {int(bad.idxmax())} is not: "
                f"{row[['source', 'target', 'attack', 'eps', 'n_correct', 'n_evaluated', 'accuracy']].to_dict()}"
            )
    return table


def transfer_targets(source: str, models: list[str], between_qunns: bool) -> list[str]:
    """Models that evaluate the examples crafted on ``source``: itself, then transfer targets.

    CNN -> every QuNN and every QuNN -> CNN, as in the paper (which did FGSM only; we do every
    attack), each between models whose heads were trained the same way (train.methods); a QuNN read out
    exactly -> its finite-shot versions (the examples of the model they sample from, docs/noise.md);
    QuNN -> other QuNNs of its training method only when ``between_qunns``.
    """
    spec = ModelSpec.from_name(source)
    peers = [m for m in models if m != source and ModelSpec.from_name(m).method is spec.method]
    if spec.is_cnn:
        others = [m for m in peers if not ModelSpec.from_name(m).is_cnn]
    else:
        cnn = spec.cnn.name
        others = [m for m in peers if m == cnn or (between_qunns and m != cnn) or _samples_from(m, source)]
    return [source] + others


def _samples(model: str) -> bool:
    """Does ``model`` sample its readout (a finite-shot QuNN)?"""
    return ModelSpec.from_name(model).shots is not None


def _samples_from(model: str, source: str) -> bool:
    """Is ``model`` a finite-shot version of ``source`` (the same circuit and noise, read out exactly)?"""
    spec = ModelSpec.from_name(model)
    return spec.shots is not None and spec.expectation.name == source


def correct_over_draws(model, digits: tuple[np.ndarray, np.ndarray], predict, draws: int = 1, seed: int = 0):
    """Per digit of ``digits`` (x, y): correct or not (bool), or, for a model that samples its readout (a
    finite-shot QuNN), the fraction of ``draws`` sampling draws that classify it correctly (float), the
    first draw seeded by ``seed`` (robqunn.quanv.reseed).

    Args:
        predict: (model, x) -> class probabilities (models.predict).
    """
    from robqunn.quanv import reseed, shots_of

    x, y = digits
    if not shots_of(model):
        return np.argmax(predict(model, x), axis=1) == y
    reseed(model, seed)
    return np.mean([np.argmax(predict(model, x), axis=1) == y for _ in range(draws)], axis=0)


def count(correct: np.ndarray) -> int | float:
    """The correct digits of a per-digit result: an integer, or a sum of fractions for a model that samples."""
    total = np.sum(correct)
    return int(total) if correct.dtype == bool else float(total)


def evaluate_set(adversarial: AdversarialSet, targets: Mapping[str, object], score) -> list[dict]:
    """Rows for one adversarial set evaluated on each target model.

    Args:
        targets: target name -> model.
        score: (target name, model, adversarial set) -> per digit correct (bool) or a finite-shot
            target's fraction of correct draws (:func:`correct_over_draws`).
    """
    source = adversarial.source
    rows = []
    for name, model in targets.items():
        digits = score(name, model, adversarial)
        correct, n = count(digits), len(adversarial.y)
        rows.append(
            {
                "seed": adversarial.seed,
                "source": source,
                "target": name,
                "kind": "white-box" if name == source else "transfer",
                "attack": adversarial.attack,
                "eps": adversarial.eps,
                "n_correct": correct,
                "n_evaluated": n,
                "accuracy": correct / n,
                "correct": digits,
                "labels": adversarial.y,
            }
        )
    return rows


def worst_case(rows: list[dict]) -> list[dict]:
    """White-box rows of attack ``worst_case``, one per (seed, model, eps) that an attack ran at: a digit is
    correct only if every attack run on it at that eps left it correctly classified (the exact worst case
    is the ground truth these are measured against, not one of them). A finite-shot model has no exact
    robust accuracy, so its worst case also runs over the examples of the model it samples from: their
    attacks and exact worst cases, transferred, and those exact worst cases scored on itself."""
    attacks = {attack.value for attack in AttackName}
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if row["kind"] == "white-box" and row["attack"] in attacks:
            groups.setdefault(_point(row), []).append(row)
    for row in rows:
        key = (row["seed"], row["target"], row["eps"])
        if _samples(row["target"]) and key in groups and (row["attack"] == EXACT or row["kind"] == "transfer"):
            if row["kind"] == "white-box" or _samples_from(row["target"], row["source"]):
                groups[key].append(row)
    return [_survivors(group) for group in groups.values()]


def _survivors(group: list[dict]) -> dict:
    """A digit survives every attack; a finite-shot model's digit, by its lowest fraction of correct draws. The
    row is the model's white-box row (its first, an attack of its own)."""
    digits = np.minimum.reduce([np.asarray(row["correct"]) for row in group])
    correct = count(digits)
    row = {"attack": WORST_CASE, "n_correct": correct, "accuracy": correct / len(digits), "correct": digits}
    return group[0] | row


def attack_gaps(rows: list[dict]) -> list[dict]:
    """``rows`` (of :func:`evaluate_set`) with, on every white-box row of an attack that has its model's
    exact row at the same eps: ``attack_gap`` = attack accuracy - exact robust accuracy, and ``n_missed``,
    the digits the attack left standing although the exact worst case breaks them. Other rows: missing."""
    exact = {(r["seed"], r["source"], r["eps"]): r for r in rows if r["attack"] == EXACT and r["kind"] == "white-box"}
    for row in rows:
        own = row["attack"] != EXACT and row["kind"] == "white-box" and not _samples(row["source"])
        match = exact.get(_point(row)) if own else None  # a model that samples has no exact robust accuracy
        if match is not None and not np.array_equal(row["labels"], match["labels"]):
            raise DataError(
                f"the {row['attack']} and exact sets of {row['source']} at eps {row['eps']:g} must hold the same "
                f"digits to be compared digit by digit; got different labels (or counts)"
            )
        row["attack_gap"] = np.nan if match is None else row["accuracy"] - match["accuracy"]
        row["n_missed"] = pd.NA if match is None else _missed(np.asarray(row["correct"]), np.asarray(match["correct"]))
    return rows


def _missed(attack: np.ndarray, exact: np.ndarray):
    """Digits the attack left standing that the exact worst case breaks (a finite-shot target's fractions: NA)."""
    return int(np.sum(attack & ~exact)) if attack.dtype == bool and exact.dtype == bool else pd.NA


def _point(row: dict) -> tuple:
    return row["seed"], row["source"], row["eps"]


def results_table(rows: list[dict]) -> pd.DataFrame:
    """The tidy table, sorted, one row per (seed, source, target, attack, eps)."""
    table = pd.DataFrame(rows, columns=COLUMNS).sort_values(["seed", "attack", "source", "target", "eps"])
    table = table.astype({"n_missed": "Int64"})
    duplicated = table.duplicated(["seed", "source", "target", "attack", "eps"])
    if duplicated.any():
        raise DataError(
            f"results must have one row per (seed, source, target, attack, eps); got repeats:\n{table[duplicated]}"
        )
    return table.reset_index(drop=True)


def save_table(table: pd.DataFrame, csv: str | Path, parquet: str | Path) -> None:
    """Write the table as CSV and Parquet, atomically."""
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(parquet) as tmp:
        table.to_parquet(tmp, index=False)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per (seed, model, attack), white-box: clean accuracy, area under the accuracy-eps curve
    (trapezoid, normalised by the eps range so it is a mean accuracy), and for QuNNs the robustness gain over
    the CNN trained the same way at every eps, acc_qunn - acc_cnn: an absolute difference, because a ratio
    of two small accuracies (0.013 / 0.001) reads as a twelvefold gain where one digit in a hundred is.
    """
    white = table[table["kind"] == "white-box"]
    rows = []
    for (seed, model, attack), curve in white.groupby(["seed", "target", "attack"]):
        curve = curve.sort_values("eps")
        eps, acc = curve["eps"].to_numpy(), curve["accuracy"].to_numpy()
        row = {"seed": seed, "model": model, "attack": attack, "clean_accuracy": acc[eps == 0][0]}
        row["auc"] = float(np.trapezoid(acc, eps) / (eps[-1] - eps[0])) if len(eps) > 1 else float(acc[0])
        spec = ModelSpec.from_name(model)
        cnn = white[(white["seed"] == seed) & (white["target"] == spec.cnn.name) & (white["attack"] == attack)]
        if not spec.is_cnn and not cnn.empty:
            base = cnn.set_index("eps")["accuracy"]
            for e, a in zip(eps, acc, strict=True):
                row[f"gain_vs_cnn@{e:g}"] = a - base[e] if e in base else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def whitebox_curves(table: pd.DataFrame) -> pd.DataFrame:
    """White-box accuracy against eps in long form (attack, model, eps, accuracy): what `dvc plots` draws."""
    white = table[table["kind"] == "white-box"].rename(columns={"target": "model"})
    curves = white.groupby(["attack", "model", "eps"], as_index=False)["accuracy"].mean()
    return curves.sort_values(["attack", "model", "eps"]).reset_index(drop=True)
