"""Tests of robqunn.models: the CNN and QuNN classifiers, their sub-models, saving and loading."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from robqunn.circuits import make_circuit_spec
from robqunn.config import CnnBias
from robqunn.errors import DataError
from robqunn.models import (
    PREDICT_BATCH,
    CompiledPredict,
    build_cnn,
    build_model,
    build_qunn,
    feature_model,
    head_model,
    load_model,
    logits_model,
    predict,
    save_model,
)
from robqunn.quanv import Quanvolution, pennylane_quanvolution, quanvolution_layer
from robqunn.vocabulary import Ansatz, Layout, ModelSpec

SEED = 42
OTHER_SEED = 7
N_IMAGES = 5
FEATURE_SHAPE = (14, 14, 4)
CNN_NAME = "cnn"
QUNN_NAME = "qunn-full-ent_rot"
RANDOM_NAME = "qunn-random-ent_rot"
SHAPE_MODELS = [CNN_NAME, QUNN_NAME, "qunn-none-rot_ent", "qunn-star-rot_ent", RANDOM_NAME]
FROZEN_MODELS = [CNN_NAME, QUNN_NAME, RANDOM_NAME]
QUNN_MODELS = [QUNN_NAME, "qunn-linear-ent_rot", RANDOM_NAME]
SAVED_MODELS = [CNN_NAME, QUNN_NAME, "qunn-star-rot_ent", RANDOM_NAME]
ZZ_ANSATZE = ["full", "linear", "star"]


# --- helpers and fixtures ------------------------------------------------------------------------


def run(model: keras.Model, x) -> np.ndarray:
    """The model's output on one batch, as a numpy array."""
    return np.asarray(model.predict_on_batch(x))


def to_np(x) -> np.ndarray:
    """A Keras variable or tensor as a numpy array."""
    return keras.ops.convert_to_numpy(x)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64."""
    z = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def dense(model: keras.Model) -> keras.layers.Dense:
    return model.get_layer("logits")


def random_dense_weights(model: keras.Model, seed: int) -> list[np.ndarray]:
    """New (kernel, bias) for the model's Dense head, drawn from a seeded generator."""
    gen = np.random.default_rng(seed)
    return [gen.normal(0.0, 0.1, size=np.shape(w)).astype(np.float32) for w in dense(model).weights]


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """A small batch of random images in [0, 1), float32."""
    return np.random.default_rng(2024).random((N_IMAGES, 28, 28)).astype(np.float32)


@pytest.fixture(scope="module")
def build(params):
    """build(name, seed) -> the untrained model, built once per (name, seed) in this module.

    Shared: tests that change a model's weights must build their own (fresh_model).
    """
    cache: dict[tuple[str, int], keras.Model] = {}

    def get(name: str, seed: int = SEED) -> keras.Model:
        if (name, seed) not in cache:
            cache[name, seed] = build_model(ModelSpec.from_name(name), params.circuit, seed)
        return cache[name, seed]

    return get


@pytest.fixture
def fresh_model(params):
    """fresh_model(name, seed) -> a newly built model that a test may modify."""

    def make(name: str, seed: int = SEED) -> keras.Model:
        return build_model(ModelSpec.from_name(name), params.circuit, seed)

    return make


# --- building ------------------------------------------------------------------------------------


