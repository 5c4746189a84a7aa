"""Incremental work inside a stage: an output that is current (its lineage: the same model file, digits, params
read and code) is kept, the rest computed, and what is kept is what a fresh run writes, byte for byte."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from robqunn import stages
from robqunn.artifacts import AdversarialSet, ChecksRecord
from robqunn.config import load_params
from robqunn.errors import DataError
from robqunn.vocabulary import AttackName

SEED = 42
N_IMAGES = 20  # attacked and verified digits: enough for every kind of output, in seconds


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny params, the attacks and checks shrunk further, and the eps grids [0, 0.1]."""
    from conftest import TINY_CHANGES, write_params

    params = load_params(write_params(tmp_path_factory.mktemp("params") / "params.yaml", TINY_CHANGES))
    attack = dataclasses.replace(params.attack, n_images=N_IMAGES)
    checks = dataclasses.replace(params.checks, n_images=N_IMAGES)
    return dataclasses.replace(params, attack=attack, checks=checks)


@pytest.fixture(scope="module")
def cnn(tiny, tmp_path_factory) -> stages.job.Job:
    """The CNN trained on the tiny digits: its Job (model file, prepared data)."""
    folder = tmp_path_factory.mktemp("cnn")
    data = folder / "seed42.npz"
    stages.prepare.run(tiny.data, SEED, data)
    job = stages.job.Job(SEED, data, model="cnn", model_file=folder / "cnn.keras")
    stages.features.run(tiny.circuit, job, folder / "features.npz")
    stages.train.run(tiny.circuit, tiny.train, job, folder / "features.npz", folder / "metrics.json")
    return job


@pytest.fixture
def calls(monkeypatch) -> Counter:
    """Counts of the work the stages do: ``(attack, eps)`` per set crafted, ``("exact", eps)`` per eps verified,
    ``"radius"`` per bracketing of the certified radii, ``"checks"`` per run of the checks' extra attacks."""
    from robqunn import attacks, exact, extra_attacks

    counted: Counter = Counter()

    def spy(module, name, key):
        real = getattr(module, name)

        def called(*args, **kwargs):
            counted[key(args)] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, called)

    spy(attacks, "craft", lambda args: (AttackName(args[3]).value, args[4]))
    spy(exact, "verify", lambda args: ("exact", args[3]))
    spy(exact, "certified_radii", lambda args: "radius")
    spy(extra_attacks, "extra_attacks", lambda args: "checks")
    return counted


def with_eps(tiny, attack: AttackName, grid: tuple[float, ...]) -> stages.attack.AttackJob:
    settings = dataclasses.replace(tiny.attack.of(attack), eps=grid)
    return dataclasses.replace(stages.attack.AttackJob.of(tiny.attack, attack), settings=settings)


