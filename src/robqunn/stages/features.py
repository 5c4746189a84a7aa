"""Stage features: the frozen feature maps of one model on the prepared digits."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from robqunn.artifacts import (
    FeatureMaps,
)
from robqunn.config import (
    CircuitParams,
)
from robqunn.data import Dataset
from robqunn.errors import DataError
from robqunn.stages.job import Job

logger = logging.getLogger(__name__)


FEATURE_CHECK_ATOL = 1e-5  # stored features must match the model's, as the fast layer matches PennyLane


def run(circuit: CircuitParams, job: Job, out: str | Path) -> None:
    """Compute the frozen feature maps of ``job.model`` on the prepared digits."""
    from robqunn.features import compute_features
    from robqunn.models import build_model

    dataset = Dataset.load(job.data, job.seed)
    model = build_model(job.spec, circuit, job.seed)
    maps = FeatureMaps(
        job.model, job.seed, compute_features(model, dataset.x_train), compute_features(model, dataset.x_test)
    )
    maps.save(out)
    logger.info("feature maps %s of %s -> %s", maps.f_train.shape[1:], job.model, out)


def check_features_match(model, dataset: Dataset, maps: FeatureMaps, path) -> None:
    """Every stored feature map, train and test, must equal the model's own on the prepared digits: a stale,
    edited or truncated file cannot train the wrong head (recomputing is cheap with the fast layer)."""
    from robqunn.features import compute_features

    for split, images, stored in (("train", dataset.x_train, maps.f_train), ("test", dataset.x_test, maps.f_test)):
        fresh = compute_features(model, images)
        if fresh.shape != stored.shape:
            raise DataError(
                f"feature file {path} must hold {split} features of shape {fresh.shape} for the prepared digits; "
                f"got {stored.shape}: recompute the features"
            )
        difference = np.abs(fresh - stored).max(axis=tuple(range(1, fresh.ndim)))
        wrong = np.flatnonzero(difference > FEATURE_CHECK_ATOL)
        if len(wrong):
            raise DataError(
                f"feature file {path} must match the model built from params (max |difference| <= "
                f"{FEATURE_CHECK_ATOL}); {len(wrong)} {split} rows differ, the first row {wrong[0]} by "
                f"{difference[wrong[0]]:.3g}: recompute the features"
            )