class TestBuild:
    """Shapes, names and layer types of the built models."""

    @pytest.mark.parametrize("name", SHAPE_MODELS)
    def test_output_is_probabilities(self, build, images, name):
        """Every model maps (N, 28, 28) pixels to (N, 10) probabilities summing to 1."""
        probabilities = run(build(name), images)
        assert probabilities.shape == (N_IMAGES, 10)
        assert np.all(probabilities >= 0.0)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6, rtol=0)

    @pytest.mark.parametrize("name", SHAPE_MODELS)
    def test_input_shape(self, build, name):
        """The models take batches of 28 x 28 images."""
        assert tuple(build(name).inputs[0].shape) == (None, 28, 28)

    @pytest.mark.parametrize("name", SHAPE_MODELS)
    def test_feature_shape(self, build, images, name):
        """feature_model gives 14 x 14 feature maps with one channel per qubit / filter."""
        features = run(feature_model(build(name)), images)
        assert features.shape == (N_IMAGES,) + FEATURE_SHAPE

    @pytest.mark.parametrize("n", [1, 3])
    @pytest.mark.parametrize("name", [CNN_NAME, QUNN_NAME])
    def test_images_independent(self, build, images, name, n):
        """An image's output does not depend on the rest of its batch."""
        model = build(name)
        np.testing.assert_allclose(run(model, images[:n]), run(model, images)[:n], atol=1e-6, rtol=0)

    @pytest.mark.parametrize("name", SHAPE_MODELS)
    def test_model_name(self, build, name):
        """The Keras model is named after its spec (the wildcard of file names)."""
        assert build(name).name == name

    @pytest.mark.parametrize("name", SHAPE_MODELS)
    def test_named_layers(self, build, name):
        """features -> flatten -> logits (Dense, 10 units) -> probabilities (Softmax)."""
        model = build(name)
        assert isinstance(model.get_layer("flatten"), keras.layers.Flatten)
        assert isinstance(dense(model), keras.layers.Dense)
        assert dense(model).units == 10
        assert isinstance(model.get_layer("probabilities"), keras.layers.Softmax)
        assert model.layers[-1] is model.get_layer("probabilities")

    def test_cnn_features_layer(self, build):
        """The CNN's features are a 4-filter 2x2 stride-2 ReLU Conv2D."""
        conv = build(CNN_NAME).get_layer("features")
        assert isinstance(conv, keras.layers.Conv2D)
        assert conv.filters == 4
        assert tuple(conv.kernel_size) == (2, 2)
        assert tuple(conv.strides) == (2, 2)
        assert conv.activation is keras.activations.relu

    def test_cnn_features_non_negative(self, build, images):
        """The CNN's feature maps are ReLU outputs, some of them positive."""
        features = run(feature_model(build(CNN_NAME)), images)
        assert features.min() >= 0.0
        assert features.max() > 0.0

    @pytest.mark.parametrize("name", QUNN_MODELS)
    def test_qunn_features_layer(self, build, name):
        """A QuNN's features are a Quanvolution layer recording its circuit."""
        spec = ModelSpec.from_name(name)
        layer = build(name).get_layer("features")
        assert isinstance(layer, Quanvolution)
        assert (layer.kernel_size, layer.stride, layer.n_qubits) == (2, 2, 4)
        assert layer.circuit["ansatz"] == spec.ansatz.value
        assert layer.circuit["layout"] == spec.layout.value
        assert layer.circuit["seed"] == SEED

    @pytest.mark.parametrize("name", QUNN_MODELS)
    def test_qunn_features_are_expectations(self, build, images, name):
        """QuNN features are <Z> values: inside [-1, 1] and not all zero."""
        features = run(feature_model(build(name)), images)
        assert np.all(np.abs(features) <= 1.0 + 1e-6)
        assert np.abs(features).max() > 0.1

    @pytest.mark.parametrize("name", QUNN_MODELS)
    def test_qunn_features_match_pennylane(self, params, build, images, name):
        """build_model's features are the PennyLane circuit of its ansatz, layout and seed."""
        spec = ModelSpec.from_name(name)
        circuit = make_circuit_spec(spec.ansatz, spec.layout, params.circuit, SEED)
        expected = pennylane_quanvolution(images[:2], circuit, kernel_size=2, stride=2)
        features = run(feature_model(build(name)), images[:2])
        np.testing.assert_allclose(features, expected, atol=1e-5, rtol=0)

    def test_build_qunn_with_own_layer(self, params, images):
        """build_qunn wraps any Quanvolution layer and names the model as asked."""
        circuit = make_circuit_spec(Ansatz.STAR, Layout.ENT_ROT, params.circuit, SEED)
        model = build_qunn(quanvolution_layer(circuit, 2, 2), SEED, "my-qunn")
        assert model.name == "my-qunn"
        assert run(model, images).shape == (N_IMAGES, 10)

    @pytest.mark.parametrize("kernel_size, stride, grid", [(2, 2, 14), (2, 1, 27), (3, 3, 9)])
    def test_build_cnn_geometry(self, params, images, kernel_size, stride, grid):
        """build_cnn gives k*k channels on the 'valid' patch grid."""
        model = build_cnn(dataclasses.replace(params.circuit, kernel_size=kernel_size, stride=stride), SEED)
        features = run(feature_model(model), images[:2])
        assert features.shape == (2, grid, grid, kernel_size**2)
        assert run(model, images[:2]).shape == (2, 10)


