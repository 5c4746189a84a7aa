import re

from robqunn import paths, registry, vocabulary
from robqunn.config import (
    JobCut,
    check_params_files,
    model_names,
    model_specs,
    params_from_dict,
    overridden_keys,
    params_in_force,
)
from robqunn.vocabulary import EXACT, WORST_CASE, AttackName, ModelSpec
from robqunn.paths import StudyFiles
from robqunn.runlock import hold_and_clear_stale, stale_message
from robqunn.tracking import check_tracking
from snakemake.logging import logger

# The lock and unfinished outputs a killed run left are cleared when no other run of the study lives
# (robqunn.runlock), so that the plain command reruns after a kill; job processes (SLURM, per-job Snakemake)
# leave it to the main one.
if workflow.is_main_process and (stale := hold_and_clear_stale()):
    logger.warning(stale_message(stale))
# The schema checked the structure; robqunn checks the values again (cross-field rules) before any job runs.
PARAMS = params_from_dict(config)
SEEDS = list(PARAMS.study.seeds)
MODELS = model_names(PARAMS)
# The circuits drawn: the study's own (a noisy or finite-shot model is one of them with noise or shots).
QUNN_CIRCUITS = [spec.name.removeprefix("qunn-") for spec in model_specs(PARAMS.study) if spec.ansatz]
ATTACKS = [attack.value for attack in AttackName]
# workflow.jobs: two jobs per (seed, model), model_train and model_attacks (model.smk), or, per_eps, the
# attacks one job per (model, attack, eps) and exact verification and checks one job per model each, with
# one evaluation job per (source, attack, target) (attack.smk, exact.smk, checks.smk, evaluate.smk).
PER_EPS = PARAMS.workflow.jobs is JobCut.PER_EPS
# Each attack's eps grid as it appears in file names (eps0.05.npz).
EPS = {attack: [paths.eps_label(eps) for eps in PARAMS.attack.of(attack).eps] for attack in ATTACKS}
EXACT_EPS = [paths.eps_label(eps) for eps in PARAMS.exact.eps]
SWEEP_EPS = [paths.eps_label(eps) for eps in PARAMS.sweep.eps]
# The sweep's circuits (robqunn.sweep.sweep_models, which imports PennyLane: not at every Snakemake start).
SWEEP_MODELS = [ModelSpec("qunn", a, l).name for l in PARAMS.sweep.layouts for a in PARAMS.sweep.ansatze]
# Which files were merged and what a profile overrode: an edit of params.yaml that a profile hides is named.
check_params_files(workflow.configfiles)
logger.info(params_in_force(workflow.configfiles, config))
# A tracking server that is down stops the study here, before any job, not in every job an hour later.
logger.info(check_tracking(PARAMS.tracking))


wildcard_constraints:
    seed=r"\d+",
    model=vocabulary.model_name_regex(),


def get_final_output():
    """Per seed: every model's training metrics, the results table and the figures; across seeds:
    the study's intervals, checklist, ansatz metrics and claims. With sweep.run (the sweep profile):
    the sweep's tables instead."""
    if PARAMS.sweep.run:
        return [paths.sweep_table(name) for name in paths.sweep_tables(PARAMS.sweep.n_validation)]
    return (
        expand(paths.TRAIN_METRICS, seed=SEEDS, model=MODELS)
        + expand(paths.TABLE_PARQUET, seed=SEEDS)
        + expand(paths.EXACT_TABLE, seed=SEEDS, model=MODELS)
        + expand(paths.SUMMARY, seed=SEEDS)
        + expand(paths.CIRCUIT_FIGURE, seed=SEEDS, circuit=QUNN_CIRCUITS)
        + [paths.study_table("claims")]
    )


def record_for_dvc():
    """After a run that built the whole study from params.yaml alone, dvc.lock records it, so that DVC sees
    what Snakemake built as current (robqunn.dvcfile.record_snakemake_run says why it does not otherwise)."""
    from robqunn.dvcfile import record_snakemake_run

    built_everything = any(job.rule.name == "all" for job in workflow.dag.targetjobs) and not PARAMS.sweep.run
    return record_snakemake_run(".", built_everything, overridden_keys(config))


def get_models(wildcards):
    """Every trained model of one seed (each may be a transfer target)."""
    return expand(paths.MODEL, seed=wildcards.seed, model=MODELS)


def get_adversarial_sets(wildcards):
    """Every adversarial set of one seed: each model, attack and eps, and the exact worst cases."""
    files = StudyFiles()
    sets = files.adversarial_sets(PARAMS.attack, wildcards.seed, MODELS)
    return [str(p) for p in sets + files.exact_sets(PARAMS.exact, wildcards.seed, MODELS)]


def get_pgd_sets(wildcards):
    """The PGD sets of every model of one seed (shown as digit grids)."""
    return [str(p) for p in StudyFiles().adversarial_sets(PARAMS.attack, wildcards.seed, MODELS, [AttackName.PGD])]


def job_params(job, models=None):
    """A job's rerun triggers: the params keys its stages read (robqunn.registry), with their values, for its
    model (``models(wildcards)`` where the rule names it otherwise, else every model of the seed), its
    attack wildcard and, with an eps wildcard, without the attack's eps grid. Its sections come from the whole
    config (robqunn.workflow.params_of), so a key it does not read, ``tracking`` above all, reruns nothing."""

    def reads(wildcards):
        names = models(wildcards) if models else [wildcards.model] if hasattr(wildcards, "model") else MODELS
        attack = getattr(wildcards, "attack", None)
        return registry.values(config, registry.job_keys(job, names, attack, eps=hasattr(wildcards, "eps")))

    return reads


def get_source_attack_sets(wildcards):
    """The sets of one (source, attack) of one seed, every eps of its grid (the exact worst cases for exact)."""
    files = StudyFiles()
    if wildcards.attack == EXACT:
        return [str(p) for p in files.exact_sets(PARAMS.exact, wildcards.seed, [wildcards.source])]
    attack = [AttackName(wildcards.attack)]
    return [str(p) for p in files.adversarial_sets(PARAMS.attack, wildcards.seed, [wildcards.source], attack)]


def get_evaluation_parts(wildcards):
    """Every (source, attack, target) evaluation of one seed (workflow.jobs per_eps): each set on its own
    model and on its transfer targets (robqunn.evaluate.transfer_targets)."""
    from robqunn.evaluate import transfer_targets

    between = PARAMS.attack.transfer_between_qunns
    return [
        paths.EVALUATION_PART.format(seed=wildcards.seed, attack=attack, source=source, target=target)
        for source in MODELS
        for attack in ATTACKS + [EXACT]
        for target in transfer_targets(source, MODELS, between)
    ]
