"""The pipeline's files as typed values: one frozen dataclass per kind, which saves and loads itself.

- :class:`FeatureMaps`: ``data/features/seed{seed}/{model}.npz``, the frozen layer's output.
- :class:`AdversarialSet`: ``results/adversarial/seed{seed}/{attack}/{model}/eps{eps}.npz``.
- :class:`TrainMetrics`: ``results/train/seed{seed}/{model}.json`` (also a DVC metrics file).
- :class:`ChecksRecord`: ``results/checks/seed{seed}/{model}.json``, the soundness checks' extra attacks.
- :class:`CertifiedRadii`: ``results/radii/seed{seed}/{model}.json``, each attacked digit's certified radius.
- ``robqunn.data.Dataset``: the prepared digits, built on :class:`NpzArtifact` like the first two.

Saving checks the value and writes atomically (robqunn.io), so a malformed artifact is never written.
Loading reads without pickle and checks what the file alone can tell: its keys, the dtype and
dimensions of each array (or the type of each JSON value), that its parts agree in shape, that
labels lie in 0..9 and pixels in [0, 1]. Every error is a DataError naming the file. Keys that a
kind does not know are ignored, so that a later version may add to a file without breaking the
readers of older ones; in a TrainMetrics file, whose circuit facts are flattened into the top level,
every key beyond its fields is read as a circuit fact, and an unknown one is refused.

Checks against other files (the prepared data's sha256 sidecar, an adversarial set's eps-ball around
the clean digits, model hashes) are not made here: they need those files, so they belong to the
caller that has them, after ``load``.

An adversarial set and a checks record hold their ``lineage``: what they were made from (the sha256 of
the model file and of the prepared digits, of the params values their stage read for them, and of the
code), so that a stage can keep an output that is current instead of computing it again
(robqunn.stages). ``None`` is an output made outside the stages (a test's): never current.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from robqunn.errors import DataError
from robqunn.io import save_json, save_npz
from robqunn.vocabulary import EXACT, AttackName

IMAGE_SHAPE = (28, 28)
N_CLASSES = 10
PIXEL_MIN, PIXEL_MAX = 0.0, 1.0
BALL_TOLERANCE = 1e-6  # float32 round-off of x + delta after clipping


class AdversarialError(DataError):
    """An adversarial set violates its threat model (outside the eps-ball or the pixel range)."""


def check_threat_model(x: np.ndarray, x_adv: np.ndarray, eps: float, where: str) -> None:
    """Raise AdversarialError unless |x_adv - x|_inf <= eps and x_adv lies in [0, 1]."""
    if x_adv.shape != x.shape:
        raise AdversarialError(f"adversarial set of {where} must have shape {x.shape}; got {x_adv.shape}")
    if not np.all(np.isfinite(x_adv)):
        raise AdversarialError(f"adversarial set of {where} must be finite; it holds NaN or inf")
    distance = float(np.max(np.abs(x_adv.astype(np.float64) - x))) if len(x) else 0.0
    if distance > eps + BALL_TOLERANCE:
        raise AdversarialError(f"adversarial set of {where} must lie in the L-inf ball of radius {eps}; got {distance}")
    low, high = float(x_adv.min(initial=PIXEL_MIN)), float(x_adv.max(initial=PIXEL_MAX))
    if low < PIXEL_MIN or high > PIXEL_MAX:
        raise AdversarialError(f"adversarial set of {where} must lie in [0, 1]; got [{low}, {high}]")


ATTACKS = tuple(a.value for a in AttackName) + (EXACT,)  # the exact verification's worst cases are a set too
# dtype names that stand for a whole kind of dtype; any other name is an exact numpy dtype.
_DTYPE_KINDS = {"float": "f", "int": "iu", "str": "U"}
# What np.load and reading an archive member raise on a file that is not a readable .npz.
_UNREADABLE = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


# --- the shared readers and checks ---------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One array of an .npz kind: ``dtype`` is an exact dtype ("float32") or a kind ("float", "int", "str")."""

    name: str
    dtype: str
    ndim: int

    def check(self, value: object, where: str) -> Any:
        """``value`` if it is an array of this dtype and ndim (a 0-d one as a Python scalar or str)."""
        if not isinstance(value, np.ndarray) or not self._matches(value.dtype):
            got = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
            raise DataError(f"{self.name} of {where} must be a {self.dtype} array; got {got}")
        if value.ndim != self.ndim:
            raise DataError(f"{self.name} of {where} must have {self.ndim} dimensions; got shape {value.shape}")
        return value.item() if self.ndim == 0 else value

    def _matches(self, dtype: np.dtype) -> bool:
        if self.dtype in _DTYPE_KINDS:
            return dtype.kind in _DTYPE_KINDS[self.dtype]
        return dtype == np.dtype(self.dtype)


