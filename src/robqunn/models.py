"""The CNN and QuNN classifiers: frozen feature layer -> Flatten -> Dense(10) -> softmax.

Both are end-to-end Keras models from pixels (N, 28, 28) to class probabilities, so that attacks
differentiate through the feature layer. The Dense layer is named "logits" and the softmax is a
separate layer, because attacks need the pre-softmax output (:func:`logits_model`). Only the Dense
head is trainable; it can be trained on precomputed feature maps (:func:`head_model`) because it
shares its layer objects with the end-to-end model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np

from robqunn.artifacts import IMAGE_SHAPE, N_CLASSES
from robqunn.config import CircuitParams, CnnBias
from robqunn.quanv import Quanvolution, digits_from, quanvolution_layer
from robqunn.seeding import derived_seed
from robqunn.vocabulary import CNN, FEATURES, LOGITS, ModelSpec


def build_model(spec: ModelSpec, circuit: CircuitParams, seed: int) -> keras.Model:
    """The untrained end-to-end model of ``spec`` for one study seed (its circuit noisy and read out
    from finite shots as ``spec`` says; the sampling seeded from the study seed and the model name)."""
    if spec.kind == CNN:
        return build_cnn(circuit, seed, spec.name)
    from robqunn.circuits import make_circuit_spec

    circuit_spec = make_circuit_spec(spec.ansatz, spec.layout, circuit, seed, spec.noise)
    layer = quanvolution_layer(
        circuit_spec,
        circuit.kernel_size,
        circuit.stride,
        shots=spec.shots,
        seed=derived_seed(seed, f"shots {spec.name}"),
    )
    return build_qunn(layer, seed, spec.name)


def build_cnn(circuit: CircuitParams, seed: int, name: str = CNN) -> keras.Model:
    """Frozen seeded Conv2D(k*k filters, k x k, stride, ReLU) -> Flatten -> Dense(10) -> softmax.

    k*k filters, so the CNN's feature maps have the shape of the QuNN's (one channel per qubit); the bias
    as ``circuit.cnn_bias`` says (:func:`cnn_bias_initializer`).
    """
    kernel_size = circuit.kernel_size
    inputs = keras.Input(IMAGE_SHAPE, name="pixels")
    channels = keras.layers.Reshape(IMAGE_SHAPE + (1,), name="channels")(inputs)  # named: see _classifier
    conv = keras.layers.Conv2D(
        kernel_size**2,
        kernel_size,
        strides=circuit.stride,
        activation="relu",
        kernel_initializer=keras.initializers.GlorotUniform(seed=derived_seed(seed, "cnn_filters")),
        bias_initializer=cnn_bias_initializer(circuit, seed),
        trainable=False,
        name=FEATURES,
    )
    return _classifier(inputs, conv(channels), seed, name)


def cnn_bias_initializer(circuit: CircuitParams, seed: int) -> keras.initializers.Initializer:
    """The Conv2D bias initialiser of ``circuit.cnn_bias``, seeded from the study seed.

    Why it matters: with a zero bias every filter's ReLU is off on a black patch, so the loss has exactly-zero
    gradient there and single-step attacks leave those pixels alone (docs/results.md, "The CNN's bias").
    """
    if circuit.cnn_bias is CnnBias.ZEROS:
        return keras.initializers.Zeros()
    scale = 1 / circuit.kernel_size if circuit.cnn_bias is CnnBias.TORCH_DEFAULT else circuit.cnn_bias_scale
    return keras.initializers.RandomUniform(-scale, scale, seed=derived_seed(seed, "cnn_bias"))


def build_qunn(layer: Quanvolution, seed: int, name: str) -> keras.Model:
    """Fixed quanvolution layer -> Flatten -> Dense(10) -> softmax."""
    inputs = keras.Input(IMAGE_SHAPE, name="pixels")
    return _classifier(inputs, layer(inputs), seed, name)


def _classifier(inputs, features, seed: int, name: str) -> keras.Model:
    """Flatten -> Dense(10) -> softmax on ``features``. Every layer is named: an unnamed one gets a name
    numbered by the layers the process made before (``reshape_3``), which the saved file would record."""
    flat = keras.layers.Flatten(name="flatten")(features)
    logits = keras.layers.Dense(
        N_CLASSES,
        kernel_initializer=keras.initializers.GlorotUniform(seed=derived_seed(seed, "head")),
        name=LOGITS,
    )(flat)
    probabilities = keras.layers.Softmax(name="probabilities")(logits)
    return keras.Model(inputs, probabilities, name=name)


def feature_model(model: keras.Model) -> keras.Model:
    """Pixels -> feature maps (the frozen part of ``model``)."""
    return keras.Model(model.input, model.get_layer(FEATURES).output, name=f"{model.name}_features")


def logits_model(model: keras.Model) -> keras.Model:
    """Pixels -> pre-softmax logits: what attacks must differentiate (cleverhans expects logits)."""
    return keras.Model(model.input, model.get_layer(LOGITS).output, name=f"{model.name}_logits")


def head_model(model: keras.Model) -> keras.Model:
    """Feature maps -> probabilities, sharing (not copying) the Dense layer of ``model``."""
    features = keras.Input(model.get_layer(FEATURES).output.shape[1:], name="feature_maps")
    x = features
    for name in ("flatten", LOGITS, "probabilities"):
        x = model.get_layer(name)(x)
    return keras.Model(features, x, name=f"{model.name}_head")


PREDICT_BATCH = 1000  # images per call: bounds memory, does not change results


def predict(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """``model`` applied to ``x`` in batches, as a float32 array.

    Direct calls rather than Model.predict: predict compiles a new tf.function for every model,
    which costs more than the few batches it runs here and floods the log with retracing warnings.
    """
    return _in_batches(lambda batch: model(batch, training=False), x)


def _in_batches(call, x: np.ndarray) -> np.ndarray:
    """``call`` on batches of PREDICT_BATCH digits, each declared to a finite-shot layer as the digits it holds
    (quanv.digits_from), so that a digit's draws do not depend on the batching."""
    batches = []
    for i in range(0, len(x), PREDICT_BATCH):
        with digits_from(i):
            batches.append(np.asarray(call(np.asarray(x[i : i + PREDICT_BATCH], np.float32)), dtype=np.float32))
    return np.concatenate(batches)


