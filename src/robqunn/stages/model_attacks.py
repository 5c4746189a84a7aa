"""Job model_attacks (workflow.jobs per_model): every attack, exact verification and the checks of one model in
one process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from robqunn.config import AttackSteps, ChecksParams, ExactParams
from robqunn.stages import attack, checks, exact, radius
from robqunn.stages.attack import AttackJob
from robqunn.stages.job import Job
from robqunn.vocabulary import AttackName


@dataclass(frozen=True)
class ModelAttacksSettings:
    """What :func:`run` reads from params.yaml."""

    attacks: list[AttackJob]
    exact: ExactParams
    n_images: int  # the attacks' and exact verification's test digits (attack.n_images)
    checks: ChecksParams
    steps: AttackSteps


@dataclass(frozen=True)
class ModelAttacksOutputs:
    """Where :func:`run` writes (robqunn.paths)."""

    attack_dirs: dict[AttackName, Path]
    exact_table: str | Path
    exact_dir: str | Path
    radii: str | Path
    checks: str | Path


def run(settings: ModelAttacksSettings, job: Job, out: ModelAttacksOutputs) -> None:
    """Every attack of ``job.model`` (robqunn.stages.attack), its exact verification (stages.exact), its digits'
    certified radii (stages.radius) and its soundness checks (stages.checks) in this process (``workflow.jobs:
    per_model``): the same files and MLflow runs as those stages' jobs (workflow.jobs per_eps), paying TensorFlow's
    and MLflow's start-up once.

    Each stage keeps the outputs that are current (robqunn.stages.job.current_output; the rule flags them ``update``,
    so Snakemake leaves them in place), so a job rerun for one more PGD eps crafts that eps alone, and one rerun
    for a checks key runs the checks alone."""
    for attack_job in settings.attacks:
        attack.run(attack_job, job, out.attack_dirs[attack_job.name])
    exact.run(settings.exact, settings.n_images, job, out.exact_table, out.exact_dir)
    radius.run(settings.exact, settings.n_images, job, out.radii)
    checks.run(settings.checks, settings.steps, settings.exact, job, out.checks)
