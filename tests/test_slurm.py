"""The slurm profile for real: a single-node SLURM cluster from Debian's packages (robqunn.localslurm) runs
the tiny study through sbatch, and its results equal the local run's."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from conftest import TINY_TWO_MODELS, assert_same_on_shared_models, model_names, needs, workflow_copy
from robqunn import localslurm


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The cluster, stopped by its daemons' pids at the end; without SLURM or root the test skips with the
    reason printed, except in CI (.ci/run installs slurmctld, slurmd, slurm-client and munge)."""
    missing = localslurm.missing_programs()
    problem = f"no SLURM here ({', '.join(missing)} missing)" if missing else None
    if problem is None and os.geteuid() != 0:
        problem = "not root: the SLURM daemons run as root"
    needs(problem)
    running = localslurm.start_local_slurm(tmp_path_factory.mktemp("slurm"))
    yield running
    running.stop()
    assert all(process.poll() is not None for process in running.processes)


def test_the_tiny_study_runs_through_sbatch_with_the_local_results(cluster, tiny_workflow, tmp_path):
    """`snakemake --profile workflow/profiles/slurm` on the tiny params: every job is a SLURM job (one
    sbatch per job, all COMPLETED), and the results and study tables equal the local run's on the models both
    hold (the tiny study's CNN and one QuNN: every model more adds a dozen cluster jobs).
    The profile cuts the finest jobs, workflow.jobs per_eps: an attack job per eps, an evaluation job per
    (source, attack, target), merged; so this is also the test that per_eps writes what per_model (the
    default, the local run) wrote: the per-model files byte for byte, the tables row for row."""
    folder = workflow_copy(tmp_path, TINY_TWO_MODELS)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"} | cluster.env()
    command = [sys.executable, "-m", "snakemake", "--profile", "workflow/profiles/slurm"]
    command += ["--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "2"]
    command += ["--default-resources", "mem_mb=1500", "runtime=10", "cpus_per_task=1", "--set-resources"]
    command += [
        f"{rule}:mem_mb=1500" for rule in ("prepare", "model_train", "attack", "evaluate_part", "evaluate_parts")
    ]
    command += ["--slurm-keep-successful-logs"]
    result = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    done = re.findall(r"(\d+) of (\d+) steps \(100%\) done", result.stdout + result.stderr)
    assert done, (result.stdout + result.stderr)[-2000:]
    n_jobs = int(done[-1][1]) - 1  # all but `rule all`, which runs no job
    jobs = subprocess.run(
        ["squeue", "--states=all", "-h", "-o", "%i|%T|%k"], env=env, capture_output=True, text=True
    ).stdout.split()
    ours = [job for job in jobs if "|rule_" in job]  # the executor's comment: rule_<name>_wildcards_...
    assert len(ours) == n_jobs and all("|COMPLETED|" in job for job in ours), jobs
    logs = list((folder / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert len(logs) == n_jobs
    assert (folder / "logs" / "attack" / "seed42" / "pgd" / "cnn" / "eps0.1.log").exists()  # the per_eps cut
    assert (folder / "logs" / "evaluate_part" / "seed42" / "pgd" / "cnn" / "qunn-full-ent_rot.log").exists()
    assert_same_on_shared_models(folder / "results", tiny_workflow / "results", model_names(TINY_TWO_MODELS))
