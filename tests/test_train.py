"""Tests of robqunn.train: seeded head training, equivalence with the end-to-end model, accuracy."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from robqunn.features import compute_features
from robqunn.models import build_model, head_model
from robqunn.train import accuracy, train
from robqunn.vocabulary import ModelSpec

SEED = 42
SMALL = 400  # training digits for the quick tests


def trained(params, digits, name, seed=SEED, epochs=2, n_train=SMALL):
    model = build_model(ModelSpec.from_name(name), params.circuit, seed)
    x_train, y_train = digits.x_train[:n_train], digits.y_train[:n_train]
    features = (compute_features(model, x_train), compute_features(model, digits.x_test))
    train_params = dataclasses.replace(params.train, epochs=epochs)
    result = train(model, features, (y_train, digits.y_test), train_params, seed)
    return model, features, result


class TestReproducible:
    """Same seed -> same weights and accuracy; another seed -> other weights."""

    @pytest.mark.parametrize("name", ["cnn", "qunn-full-ent_rot"])
    def test_same_seed_same_weights(self, params, digits, name):
        """Two runs with one seed give bit-identical weights, loss curves and accuracy."""
        a, _, result_a = trained(params, digits, name)
        b, _, result_b = trained(params, digits, name)
        for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
            np.testing.assert_array_equal(wa, wb)
        assert result_a.loss == result_b.loss and result_a.test_accuracy == result_b.test_accuracy

    def test_independent_of_global_tensorflow_seed(self, params, digits):
        """Whatever set TensorFlow's global seed before (an attack does), training gives the same weights."""
        import tensorflow as tf

        tf.random.set_seed(123)
        a, _, _ = trained(params, digits, "cnn")
        tf.random.set_seed(456)
        b, _, _ = trained(params, digits, "cnn")
        for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
            np.testing.assert_array_equal(wa, wb)

    def test_other_seed_other_weights(self, params, digits):
        """Another seed initialises and orders training differently."""
        a, _, _ = trained(params, digits, "qunn-full-ent_rot")
        b, _, _ = trained(params, digits, "qunn-full-ent_rot", seed=SEED + 1)
        assert not np.allclose(a.get_layer("logits").get_weights()[0], b.get_layer("logits").get_weights()[0])


class TestEquivalence:
    """Training the head on feature maps trains the end-to-end model."""

    @pytest.mark.parametrize("name", ["cnn", "qunn-random-rot_ent"])
    def test_end_to_end_predictions_equal_head_predictions(self, params, digits, name):
        """The saved-model path (pixels in) predicts what the head (features in) predicts."""
        model, features, result = trained(params, digits, name, epochs=1)
        end_to_end = model.predict(digits.x_test, verbose=0)
        head = head_model(model).predict(features[1], verbose=0)
        np.testing.assert_allclose(end_to_end, head, atol=1e-5, rtol=0)
        assert accuracy(model, digits.x_test, digits.y_test) == result.test_accuracy

    def test_history_has_one_value_per_epoch(self, params, digits):
        """Loss and accuracy are recorded per epoch, and the loss falls."""
        _, _, result = trained(params, digits, "cnn", epochs=3)
        assert len(result.loss) == len(result.accuracy) == 3
        assert result.loss[-1] < result.loss[0]


# The four ZZ ansaetze under rot_ent have identical features (tests/test_circuits.py), so `none`
# stands for them; the ansaetze whose entanglers act are each trained.
ACCURACY_MODELS = [
    ("cnn", 0.85),
    ("qunn-none-rot_ent", 0.80),
    ("qunn-random-rot_ent", 0.80),
    ("qunn-full-ent_rot", 0.80),
    ("qunn-linear-ent_rot", 0.80),
    ("qunn-star-ent_rot", 0.80),
]


class TestAccuracy:
    """Clean test accuracy on the default data with the default training (30 epochs, batch 4)."""

    @pytest.mark.parametrize("name, minimum", ACCURACY_MODELS)
    def test_clean_accuracy(self, params, digits, name, minimum):
        """CNN >= 0.85 and every QuNN >= 0.80 on the 1,000 held-out digits."""
        _, _, result = trained(params, digits, name, epochs=params.train.epochs, n_train=len(digits.x_train))
        assert result.test_accuracy >= minimum


class TestCompiledLoop:
    """The compiled epoch loop (train.train_head) is Keras' own fit, step for step."""

    @pytest.mark.parametrize("name", ["cnn", "qunn-random-ent_rot"])
    def test_same_weights_and_history_as_keras_fit(self, params, digits, name):
        """Against Model.fit on the seeded, reshuffled tf.data pipeline (how robqunn trained before the
        compiled loop): bit-identical weights and per-epoch loss and accuracy, with a last batch that is
        smaller than the others (n not a multiple of the batch size)."""
        from robqunn.bench.loops import keras_fit
        from robqunn.train import train_head

        n_train, settings = 402, dataclasses.replace(params.train, epochs=3)
        f_train = compute_features(
            build_model(ModelSpec.from_name(name), params.circuit, SEED), digits.x_train[:n_train]
        )
        y_train = digits.y_train[:n_train]

        compiled = build_model(ModelSpec.from_name(name), params.circuit, SEED)
        loss, acc = train_head(compiled, f_train, y_train, settings, SEED)

        reference = build_model(ModelSpec.from_name(name), params.circuit, SEED)
        fit_loss, fit_accuracy = keras_fit(reference, f_train, y_train, settings, SEED)

        for got, want in zip(compiled.get_weights(), reference.get_weights(), strict=True):
            np.testing.assert_array_equal(got, want)
        assert loss == fit_loss and acc == fit_accuracy
