"""Training the Dense head of a model on its precomputed feature maps.

Same maths as training the end-to-end model (the feature layer is frozen), much faster: the feature
layer runs once per image instead of once per image per epoch. The trained Dense layer is the one
inside the end-to-end model (head_model shares it), so the saved model is the end-to-end one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from robqunn.config import TrainParams
from robqunn.models import head_model, predict
from robqunn.seeding import derived_seed

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingResult:
    """Per-epoch history and final accuracies of one training run."""

    loss: list[float]
    accuracy: list[float]
    train_accuracy: float
    test_accuracy: float
    seconds: float


def train_head(
    model: keras.Model, f_train: np.ndarray, y_train: np.ndarray, params: TrainParams, seed: int
) -> tuple[list[float], list[float]]:
    """Fit the Dense head of ``model`` on feature maps; returns (loss, accuracy) per epoch.

    Adam + sparse categorical cross-entropy; the training order comes from a seeded tf.data
    shuffle, reshuffled every epoch, so the same seed gives the same weights.
    """
    # tf.data combines an op seed with TensorFlow's global seed, which other code (e.g. PGD's
    # random start) may have set: fix it here so the order depends on the study seed alone.
    tf.random.set_seed(derived_seed(seed, "training_global"))
    head = head_model(model)
    head.compile(
        optimizer=keras.optimizers.Adam(learning_rate=params.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
        steps_per_execution=params.steps_per_execution,
    )
    batches = (
        tf.data.Dataset.from_tensor_slices((f_train, y_train))
        .shuffle(len(f_train), seed=derived_seed(seed, "training_order"), reshuffle_each_iteration=True)
        .batch(params.batch_size)
    )
    history = head.fit(batches, epochs=params.epochs, shuffle=False, verbose=0, callbacks=[_EpochLogger()])
    return history.history["loss"], history.history["accuracy"]


def accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of ``x`` whose arg-max prediction equals ``y``."""
    return float(np.mean(np.argmax(predict(model, x), axis=1) == y))


def train(
    model: keras.Model,
    features: tuple[np.ndarray, np.ndarray],
    labels: tuple[np.ndarray, np.ndarray],
    params: TrainParams,
    seed: int,
) -> TrainingResult:
    """Train the head on (train, test) feature maps and report accuracies on both splits."""
    start = time.perf_counter()
    loss, acc = train_head(model, features[0], labels[0], params, seed)
    head = head_model(model)
    return TrainingResult(
        loss=[float(v) for v in loss],
        accuracy=[float(v) for v in acc],
        train_accuracy=accuracy(head, features[0], labels[0]),
        test_accuracy=accuracy(head, features[1], labels[1]),
        seconds=time.perf_counter() - start,
    )


class _EpochLogger(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        logger.info(
            "epoch %d: loss %.4f, accuracy %.4f", epoch + 1, logs.get("loss", np.nan), logs.get("accuracy", np.nan)
        )
