"""Feature maps of the frozen layer of a model, stored as an artifact (DVC-tracked by the workflow).

The feature layer of both models is fixed, so its output on the prepared digits is computed once
and the Dense head is trained on it. The file records which model and seed made it; training checks
that it matches the model it trains, so a stale file cannot silently train the wrong head.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from robqunn.errors import DataError
from robqunn.io import save_npz

FEATURE_KEYS = ("f_train", "f_test")


def compute_features(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Feature maps (N, H', W', C) float32 of the model's frozen feature layer."""
    from robqunn.models import feature_model, predict

    return predict(feature_model(model), images)


def save_features(path: str | Path, model_name: str, seed: int, f_train: np.ndarray, f_test: np.ndarray) -> None:
    """Write train/test feature maps and their provenance atomically."""
    save_npz(path, f_train=f_train, f_test=f_test, model=np.array(model_name), seed=np.array(seed))


def load_features(path: str | Path, model_name: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Read feature maps written by :func:`save_features` for ``model_name`` and ``seed``.

    Raises:
        DataError: the file is missing, lacks a key, or was made for another model or seed.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"feature file must exist; got {str(path)!r}")
    with np.load(path) as f:
        missing = sorted(set(FEATURE_KEYS + ("model", "seed")) - set(f.files))
        if missing:
            raise DataError(f"feature file {path} must hold {missing}; they are missing")
        found = (str(f["model"]), int(f["seed"]))
        if found != (model_name, seed):
            raise DataError(f"feature file {path} must be for model {model_name!r}, seed {seed}; got {found}")
        return f["f_train"], f["f_test"]