def files(folder: Path) -> dict[str, tuple[str, int]]:
    """(sha256, mtime in ns) of every file under ``folder``, by its path relative to it."""
    return {
        str(path.relative_to(folder)): (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def digests(folder: Path) -> dict[str, str]:
    return {name: digest for name, (digest, _) in files(folder).items()}


def outputs(folder: Path) -> stages.model_attacks.ModelAttacksOutputs:
    """Where :func:`stages.model_attacks.run` writes in ``folder``."""
    attack_dirs = {attack: folder / attack.value for attack in AttackName}
    return stages.model_attacks.ModelAttacksOutputs(
        attack_dirs, folder / "exact.csv", folder / "exact", folder / "radii.json", folder / "checks.json"
    )


def job_settings(tiny) -> stages.model_attacks.ModelAttacksSettings:
    attacks = [stages.attack.AttackJob.of(tiny.attack, attack) for attack in AttackName]
    return stages.model_attacks.ModelAttacksSettings(attacks, tiny.exact, N_IMAGES, tiny.checks, tiny.attack.steps)


class TestAttack:
    """A set depends on its own eps, its model, digits and attack settings: nothing else reruns it."""

    def test_one_more_eps_crafts_that_eps_alone(self, tiny, cnn, calls, tmp_path, caplog):
        """[0, 0.1] then [0, 0.1, 0.2]: the first two sets kept (bytes and mtime), PGD run for 0.2 alone, and
        every set the bytes of a fresh run over [0, 0.1, 0.2]."""
        stages.attack.run(with_eps(tiny, AttackName.PGD, (0.0, 0.1)), cnn, tmp_path / "pgd")
        before = files(tmp_path / "pgd")
        calls.clear()
        with caplog.at_level(logging.INFO, logger="robqunn.stages"):
            written = stages.attack.run(with_eps(tiny, AttackName.PGD, (0.0, 0.1, 0.2)), cnn, tmp_path / "pgd")
        assert dict(calls) == {("pgd", 0.2): 1}
        assert {name: files(tmp_path / "pgd")[name] for name in before} == before
        assert f"current, kept: {tmp_path / 'pgd' / 'eps0.1.npz'}" in caplog.text
        assert [path.name for path in written] == ["eps0.npz", "eps0.1.npz", "eps0.2.npz"]
        stages.attack.run(with_eps(tiny, AttackName.PGD, (0.0, 0.1, 0.2)), cnn, tmp_path / "fresh")
        assert digests(tmp_path / "pgd") == digests(tmp_path / "fresh")

    def test_a_set_records_its_settings_without_the_grid(self, tiny, cnn, tmp_path):
        """A set records PGD's steps, not the eps grid, and a lineage of its inputs, params and code."""
        (path,) = stages.attack.run(with_eps(tiny, AttackName.PGD, (0.1,)), cnn, tmp_path)
        adversarial = AdversarialSet.load(path)
        assert adversarial.settings == dataclasses.asdict(tiny.attack.pgd.steps)
        assert set(adversarial.lineage) == {"inputs", "params_sha256", "code_sha256"}
        assert adversarial.lineage["inputs"]["model"] == adversarial.model_sha256

    def test_an_attack_setting_recomputes_that_attack_alone(self, tiny, cnn, calls, tmp_path):
        """attack.pgd.nb_iter changed: every PGD set crafted again, every FGSM set kept."""
        grid = (0.0, 0.1)
        for attack in (AttackName.FGSM, AttackName.PGD):
            stages.attack.run(with_eps(tiny, attack, grid), cnn, tmp_path / attack.value)
        calls.clear()
        pgd = with_eps(tiny, AttackName.PGD, grid)
        pgd = dataclasses.replace(pgd, settings=dataclasses.replace(pgd.settings, nb_iter=pgd.settings.nb_iter + 1))
        stages.attack.run(with_eps(tiny, AttackName.FGSM, grid), cnn, tmp_path / "fgsm")
        stages.attack.run(pgd, cnn, tmp_path / "pgd")
        assert dict(calls) == {("pgd", 0.0): 1, ("pgd", 0.1): 1}

    def test_a_tracked_run_logs_the_kept_sets_too(self, tiny, cnn, tmp_path):
        """The MLflow run of a rerun that kept every set still holds the whole curve, the fresh run's numbers."""
        from mlflow.tracking import MlflowClient

        from robqunn.config import TrackingParams
        from robqunn.tracking import experiment_id

        tracked = dataclasses.replace(cnn, tracking=TrackingParams(True, "incremental"))
        grid = (0.0, 0.1)
        stages.attack.run(with_eps(tiny, AttackName.FGSM, grid), tracked, tmp_path)
        first = MlflowClient().search_runs([experiment_id("incremental")], order_by=["attributes.start_time DESC"])
        stages.attack.run(with_eps(tiny, AttackName.FGSM, grid), tracked, tmp_path)
        second = MlflowClient().search_runs([experiment_id("incremental")], order_by=["attributes.start_time DESC"])
        metrics = {key: value for key, value in second[0].data.metrics.items() if key.startswith("accuracy_eps")}
        assert set(metrics) == {"accuracy_eps_0", "accuracy_eps_0.1"}
        assert metrics == {key: first[0].data.metrics[key] for key in metrics}


class TestJobCuts:
    """workflow.jobs per_eps crafts each eps in a job of its own, per_model the whole grid in one: the same set."""

    def test_a_finite_shot_model_crafts_the_same_set_alone_or_in_its_grid(self, tiny, tmp_path):
        """A model that samples draws its shots from a seed of the (model, attack, eps), reset before each use
        (robqunn.quanv.reseed): its set of eps 0.1 has the same bytes crafted after eps 0 or alone."""
        data = tmp_path / "seed42.npz"
        stages.prepare.run(tiny.data, SEED, data)
        name = "qunn-full-ent_rot-shots64"
        job = stages.job.Job(SEED, data, model=name, model_file=tmp_path / f"{name}.keras", noise=tiny.noise)
        stages.features.run(tiny.circuit, job, tmp_path / "features.npz")
        stages.train.run(tiny.circuit, tiny.train, job, tmp_path / "features.npz", tmp_path / "metrics.json")
        pgd = with_eps(tiny, AttackName.PGD, (0.0, 0.1))
        stages.attack.run(pgd, job, tmp_path / "grid")
        stages.attack.run(pgd, job, tmp_path / "alone", (0.1,))
        assert set(digests(tmp_path / "alone")) == {"eps0.1.npz"}
        assert digests(tmp_path / "alone")["eps0.1.npz"] == digests(tmp_path / "grid")["eps0.1.npz"]


class TestExact:
    def test_one_more_eps_verifies_that_eps_alone(self, tiny, cnn, calls, tmp_path):
        """exact.eps [0, 0.1] then [0, 0.1, 0.2]: 0.2 alone verified; the table and the sets are a fresh run's."""
        longer = dataclasses.replace(tiny.exact, eps=(0.0, 0.1, 0.2))
        stages.exact.run(
            dataclasses.replace(tiny.exact, eps=(0.0, 0.1)), N_IMAGES, cnn, tmp_path / "a.csv", tmp_path / "a"
        )
        calls.clear()
        stages.exact.run(longer, N_IMAGES, cnn, tmp_path / "a.csv", tmp_path / "a")
        assert dict(calls) == {("exact", 0.2): 1}
        stages.exact.run(longer, N_IMAGES, cnn, tmp_path / "b.csv", tmp_path / "b")
        assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
        assert digests(tmp_path / "a") == digests(tmp_path / "b")

    def test_a_batch_size_keeps_every_set(self, tiny, cnn, calls, tmp_path):
        """exact.batch_size (memory only) neither reruns the verification nor is recorded in a set."""
        stages.exact.run(tiny.exact, N_IMAGES, cnn, tmp_path / "a.csv", tmp_path / "a")
        calls.clear()
        other = dataclasses.replace(tiny.exact, batch_size=tiny.exact.batch_size + 1)
        table = stages.exact.run(other, N_IMAGES, cnn, tmp_path / "a.csv", tmp_path / "a")
        assert not calls and list(table["eps"]) == list(tiny.exact.eps)
        assert AdversarialSet.load(tmp_path / "a" / "eps0.1.npz").settings == {"budget": tiny.exact.budget} | {
            "tolerance": tiny.exact.tolerance
        }


class TestModelAttacks:
    """The per-model job: each of its outputs is kept or computed on its own."""

    def test_a_checks_key_reruns_the_checks_alone(self, tiny, cnn, calls, tmp_path):
        """checks.restarts changed: the checks record alone is written again (the checks verify AutoAttack's digits
        at checks.eps themselves); no set crafted, no exact set verified, no radius bracketed."""
        stages.model_attacks.run(job_settings(tiny), cnn, outputs(tmp_path))
        before = files(tmp_path)
        calls.clear()
        checks = dataclasses.replace(tiny.checks, restarts=tiny.checks.restarts + 1)
        stages.model_attacks.run(dataclasses.replace(job_settings(tiny), checks=checks), cnn, outputs(tmp_path))
        assert dict(calls) == {"checks": 1, ("exact", tiny.checks.eps): 1}
        after = files(tmp_path)
        assert [name for name in before if after[name] != before[name]] == ["checks.json", "exact.csv"]
        assert after["exact.csv"][0] == before["exact.csv"][0]  # rebuilt from the kept sets: the same bytes
        assert ChecksRecord.load(tmp_path / "checks.json").restarts["restarts"] == checks.restarts

    def test_another_model_file_makes_every_output_stale(self, tiny, cnn, calls, tmp_path):
        """Another model file (its weights changed, its lineage kept): every set crafted and verified again,
        the checks run again."""
        job = dataclasses.replace(cnn, model_file=tmp_path / "cnn.keras", data=tmp_path / "seed42.npz")
        for source in (cnn.model_file, cnn.data, cnn.data.with_suffix(".json")):  # the digits and their sidecar
            shutil.copy(source, tmp_path)
        stages.model_attacks.run(job_settings(tiny), job, outputs(tmp_path / "out"))
        first = Counter(calls)
        calls.clear()
        change_input(job, "model")
        stages.model_attacks.run(job_settings(tiny), job, outputs(tmp_path / "out"))
        assert calls == first and set(first) == {(a.value, eps) for a in AttackName for eps in (0.0, 0.1)} | {
            ("exact", 0.0),
            ("exact", 0.1),
            "radius",
            "checks",
        }

    def test_other_digits_refuse_the_model_trained_on_the_old_ones(self, tiny, cnn, tmp_path):
        """Other prepared digits: every output is stale, and the model, trained on the old digits (its lineage),
        is refused before any attack (Snakemake or DVC retrains it first)."""
        job = dataclasses.replace(cnn, model_file=tmp_path / "cnn.keras", data=tmp_path / "seed42.npz")
        for source in (cnn.model_file, cnn.data, cnn.data.with_suffix(".json")):
            shutil.copy(source, tmp_path)
        stages.model_attacks.run(job_settings(tiny), job, outputs(tmp_path / "out"))
        change_input(job, "data")
        with pytest.raises(DataError, match=r"cnn\.keras must have been trained with data_sha256"):
            stages.model_attacks.run(job_settings(tiny), job, outputs(tmp_path / "out"))


def change_input(job: stages.job.Job, which: str) -> None:
    """Change ``job``'s model file (one weight) or its prepared digits (the first two test digits swapped)."""
    from robqunn.data import Dataset
    from robqunn.models import load_model, model_lineage, save_model

    if which == "model":
        model = load_model(job.model_file, job.model)
        weights = model.get_weights()
        weights[-1] = weights[-1] + np.float32(1e-3)
        model.set_weights(weights)
        save_model(model, job.model_file, model_lineage(job.model_file))
        return
    dataset = Dataset.load(job.data)
    order = np.r_[1, 0, 2 : len(dataset.y_test)]
    swapped = dataclasses.replace(dataset, x_test=dataset.x_test[order], y_test=dataset.y_test[order])
    swapped.save(job.data, {"source": "test", "idx_dir": None, "seed": SEED})


class TestBenchmark:
    """`robqunn bench workflow` times the reruns after a change against the cold run."""

    def test_reruns_against_the_cold_run(self):
        """Each rerun's wall time and its jobs' CPU against the cold run's, per rule; the baseline ratio last."""
        from robqunn.bench.workflow import RuleCost, RunTiming, format_workflow_timings

        cold_costs = [RuleCost("model_attacks", 2, 40.0, 900.0), RuleCost("evaluate", 1, 5.0, 600.0)]
        rerun_costs = (RuleCost("model_attacks", 2, 10.0, 800.0),)
        timings = [
            RunTiming("cold", 100.0, "10 of 10", 180.0),
            RunTiming("nothing to do", 1.0, "nothing to be done", 2.0),
            RunTiming("one more PGD eps", 25.0, "5 of 5", None, rerun=True, costs=rerun_costs),
            RunTiming("one process", 50.0, "-", None),
        ]
        lines = format_workflow_timings(timings, cold_costs).splitlines()
        rerun = lines.index(
            "one more PGD eps: 0.25x the cold run's wall time; its jobs 10.0 CPU s, 0.22x the cold run's"
        )
        assert lines[rerun + 1].split() == "model_attacks 2 jobs 5.00 CPU s a job, cold run 20.00".split()
        assert lines.index("cold workflow / one-process study: 2.00x") > rerun

    def test_the_changes(self, tmp_path):
        """One more PGD eps halfway between the last two, one more restart of the checks; a change is written
        into the last params file a run reads, beside what it holds."""
        import yaml

        from robqunn.bench.workflow import CHANGES, _set_param

        params = {"attack": {"pgd": {"eps": [0.0, 0.1, 0.2]}}, "checks": {"restarts": 2}}
        assert CHANGES["one more PGD eps"](params) == ("attack.pgd.eps", [0.0, 0.1, 0.15, 0.2])
        assert CHANGES["a checks key changed"](params) == ("checks.restarts", 3)
        overlay = tmp_path / "params.yaml"
        overlay.write_text("attack:\n  n_images: 5\n")
        _set_param(overlay, "attack.pgd.eps", [0.0, 0.05])
        assert yaml.safe_load(overlay.read_text()) == {"attack": {"n_images": 5, "pgd": {"eps": [0.0, 0.05]}}}