def digit_fields(x_name: str, y_name: str) -> tuple[Field, Field]:
    """The fields of images float32 (N, 28, 28) and labels int64 (N,)."""
    return Field(x_name, "float32", 3), Field(y_name, "int64", 1)


def read_npz(path: str | Path, what: str, fields: Sequence[Field]) -> dict[str, Any]:
    """The values of ``fields`` in the .npz ``path``, each checked (:meth:`Field.check`); other keys are ignored.

    Raises:
        DataError: the file is missing, not a readable .npz, or lacks a field or holds it wrong.
    """
    path = _existing(path, what)
    where = f"{what} file {path}"
    arrays = _load_npz(path, where)
    names = [field.name for field in fields]
    missing = [name for name in names if name not in arrays]
    if missing:
        raise DataError(f"{where} must hold arrays {names}; got {sorted(arrays)} (missing {missing})")
    return {field.name: field.check(arrays[field.name], where) for field in fields}


def _load_npz(path: Path, where: str) -> dict[str, Any]:
    """Every member of an .npz archive, read without pickle (an object array is an error)."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                return {key: loaded[key] for key in loaded.files}
    except _UNREADABLE as exc:
        raise DataError(f"{where} must be a readable .npz; got error: {exc}") from exc
    raise DataError(f"{where} must be a .npz archive; got a single .npy array")


def read_json(path: str | Path, what: str) -> dict[str, Any]:
    """The JSON object in ``path``.

    Raises:
        DataError: the file is missing, not JSON, or holds something other than an object.
    """
    path = _existing(path, what)
    try:
        payload = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{what} file {path} must be readable JSON; got error: {exc}") from exc
    if not isinstance(payload, dict):
        raise DataError(f"{what} file {path} must hold a JSON object; got {type(payload).__name__}")
    return payload


def _existing(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} file must exist; got {str(path)!r} (no such file)")
    return path


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# JSON value types by the words an error message uses for them.
_JSON_TYPES: dict[str, Callable[[object], bool]] = {
    "a string": lambda value: isinstance(value, str),
    "an integer": _is_int,
    "a number": _is_number,
    "true or false": lambda value: isinstance(value, bool),
    "a list of numbers": lambda value: isinstance(value, list) and all(map(_is_number, value)),
}
# A JSON schema: key -> a type of _JSON_TYPES, or the schema of a nested object.
Schema = Mapping[str, "str | Schema"]
#: An output's lineage (robqunn.stages.job.Sources): every one of the study's has these inputs.
LINEAGE_SCHEMA: Schema = {
    "inputs": {"model": "a string", "data": "a string"},
    "params_sha256": "a string",
    "code_sha256": "a string",
}


def check_json(payload: Mapping[str, Any], schema: Schema, where: str, prefix: str = "") -> None:
    """Every key of ``schema`` is in ``payload`` with the type it names; nested keys are named "a.b"."""
    for key, kind in schema.items():
        name = prefix + key
        if key not in payload:
            raise DataError(f"{where} must hold the key {name!r}; got keys {sorted(payload)}")
        value = payload[key]
        if isinstance(kind, Mapping):
            if not isinstance(value, dict):
                raise DataError(f"{name} of {where} must be a JSON object; got {value!r}")
            check_json(value, kind, where, f"{name}.")
        elif not _JSON_TYPES[kind](value):
            raise DataError(f"{name} of {where} must be {kind}; got {value!r}")


def check_range(array: np.ndarray, low: float, high: float, what: str) -> None:
    """Every value finite and within [low, high]."""
    if array.size == 0:
        return
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise DataError(f"{what} must be finite; got NaN or infinity")
    lo, hi = array.min(), array.max()
    if lo < low or hi > high:
        raise DataError(f"{what} must be within [{low}, {high}]; got values from {lo} to {hi}")


def check_digits(x: np.ndarray, y: np.ndarray, x_what: str, y_what: str, max_pixel: float = 1.0) -> None:
    """Images (N, 28, 28) with finite pixels in [0, max_pixel] and one label in 0..9 per image."""
    if x.ndim != 3 or x.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"{x_what} must have shape (N, 28, 28); got {x.shape}")
    if y.shape != (len(x),):
        raise DataError(f"{y_what} must have shape ({len(x)},), one per image; got {y.shape}")
    check_range(y, 0, N_CLASSES - 1, y_what)
    check_range(x, 0.0, max_pixel, x_what)


# --- the two families: arrays in an .npz, values in a JSON object ---------------------------------


class NpzArtifact:
    """An artifact stored as one .npz: its dataclass fields, named in ``FIELDS``, are the arrays.

    Subclasses set ``WHAT`` (how errors name the file) and ``FIELDS``, and add the checks across
    fields in :meth:`_check`; scalar fields are stored as 0-d arrays.
    """

    WHAT: ClassVar[str]
    FIELDS: ClassVar[tuple[Field, ...]]

    def validate(self, where: str) -> None:
        """Check every field and their consistency; ``where`` names the artifact in errors."""
        arrays = self._arrays()
        for field in self.FIELDS:
            field.check(arrays[field.name], where)
        self._check(where)

    def _arrays(self) -> dict[str, np.ndarray]:
        """The arrays written to the file, by field name."""
        return {field.name: np.asarray(getattr(self, field.name)) for field in self.FIELDS}

    def _check(self, where: str) -> None:
        """Checks across fields, made after each field's dtype and ndim are known to be right."""

    def _write(self, path: str | Path) -> None:
        self.validate(f"{self.WHAT} to save as {path}")
        save_npz(path, **self._arrays())

    @classmethod
    def _read(cls, path: str | Path) -> Self:
        where = f"{cls.WHAT} file {path}"
        artifact = cls._from_values(read_npz(path, cls.WHAT, cls.FIELDS), where)
        artifact._check(where)
        return artifact

    @classmethod
    def _from_values(cls, values: dict[str, Any], where: str) -> Self:
        """The artifact from the checked values of its fields."""
        return cls(**values)


