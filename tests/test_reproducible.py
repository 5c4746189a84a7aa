"""Byte-reproducible outputs: the same inputs and params give the same bytes in every file a stage writes,
whenever it runs and whatever the process did before, so that the hashes DVC, MLflow and later files
record (an adversarial set records its model file's sha256) change only with the content."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import TINY_CHANGES, write_params
from robqunn import plots, stages
from robqunn.config import load_params
from robqunn.models import KERAS_METADATA, SAVED_DATE, build_model, load_model, predict, save_model
from robqunn.vocabulary import AttackName, ModelSpec

SEED = 42
MODELS = ("cnn", "qunn-full-ent_rot")
N_IMAGES = 10  # attacked and verified digits: every kind of file, in seconds
A_DAY = 86400.0


def later_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Move time.time a day on, so that anything that dates a file (zipfile's writestr) dates it otherwise."""
    clock = time.time
    monkeypatch.setattr(time, "time", lambda: clock() + A_DAY)


def run_stages(params, folder: Path) -> None:
    """prepare -> features and train of a CNN and a QuNN -> FGSM and exact verification of the CNN on its first
    digits -> evaluate -> a figure (what the figures stage draws, as PNG and SVG), every output in ``folder``."""
    data = folder / "data" / "seed42.npz"
    stages.prepare.run(params.data, SEED, data)
    models = {name: folder / "models" / f"{name}.keras" for name in MODELS}
    for name, model_file in models.items():
        job = stages.job.Job(SEED, data, model=name, model_file=model_file)
        features = folder / "features" / f"{name}.npz"
        stages.features.run(params.circuit, job, features)
        stages.train.run(params.circuit, params.train, job, features, folder / "train" / f"{name}.json")
    cnn = stages.job.Job(SEED, data, model="cnn", model_file=models["cnn"])
    fgsm = dataclasses.replace(stages.attack.AttackJob.of(params.attack, AttackName.FGSM), n_images=N_IMAGES)
    sets = stages.attack.run(fgsm, cnn, folder / "adversarial" / "fgsm" / "cnn")
    stages.exact.run(
        params.exact, N_IMAGES, cnn, folder / "exact" / "cnn.csv", folder / "adversarial" / "exact" / "cnn"
    )
    sets += sorted((folder / "adversarial" / "exact" / "cnn").glob("*.npz"))
    table = folder / "tables" / "results.csv"
    stages.evaluate.run(stages.evaluate.EvaluateSettings(params.attack), models, sets, data, table)
    plots.whitebox_figure(pd.read_csv(table), AttackName.FGSM.value, folder / "figures" / "whitebox_fgsm")


def digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder``, by its path relative to it."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    """The stages run twice in this process into two folders, the second a day later by the clock."""
    root = tmp_path_factory.mktemp("reproducible")
    params = load_params(write_params(root / "params.yaml", TINY_CHANGES))
    with pytest.MonkeyPatch.context() as monkeypatch:
        run_stages(params, root / "first")
        later_clock(monkeypatch)
        run_stages(params, root / "second")
    return root / "first", root / "second"


class TestStages:
    """Every file the stages write, twice, has the same sha256."""

    def test_every_output_has_the_same_bytes(self, two_runs):
        """The same files, each with the same sha256 in both runs."""
        first, second = map(digests, two_runs)
        assert sorted(first) == sorted(second)
        assert [name for name in first if first[name] != second[name]] == []

    def test_every_kind_of_output_is_compared(self, two_runs):
        """The runs wrote every kind of file: digits, features and sets (.npz), models, metrics and sidecars,
        tables (CSV, Parquet) and figures (PNG, SVG)."""
        suffixes = {path.suffix for path in two_runs[0].rglob("*") if path.is_file()}
        assert suffixes == {".npz", ".keras", ".json", ".csv", ".parquet", ".png", ".svg"}

    def test_training_metrics_hold_no_timing(self, two_runs):
        """The training metrics file holds what training gave, not how long it took (the MLflow run does)."""
        metrics = json.loads((two_runs[0] / "train" / "cnn.json").read_text())
        assert not [key for key in metrics if "seconds" in key]


class TestSavedModel:
    """A .keras file's bytes depend on the model alone."""

    def test_same_model_same_bytes(self, params, tmp_path, monkeypatch):
        """Two builds of one model save to the same bytes though the second is saved a day later by the clock,
        after the process built another model (Keras numbers unnamed layers by what a process built before), and
        with another dtype policy object (Keras records the objects layers share by their memory address, which
        another process gives them); the file records no save date and loads as the model."""
        import keras

        spec = ModelSpec.from_name("cnn")
        model = build_model(spec, params.circuit, SEED)
        save_model(model, tmp_path / "a.keras")
        later_clock(monkeypatch)
        build_model(spec, params.circuit, SEED + 1)
        policy = keras.config.dtype_policy()
        keras.config.set_dtype_policy(keras.DTypePolicy(policy.name))
        try:
            save_model(build_model(spec, params.circuit, SEED), tmp_path / "b.keras")
        finally:
            keras.config.set_dtype_policy(policy)
        assert (tmp_path / "a.keras").read_bytes() == (tmp_path / "b.keras").read_bytes()
        with zipfile.ZipFile(tmp_path / "a.keras") as archive:
            assert json.loads(archive.read(KERAS_METADATA))["date_saved"] == SAVED_DATE
        x = np.random.default_rng(0).random((4, 28, 28), dtype=np.float32)
        np.testing.assert_array_equal(predict(load_model(tmp_path / "a.keras", "cnn"), x), predict(model, x))
