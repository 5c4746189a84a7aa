"""Stage train: the Dense head trained on a model's feature maps; the end-to-end model and its metrics."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np

from robqunn import provenance, registry
from robqunn.artifacts import (
    FeatureMaps,
    TrainMetrics,
)
from robqunn.config import CircuitParams, TrainParams
from robqunn.data import Dataset
from robqunn.io import sha256_file
from robqunn.stages.features import check_features_match
from robqunn.stages.job import Job, correct_per_digit
from robqunn.tracking import stage_run
from robqunn.vocabulary import ModelSpec

logger = logging.getLogger(__name__)


def run(circuit: CircuitParams, training: TrainParams, job: Job, feature_maps: str | Path, metrics_out: str | Path):
    """Train ``job.model`` on its feature maps; save the end-to-end model (``job.model_file``) and its metrics.

    The feature file must be for this model and seed and must equal the features of the model built
    from params. With tracking enabled the training is an MLflow run (params, per-epoch history, the
    model file), the parent of the model's attack and checks runs.

    Returns:
        The :class:`robqunn.artifacts.TrainMetrics` written.
    """
    from robqunn import train as training_loop
    from robqunn.models import build_model
    from robqunn.robust import check_supported
    from robqunn.seeding import derived_seed

    check_supported(job.spec)
    dataset = Dataset.load(job.data, job.seed)
    maps = FeatureMaps.load(feature_maps, job.model, job.seed)
    model = build_model(job.spec, circuit, job.seed)
    check_features_match(model, dataset, maps, feature_maps)
    facts = _circuit_facts(circuit, job.spec, job.seed)
    source = provenance.data_provenance(job.data)
    run_params = {"model": job.model, "seed": job.seed, "data": source, "circuit": asdict(circuit)}
    run_params |= {"train": _method_params(training, job.spec)} | facts
    tags = provenance.train_tags(job.seed, job.model, facts, source)
    with stage_run(job.tracking, provenance.run_name("train", job.model, job.seed), run_params, tags) as run:
        result = training_loop.train(
            model,
            (maps.f_train, maps.f_test),
            (dataset.y_train, dataset.y_test),
            training,
            job.seed,
            job.spec.method,
            dataset.x_train,
        )
        score = correct_per_digit(
            model, (dataset.x_test, dataset.y_test), job.eval_draws, derived_seed(job.seed, "train accuracy")
        )
        metrics = _train_metrics(job, source, result, float(np.mean(score)), facts)
        _save_trained(model, metrics, job, metrics_out)
        _log_training(run, metrics, result.seconds, job.model_file, metrics_out)
    logger.info("%s (seed %d): test accuracy %.4f (%.1f s)", job.model, job.seed, metrics.test_accuracy, result.seconds)
    return metrics


def _method_params(training: TrainParams, spec: ModelSpec) -> dict:
    """The training settings ``spec``'s method reads (robqunn.registry.training_keys), named within their section:
    train's own for a standard head, train.robust's for pgd and exact."""
    values = registry.values({"train": asdict(training)}, registry.training_keys(spec))
    return {"method": spec.method.value} | {
        key.removeprefix("train.").removeprefix("robust."): value for key, value in values.items()
    }


def _circuit_facts(circuit: CircuitParams, spec: ModelSpec, seed: int) -> dict:
    """robqunn.circuits.circuit_facts for a QuNN; {} for the CNN, without importing PennyLane (1.2 s)."""
    if spec.ansatz is None:
        return {}
    from robqunn.circuits import circuit_facts

    return circuit_facts(circuit, spec, seed)


def _train_metrics(job: Job, source: dict, result, end_to_end_accuracy: float, facts: dict):

    return TrainMetrics(
        model=job.model,
        seed=job.seed,
        data_sha256=source["sha256"],
        train_accuracy=result.train_accuracy,
        test_accuracy=result.test_accuracy,
        end_to_end_test_accuracy=end_to_end_accuracy,
        loss_per_epoch=result.loss,
        accuracy_per_epoch=result.accuracy,
        circuit=facts,
    )


def _save_trained(model, metrics, job: Job, metrics_out: str | Path) -> None:
    """The model, with its lineage (name, seed, the digits' sha256: robqunn.models.load_model checks it),
    and its metrics."""
    from robqunn.models import save_model

    save_model(model, job.model_file, {"model": job.model, "seed": job.seed, "data_sha256": sha256_file(job.data)})
    metrics.save(metrics_out)


def _log_training(run, metrics, seconds: float, model_file: Path, metrics_out: str | Path) -> None:
    keys = ("train_accuracy", "test_accuracy", "end_to_end_test_accuracy")
    run.metrics({key: getattr(metrics, key) for key in keys} | {"train_seconds": seconds})
    run.history("loss", metrics.loss_per_epoch)
    run.history("accuracy", metrics.accuracy_per_epoch)
    run.tags(provenance.training_run_of(model_file))
    run.artifact(model_file)
    run.artifact(metrics_out)