class JsonArtifact:
    """An artifact stored as one JSON object (keys sorted, as robqunn.io.save_json writes them)."""

    WHAT: ClassVar[str]
    SCHEMA: ClassVar[Schema]

    def as_dict(self) -> dict[str, Any]:
        """The JSON object that :meth:`save` writes."""
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        """Check, then write atomically."""
        payload = self.as_dict()
        self._check(payload, f"{self.WHAT} to save as {path}")
        save_json(path, payload)

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read and check a file written by :meth:`save`."""
        payload = read_json(path, cls.WHAT)
        cls._check(payload, f"{cls.WHAT} file {path}")
        return cls._from_dict(payload)

    @classmethod
    def _check(cls, payload: dict[str, Any], where: str) -> None:
        check_json(payload, cls.SCHEMA, where)

    @classmethod
    def _from_dict(cls, payload: dict[str, Any]) -> Self:
        """The fields of ``payload``; a field with a default may be absent (a file written before it existed)."""
        fields = dataclasses.fields(cls)
        return cls(**{f.name: payload[f.name] for f in fields if f.name in payload or f.default is dataclasses.MISSING})


# --- the kinds -----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FeatureMaps(NpzArtifact):
    """The frozen feature layer's output float32 (N, H, W, C) on the train and test digits of a seed.

    The file records the model and seed that made it, so that training the head of another model on
    it (a stale file) is refused on load.
    """

    WHAT = "feature maps"
    FIELDS = (
        Field("f_train", "float32", 4),
        Field("f_test", "float32", 4),
        Field("model", "str", 0),
        Field("seed", "int", 0),
    )

    model: str
    seed: int
    f_train: np.ndarray
    f_test: np.ndarray

    def save(self, path: str | Path) -> None:
        """Check, then write atomically."""
        self._write(path)

    @classmethod
    def load(cls, path: str | Path, model: str, seed: int) -> FeatureMaps:
        """Read and check the feature maps of ``model`` for ``seed``; a file made for another is refused."""
        maps = cls._read(path)
        if (maps.model, maps.seed) != (model, seed):
            raise DataError(
                f"{cls.WHAT} file {path} must be for model {model!r}, seed {seed}; "
                f"got model {maps.model!r}, seed {maps.seed}"
            )
        return maps

    def _check(self, where: str) -> None:
        if self.f_test.shape[1:] != self.f_train.shape[1:]:
            raise DataError(
                f"f_test of {where} must have the map shape {self.f_train.shape[1:]} of f_train; "
                f"got {self.f_test.shape[1:]}"
            )
        for name in ("f_train", "f_test"):
            check_range(getattr(self, name), -np.inf, np.inf, f"{name} of {where}")


@dataclass(frozen=True, eq=False)
class AdversarialSet(NpzArtifact):
    """Adversarial digits float32 (N, 28, 28) in [0, 1] with their true labels int64 (N,), the classes the
    model that crafted them predicts for them int64 (N,) (what the example grids show), and how they were
    made: the source model, the attack, eps, the study seed, the attack's hyper-parameters without its eps
    grid, the sha256 of the model file that crafted them and the set's lineage (see the module docstring).

    An exact set (attack ``exact``: the worst cases of the exact verification) also holds ``exact_row``,
    its eps's row of the model's exact table (robust accuracy bounds, undecided and evaluated digits), so
    that a kept set gives its row without verifying again. The dicts are stored as JSON text.
    """

    WHAT = "adversarial set"
    FIELDS = (
        *digit_fields("x_adv", "y"),
        Field("predicted", "int64", 1),
        Field("source", "str", 0),
        Field("attack", "str", 0),
        Field("eps", "float", 0),
        Field("seed", "int", 0),
        Field("settings", "str", 0),
        Field("model_sha256", "str", 0),
        Field("lineage", "str", 0),
        Field("exact_row", "str", 0),
    )
    JSON_FIELDS: ClassVar[tuple[str, ...]] = ("settings", "lineage", "exact_row")

    x_adv: np.ndarray
    y: np.ndarray
    predicted: np.ndarray
    source: str
    attack: str
    eps: float
    seed: int
    settings: dict
    model_sha256: str
    lineage: dict | None = None
    exact_row: dict | None = None

    def save(self, path: str | Path) -> None:
        """Check, then write atomically."""
        self._write(path)

    @classmethod
    def load(cls, path: str | Path) -> AdversarialSet:
        """Read and check a set written by :meth:`save`."""
        return cls._read(path)

    def _arrays(self) -> dict[str, np.ndarray]:
        return super()._arrays() | {
            name: np.array(json.dumps(getattr(self, name), sort_keys=True)) for name in self.JSON_FIELDS
        }

    @classmethod
    def _from_values(cls, values: dict[str, Any], where: str) -> AdversarialSet:
        parsed = {name: _json_object(values[name], f"{name} of {where}") for name in cls.JSON_FIELDS}
        if parsed["settings"] is None:
            raise DataError(f"settings of {where} must be a JSON object; got None")
        return cls(**values | parsed)

    def _check(self, where: str) -> None:
        check_digits(self.x_adv, self.y, f"x_adv of {where}", f"y of {where}")
        if self.predicted.shape != self.y.shape:
            raise DataError(
                f"predicted of {where} must have shape {self.y.shape}, one per image; got {self.predicted.shape}"
            )
        check_range(self.predicted, 0, N_CLASSES - 1, f"predicted of {where}")
        if self.attack not in ATTACKS:
            raise DataError(f"attack of {where} must be one of {list(ATTACKS)}; got {self.attack!r}")
        if not 0 <= self.eps <= 1:
            raise DataError(f"eps of {where} must be within [0, 1] (pixels are in [0, 1]); got {self.eps}")
        check_lineage(self.lineage, where)
        if (self.attack == EXACT) != (self.exact_row is not None):
            raise DataError(
                f"exact_row of {where} must be the exact table's row in an exact set and null in an attack's; "
                f"got {self.exact_row!r} in a set of attack {self.attack!r}"
            )
        if self.exact_row is not None:
            check_json(self.exact_row, EXACT_ROW_SCHEMA, where, "exact_row.")


#: An exact set's row of the exact table (robqunn.stages.exact), but its eps (the set's own field).
EXACT_ROW_SCHEMA: Schema = {
    "robust_accuracy_lower": "a number",
    "robust_accuracy_upper": "a number",
    "undecided": "an integer",
    "n_evaluated": "an integer",
}


def _json_object(text: str, what: str) -> dict | None:
    """The JSON object (or null) in ``text``, a field stored as JSON text."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{what} must be JSON text; got error: {exc}") from exc
    if value is not None and not isinstance(value, dict):
        raise DataError(f"{what} must be a JSON object; got {value!r}")
    return value


