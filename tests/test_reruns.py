"""A change reruns exactly what reads it: every params key changed on the finished tiny study, the jobs that
`snakemake -n` plans compared with those whose stages read the key (robqunn.registry), and the stages that
`dvc status` names after `dvc commit` compared with the stages whose dvc.yaml params hold it.

The table below is the documentation of what each knob reruns (docs/usage.md points here)."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from conftest import REPO, job_counts, snakemake
from robqunn import registry
from robqunn.config import leaf_keys

pytestmark = pytest.mark.e2e

#: One new value per key of params.yaml (the tiny profile's values changed); keys changed together share a row.
CHANGES: dict[tuple[str, ...], tuple] = {
    ("ansatz_metrics.n_bins",): (50,),
    ("ansatz_metrics.n_images",): (4,),
    ("ansatz_metrics.n_samples",): (90,),
    ("attack.batch_size",): (50,),
    ("attack.n_images",): (90,),
    ("attack.transfer_between_qunns",): (True,),
    ("attack.pgd.nb_iter",): (9,),
    ("attack.pgd.eps_iter_fraction",): (0.2,),
    ("attack.pgd.rand_init",): (False,),
    ("attack.mim.nb_iter",): (4,),
    ("attack.mim.eps_iter_fraction",): (0.3,),
    ("attack.mim.decay_factor",): (0.9,),
    ("checks.attack_gap_tolerance",): (0.1,),
    ("checks.eps",): (0.05,),
    ("checks.jitter",): (0.01,),
    ("checks.large_eps",): (0.4,),
    ("checks.large_eps_max_accuracy",): (0.2,),
    ("checks.max_zero_gradient_fraction",): (0.02,),
    ("checks.n_images",): (40,),
    ("checks.restarts",): (3,),
    ("checks.rfgsm_alpha_fraction",): (0.4,),
    ("checks.spsa.delta",): (0.02,),
    ("checks.spsa.learning_rate",): (0.02,),
    ("checks.spsa.n_images",): (3,),
    ("checks.spsa.nb_iter",): (4,),
    ("checks.spsa.spsa_samples",): (32,),
    ("checks.autoattack.max_iter",): (4,),
    ("checks.autoattack.restarts",): (2,),
    ("checks.autoattack.square_queries",): (10,),
    ("circuit.cnn_bias",): ("torch_default",),
    ("circuit.cnn_bias_scale",): (0.02,),
    ("circuit.kernel_size", "circuit.stride"): (1, 1),
    ("circuit.random_layers_ratio_imprim",): (0.5,),
    ("circuit.random_layers_seed",): (7,),
    ("circuit.zz_phi",): (0.5,),
    ("claims.alike_margin",): (0.1,),
    ("data.n_test",): (120,),
    ("data.n_train",): (180,),
    ("data.source", "data.idx_dir"): ("idx", "/usr/share/datasets/fashion-mnist"),
    ("exact.batch_size",): (50,),
    ("exact.budget",): (1000,),
    ("exact.tolerance",): (1e-3,),
    ("exact.radius_resolution",): (0.01,),
    ("noise.eot_draws",): (3,),
    ("noise.eval_draws",): (3,),
    ("train.batch_size",): (8,),
    ("train.epochs",): (2,),
    ("train.learning_rate",): (0.002,),
    ("train.robust.eps",): (0.05,),
    ("train.robust.ramp_epochs",): (0,),
    ("train.robust.epochs",): (1,),
    ("train.robust.batch_size",): (40,),
    ("train.robust.learning_rate",): (0.002,),
    ("train.robust.pgd.nb_iter",): (4,),
    ("train.robust.pgd.eps_iter_fraction",): (0.3,),
    ("train.robust.pgd.rand_init",): (False,),
    ("tracking.enabled",): (False,),
    ("tracking.experiment",): ("another",),
    ("sweep.n_boot",): (60,),
    ("sweep.n_images",): (40,),
    ("sweep.eps",): ([0.03],),
    ("sweep.ansatze",): (["none"],),
    ("sweep.layouts",): (["rot_ent"],),
    ("sweep.n_draws",): (2,),
    ("sweep.n_validation",): (20,),
    ("bench.attack_images",): (40,),
    ("bench.n_images",): (3,),
    ("bench.n_images_per_patch",): (2,),
    ("bench.repeats",): (2,),
    ("bench.model",): ("qunn-random-ent_rot",),
    ("bench.hardware_model",): ("qunn-full-ent_rot-dep0.05-shots64",),
}
#: Keys whose change adds or removes jobs and files rather than rerunning existing ones (registry grids), the
#: job cut (other rules, same files) and the switch to the sweep: their plans are tested in test_workflow.py.
#: claims.low_eps must be a positive eps of every grid, and the tiny grids hold one (0.1): its only reader is
#: the aggregate stage (registry), whose plan the other claims key shows.
NOT_IN_TABLE = set(registry.MODEL_GRID + registry.ATTACK_GRIDS) | {"exact.eps", "workflow.jobs", "sweep.run"}
NOT_IN_TABLE |= {"claims.low_eps"}

#: The per_model cut's jobs downstream of each job (Snakemake plans them once their input is rewritten).
DOWNSTREAM = {
    "prepare": ("model_train", "model_attacks", "evaluate", "figures", "ansatz_metrics", "aggregate"),
    "model_train": ("model_attacks", "evaluate", "figures", "aggregate"),
    "model_attacks": ("evaluate", "figures", "aggregate"),
    "evaluate": ("figures", "aggregate"),
    "ansatz_metrics": ("aggregate",),
    "figures": (),
    "circuits": (),
    "aggregate": (),
}
PER_MODEL_JOBS = ("model_train", "model_attacks")


def tiny_config(folder: Path) -> dict:
    return yaml.safe_load((folder / "params.yaml").read_text())


def direct_jobs(config: dict, keys: tuple[str, ...]) -> set[tuple[str, str | None]]:
    """The (job, model) pairs of the per_model cut whose stages read one of ``keys`` (robqunn.registry)."""
    from robqunn.config import model_names, params_from_dict

    models = model_names(params_from_dict(config))
    direct: set[tuple[str, str | None]] = set()
    for job in DOWNSTREAM:
        for model in models if job in PER_MODEL_JOBS else [None]:
            reads = registry.job_keys(job, [model] if model else models)
            if any(registry.reads_key(reads, key) for key in keys):
                direct.add((job, model))
    return direct


def expected_plan(config: dict, keys: tuple[str, ...]) -> dict[str, int]:
    """{job: count} that a change of ``keys`` must plan, from the registry: the jobs that read one of them,
    then every job downstream of those (a model's downstream jobs are its own and the per-seed ones)."""
    from robqunn.config import model_names, params_from_dict

    models = model_names(params_from_dict(config))
    direct = direct_jobs(config, keys)
    planned = set(direct)
    for job, model in direct:
        for after in DOWNSTREAM[job]:
            if after in PER_MODEL_JOBS:
                planned |= {(after, m) for m in ([model] if model else models)}
            else:
                planned.add((after, None))
    counts: dict[str, int] = {}
    for job, _ in planned:
        counts[job] = counts.get(job, 0) + 1
    return counts | ({"all": 1} if counts else {})


def changed(config: dict, keys: tuple[str, ...], values: tuple) -> dict:
    config = yaml.safe_load(yaml.safe_dump(config))
    for key, value in zip(keys, values, strict=True):
        *sections, name = key.split(".")
        node = config
        for section in sections:
            node = node[section]
        node[name] = value
    return config


@pytest.fixture(scope="module")
def finished_copies(tiny_workflow, tmp_path_factory):
    """Two copies of the finished tiny study (modification times kept), one per concurrent dry run."""
    copies = []
    for i in range(2):
        folder = tmp_path_factory.mktemp(f"reruns{i}") / "study"
        shutil.copytree(tiny_workflow, folder, ignore=shutil.ignore_patterns("mlflow.db", "mlartifacts"))
        copies.append(folder)
    return copies


def test_the_table_covers_every_key():
    """Every leaf key of params.yaml is in the table or named as a grid key; the registry declares each one."""
    config = yaml.safe_load((REPO / "params.yaml").read_text())
    in_table = {key for keys in CHANGES for key in keys}
    for key in leaf_keys(config):
        assert key in in_table or key in NOT_IN_TABLE, f"{key}: add a row to CHANGES"
        assert registry.declared(key), f"{key}: no stage of robqunn.registry declares it"


def test_each_change_plans_exactly_the_jobs_that_read_it(finished_copies):
    """`snakemake -n` after each change plans the jobs the registry says read it, and nothing else."""
    base = tiny_config(finished_copies[0])

    def plan(task):
        (keys, values), folder = task
        config = changed(base, keys, values)
        folder_params = folder / "params.yaml"
        folder_params.write_text(yaml.safe_dump(config))
        result = snakemake(folder, "-n")
        assert result.returncode == 0, (keys, result.stderr[-2000:])
        return keys, job_counts(result.stdout + result.stderr), expected_plan(config, keys)

    rows = list(CHANGES.items())
    with ThreadPoolExecutor(2) as pool:
        results = []
        for start in range(0, len(rows), 2):
            tasks = list(zip(rows[start : start + 2], finished_copies, strict=False))
            results += list(pool.map(plan, tasks))
    wrong = {keys: (planned, expected) for keys, planned, expected in results if planned != expected}
    assert not wrong, "\n".join(f"{k}: planned {p}, registry says {e}" for k, (p, e) in wrong.items())


def dvc_changed_stages(folder: Path) -> set[str]:
    """The stages `dvc status` reports changed (DVC's Python API: one process for the whole table)."""
    from dvc.repo import Repo

    with Repo(str(folder)) as repo:
        return {address.rsplit(":", 1)[-1].split("@")[0] for address in repo.status()}


def direct_stages(config: dict, keys: tuple[str, ...]) -> set[str]:
    """The stages, within the jobs Snakemake reruns for a change of ``keys``, that read one of them."""
    from robqunn.config import model_names, params_from_dict

    models = model_names(params_from_dict(config))
    stages = set()
    for job, model in direct_jobs(config, keys):
        for stage in registry.stages_of(job):
            reads = stage.keys_read([model] if model else models)
            if any(registry.reads_key(reads, key) for key in keys):
                stages.add(stage.name)
    return stages


def test_dvc_status_names_the_stages_of_those_jobs(finished_copies):
    """After the Snakemake run recorded dvc.lock, each change makes `dvc status` name exactly the stages that
    read it within the jobs Snakemake reruns (a per-model job runs several: robqunn.registry.COMPOSITE_JOBS)."""
    folder = finished_copies[0]
    original = (folder / "params.yaml").read_text()
    base = yaml.safe_load(original)
    assert dvc_changed_stages(folder) == set()
    wrong = {}
    try:
        for keys, values in CHANGES.items():
            (folder / "params.yaml").write_text(yaml.safe_dump(changed(base, keys, values)))
            expected = direct_stages(base, keys)
            found = dvc_changed_stages(folder)
            if found != expected:
                wrong[keys] = (found, expected)
    finally:
        (folder / "params.yaml").write_text(original)
    assert not wrong, "\n".join(f"{k}: dvc status names {f}, Snakemake reruns {e}" for k, (f, e) in wrong.items())