class TestCnnBias:
    """circuit.cnn_bias: zero (the paper's) leaves black patches with every ReLU off; the others do not."""

    @pytest.mark.parametrize("bias, bound", [("zeros", 0.0), ("torch_default", 0.5), ("small_random", 0.01)])
    def test_bias_values(self, params, bias, bound):
        """zeros is 0; torch_default is uniform in +-1/k (k = 2); small_random in +-cnn_bias_scale; seeded."""
        circuit = dataclasses.replace(params.circuit, cnn_bias=CnnBias(bias), cnn_bias_scale=0.01)
        values = build_cnn(circuit, SEED).get_layer("features").bias.numpy()
        assert np.all(np.abs(values) <= bound) and (np.any(values != 0) == (bound > 0))
        np.testing.assert_array_equal(values, build_cnn(circuit, SEED).get_layer("features").bias.numpy())

    @pytest.mark.parametrize("bias, all_off", [("zeros", True), ("torch_default", False)])
    def test_black_patch_gradient(self, params, bias, all_off):
        """On an all-black image the zero-bias CNN's features, and its logits' input gradient, are exactly 0."""
        circuit = dataclasses.replace(params.circuit, cnn_bias=CnnBias(bias))
        model = build_cnn(circuit, SEED)
        black = tf.zeros((1, 28, 28))
        with tf.GradientTape() as tape:
            tape.watch(black)
            logits = logits_model(model)(black)[0, 0]
        gradient = tape.gradient(logits, black).numpy()
        assert bool(np.all(gradient == 0)) == all_off


# --- what trains and what does not ---------------------------------------------------------------


class TestFrozen:
    """Only the Dense head is trainable."""

    @pytest.mark.parametrize("name", FROZEN_MODELS)
    def test_only_dense_trainable(self, build, name):
        """model.trainable_weights are exactly the Dense kernel and bias."""
        model = build(name)
        head = dense(model)
        assert [id(w) for w in model.trainable_weights] == [id(head.kernel), id(head.bias)]

    @pytest.mark.parametrize("name", FROZEN_MODELS)
    def test_features_frozen(self, build, name):
        """The feature layer is not trainable and contributes only non-trainable weights."""
        layer = build(name).get_layer("features")
        assert layer.trainable is False
        assert layer.trainable_weights == []
        assert len(layer.non_trainable_weights) >= 1

    @pytest.mark.parametrize("name", QUNN_MODELS)
    def test_quanvolution_coefficients_not_trainable(self, build, name):
        """The Quanvolution's only weight is its non-trainable readout polynomial."""
        layer = build(name).get_layer("features")
        assert layer.trainable_weights == []
        assert [w.path for w in layer.weights] == ["features/readout_coefficients"]
        assert layer.weights[0].trainable is False
        assert tuple(layer.weights[0].shape) == (len(layer.pauli_strings), 4)

    @pytest.mark.parametrize("name", [CNN_NAME, QUNN_NAME])
    def test_training_changes_only_dense(self, fresh_model, images, name):
        """A training step moves the Dense weights and leaves the feature layer as it was."""
        model = fresh_model(name)
        features_before = [to_np(w) for w in model.get_layer("features").weights]
        dense_before = [to_np(w) for w in dense(model).weights]
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
        model.train_on_batch(images, np.arange(N_IMAGES))
        for before, after in zip(features_before, model.get_layer("features").weights, strict=True):
            np.testing.assert_array_equal(to_np(after), before)
        changes = [np.abs(to_np(a) - b).max() for a, b in zip(dense(model).weights, dense_before, strict=True)]
        assert min(changes) > 1e-4


# --- seeding -------------------------------------------------------------------------------------