def check_lineage(lineage: object, where: str) -> None:
    """``lineage`` is None (not recorded) or a lineage: the sha256 of an output's inputs, params and code."""
    if lineage is None:
        return
    if not isinstance(lineage, dict):
        raise DataError(f"lineage of {where} must be a JSON object or null; got {lineage!r}")
    check_json(lineage, LINEAGE_SCHEMA, where, "lineage.")


_CIRCUIT_SCHEMA: Schema = {
    "ansatz": "a string",
    "layout": "a string",
    "n_entanglers": "an integer",
    "entanglers_visible": "true or false",
    "readout_terms": "an integer",
}


@dataclass(frozen=True)
class TrainMetrics(JsonArtifact):
    """What training one model gave; in the file, the QuNN's ``circuit`` facts are top-level keys.

    No timing: the file is an output of the train stage, whose bytes must depend on its inputs alone; how long
    training took goes to the log and the MLflow run (``train_seconds``).
    """

    WHAT = "training metrics"
    SCHEMA = {
        "model": "a string",
        "seed": "an integer",
        "data_sha256": "a string",
        "train_accuracy": "a number",
        "test_accuracy": "a number",
        "end_to_end_test_accuracy": "a number",
        "loss_per_epoch": "a list of numbers",
        "accuracy_per_epoch": "a list of numbers",
    }

    model: str
    seed: int
    data_sha256: str
    train_accuracy: float
    test_accuracy: float
    end_to_end_test_accuracy: float
    loss_per_epoch: list[float]
    accuracy_per_epoch: list[float]
    circuit: dict

    def as_dict(self) -> dict[str, Any]:
        """The fields with ``circuit`` flattened into the top level, as :meth:`save` writes them."""
        payload = dataclasses.asdict(self)
        circuit = payload.pop("circuit")
        return payload | circuit

    @classmethod
    def _check(cls, payload: dict[str, Any], where: str) -> None:
        check_json(payload, cls.SCHEMA, where)
        circuit = cls._circuit(payload)
        if circuit and set(circuit) != set(_CIRCUIT_SCHEMA):
            raise DataError(
                f"circuit facts of {where} must be all of {sorted(_CIRCUIT_SCHEMA)} (a QuNN) or none (the CNN); "
                f"got {sorted(circuit)}"
            )
        if circuit:
            check_json(circuit, _CIRCUIT_SCHEMA, where)

    @classmethod
    def _from_dict(cls, payload: dict[str, Any]) -> TrainMetrics:
        return cls(**{key: payload[key] for key in cls.SCHEMA}, circuit=cls._circuit(payload))

    @classmethod
    def _circuit(cls, payload: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in payload.items() if key not in cls.SCHEMA}