class CompiledPredict:
    """:func:`predict` through one compiled function per model, traced once (any batch size): for a job
    that scores hundreds of sets on the same models, where Keras' per-call Python overhead is most of
    the cost (evaluate: 7 of its 11 s). Its class predictions equal :func:`predict`'s (tested); its float
    outputs may differ in the last bits, so stored outputs (features) use :func:`predict`."""

    def __init__(self) -> None:
        self._compiled: dict[int, object] = {}

    def __call__(self, model: keras.Model, x: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        if id(model) not in self._compiled:
            spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)
            self._compiled[id(model)] = (
                model,
                tf.function(lambda images: model(images, training=False), input_signature=[spec]),
            )
        return _in_batches(self._compiled[id(model)][1], x)


KERAS_METADATA = "metadata.json"  # the .keras member where Keras records its version and when it saved
KERAS_CONFIG = "config.json"  # the .keras member that describes the layers
SAVED_DATE = "1980-01-01@00:00:00"  # the date a saved model records: io.ZIP_EPOCH, in Keras' format
LINEAGE_KEY = "robqunn_lineage"  # the metadata key of what a model was trained for: name, seed, digits
SHARED_OBJECT_ID = "shared_object_id"


def save_model(model: keras.Model, path: str | Path, lineage: dict | None = None) -> None:
    """Save as a .keras file (no pickle), atomically, with the same bytes for the same model.

    Keras' file would differ from one save to the next (io.normalize_zip and :func:`_reproducible`): it dates
    its members and its metadata's ``date_saved`` now, and numbers the objects that layers share (the dtype
    policy) by their id(), a memory address of the saving process. So that the file's hash, which later files
    and runs record, changes only with the model, the dates become :data:`robqunn.io.ZIP_EPOCH` and the
    numbers 1, 2, ... in the order they appear. ``lineage`` (the model's name, study seed and the sha256 of
    the digits it was trained on) goes into Keras' metadata, for :func:`load_model` to check.
    """
    from robqunn.io import atomic_path, normalize_zip

    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"model path must end in .keras; got {str(path)!r}")
    with atomic_path(path) as tmp:
        model.save(tmp)
        normalize_zip(tmp, lambda name, data: _reproducible(name, data, lineage))