class TestSeeding:
    """A study seed fixes the CNN filters, the quantum angles and the Dense initialisation."""

    def test_cnn_same_seed_identical(self, build, fresh_model):
        """Two CNNs of one seed have identical conv filters and Dense initialisation."""
        a, b = build(CNN_NAME), fresh_model(CNN_NAME)
        for layer in ("features", "logits"):
            for wa, wb in zip(a.get_layer(layer).weights, b.get_layer(layer).weights, strict=True):
                np.testing.assert_array_equal(to_np(wa), to_np(wb))

    @pytest.mark.parametrize("layer", ["features", "logits"])
    def test_cnn_other_seed_differs(self, build, layer):
        """Another seed gives other conv filters and another Dense initialisation."""
        a, b = build(CNN_NAME), build(CNN_NAME, OTHER_SEED)
        kernel_a = to_np(a.get_layer(layer).kernel)
        kernel_b = to_np(b.get_layer(layer).kernel)
        assert kernel_a.shape == kernel_b.shape
        assert np.abs(kernel_a - kernel_b).max() > 1e-3

    def test_cnn_filters_not_trivial(self, build):
        """The seeded conv filters are random, not a constant initialisation."""
        kernel = to_np(build(CNN_NAME).get_layer("features").kernel)
        assert kernel.std() > 1e-2

    def test_qunn_same_seed_identical(self, build, fresh_model, images):
        """Two QuNNs of one seed have the same Dense initialisation and the same features."""
        a, b = build(QUNN_NAME), fresh_model(QUNN_NAME)
        np.testing.assert_array_equal(to_np(dense(a).kernel), to_np(dense(b).kernel))
        np.testing.assert_array_equal(to_np(dense(a).bias), to_np(dense(b).bias))
        np.testing.assert_array_equal(run(a, images), run(b, images))

    def test_qunn_other_seed_dense_differs(self, build):
        """Another seed gives the QuNN another Dense initialisation."""
        a, b = build(QUNN_NAME), build(QUNN_NAME, OTHER_SEED)
        assert np.abs(to_np(dense(a).kernel) - to_np(dense(b).kernel)).max() > 1e-3

    def test_qunn_other_seed_features_differ(self, build, images):
        """Another seed draws other rotation angles, hence other quantum features."""
        a, b = build(QUNN_NAME), build(QUNN_NAME, OTHER_SEED)
        assert b.get_layer("features").circuit["seed"] == OTHER_SEED
        diff = np.abs(run(feature_model(a), images) - run(feature_model(b), images))
        assert diff.max() > 0.01


# --- logits --------------------------------------------------------------------------------------


class TestCompiledPredict:
    """CompiledPredict, evaluate's scorer: predict's outputs through one traced function per model."""

    @pytest.mark.parametrize("name", FROZEN_MODELS)
    def test_same_outputs_as_predict_over_several_batches(self, build, digits, name):
        """On real digits over more than one batch (a partial last one), its outputs equal predict's to float32
        round-off and its classes are predict's; one trace serves every batch size and a second model."""
        model = build(name)
        x = digits.x_test[: PREDICT_BATCH + 37]
        scorer = CompiledPredict()
        ours, reference = scorer(model, x), predict(model, x)
        np.testing.assert_allclose(ours, reference, atol=1e-6, rtol=0)
        assert np.array_equal(ours.argmax(axis=1), reference.argmax(axis=1))
        np.testing.assert_allclose(scorer(model, x[:3]), reference[:3], atol=1e-6, rtol=0)
        assert len(scorer._compiled) == 1
        other = build(CNN_NAME if name != CNN_NAME else QUNN_NAME)
        np.testing.assert_allclose(scorer(other, x[:3]), predict(other, x[:3]), atol=1e-6, rtol=0)


