"""The stage registry: what each stage of the study reads from params.yaml, declared once.

Snakemake's rule ``params:`` (workflow/rules/common.smk, :func:`job_params`), the generated dvc.yaml
(robqunn.dvcfile) and the tests of reruns all derive from :data:`STAGES`, so a stage's rerun triggers
are written in one place. A stage's keys are of three kinds:

- ``reads``: the dotted keys its outputs depend on. They are a Snakemake job's ``params:``, so a change
  reruns exactly the jobs that read it. Some depend on the model (:func:`model_reads`): the CNN reads
  no ``circuit.zz_phi``, only a finite-shot model reads ``noise.eot_draws``.
- ``grid``: the keys that decide which jobs and files exist (seeds, ansaetze, an attack's eps grid). For
  Snakemake they are new or missing files, never a trigger of an existing job; DVC runs a stage over the
  whole grid of a seed, so they are its params there.
- ``settings``: keys a stage reads that never change its outputs (where to track, how many digits per
  verification call). No tool reruns anything for them.

A key that no stage reads (``bench``, ``workflow.jobs``) is in :data:`NOT_READ_BY_STAGES`; every leaf key
of params.yaml is in exactly one of those places (tested), so a new knob has to be declared here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from robqunn.config import lookup
from robqunn.vocabulary import Ansatz, AttackName, ModelSpec, TrainMethod

TRACKING = ("tracking.enabled", "tracking.experiment")
#: The keys that decide which models a seed has: the fan-out of every per-model stage.
MODEL_GRID = (
    "study.seeds",
    "study.ansatze",
    "study.layouts",
    "train.methods",
    "noise.circuits",
    "noise.depolarizing",
    "noise.amplitude_damping",
    "noise.readout",
    "noise.shots",
)
#: The same without the seeds: which models a seed has, which a stage covering every model of a seed reads
#: when its inputs do not show it (the ansatz metrics read only the prepared digits).
SEED_MODELS = MODEL_GRID[1:]
ATTACK_GRIDS = tuple(f"attack.{attack.value}.eps" for attack in AttackName)
#: Keys of params.yaml that no stage of the study reads: the benchmarks', how Snakemake cuts the jobs,
#: and the switch between the study and the sweep.
NOT_READ_BY_STAGES = ("bench", "workflow.jobs", "sweep.run")


def circuit_keys(spec: ModelSpec) -> tuple[str, ...]:
    """The ``circuit`` keys that build ``spec``'s frozen layer: the CNN's bias, or the gates its ansatz has
    (ZZ entanglers for none of the random ansatz's gates, qml.RandomLayers' settings only for it)."""
    keys = ("circuit.kernel_size", "circuit.stride")
    if spec.ansatz is None:
        return keys + ("circuit.cnn_bias", "circuit.cnn_bias_scale")
    if spec.ansatz is Ansatz.RANDOM:
        return keys + ("circuit.random_layers_seed", "circuit.random_layers_ratio_imprim")
    if spec.ansatz is Ansatz.NONE:
        return keys
    return keys + ("circuit.zz_phi",)


def qunn_circuit_keys(spec: ModelSpec) -> tuple[str, ...]:
    """:func:`circuit_keys` of a QuNN; nothing for the CNN (a stage of the circuits alone)."""
    return circuit_keys(spec) if spec.ansatz else ()


STANDARD_TRAINING = ("train.epochs", "train.batch_size", "train.learning_rate")
ROBUST_TRAINING = tuple(
    f"train.robust.{key}" for key in ("eps", "ramp_epochs", "epochs", "batch_size", "learning_rate")
)


def training_keys(spec: ModelSpec) -> tuple[str, ...]:
    """The ``train`` keys of ``spec``'s head: standard training's, or train.robust's (with its PGD steps for pgd)."""
    if spec.method is TrainMethod.STANDARD:
        return STANDARD_TRAINING
    return ROBUST_TRAINING + (("train.robust.pgd",) if spec.method is TrainMethod.PGD else ())


def sampling_keys(spec: ModelSpec, *keys: str) -> tuple[str, ...]:
    """``noise.<key>`` for each key when ``spec`` samples its readout (finite shots), else nothing."""
    return tuple(f"noise.{key}" for key in keys) if spec.shots else ()


