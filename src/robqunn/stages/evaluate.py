"""Stage evaluate: every adversarial set on its source and its transfer targets, verified as it is read: the
seed's results table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from robqunn import paths
from robqunn.artifacts import (
    AdversarialSet,
    check_threat_model,
)
from robqunn.config import (
    AttackParams,
    NoiseParams,
)
from robqunn.data import Dataset
from robqunn.errors import DataError
from robqunn.io import sha256_file
from robqunn.paths import eps_label

if TYPE_CHECKING:
    import pandas as pd

from robqunn.noise import sampling_draws
from robqunn.vocabulary import ModelSpec


@dataclass(frozen=True)
class EvaluateSettings:
    """What :func:`run` reads from params.yaml: the attack section (whether QuNNs transfer to each other)
    and the noise section (the draws a finite-shot target's accuracy averages over)."""

    attack: AttackParams
    noise: NoiseParams | None = None


def run(
    settings: EvaluateSettings,
    models: dict[str, str | Path],
    adversarial_sets: list[str | Path],
    data: str | Path,
    table_csv: str | Path,
) -> pd.DataFrame:
    """Evaluate every adversarial set on its source (white-box) and its transfer targets; add the worst case
    over the attacks per (model, eps) (robqunn.evaluate.worst_case) and, beside each white-box attack row,
    its gap to the exact robust accuracy (robqunn.evaluate.attack_gaps). The table is written as ``table_csv``
    and beside it as Parquet.

    Every set is verified as it is read, before its rows are computed (:func:`_verified_set`): crafted on
    the model file it is evaluated as, on the prepared test digits ``data``, within its eps-ball and [0, 1],
    at the path its fields say. A set that fails stops the stage with nothing written.

    A finite-shot target scores each digit by the fraction of ``noise.eval_draws`` sampling draws that
    classify it correctly, the draws seeded per (set, target) (robqunn.evaluate.correct_over_draws).

    Args:
        models: model name -> .keras file, for every model that may be a target.
    """
    from robqunn.evaluate import transfer_targets

    rows = evaluated_rows(
        models,
        adversarial_sets,
        (data, settings.noise),
        lambda source, names: transfer_targets(source, names, settings.attack.transfer_between_qunns),
    )
    return save_results(rows, table_csv)


def evaluated_rows(models: dict[str, str | Path], adversarial_sets: list, inputs: tuple, targets_of) -> list[dict]:
    """The rows (robqunn.evaluate.evaluate_set, per-digit results included) of every set, each verified
    (:func:`_verified_set`), on the models ``targets_of(source, model names)`` names; ``inputs`` is the
    prepared digits' file and the noise section (its eval_draws for finite-shot targets)."""
    from robqunn.evaluate import evaluate_set
    from robqunn.models import CompiledPredict, load_model

    data, noise = inputs
    dataset = Dataset.load(data)
    score = _DrawScorer(CompiledPredict(), noise)
    hashes = {name: sha256_file(path) for name, path in models.items()}
    loaded = {name: load_model(path, name, dataset.seed, data) for name, path in models.items()}
    rows = []
    for path in adversarial_sets:  # one set in memory at a time: all of them take about 1 GB
        adversarial = _verified_set(Path(path), hashes, dataset, models)
        names = targets_of(adversarial.source, list(loaded))
        new = evaluate_set(adversarial, {n: loaded[n] for n in names}, score)
        _check_predicted(adversarial, new, Path(path))
        rows += new
    return rows


def _check_predicted(adversarial: AdversarialSet, rows: list[dict], path: Path) -> None:
    """The classes a set records its source predicted agree with its white-box evaluation: a digit is right
    exactly where the recorded class is its label (a finite-shot source's one draw: not comparable; a part of
    the per_eps cut that evaluates the set on another target only: nothing to compare)."""
    own = [row for row in rows if row["target"] == adversarial.source]
    correct = np.asarray(own[0]["correct"]) if own else None
    if (
        correct is not None
        and correct.dtype == bool
        and not np.array_equal(correct, adversarial.predicted == adversarial.y)
    ):
        raise DataError(
            f"adversarial set {path} must record the classes its source {adversarial.source} predicts; "
            f"{int(np.sum(correct != (adversarial.predicted == adversarial.y)))} digits disagree: rerun its attack"
        )


@dataclass(frozen=True)
class _DrawScorer:
    """Scores a set on a target: per digit correct, or a finite-shot target's fraction over its eval draws,
    seeded by the set and the target so that any job cut gives the same draws."""

    predict: object
    noise: NoiseParams | None

    def __call__(self, target: str, model, adversarial: AdversarialSet) -> np.ndarray:
        from robqunn.evaluate import correct_over_draws
        from robqunn.seeding import derived_seed

        where = f"evaluate/{adversarial.source}/{adversarial.attack}/{adversarial.eps!r}/{target}"
        if adversarial.eps == 0:  # every attack's eps-0 set is the clean digits: one clean accuracy, as without shots
            where = f"evaluate/clean/{target}"
        draws = sampling_draws(ModelSpec.from_name(target), self.noise, "eval_draws")
        digits = (adversarial.x_adv, adversarial.y)
        return correct_over_draws(model, digits, self.predict, draws, derived_seed(adversarial.seed, where))


def save_results(rows: list[dict], table_csv: str | Path) -> pd.DataFrame:
    """The seed's table from every evaluated row: with the worst case over the attacks and the attack gaps."""
    from robqunn.evaluate import attack_gaps, results_table, save_table, worst_case

    table = results_table(attack_gaps(rows + worst_case(rows)))
    save_table(table, table_csv, Path(table_csv).with_suffix(".parquet"))
    return table


def _verified_set(path: Path, hashes: dict[str, str], dataset: Dataset, models: dict) -> AdversarialSet:
    """An adversarial set, checked against what it claims: its place (attack/model/eps<eps>.npz), its seed
    (the prepared digits'), the model file that crafted it, and its eps-ball around the clean test digits
    with their labels."""
    adversarial = AdversarialSet.load(path)
    clean = dataset.x_test, dataset.y_test
    if adversarial.seed != dataset.seed:
        raise DataError(
            f"adversarial set {path} must be of seed {dataset.seed}, the seed of the digits it is evaluated on; "
            f"it records seed {adversarial.seed}"
        )
    expected = (adversarial.attack, adversarial.source, paths.ADVERSARIAL_NAME.format(eps=eps_label(adversarial.eps)))
    if (path.parent.parent.name, path.parent.name, path.name) != expected:
        raise DataError(
            f"adversarial set {path} must lie at {'/'.join(expected)} (its attack, source and eps fields); "
            f"got {'/'.join((path.parent.parent.name, path.parent.name, path.name))}"
        )
    if adversarial.source not in hashes or hashes[adversarial.source] != adversarial.model_sha256:
        raise DataError(
            f"adversarial set {path} must be crafted on the model file it is evaluated as, "
            f"{models.get(adversarial.source)} (sha256 {hashes.get(adversarial.source)}); "
            f"it records sha256 {adversarial.model_sha256}: rerun its attack"
        )
    x_clean, y_clean = (part[: len(adversarial.y)] for part in clean)
    if len(adversarial.y) > len(y_clean) or not np.array_equal(adversarial.y, y_clean):
        raise DataError(
            f"adversarial set {path} must hold the first {len(adversarial.y)} prepared test digits with their "
            f"labels; its labels differ (or it holds more digits than the {len(clean[1])} prepared)"
        )
    check_threat_model(x_clean, adversarial.x_adv, adversarial.eps, str(path))
    return adversarial