# n_correct of a model that samples is a sum of per-digit fractions of correct draws
_COUNTS_SCHEMA: Schema = {"n_correct": "a number", "n_evaluated": "an integer"}
_EOT_SCHEMA: Schema = {
    "eps": "a number",
    "draws": "an integer",
    "one_sample": _COUNTS_SCHEMA,
    "eot": _COUNTS_SCHEMA,
    "eot_4x": _COUNTS_SCHEMA,
}
# Where the counts of correct digits sit in a checks record.
_COUNT_PATHS = (("large_eps",), ("restarts", "single"), ("restarts", "all"), ("spsa", "spsa"), ("spsa", "pgd"))
_COUNT_PATHS += (("single_step", "fgsm"), ("single_step", "jittered_fgsm"), ("single_step", "rfgsm"))
_COUNT_PATHS += (("momentum", "mim"), ("momentum", "mim_random_start"), ("loss", "cross_entropy"), ("loss", "margin"))
_FRACTIONS_SCHEMA: Schema = {"mean": "a number", "sd": "a number", "n_digits": "an integer"}
_AUTOATTACK_SCHEMA: Schema = {
    "eps": "a number",
    "autoattack": _COUNTS_SCHEMA,
    "pgd": _COUNTS_SCHEMA,
    "certified": "an integer",
}


