"""EOT (robqunn.attacks.eot): every gradient of FGSM, PGD and MIM averaged over R sampling draws, inside
cleverhans' own loops; on a model that does not sample it is the attack itself."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from robqunn.attacks import craft, eot, input_gradient
from robqunn.vocabulary import AttackName

N = 32
DRAWS = 3


@pytest.fixture(scope="module")
def dense():
    """A fixed nonlinear classifier (tanh hidden layer), so that the softmax cross-entropy is not linear."""
    rng = np.random.default_rng(1)
    w1, w2 = rng.normal(size=(784, 32)).astype(np.float32) / 10, rng.normal(size=(32, 10)).astype(np.float32)

    def logits_fn(x):
        return tf.tanh(tf.reshape(x, (-1, 784)) @ w1) @ w2

    return logits_fn


def test_one_draw_is_the_attack():
    def attack(logits_fn, x, y):
        return x

    assert eot(attack, 1) is attack


@pytest.mark.parametrize("attack", list(AttackName))
def test_a_deterministic_model_gives_the_attacks_own_examples(params, digits, dense, attack):
    """R identical draws: the summed gradient is R times the one gradient, which no step sees (FGSM and PGD
    step along its sign, bit for bit; MIM along it over its mean magnitude, to float round-off)."""
    x, y = digits.x_test[:N], digits.y_test[:N]
    settings = params.attack.of(attack)
    plain = craft(dense, x, y, attack, 0.1, settings, N, seed=5)
    averaged = craft(dense, x, y, attack, 0.1, settings, N, seed=5, draws=DRAWS)
    if attack is AttackName.MIM:
        assert np.mean(np.abs(plain - averaged) > 1e-5) < 0.01
    else:
        np.testing.assert_array_equal(plain, averaged)


def test_the_gradient_sums_the_draws_gradients(digits, dense):
    """A model whose draw r adds a fixed offset to the logits: the gradient that EOT hands cleverhans is the sum
    of the R draws' own gradients (draw r is the r-th call on the digits)."""
    offsets = tf.constant(np.random.default_rng(2).normal(size=(DRAWS, 10)) * 3, tf.float32)
    calls = []

    def sampled(images):
        calls.append(images.shape[0])
        return dense(images) + offsets[(len(calls) - 1) % DRAWS]

    x = tf.constant(digits.x_test[:N], tf.float32)
    y = tf.constant(digits.y_test[:N], tf.int64)
    seen = {}

    def record(logits_fn, xb, yb):
        seen["grad"] = input_gradient(logits_fn, xb, yb)
        return xb

    eot(record, DRAWS)(sampled, x, y)
    assert calls == [N] * DRAWS  # one call a draw, on the digits themselves
    expected = sum(input_gradient(lambda images, r=r: dense(images) + offsets[r], x, y) for r in range(DRAWS))
    # float32 sums in another order: a CPU without AVX2/FMA (this one) differs by up to 4e-7 on entries of ~1e-3
    np.testing.assert_allclose(seen["grad"].numpy(), expected.numpy(), rtol=1e-4, atol=1e-6)
    one = input_gradient(lambda images: dense(images) + offsets[0], x, y)
    assert not np.allclose(seen["grad"].numpy(), DRAWS * one.numpy(), rtol=1e-3)  # the draws do differ