class TestLogits:
    """logits_model: the pre-softmax output that attacks differentiate."""

    @pytest.mark.parametrize("name", FROZEN_MODELS)
    def test_softmax_of_logits_is_output(self, build, images, name):
        """softmax(logits) equals the model's probabilities."""
        model = build(name)
        logits = run(logits_model(model), images)
        assert logits.shape == (N_IMAGES, 10)
        np.testing.assert_allclose(softmax(logits), run(model, images), atol=1e-6, rtol=0)

    @pytest.mark.parametrize("name", FROZEN_MODELS)
    def test_logits_are_not_probabilities(self, build, images, name):
        """The logits are the pre-softmax values, not the probabilities again."""
        model = build(name)
        logits = run(logits_model(model), images)
        assert np.abs(logits - run(model, images)).max() > 0.01
        assert np.abs(logits.sum(axis=1) - 1.0).max() > 1e-3

    @pytest.mark.parametrize("name", [CNN_NAME, QUNN_NAME])
    def test_shares_layers(self, build, name):
        """logits_model reuses the model's own Dense layer (trained weights included)."""
        model = build(name)
        assert logits_model(model).get_layer("logits") is dense(model)
        assert logits_model(model).name == f"{name}_logits"

    @pytest.mark.parametrize("name", [CNN_NAME, QUNN_NAME, RANDOM_NAME])
    def test_input_gradient(self, build, images, name):
        """The logits are differentiable in the pixels: a finite, non-zero gradient."""
        x = tf.convert_to_tensor(images[:2])
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = logits_model(build(name))(x)
            loss = tf.reduce_sum(logits[:, 3])
        gradient = tape.gradient(loss, x).numpy()
        assert gradient.shape == images[:2].shape
        assert np.all(np.isfinite(gradient))
        assert np.abs(gradient).max() > 1e-6


# --- head ----------------------------------------------------------------------------------------


class TestHead:
    """head_model: feature maps -> probabilities, sharing the model's Dense layer."""

    @pytest.mark.parametrize("name", FROZEN_MODELS)
    def test_head_after_features_is_model(self, build, images, name):
        """head_model(m)(feature_model(m)(x)) equals m(x)."""
        model = build(name)
        recomposed = run(head_model(model), run(feature_model(model), images))
        np.testing.assert_allclose(recomposed, run(model, images), atol=1e-6, rtol=0)

    @pytest.mark.parametrize("name", [CNN_NAME, QUNN_NAME])
    def test_head_input_shape(self, build, name):
        """The head takes batches of 14 x 14 x 4 feature maps."""
        head = head_model(build(name))
        assert tuple(head.inputs[0].shape) == (None,) + FEATURE_SHAPE

    @pytest.mark.parametrize("name", [CNN_NAME, QUNN_NAME])
    def test_head_shares_dense(self, build, name):
        """The head's Dense layer and weights are the model's, not copies."""
        model = build(name)
        head = head_model(model)
        assert head.get_layer("logits") is dense(model)
        assert [id(w) for w in head.trainable_weights] == [id(w) for w in model.trainable_weights]

    @pytest.mark.parametrize("name", [CNN_NAME, QUNN_NAME])
    def test_setting_head_weights_changes_model(self, fresh_model, images, name):
        """New weights set on the head's Dense change the end-to-end model's output."""
        model = fresh_model(name)
        before = run(model, images)
        head = head_model(model)
        new = random_dense_weights(model, seed=1)
        head.get_layer("logits").set_weights(new)
        after = run(model, images)
        assert np.abs(after - before).max() > 1e-3
        for weight, value in zip(dense(model).weights, new, strict=True):
            np.testing.assert_array_equal(to_np(weight), value)
        recomposed = run(head, run(feature_model(model), images))
        np.testing.assert_allclose(recomposed, after, atol=1e-6, rtol=0)

    @pytest.mark.parametrize("name", [CNN_NAME, QUNN_NAME])
    def test_training_head_trains_model(self, fresh_model, images, name):
        """Training the head on precomputed feature maps trains the end-to-end model."""
        model = fresh_model(name)
        features = run(feature_model(model), images)
        labels = np.arange(N_IMAGES)
        before = run(model, images)
        head = head_model(model)
        head.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
        for _ in range(5):
            head.train_on_batch(features, labels)
        after = run(model, images)
        assert np.abs(after - before).max() > 1e-3
        np.testing.assert_allclose(run(head, features), after, atol=1e-6, rtol=0)
        true_class = after[np.arange(N_IMAGES), labels]
        assert np.all(true_class > before[np.arange(N_IMAGES), labels])