@dataclass(frozen=True)
class ChecksRecord(JsonArtifact):
    """Counts of correct digits of one (seed, model) under the extra attacks of the soundness checks
    (robqunn.extra_attacks.extra_attacks); each counts dict is {"n_correct", "n_evaluated"}."""

    WHAT = "checks record"
    SCHEMA = {
        "model": "a string",
        "seed": "an integer",
        "large_eps": {"eps": "a number", **_COUNTS_SCHEMA},
        "restarts": {"eps": "a number", "restarts": "an integer", "single": _COUNTS_SCHEMA, "all": _COUNTS_SCHEMA},
        "spsa": {"eps": "a number", "spsa": _COUNTS_SCHEMA, "pgd": _COUNTS_SCHEMA},
        "zero_gradients": {"jitter": "a number", "clean": _FRACTIONS_SCHEMA, "jittered": _FRACTIONS_SCHEMA},
        "single_step": {
            "eps": "a number",
            "alpha": "a number",
            "fgsm": _COUNTS_SCHEMA,
            "jittered_fgsm": _COUNTS_SCHEMA,
            "rfgsm": _COUNTS_SCHEMA,
        },
        "momentum": {"eps": "a number", "mim": _COUNTS_SCHEMA, "mim_random_start": _COUNTS_SCHEMA},
        "loss": {"eps": "a number", "cross_entropy": _COUNTS_SCHEMA, "margin": _COUNTS_SCHEMA},
    }

    model: str
    seed: int
    large_eps: dict  # {"eps", "n_correct", "n_evaluated"}
    restarts: dict  # {"eps", "restarts", "single": counts, "all": counts}
    spsa: dict  # {"eps", "spsa": counts, "pgd": counts}
    zero_gradients: (
        dict  # {"jitter", "clean", "jittered"}: per-digit fractions of exactly-0 entries {"mean", "sd", "n_digits"}
    )
    single_step: dict  # {"eps", "alpha", "fgsm", "jittered_fgsm", "rfgsm": counts}
    momentum: dict  # {"eps", "mim", "mim_random_start": counts}
    loss: dict  # {"eps", "cross_entropy", "margin": counts} (PGD)
    eot: dict | None = None  # a model that samples: {"eps", "draws", "one_sample", "eot", "eot_4x": counts} (PGD)
    lineage: dict | None = None  # what the record was made from (module docstring); the key is always in the file
    autoattack: dict | None = None  # a deterministic model: {"eps", "autoattack", "pgd": counts, "certified"}

    @classmethod
    def _check(cls, payload: dict[str, Any], where: str) -> None:
        check_json(payload, cls.SCHEMA, where)
        if "lineage" not in payload:
            raise DataError(f"{where} must hold the key 'lineage' (null: not recorded); got keys {sorted(payload)}")
        check_lineage(payload["lineage"], where)
        paths = _COUNT_PATHS
        if payload.get("eot") is not None:
            check_json(payload["eot"], _EOT_SCHEMA, where, "eot.")
            paths += (("eot", "one_sample"), ("eot", "eot"), ("eot", "eot_4x"))
        if payload.get("autoattack") is not None:
            check_json(payload["autoattack"], _AUTOATTACK_SCHEMA, where, "autoattack.")
            paths += (("autoattack", "autoattack"), ("autoattack", "pgd"))
        for keys in paths:
            counts = reduce(dict.__getitem__, keys, payload)
            if not 0 <= counts["n_correct"] <= counts["n_evaluated"]:
                raise DataError(
                    f"{'.'.join(keys)} of {where} must count 0 <= n_correct <= n_evaluated; "
                    f"got {counts['n_correct']} correct of {counts['n_evaluated']}"
                )


