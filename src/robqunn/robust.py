"""Robust training of the Dense head through the frozen feature layer (train.methods: pgd, exact).

Both train the same head as standard training (robqunn.train), with Adam, in the seeded order of
:func:`robqunn.train.training_order`, against a budget ramped from 0 to ``train.robust.eps``
(:func:`eps_schedule`, as certified training ramps it: Gowal et al. 2018):

- pgd (Madry et al. 2018): each batch is replaced by PGD examples crafted on the current model (cleverhans,
  through the frozen layer, ``train.robust.pgd``), and the head takes a cross-entropy step on their features.
- exact: the loss is the cross-entropy of the negated worst-case margins, log(1 + sum_{t != y} exp(-m_t)), where
  m_t is the minimum of z_y - z_t over the eps-ball (robqunn.exact.WorstCaseFeatures). The layer's patches are
  disjoint and the head linear, so m_t is a sum of per-patch minima, and its gradient with respect to the head
  is the features at the per-patch minimisers (Danskin's theorem). For the CNN and the separable QuNNs m_t is
  exact; for the other QuNNs it is the verifier's certified lower bound, so the training is certified training.
  At eps = 0 the loss is the standard cross-entropy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from robqunn.config import RobustParams
from robqunn.errors import RobqunnError
from robqunn.seeding import derived_seed
from robqunn.train import training_order
from robqunn.vocabulary import LOGITS, ModelSpec, TrainMethod

logger = logging.getLogger(__name__)


class RobustTrainingError(RobqunnError, ValueError):
    """A training method the model's layer cannot support."""


def check_supported(spec: ModelSpec) -> None:
    """Robust training needs a deterministic layer: a finite-shot readout is random (a noisy one is not: its
    expectation is the same polynomial exact verification decomposes). Raises RobustTrainingError."""
    if spec.method is not TrainMethod.STANDARD and spec.shots is not None:
        raise RobustTrainingError(
            f"model {spec.name!r}: {spec.method.value} training needs a feature layer read out exactly, not from "
            f"{spec.shots} shots"
        )


def eps_schedule(params: RobustParams) -> list[float]:
    """The budget of each epoch: eps * (e + 1) / ramp_epochs over the first ramp_epochs epochs, then eps."""
    ramp = max(params.ramp_epochs, 1)
    return [params.eps * min(1.0, (epoch + 1) / ramp) for epoch in range(params.epochs)]


def train_head_robust(
    model: keras.Model, method: TrainMethod, digits: tuple[np.ndarray, np.ndarray], params: RobustParams, seed: int
) -> tuple[list[float], list[float]]:
    """Fit the Dense head of ``model`` by ``method`` (pgd or exact) on the training digits (pixels, labels);
    returns the robust loss and the clean training accuracy per epoch."""
    from robqunn.train import accuracy

    x, y = digits
    step = _exact_step(model, params) if method is TrainMethod.EXACT else _pgd_step(model, params, seed)
    losses, accuracies = [], []
    orders = training_order(len(x), params.epochs, seed)
    for epoch, (order, eps) in enumerate(zip(orders, eps_schedule(params), strict=True)):
        batches = [order[i : i + params.batch_size] for i in range(0, len(order), params.batch_size)]
        losses.append(float(sum(step(x[b], y[b], eps) * len(b) for b in batches) / len(order)))
        accuracies.append(accuracy(model, x, y))
        logger.info(
            "epoch %d (%s training, eps %.4g): robust loss %.4f, clean accuracy %.4f",
            *(epoch + 1, method.value, eps, losses[-1], accuracies[-1]),
        )
    return losses, accuracies


def worst_case_loss(kernel: tf.Tensor, bias: tf.Tensor, phi: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Mean cross-entropy of the negated worst-case margins -m_t (0 at t = y), m_t from the worst-case features
    ``phi`` (N, P, 10, C) and the head (kernel (P * C, 10), bias (10,)): robqunn.exact.WorstCaseFeatures."""
    n, patches, classes, channels = phi.shape
    features = tf.reshape(tf.transpose(phi, (0, 2, 1, 3)), (-1, classes, patches * channels))  # (N, T, P*C)
    targets = tf.einsum("ntf,ft->nt", features, kernel) + bias  # z_t at t's worst case
    own = tf.einsum("ntf,fn->nt", features, tf.gather(kernel, y, axis=1)) + tf.gather(bias, y)[:, None]
    margins = own - targets
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=-margins))


def _exact_step(model: keras.Model, params: RobustParams) -> Callable:
    from robqunn.exact import WorstCaseFeatures

    dense = model.get_layer(LOGITS)
    worst = WorstCaseFeatures(model)
    optimizer = keras.optimizers.Adam(learning_rate=params.learning_rate)

    @tf.function(reduce_retracing=True)
    def apply(phi: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = worst_case_loss(dense.kernel, dense.bias, phi, y)
        variables = dense.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    def step(x: np.ndarray, y: np.ndarray, eps: float) -> float:
        phi = worst(np.asarray(dense.kernel), np.asarray(dense.bias, np.float64), x, y, eps)
        return float(apply(tf.constant(phi, tf.float32), tf.constant(y, tf.int64)))

    return step


def _pgd_step(model: keras.Model, params: RobustParams, seed: int) -> Callable:
    from robqunn.attacks import pgd
    from robqunn.models import feature_model, head_model, logits_model

    logits, features, head = logits_model(model), feature_model(model), head_model(model)
    dense = model.get_layer(LOGITS)
    optimizer = keras.optimizers.Adam(learning_rate=params.learning_rate)
    cross_entropy = keras.losses.SparseCategoricalCrossentropy()
    tf.random.set_seed(derived_seed(seed, "pgd training"))  # PGD's random starts, drawn in training order

    @tf.function(reduce_retracing=True)
    def apply(maps: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = cross_entropy(y, head(maps, training=True))
        variables = dense.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    def step(x: np.ndarray, y: np.ndarray, eps: float) -> float:
        xb, yb = tf.constant(x, tf.float32), tf.constant(y, tf.int64)
        x_adv = pgd(logits, xb, yb, eps, params.pgd) if eps > 0 else xb
        return float(apply(features(x_adv, training=False), yb))

    return step
