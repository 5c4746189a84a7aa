"""Job model_train: features, then train, of one model in one process."""

from __future__ import annotations

from pathlib import Path

from robqunn.config import (
    CircuitParams,
    TrainParams,
)
from robqunn.stages import features, train
from robqunn.stages.job import Job


def run(
    circuit: CircuitParams, training: TrainParams, job: Job, feature_maps: str | Path, metrics_out: str | Path
) -> None:
    """Stage features then stage train of ``job.model`` in this process, the Snakemake job of both cuts: the same
    files and MLflow run as ``robqunn features`` then ``robqunn train`` (DVC's stages), TensorFlow started once."""
    features.run(circuit, job, feature_maps)
    train.run(circuit, training, job, feature_maps, metrics_out)