PGD_STEPS = ("attack.pgd.nb_iter", "attack.pgd.eps_iter_fraction", "attack.pgd.rand_init")
MIM_STEPS = ("attack.mim.nb_iter", "attack.mim.eps_iter_fraction", "attack.mim.decay_factor")
CHECKS_ATTACKS = tuple(
    f"checks.{key}"
    for key in ("n_images", "eps", "large_eps", "restarts", "jitter", "rfgsm_alpha_fraction", "spsa", "autoattack")
)
CHECKS_VERDICTS = tuple(
    f"checks.{key}" for key in ("large_eps_max_accuracy", "max_zero_gradient_fraction", "attack_gap_tolerance")
)
ATTACK_KEYS = {
    AttackName.FGSM: ("attack.fgsm.eps",),
    AttackName.PGD: ("attack.pgd.eps",) + PGD_STEPS,
    AttackName.MIM: ("attack.mim.eps",) + MIM_STEPS,
}


@dataclass(frozen=True)
class Stage:
    """One stage: its name (the ``robqunn`` command, the dvc.yaml stage, and the Snakemake rule where a rule
    runs it alone; :data:`COMPOSITE_JOBS` run several), its fan-out and its params keys (see the module docstring).

    ``model_reads`` adds the keys that depend on the model (a per-model stage's model, or every model of
    the seed for a per-seed stage); ``attack_reads`` those that depend on the attack (the attack stage).
    """

    name: str
    fan_out: tuple[str, ...]
    reads: tuple[str, ...] = ()
    grid: tuple[str, ...] = ()
    settings: tuple[str, ...] = ()
    model_reads: Callable[[ModelSpec], tuple[str, ...]] = field(default=lambda spec: ())
    attack_reads: Mapping[AttackName, tuple[str, ...]] = field(default_factory=dict)

    def keys_read(
        self, models: Iterable[str] = (), attack: AttackName | str | None = None, eps: bool = False
    ) -> tuple[str, ...]:
        """The keys a job of this stage reads: for ``models`` (its model, or every model of its seed) and
        its ``attack``; with ``eps`` (a job of one eps) an attack's eps grid is not read, only its eps."""
        keys = list(self.reads)
        for model in models:
            keys += self.model_reads(ModelSpec.from_name(model))
        attacks = self.attack_reads if attack is None else {AttackName(attack): self.attack_reads[AttackName(attack)]}
        for attack_keys in attacks.values():
            keys += [key for key in attack_keys if not (eps and key in ATTACK_GRIDS)]
        return tuple(dict.fromkeys(keys))

    def all_keys(self, attacks: bool = True) -> tuple[str, ...]:
        """Every key the stage may read for any model (and, with ``attacks``, any attack), and its grid: its
        params in dvc.yaml, where one stage runs every model of a seed."""
        stage = self if attacks else dataclasses.replace(self, attack_reads={})
        return tuple(dict.fromkeys(stage.keys_read(ONE_OF_EACH_KIND) + self.grid))


#: A model of each kind whose keys differ (robqunn.registry.circuit_keys, sampling_keys): together they read
#: every key a model-dependent stage may read.
ONE_OF_EACH_KIND = ("cnn", "qunn-full-rot_ent", "qunn-random-rot_ent-shots1", "cnn-pgdtrained")
PER_SEED = ("seed",)
PER_MODEL = ("seed", "model")

