"""Tests of robqunn.registry: each stage's params keys, declared once, and what derives from them."""

from __future__ import annotations

import pytest
import yaml

from conftest import REPO
from robqunn import dvcfile, registry
from robqunn.config import leaf_keys, lookup, overridden_keys, params_in_force
from robqunn.tracking import RunSource

PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())


@pytest.mark.parametrize("key", leaf_keys(PARAMS))
def test_every_key_of_params_is_declared_once(key):
    """A key is read by some stage, is one of a stage's grid or settings, or is named as read by none; never
    both a results key and a setting of one stage."""
    assert registry.declared(key), f"{key}: declare it in robqunn.registry.STAGES"
    for stage in registry.STAGES.values():
        assert not (set(stage.all_keys()) & set(stage.settings)), stage.name


def test_every_declared_key_exists():
    """The registry names no key that params.yaml lacks (a typo would silently trigger nothing)."""
    for stage in registry.STAGES.values():
        for key in stage.all_keys() + stage.settings:
            lookup(PARAMS, key)


@pytest.mark.parametrize(
    "model, present, absent",
    [
        ("cnn", {"circuit.cnn_bias", "circuit.kernel_size"}, {"circuit.zz_phi", "circuit.random_layers_seed"}),
        ("qunn-full-rot_ent", {"circuit.zz_phi"}, {"circuit.cnn_bias", "circuit.random_layers_seed"}),
        ("qunn-none-ent_rot", {"circuit.stride"}, {"circuit.zz_phi", "circuit.random_layers_seed"}),
        ("qunn-random-ent_rot", {"circuit.random_layers_seed"}, {"circuit.zz_phi", "noise.eval_draws"}),
        ("qunn-full-ent_rot-shots64", {"circuit.zz_phi", "noise.eval_draws"}, {"noise.eot_draws"}),
    ],
)
def test_training_reads_only_what_builds_its_model(model, present, absent):
    """zz_phi only for circuits with ZZ gates, RandomLayers' settings only for random, draws only with shots."""
    keys = set(registry.job_keys("model_train", [model]))
    assert present <= keys and not (absent & keys)
    assert not {key for key in keys if key.startswith("tracking.")}


def test_attacks_read_eot_draws_only_for_a_model_that_samples():
    assert "noise.eot_draws" in registry.job_keys("model_attacks", ["qunn-full-ent_rot-shots64"])
    assert "noise.eot_draws" not in registry.job_keys("model_attacks", ["qunn-full-ent_rot-dep0.05"])


def test_a_job_of_one_eps_does_not_read_the_grid():
    """A per-eps attack job reads its attack's steps, not its eps grid: one more eps adds a job, reruns none."""
    whole = registry.job_keys("attack", ["cnn"], "pgd")
    one = registry.job_keys("attack", ["cnn"], "pgd", eps=True)
    assert "attack.pgd.eps" in whole and "attack.pgd.eps" not in one
    assert "attack.pgd.nb_iter" in one and "attack.fgsm.eps" not in whole


def test_composite_jobs_read_the_union_of_their_stages():
    model = ["qunn-full-ent_rot"]
    union = set(registry.job_keys("features", model)) | set(registry.job_keys("train", model))
    assert set(registry.job_keys("model_train", model)) == union


def test_an_unknown_job_is_named():
    with pytest.raises(KeyError, match="no stage or per-model job named 'trian'"):
        registry.stages_of("trian")


@pytest.mark.parametrize(
    "declared, key, expected",
    [(("checks.spsa",), "checks.spsa.delta", True), (("checks.spsa",), "checks.eps", False), (("a.b",), "a.bc", False)],
)
def test_a_section_holds_its_keys(declared, key, expected):
    assert registry.reads_key(declared, key) is expected


def test_values_are_the_job_params():
    assert registry.values(PARAMS, ["train.epochs", "attack.pgd.eps"]) == {
        "train.epochs": PARAMS["train"]["epochs"],
        "attack.pgd.eps": PARAMS["attack"]["pgd"]["eps"],
    }
    with pytest.raises(KeyError, match="params has no key 'train.epoch'"):
        lookup(PARAMS, "train.epoch")


def test_dvc_stages_are_registry_stages():
    """Each DVC stage is a registry stage, its matrix a part of the stage's fan-out (DVC runs every model and
    eps of a seed in one stage)."""
    for stage in dvcfile.STAGES:
        assert set(stage.matrix or {}) <= set(registry.STAGES[stage.name].fan_out), stage.name


def test_params_in_force_names_what_a_profile_overrode(tmp_path):
    """The keys whose value in force differs from params.yaml, each with both values; none: said too."""
    base = tmp_path / "params.yaml"
    base.write_text(yaml.safe_dump(PARAMS))
    merged = yaml.safe_load(yaml.safe_dump(PARAMS))
    assert params_in_force([base], merged, base) == f"params in force: {base} (no key overridden)"
    merged["study"]["ansatze"] = ["full"]
    assert overridden_keys(merged, base) == {"study.ansatze": (PARAMS["study"]["ansatze"], ["full"])}
    message = params_in_force([base, "profile/params.yaml"], merged, base)
    assert message.startswith(f"params in force: {base}, then profile/params.yaml; 1 key(s) differ")
    assert f"study.ansatze: {PARAMS['study']['ansatze']!r} in {base}, ['full'] in force" in message


@pytest.mark.parametrize(
    "origin, key", [("snakemake", "pipeline"), ("dvc", "pipeline"), ("cli", "cli"), ("python", "python")]
)
def test_snakemake_and_dvc_share_a_job_key(origin, key):
    """A job is one MLflow run whichever runner ran it; a manual call keeps a key of its own."""
    assert RunSource(origin, "x", "JOB").job_origin == key