# --- saving and loading --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(params, tmp_path_factory, images):
    """saved(name) -> (original, loaded): a model with new Dense weights, saved and loaded once."""
    cache: dict[str, tuple[keras.Model, keras.Model]] = {}

    def get(name: str) -> tuple[keras.Model, keras.Model]:
        if name not in cache:
            model = build_model(ModelSpec.from_name(name), params.circuit, SEED)
            dense(model).set_weights(random_dense_weights(model, seed=3))
            path = tmp_path_factory.mktemp("saved") / f"{name}.keras"
            save_model(model, path)
            cache[name] = (model, load_model(path))
        return cache[name]

    return get


class TestSaveLoad:
    """save_model / load_model: a .keras round trip that keeps the exact circuit."""

    @pytest.mark.parametrize("name", SAVED_MODELS)
    def test_same_predictions(self, saved, images, name):
        """The loaded model predicts what the saved one did (its trained head, not a new init)."""
        original, loaded = saved(name)
        np.testing.assert_allclose(run(loaded, images), run(original, images), atol=1e-6, rtol=0)

    @pytest.mark.parametrize("name", SAVED_MODELS)
    def test_same_weights(self, saved, name):
        """Every weight comes back unchanged, under the same layer names."""
        original, loaded = saved(name)
        assert [w.path for w in loaded.weights] == [w.path for w in original.weights]
        for a, b in zip(original.weights, loaded.weights, strict=True):
            np.testing.assert_array_equal(to_np(b), to_np(a))

    @pytest.mark.parametrize("name", SAVED_MODELS)
    def test_still_frozen(self, saved, name):
        """After loading, only the Dense head is trainable."""
        _, loaded = saved(name)
        head = dense(loaded)
        assert [id(w) for w in loaded.trainable_weights] == [id(head.kernel), id(head.bias)]
        assert loaded.get_layer("features").trainable is False

    @pytest.mark.parametrize("name", SAVED_MODELS)
    def test_sub_models_of_loaded(self, saved, images, name):
        """feature_model, logits_model and head_model work on a loaded model."""
        original, loaded = saved(name)
        assert loaded.name == name
        np.testing.assert_allclose(
            run(feature_model(loaded), images),
            run(feature_model(original), images),
            atol=1e-6,
            rtol=0,
        )
        np.testing.assert_allclose(
            run(logits_model(loaded), images),
            run(logits_model(original), images),
            atol=1e-5,
            rtol=0,
        )
        recomposed = run(head_model(loaded), run(feature_model(loaded), images))
        np.testing.assert_allclose(recomposed, run(original, images), atol=1e-6, rtol=0)

    @pytest.mark.parametrize("name", [n for n in SAVED_MODELS if n != CNN_NAME])
    def test_quanvolution_config_kept(self, saved, name):
        """The loaded Quanvolution keeps its Pauli strings and circuit description."""
        original, loaded = saved(name)
        layer, before = loaded.get_layer("features"), original.get_layer("features")
        assert isinstance(layer, Quanvolution)
        assert layer.pauli_strings == before.pauli_strings
        assert len(layer.pauli_strings) >= 4
        assert layer.circuit == before.circuit
        spec = ModelSpec.from_name(name)
        assert layer.circuit["ansatz"] == spec.ansatz.value
        assert layer.circuit["layout"] == spec.layout.value
        assert layer.circuit["seed"] == SEED
        config = layer.get_config()
        assert config["pauli_strings"] == before.pauli_strings
        assert config["circuit"] == before.circuit
        assert (config["kernel_size"], config["stride"]) == (2, 2)

    def test_cnn_filters_kept(self, saved):
        """The loaded CNN keeps its frozen seeded filters."""
        original, loaded = saved(CNN_NAME)
        np.testing.assert_array_equal(
            to_np(loaded.get_layer("features").kernel),
            to_np(original.get_layer("features").kernel),
        )

    def test_creates_folder_and_no_temp_files(self, build, tmp_path):
        """save_model creates missing folders and leaves only the .keras file behind."""
        path = tmp_path / "models" / "seed42" / "cnn.keras"
        save_model(build(CNN_NAME), path)
        assert path.is_file()
        assert sorted(p.name for p in path.parent.iterdir()) == ["cnn.keras"]

    def test_overwrites(self, fresh_model, images, tmp_path):
        """Saving onto an existing file replaces it with the new model."""
        path = tmp_path / "cnn.keras"
        model = fresh_model(CNN_NAME)
        save_model(model, path)
        dense(model).set_weights(random_dense_weights(model, seed=5))
        save_model(model, path)
        np.testing.assert_allclose(run(load_model(path), images), run(model, images), atol=1e-6, rtol=0)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn.keras"]

    @pytest.mark.parametrize("path", [str, lambda p: p])
    def test_accepts_str_and_path(self, build, images, tmp_path, path):
        """save_model and load_model take a str or a Path."""
        target = path(tmp_path / "m.keras")
        save_model(build(CNN_NAME), target)
        loaded = load_model(target)
        np.testing.assert_allclose(run(loaded, images), run(build(CNN_NAME), images), atol=1e-6, rtol=0)

    @pytest.mark.parametrize("filename", ["model.h5", "model", "model.keras.bak", "model.json"])
    def test_refuses_other_suffix(self, build, tmp_path, filename):
        """save_model refuses a path not ending in .keras, naming it, and writes nothing."""
        with pytest.raises(ValueError, match=rf"must end in \.keras; got .*{filename}"):
            save_model(build(CNN_NAME), tmp_path / filename)
        assert list(tmp_path.iterdir()) == []

    def test_load_missing(self, tmp_path):
        """load_model of a missing file raises DataError naming it."""
        path = tmp_path / "absent.keras"
        with pytest.raises(DataError, match=r"model file .*absent\.keras must exist"):
            load_model(path)

    def test_load_folder(self, tmp_path):
        """load_model of a folder raises DataError naming it."""
        folder = tmp_path / "dir.keras"
        folder.mkdir()
        with pytest.raises(DataError, match=r"dir\.keras"):
            load_model(folder)

    def test_load_garbage(self, tmp_path):
        """A file that is not a .keras archive: DataError naming it (Keras alone says "File not found")."""
        path = tmp_path / "cnn.keras"
        path.write_bytes(b"not a zip archive")
        with pytest.raises(DataError, match=r"model file .*cnn\.keras must be a \.keras file written by"):
            load_model(path)

    def test_load_checks_the_model_name(self, build, tmp_path):
        """The CNN's file saved under a QuNN's name cannot pass for the QuNN."""
        path = tmp_path / "qunn-full-ent_rot.keras"
        save_model(build(CNN_NAME), path)
        with pytest.raises(DataError, match=r"must hold model 'qunn-full-ent_rot'; it holds 'cnn'"):
            load_model(path, "qunn-full-ent_rot")
        assert load_model(path, CNN_NAME).name == CNN_NAME

    def test_a_cnn_renamed_and_re_signed_as_a_qunn_is_refused(self, build, tmp_path):
        """The CNN's file with the QuNN's name written into its config and lineage: its feature layer gives it
        away (a Conv2D, not the QuNN's Quanvolution)."""
        from robqunn.io import normalize_zip

        path = tmp_path / "qunn-full-ent_rot.keras"
        save_model(build(CNN_NAME), path, {"model": CNN_NAME, "seed": SEED, "data_sha256": "x"})
        normalize_zip(path, lambda name, data: data.replace(b'"cnn"', b'"qunn-full-ent_rot"'))
        with pytest.raises(DataError, match=r"must hold a qunn-full-ent_rot feature layer; it holds Conv2D"):
            load_model(path, "qunn-full-ent_rot")

    def test_lineage_names_the_seed_and_digits_it_was_trained_on(self, build, tmp_path):
        """A model of another seed, or trained on other digits, is refused naming what differs; a file without
        lineage passes a name check but not a seed or digits check."""
        digits, other = tmp_path / "seed42.npz", tmp_path / "seed43.npz"
        digits.write_bytes(b"digits of seed 42")
        other.write_bytes(b"digits of seed 43")
        path = tmp_path / "cnn.keras"
        from robqunn.io import sha256_file

        save_model(build(CNN_NAME), path, {"model": CNN_NAME, "seed": SEED, "data_sha256": sha256_file(digits)})
        assert load_model(path, CNN_NAME, SEED, digits).name == CNN_NAME
        with pytest.raises(DataError, match=r"trained with seed 43; it records 42"):
            load_model(path, CNN_NAME, 43)
        with pytest.raises(DataError, match=r"trained with data_sha256 '[0-9a-f]{64}'; it records '[0-9a-f]{64}'"):
            load_model(path, CNN_NAME, SEED, other)
        save_model(build(CNN_NAME), path)
        assert load_model(path, CNN_NAME).name == CNN_NAME
        with pytest.raises(DataError, match=r"must record its lineage \(name, seed, digits\): retrain it"):
            load_model(path, CNN_NAME, SEED)

    @pytest.mark.parametrize("name", [n for n in SAVED_MODELS if n != CNN_NAME])
    def test_a_qunn_of_another_circuit_is_refused(self, build, tmp_path, name):
        """A QuNN's file renamed as another circuit's: the Quanvolution's circuit says which it is."""
        from robqunn.io import normalize_zip

        other = "qunn-linear-ent_rot"
        path = tmp_path / f"{other}.keras"
        save_model(build(name), path)
        normalize_zip(path, lambda member, data: data.replace(f'"{name}"'.encode(), f'"{other}"'.encode()))
        with pytest.raises(DataError, match=rf"must hold a {other} feature layer; it holds Quanvolution"):
            load_model(path, other)