STAGES: dict[str, Stage] = {
    stage.name: stage
    for stage in (
        Stage("prepare", PER_SEED, reads=("data.source", "data.idx_dir", "data.n_train", "data.n_test")),
        Stage("features", PER_MODEL, grid=MODEL_GRID, model_reads=circuit_keys),
        Stage(
            "train",
            PER_MODEL,
            grid=MODEL_GRID,
            settings=TRACKING,
            model_reads=lambda spec: training_keys(spec) + circuit_keys(spec) + sampling_keys(spec, "eval_draws"),
        ),
        Stage(
            "attack",
            PER_MODEL + ("attack", "eps"),
            # batch_size: PGD's random starts are drawn per batch (robqunn.attacks.craft_with)
            reads=("attack.n_images", "attack.batch_size"),
            grid=MODEL_GRID,
            settings=TRACKING,
            model_reads=lambda spec: sampling_keys(spec, "eot_draws", "eval_draws"),
            attack_reads=ATTACK_KEYS,
        ),
        Stage(
            "exact",
            PER_MODEL + ("eps",),
            reads=("attack.n_images", "exact.budget", "exact.tolerance"),
            grid=MODEL_GRID + ("exact.eps",),
            settings=TRACKING + ("exact.batch_size",),  # digits per verification call: memory only
        ),
        Stage(
            "radius",
            PER_MODEL,
            reads=("attack.n_images", "exact.budget", "exact.tolerance", "exact.radius_resolution"),
            grid=MODEL_GRID,
            settings=TRACKING + ("exact.batch_size",),  # digits per verification call: memory only
        ),
        Stage(
            "checks",
            PER_MODEL,
            reads=CHECKS_ATTACKS + ("attack.batch_size",) + PGD_STEPS + MIM_STEPS,
            grid=MODEL_GRID,
            settings=TRACKING + ("exact.batch_size",),
            # AutoAttack's digits are verified exactly, on a model that does not sample (no EOT for AutoAttack)
            model_reads=lambda spec: (
                sampling_keys(spec, "eot_draws", "eval_draws")
                + (() if spec.shots else ("exact.budget", "exact.tolerance"))
            ),
        ),
        Stage(
            "evaluate",
            PER_SEED,
            reads=("attack.transfer_between_qunns",),
            grid=MODEL_GRID + ATTACK_GRIDS + ("exact.eps",),
            model_reads=lambda spec: sampling_keys(spec, "eval_draws"),
        ),
        Stage("figures", PER_SEED, grid=MODEL_GRID + ATTACK_GRIDS + ("exact.eps",)),
        Stage("circuits", PER_SEED, grid=MODEL_GRID, model_reads=qunn_circuit_keys),
        Stage(
            "ansatz_metrics",
            PER_SEED,
            reads=("ansatz_metrics.n_samples", "ansatz_metrics.n_bins", "ansatz_metrics.n_images") + SEED_MODELS,
            grid=MODEL_GRID,
            model_reads=qunn_circuit_keys,
        ),
        Stage(
            "aggregate",
            (),
            # checks.n_images and checks.spsa bound the counts of the checks records it reads
            reads=("claims.low_eps", "claims.alike_margin") + CHECKS_VERDICTS + ("checks.n_images", "checks.spsa"),
            grid=MODEL_GRID + ATTACK_GRIDS + ("exact.eps",),
            settings=TRACKING,
            # the robust-training claims are decided at eps_train, when the study has robustly trained heads
            model_reads=lambda spec: ("train.robust.eps",) if spec.method.label else (),
        ),
        Stage(
            "sweep_draw",
            ("seed", "draw"),
            reads=("sweep.ansatze", "sweep.layouts", "sweep.eps", "sweep.n_images", "sweep.n_validation")
            + STANDARD_TRAINING
            + ("exact.budget", "exact.tolerance"),
            grid=("study.seeds", "sweep.n_draws"),
            settings=TRACKING + ("exact.batch_size",),
            model_reads=circuit_keys,
        ),
        Stage(
            "sweep",
            (),
            reads=("sweep.n_boot", "sweep.eps", "sweep.n_validation"),
            grid=("study.seeds", "sweep.n_draws"),
            settings=TRACKING,
        ),
    )
}

#: The Snakemake jobs that run several stages in one process: model_train always, model_attacks with
#: workflow.jobs per_model (per_eps runs attack, exact, radius and checks as rules of their own).
COMPOSITE_JOBS: dict[str, tuple[str, ...]] = {
    "model_train": ("features", "train"),
    "model_attacks": ("attack", "exact", "radius", "checks"),
}


def stages_of(job: str) -> tuple[Stage, ...]:
    """The stages a Snakemake job (a rule's name without its attack) runs."""
    if job in COMPOSITE_JOBS:
        return tuple(STAGES[name] for name in COMPOSITE_JOBS[job])
    if job not in STAGES:
        raise KeyError(f"no stage or per-model job named {job!r}; stages: {sorted(STAGES)}")
    return (STAGES[job],)


def job_keys(job: str, models: Iterable[str] = (), attack: str | None = None, eps: bool = False) -> tuple[str, ...]:
    """The keys a Snakemake job reads: its stages' keys for its model(s) and attack."""
    models = tuple(models)
    keys: list[str] = []
    for stage in stages_of(job):
        keys += stage.keys_read(models, attack if stage.attack_reads else None, eps)
    return tuple(dict.fromkeys(keys))


def values(config: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """{key: value} for dotted ``keys``: what a Snakemake job's ``params:`` hold (its rerun triggers)."""
    return {key: lookup(config, key) for key in keys}


def reads_key(declared_keys: Iterable[str], key: str) -> bool:
    """Whether ``key`` is one of ``declared_keys`` or lies in a section of them (``checks.spsa`` holds
    ``checks.spsa.delta``)."""
    parts = key.split(".")
    return bool(set(declared_keys) & {".".join(parts[:n]) for n in range(1, len(parts) + 1)})


def declared(key: str) -> bool:
    """Whether some stage declares ``key`` (or a section above it), or it is one no stage reads."""
    names = set(NOT_READ_BY_STAGES)
    for stage in STAGES.values():
        names |= set(stage.all_keys()) | set(stage.settings)
    return reads_key(names, key)
