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
from robqunn.vocabulary import TrainMethod

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

    Adam + sparse categorical cross-entropy, Keras' own ``train_step``, in the order of
    :func:`training_order`, so the same seed gives the same weights. One compiled call per epoch:
    ``Model.fit`` does the same steps, but its data iterators and callbacks cost three times the
    arithmetic on these small batches (docs/performance.md).
    """
    head = head_model(model)
    head.compile(
        optimizer=keras.optimizers.Adam(learning_rate=params.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    features, labels = tf.constant(f_train), tf.constant(y_train)
    run_epoch = _epoch_function(head, features, labels, params.batch_size)
    loss, acc = [], []
    for epoch, order in enumerate(training_order(len(f_train), params.epochs, seed)):
        head.reset_metrics()
        run_epoch(tf.constant(order))
        results = head.get_metrics_result()
        loss.append(float(results["loss"]))
        acc.append(float(results["accuracy"]))
        logger.info("epoch %d: loss %.4f, accuracy %.4f", epoch + 1, loss[-1], acc[-1])
    return loss, acc


def training_order(n: int, epochs: int, seed: int) -> list[np.ndarray]:
    """The order of the ``n`` training examples in each epoch: a seeded tf.data shuffle, reshuffled on
    every iteration, as ``Model.fit`` drew it on the shuffled dataset (earlier robqunn versions), so the
    weights are the same to the bit. Keras 3's fit makes a fresh iterator at the end of each epoch and
    another at the start of the next, so epoch e trained on the shuffle numbered 2e: every other one."""
    # tf.data combines an op seed with TensorFlow's global seed, which other code (e.g. PGD's
    # random start) may have set: fix it here so the order depends on the study seed alone.
    tf.random.set_seed(derived_seed(seed, "training_global"))
    shuffled = (
        tf.data.Dataset.range(n)
        .shuffle(n, seed=derived_seed(seed, "training_order"), reshuffle_each_iteration=True)
        .batch(n)
    )
    return [next(iter(shuffled)).numpy() for _ in range(2 * epochs)][::2]


def _epoch_function(head: keras.Model, features: tf.Tensor, labels: tf.Tensor, batch_size: int):
    """One compiled call: ``head.train_step`` on each batch of one epoch's order, in order."""
    n = int(features.shape[0])

    @tf.function(jit_compile=head.jit_compile, reduce_retracing=True)
    def run_epoch(order: tf.Tensor) -> None:
        for start in tf.range(0, n, batch_size):
            batch = order[start : start + batch_size]
            head.train_step((tf.gather(features, batch), tf.gather(labels, batch)))

    return run_epoch


def accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of ``x`` whose arg-max prediction equals ``y``."""
    return float(np.mean(np.argmax(predict(model, x), axis=1) == y))


def train(
    model: keras.Model,
    features: tuple[np.ndarray, np.ndarray],
    labels: tuple[np.ndarray, np.ndarray],
    params: TrainParams,
    seed: int,
    method: TrainMethod = TrainMethod.STANDARD,
    x_train: np.ndarray | None = None,
) -> TrainingResult:
    """Train the head on (train, test) feature maps and report accuracies on both splits. A robust ``method``
    (robqunn.robust, ``params.robust``) trains on the training pixels ``x_train`` instead of their maps; its loss
    is the robust loss and its accuracy the clean training accuracy, per epoch."""
    start = time.perf_counter()
    if method is TrainMethod.STANDARD:
        loss, acc = train_head(model, features[0], labels[0], params, seed)
    else:
        from robqunn.robust import train_head_robust

        if x_train is None or len(x_train) != len(labels[0]):
            raise ValueError(f"{method.value} training needs the training pixels x_train, one image per label")
        loss, acc = train_head_robust(model, method, (x_train, labels[0]), params.robust, seed)
    head = head_model(model)
    return TrainingResult(
        loss=[float(v) for v in loss],
        accuracy=[float(v) for v in acc],
        train_accuracy=accuracy(head, features[0], labels[0]),
        test_accuracy=accuracy(head, features[1], labels[1]),
        seconds=time.perf_counter() - start,
    )
