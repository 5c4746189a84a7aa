"""One function per pipeline stage: prepare data, compute feature maps, train a model.

The `robqunn` CLI, the Snakemake scripts and dvc.yaml all run these functions, so the pipeline has
one implementation whichever tool drives it. Each stage validates its inputs before any long work
and writes its outputs atomically. TensorFlow and PennyLane are imported inside the stages that
use them, so that a workflow job pays only for what it runs.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from robqunn.config import (
    AttackName,
    AttackParams,
    CircuitParams,
    DataParams,
    FgsmParams,
    MimParams,
    ModelSpec,
    Params,
    PgdParams,
    TrainParams,
    model_specs,
)
from robqunn.data import load_dataset, prepare_dataset, save_dataset
from robqunn.errors import DataError
from robqunn.io import save_json, save_npz, sha256_file

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)


def prepare(data: DataParams, seed: int, out: str | Path) -> dict:
    """Prepare the digits of the ``data`` section for ``seed``; returns the sidecar (with the sha256)."""
    dataset = prepare_dataset(data, seed)
    metadata = {
        "source": data.source.value,
        "idx_dir": str(data.idx_dir) if data.idx_dir else None,
        "seed": seed,
    }
    sidecar = save_dataset(dataset, out, metadata)
    logger.info("prepared %d train / %d test digits -> %s", len(dataset.y_train), len(dataset.y_test), out)
    return sidecar


def features(circuit: CircuitParams, seed: int, model_name: str, data: str | Path, out: str | Path) -> None:
    """Compute the frozen feature maps of ``model_name`` on the prepared digits."""
    from robqunn.features import compute_features, save_features
    from robqunn.models import build_model

    spec = ModelSpec.from_name(model_name)
    dataset = load_dataset(data)
    model = build_model(spec, circuit, seed)
    f_train, f_test = compute_features(model, dataset.x_train), compute_features(model, dataset.x_test)
    save_features(out, model_name, seed, f_train, f_test)
    logger.info("feature maps %s of %s -> %s", f_train.shape[1:], model_name, out)


def train(
    circuit: CircuitParams,
    training_params: TrainParams,
    seed: int,
    model_name: str,
    data: str | Path,
    feature_maps: str | Path,
    model_out: str | Path,
    metrics_out: str | Path,
) -> dict:
    """Train ``model_name`` on its feature maps; save the end-to-end model and its metrics.

    Before training, the feature file is checked against the model: its provenance must match, and
    the end-to-end model must reproduce the stored features of a few training digits.
    """
    from robqunn import train as training
    from robqunn.features import load_features
    from robqunn.models import build_model, save_model

    spec = ModelSpec.from_name(model_name)
    dataset = load_dataset(data)
    f_train, f_test = load_features(feature_maps, model_name, seed)
    model = build_model(spec, circuit, seed)
    _check_features_match(model, dataset.x_train, f_train, feature_maps)
    labels = (dataset.y_train, dataset.y_test)
    result = training.train(model, (f_train, f_test), labels, training_params, seed)
    metrics = {
        "model": model_name,
        "seed": seed,
        "data_sha256": sha256_file(data),
        "train_accuracy": result.train_accuracy,
        "test_accuracy": result.test_accuracy,
        "end_to_end_test_accuracy": training.accuracy(model, dataset.x_test, dataset.y_test),
        "loss_per_epoch": result.loss,
        "accuracy_per_epoch": result.accuracy,
        "train_seconds": result.seconds,
        **circuit_facts(circuit, spec, seed),
    }
    save_model(model, model_out)
    save_json(metrics_out, metrics)
    logger.info("%s (seed %d): test accuracy %.4f", model_name, seed, result.test_accuracy)
    return metrics


FEATURE_CHECK_IMAGES = 8
FEATURE_CHECK_ATOL = 1e-5


def _check_features_match(model, images, stored, path) -> None:
    from robqunn.features import compute_features

    fresh = compute_features(model, images[:FEATURE_CHECK_IMAGES])
    error = float(abs(fresh - stored[:FEATURE_CHECK_IMAGES]).max())
    if error > FEATURE_CHECK_ATOL:
        raise DataError(
            f"feature file {path} must match the model built from params (max |difference| <= "
            f"{FEATURE_CHECK_ATOL}); got {error:.3g}: recompute the features"
        )


def circuit_facts(circuit_params: CircuitParams, spec: ModelSpec, seed: int) -> dict:
    """What a reader must know about a QuNN's circuit: do its entanglers reach the readout at all?"""
    if spec.ansatz is None:
        return {}
    from robqunn.circuits import count_entanglers, entanglers_visible, make_circuit_spec, readout_polynomial

    circuit = make_circuit_spec(spec.ansatz, spec.layout, circuit_params, seed)
    visible = entanglers_visible(circuit)
    n_entanglers = count_entanglers(circuit)
    if n_entanglers and not visible:
        logger.warning(
            "%s: its %d entanglers do not change the readout (they commute with it); its features equal "
            "those of the same circuit without entanglers",
            spec.name,
            n_entanglers,
        )
    return {
        "ansatz": spec.ansatz.value,
        "layout": spec.layout.value,
        "n_entanglers": n_entanglers,
        "entanglers_visible": visible,
        "readout_terms": len(readout_polynomial(circuit)[0]),
    }