def _reproducible(name: str, data: bytes, lineage: dict | None = None) -> bytes:
    """A .keras member without what differs between saves of one model: a date, memory addresses; the
    metadata with the model's lineage."""
    if name == KERAS_METADATA:
        extra = {LINEAGE_KEY: lineage} if lineage is not None else {}
        return json.dumps(json.loads(data) | {"date_saved": SAVED_DATE} | extra).encode()
    if name == KERAS_CONFIG:
        return json.dumps(_renumbered(json.loads(data), {})).encode()
    return data


def _renumbered(config: Any, numbers: dict[int, int]) -> Any:
    """``config`` with each shared object's id replaced by its number in ``numbers`` (new ids numbered on):
    Keras only matches these ids to find the configs of one object, so any one-to-one renaming loads the same."""
    if isinstance(config, list):
        return [_renumbered(item, numbers) for item in config]
    if not isinstance(config, dict):
        return config
    return {
        key: numbers.setdefault(value, len(numbers) + 1) if key == SHARED_OBJECT_ID else _renumbered(value, numbers)
        for key, value in config.items()
    }


def load_model(
    path: str | Path, name: str | None = None, seed: int | None = None, data: str | Path | None = None
) -> keras.Model:
    """Load a model saved by :func:`save_model` (the Quanvolution layer is registered on import).

    Args:
        name: the model name the file must hold (``cnn``, ``qunn-<ansatz>-<layout>``: the Keras model's name,
            set by :func:`build_model`, its lineage's, and a feature layer of that kind and circuit), so that
            one model's file cannot pass for another's, even renamed.
        seed: the study seed it must have been built and trained for.
        data: the prepared digits it must have been trained on (their sha256 against its lineage's).

    Raises:
        DataError: the file is missing, is not a readable .keras file, or holds another model, one of another
            seed or one trained on other digits.
    """
    from robqunn.errors import DataError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"model file {path} must exist (written by `robqunn train`); it is missing")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as error:  # Keras reports a corrupt archive as anything from "File not found" to KeyError
        raise DataError(f"model file {path} must be a .keras file written by `robqunn train`; got {error!r}") from None
    if name is not None:
        if model.name != name:
            raise DataError(f"model file {path} must hold model {name!r}; it holds {model.name!r}")
        _check_kind(model, ModelSpec.from_name(name), path)
    _check_lineage(model_lineage(path), {"model": name, "seed": seed, "data": data}, path)
    return model


def model_lineage(path: str | Path) -> dict | None:
    """What :func:`save_model` recorded the model was trained for (None for a file without it)."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read(KERAS_METADATA)).get(LINEAGE_KEY)


def _check_kind(model: keras.Model, spec: ModelSpec, path: Path) -> None:
    """The feature layer is the CNN's Conv2D, or a Quanvolution of the spec's circuit, noise and shots."""
    from robqunn.errors import DataError

    layer = model.get_layer(FEATURES)
    if spec.ansatz is None:
        found = None if isinstance(layer, keras.layers.Conv2D) else type(layer).__name__
    else:
        circuit = getattr(layer, "circuit", {})
        noise = spec.noise and {"channel": spec.noise.channel.value, "strength": spec.noise.strength}
        wanted = (spec.ansatz.value, spec.layout.value, noise, spec.shots)
        got = (circuit.get("ansatz"), circuit.get("layout"), circuit.get("noise"), getattr(layer, "shots", None))
        found = None if isinstance(layer, Quanvolution) and got == wanted else f"{type(layer).__name__} {got}"
    if found is not None:
        raise DataError(f"model file {path} must hold a {spec.name} feature layer; it holds {found}")


def _check_lineage(lineage: dict | None, wanted: dict, path: Path) -> None:
    """The lineage recorded at training agrees with the model, seed and digits a stage asks for."""
    from robqunn.errors import DataError
    from robqunn.io import sha256_file

    if lineage is None:
        if wanted["seed"] is not None or wanted["data"] is not None:
            raise DataError(f"model file {path} must record its lineage (name, seed, digits): retrain it")
        return
    checks = {"model": wanted["model"], "seed": wanted["seed"]}
    if wanted["data"] is not None:
        checks["data_sha256"] = sha256_file(wanted["data"])
    for key, value in checks.items():
        if value is not None and lineage.get(key) != value:
            raise DataError(
                f"model file {path} must have been trained with {key} {value!r}; it records {lineage.get(key)!r}"
            )
