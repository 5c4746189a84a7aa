"""Feature maps of the frozen layer of a model.

The feature layer of both models is fixed, so its output on the prepared digits is computed once,
stored as a robqunn.artifacts.FeatureMaps file (DVC-tracked by the workflow), and the Dense head is
trained on it. The file records which model and seed made it; loading it for another model or seed
is refused, so a stale file cannot silently train the wrong head.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras


def compute_features(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Feature maps (N, H', W', C) float32 of the model's frozen feature layer; a finite-shot QuNN's are
    its exact expectation, what its head is trained on (it samples only when used: docs/noise.md)."""
    from robqunn.models import feature_model, predict
    from robqunn.quanv import expectation_only

    with expectation_only(model):
        return predict(feature_model(model), images)