def attack(
    settings: FgsmParams | PgdParams | MimParams,
    n_images: int,
    batch_size: int,
    attack_name: str,
    seed: int,
    model_name: str,
    model_path: str | Path,
    data: str | Path,
    out_dir: str | Path,
    eps_values: tuple[float, ...] | None = None,
) -> list[Path]:
    """Craft the adversarial sets of one (model, attack) on the first test digits, one file per eps.

    Each set is checked against the threat model before it is written, as ``eps{eps}.npz`` in
    ``out_dir``; the file records the source model, the attack, eps, the seed and the attack's
    hyper-parameters. The model is loaded once for the whole eps grid (the grid of ``settings``
    unless ``eps_values`` is given).

    Args:
        settings: the attack's hyper-parameters (AttackParams.of(attack_name)).
        n_images: the first n test digits are attacked.
        batch_size: digits per attack call (memory only).
    """
    from robqunn.attacks import craft
    from robqunn.models import load_model, logits_model

    name = AttackName(attack_name)
    ModelSpec.from_name(model_name)
    dataset = load_dataset(data)
    x, y = dataset.x_test[:n_images], dataset.y_test[:n_images]
    logits = logits_model(load_model(model_path))
    written = []
    for eps in settings.eps if eps_values is None else eps_values:
        run_seed = attack_seed(seed, model_name, name, eps)
        x_adv = craft(logits, x, y, name, eps, settings, batch_size, run_seed, model_name)
        written.append(Path(out_dir) / f"eps{eps:g}.npz")
        save_npz(
            written[-1],
            x_adv=x_adv,
            y=y,
            source=np.array(model_name),
            attack=np.array(name.value),
            eps=np.array(eps),
            seed=np.array(seed),
            settings=np.array(json.dumps(asdict(settings))),
        )
        logger.info("%s %s eps %g: %d adversarial digits -> %s", model_name, name.value, eps, len(y), written[-1])
    return written


def attack_seed(seed: int, model_name: str, attack_name: AttackName, eps: float) -> int:
    """The seed of one attack run's random start, derived from the study seed."""
    from robqunn.seeding import derived_seed

    return derived_seed(seed, f"attack/{model_name}/{attack_name.value}/{eps!r}")


def evaluate(
    attack_params: AttackParams,
    models: dict[str, str | Path],
    adversarial_sets: list[str | Path],
    table_csv: str | Path,
    table_parquet: str | Path,
) -> pd.DataFrame:
    """Evaluate every adversarial set on its source (white-box) and its transfer targets.

    Args:
        models: model name -> .keras file, for every model that may be a target.
    """
    from robqunn.evaluate import evaluate_set, load_adversarial, results_table, save_table, transfer_targets
    from robqunn.models import load_model, predict

    loaded = {name: load_model(path) for name, path in models.items()}
    rows = []
    for path in adversarial_sets:
        adversarial = load_adversarial(path)
        names = transfer_targets(str(adversarial["source"]), list(loaded), attack_params.transfer_between_qunns)
        rows += evaluate_set(adversarial, {n: loaded[n] for n in names}, predict)
    table = results_table(rows)
    save_table(table, table_csv, table_parquet)
    return table