# --- invariance of rot_ent (docs/design.md) --------------------------------------------------------


class TestInvariance:
    """With layout rot_ent the ZZ entanglers commute with the Z readout; with ent_rot they act."""

    @pytest.mark.parametrize("ansatz", ZZ_ANSATZE)
    def test_rot_ent_features_equal_none(self, build, images, ansatz):
        """Under rot_ent, a ZZ ansatz gives the same features as no entanglers at all."""
        none = run(feature_model(build("qunn-none-rot_ent")), images)
        entangled = run(feature_model(build(f"qunn-{ansatz}-rot_ent")), images)
        np.testing.assert_allclose(entangled, none, atol=1e-6, rtol=0)

    @pytest.mark.parametrize("ansatz", ZZ_ANSATZE)
    def test_ent_rot_features_differ_from_none(self, build, images, ansatz):
        """Under ent_rot, the entanglers change the features (by more than 0.01 somewhere)."""
        none = run(feature_model(build("qunn-none-ent_rot")), images)
        entangled = run(feature_model(build(f"qunn-{ansatz}-ent_rot")), images)
        assert np.abs(entangled - none).max() > 0.01

    def test_rot_ent_predictions_equal(self, build, images):
        """Under rot_ent, none and full untrained QuNNs of one seed predict identically."""
        np.testing.assert_allclose(
            run(build("qunn-full-rot_ent"), images),
            run(build("qunn-none-rot_ent"), images),
            atol=1e-6,
            rtol=0,
        )

    def test_none_is_pixelwise(self, params, build, images):
        """Without entanglers, channel k is SPEC's closed form of pixel k of the patch."""
        # <Z> = cos(theta) cos(pi x) - sin(theta) cos(phi) sin(pi x) for Rot(phi, theta, omega);
        # qubits 0..3 are the patch's top-left, top-right, bottom-left and bottom-right pixels.
        weights = make_circuit_spec(Ansatz.NONE, Layout.ROT_ENT, params.circuit, SEED)
        phi, theta = weights.rotation_weights[:, 0], weights.rotation_weights[:, 1]
        features = run(feature_model(build("qunn-none-rot_ent")), images)
        x = images.astype(np.float64)
        pixels = np.stack([x[:, 0::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 0::2], x[:, 1::2, 1::2]], -1)
        cos, sin = np.cos(np.pi * pixels), np.sin(np.pi * pixels)
        expected = np.cos(theta) * cos - np.sin(theta) * np.cos(phi) * sin
        np.testing.assert_allclose(features, expected, atol=1e-5, rtol=0)