@dataclass(frozen=True)
class CertifiedRadii(JsonArtifact):
    """The certified L-infinity radius of each of a model's attacked digits (robqunn.exact.certified_radii): it lies
    in [lower, upper]; ``decided`` where upper - lower <= resolution (a digit branch and bound left undecided at a
    midpoint keeps a wider bracket)."""

    WHAT = "certified radii"
    SCHEMA = {
        "model": "a string",
        "seed": "an integer",
        "resolution": "a number",
        "labels": "a list of numbers",
        "lower": "a list of numbers",
        "upper": "a list of numbers",
    }

    model: str
    seed: int
    resolution: float
    labels: list[int]
    lower: list[float]
    upper: list[float]
    lineage: dict | None = None

    @property
    def decided(self) -> np.ndarray:
        return np.asarray(self.upper) - np.asarray(self.lower) <= self.resolution

    def summary(self) -> dict[str, float]:
        """The radii in numbers: the median's bracket and the fraction of digits bracketed to the resolution (the
        radius run's MLflow metrics, and a row of the study's radii table)."""
        return {
            "median_radius_lower": float(np.median(self.lower)),
            "median_radius_upper": float(np.median(self.upper)),
            "decided_fraction": float(self.decided.mean()),
        }

    def certified(self, eps: float) -> np.ndarray:
        """(N,) certified robust at ``eps``: lower >= eps > 0; at eps 0, a positive lower bound or a decided bracket
        above 0 (a digit broken below the resolution; conservative where bisection stopped undecided)."""
        lower, upper = np.asarray(self.lower), np.asarray(self.upper)
        return lower >= eps if eps > 0 else (lower > 0) | (self.decided & (upper > 0))

    @classmethod
    def _check(cls, payload: dict[str, Any], where: str) -> None:
        check_json(payload, cls.SCHEMA, where)
        check_lineage(payload.get("lineage"), where)
        lower, upper = np.asarray(payload["lower"], float), np.asarray(payload["upper"], float)
        if not len(lower) == len(upper) == len(payload["labels"]):
            raise DataError(
                f"{where} must hold as many lower and upper radii as labels; got {len(lower)}, {len(upper)} "
                f"and {len(payload['labels'])}"
            )
        if not np.all((lower >= 0) & (lower <= upper) & (upper <= 1)):
            raise DataError(f"{where} must hold brackets 0 <= lower <= upper <= 1 for every digit")