EXAMPLE_DIGITS = 8  # digits per row of the adversarial-example grids


def report(table_csv: str | Path, example_sets: list[str | Path], data: str | Path, out_dir: str | Path) -> list[Path]:
    """Figures (Fig. 3a-e, example grids) and the summary table from the results table.

    Args:
        example_sets: adversarial sets to show as digit grids (one grid per source model).
    """
    import pandas as pd

    from robqunn import plots
    from robqunn.evaluate import load_adversarial, summary

    out_dir = Path(out_dir)
    table = pd.read_csv(table_csv)
    written = []
    for attack_name in sorted(table["attack"].unique()):
        written += plots.whitebox_figure(table, attack_name, out_dir / f"fig3_whitebox_{attack_name}")
    for direction in ("cnn_to_qunn", "qunn_to_cnn"):
        written += plots.transfer_figure(table, direction, out_dir / f"fig3_transfer_{direction}")
    x_clean = load_dataset(data).x_test[:EXAMPLE_DIGITS]
    examples = [load_adversarial(p) for p in example_sets]
    for source in sorted({str(a["source"]) for a in examples}):
        sets = {float(a["eps"]): a["x_adv"][:EXAMPLE_DIGITS] for a in examples if str(a["source"]) == source}
        attacks = "/".join(sorted({str(a["attack"]) for a in examples}))
        written += plots.examples_figure(x_clean, sets, f"{attacks} on {source}", out_dir / f"examples_{source}")
    summary_path = out_dir / "summary.csv"
    summary(table).to_csv(summary_path, index=False)
    return written + [summary_path]


def study(params: Params, workdir: str | Path = ".") -> list[dict]:
    """Every stage for every seed and model of ``params``, in ``workdir``; returns the training metrics."""
    root = Path(workdir)
    metrics, models, sets = [], {}, []
    for seed in params.study.seeds:
        data = root / "data" / "prepared" / f"seed{seed}.npz"
        prepare(params.data, seed, data)
        for spec in model_specs(params.study):
            metrics.append(_study_model(params, root, seed, spec.name, data))
            models[spec.name] = root / "models" / f"seed{seed}" / f"{spec.name}.keras"
            sets += _study_attacks(params, root, seed, spec.name, models[spec.name], data)
        tables = root / "results" / "tables" / f"seed{seed}"
        evaluate(params.attack, models, sets, tables / "results.csv", tables / "results.parquet")
        examples = [p for p in sets if p.parent.name == AttackName.PGD.value]
        report(tables / "results.csv", examples, data, root / "results" / "figures" / f"seed{seed}")
        sets = []
    return metrics


def _study_model(params: Params, root: Path, seed: int, name: str, data: Path) -> dict:
    feature_maps = root / "data" / "features" / f"seed{seed}" / f"{name}.npz"
    features(params.circuit, seed, name, data, feature_maps)
    model_out = root / "models" / f"seed{seed}" / f"{name}.keras"
    metrics_out = root / "results" / "train" / f"seed{seed}" / f"{name}.json"
    return train(params.circuit, params.train, seed, name, data, feature_maps, model_out, metrics_out)


def _study_attacks(params: Params, root: Path, seed: int, name: str, model: Path, data: Path) -> list[Path]:
    paths = []
    for attack_name in AttackName:
        out_dir = root / "results" / "adversarial" / f"seed{seed}" / name / attack_name.value
        settings = params.attack.of(attack_name)
        paths += attack(
            settings,
            params.attack.n_images,
            params.attack.batch_size,
            attack_name.value,
            seed,
            name,
            model,
            data,
            out_dir,
        )
    return paths
