"""One function per pipeline stage: prepare data, compute feature maps, train a model.

The `robqunn` CLI, the Snakemake scripts and dvc.yaml all run these functions, so the pipeline has
one implementation whichever tool drives it. Each stage validates its inputs before any long work
and writes its outputs atomically. TensorFlow and PennyLane are imported inside the stages that
use them, so that a workflow job pays only for what it runs.
"""

from __future__ import annotations

import logging
from pathlib import Path

from robqunn.config import CircuitParams, DataParams, ModelSpec, Params, TrainParams, model_specs
from robqunn.data import load_dataset, prepare_dataset, save_dataset
from robqunn.errors import DataError
from robqunn.io import save_json, sha256_file

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
    from robqunn.features import load_features
    from robqunn import train as training
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


def study(params: Params, workdir: str | Path = ".") -> list[dict]:
    """Every stage for every seed and model of ``params``, in ``workdir``; returns the metrics."""
    root = Path(workdir)
    metrics = []
    for seed in params.study.seeds:
        data = root / "data" / "prepared" / f"seed{seed}.npz"
        prepare(params.data, seed, data)
        for spec in model_specs(params.study):
            feature_maps = root / "data" / "features" / f"seed{seed}" / f"{spec.name}.npz"
            features(params.circuit, seed, spec.name, data, feature_maps)
            model_out = root / "models" / f"seed{seed}" / f"{spec.name}.keras"
            metrics_out = root / "results" / "train" / f"seed{seed}" / f"{spec.name}.json"
            metrics.append(train(params.circuit, params.train, seed, spec.name, data, feature_maps, model_out, metrics_out))
    return metrics

