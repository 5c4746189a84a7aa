"""A lab's cluster for real (docs/cluster.md): the slurm profile runs the tiny study through sbatch on a
single-node SLURM cluster, every job logging to a team's MLflow server on PostgreSQL (tests/engines.py);
its results equal the local run's."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import engines
from conftest import TINY_TWO_MODELS, assert_same_on_shared_models, job_counts, model_names, workflow_copy


def test_the_tiny_study_runs_through_sbatch_and_logs_to_the_server(cluster, server, tmp_path, request):
    """`snakemake --profile workflow/profiles/slurm` on the tiny params, MLFLOW_TRACKING_URI the server: every
    job is a SLURM job (one sbatch per job, all COMPLETED), the results and study tables equal the local run's
    on the models both hold (the tiny study's CNN and one QuNN: every model more adds a dozen cluster jobs),
    and every job's MLflow run is on the server.
    The profile cuts the finest jobs, workflow.jobs per_eps: an attack job per eps, an evaluation job per
    (source, attack, target), merged; so this is also the test that per_eps writes what per_model (the
    default, the local run) wrote: the per-model files byte for byte, the tables row for row."""
    folder = workflow_copy(tmp_path, TINY_TWO_MODELS)
    env = dict(os.environ, MLFLOW_TRACKING_URI=server) | cluster.env()
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
    tiny_workflow = request.getfixturevalue("tiny_workflow")  # only now: its run need not wait for the tiny study
    assert_same_on_shared_models(folder / "results", tiny_workflow / "results", model_names(TINY_TWO_MODELS))
    assert_every_job_run_is_on_the_server(server, job_counts(result.stdout + result.stderr), folder, tmp_path)


def assert_every_job_run_is_on_the_server(server: str, counts: dict[str, int], folder: Path, tmp_path: Path) -> None:
    """One FINISHED run per training, attack, exact and checks job (``counts``: Snakemake's job table) and the
    study's, each attack, exact and checks run a child of its model's training run; artifacts go through the
    server (the job never sees its artifact folder), and nothing went to the local default store."""
    from mlflow.tracking import MlflowClient

    assert not (folder / "mlflow.db").exists()
    client = MlflowClient(server)
    experiment = client.get_experiment_by_name("robqunn")
    runs = client.search_runs([experiment.experiment_id], "tags.`robqunn.origin` = 'snakemake'", max_results=1000)
    assert len(runs) == sum(counts[rule] for rule in ("model_train", "attack", "exact", "radius", "checks")) + 1
    assert {r.info.status for r in runs} == {"FINISHED"}
    train = {r.data.tags["robqunn.model"]: r.info.run_id for r in runs if r.data.tags["robqunn.stage"] == "train"}
    children = [r for r in runs if r.data.tags["robqunn.stage"] in ("attack", "exact", "radius", "checks")]
    assert all(r.data.tags["mlflow.parentRunId"] == train[r.data.tags["robqunn.model"]] for r in children)
    attack = next(r for r in runs if r.info.run_name.startswith("attack pgd · cnn · seed 42"))
    assert attack.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied by the server
    table = client.download_artifacts(attack.info.run_id, "accuracy_vs_eps.json", str(tmp_path))
    assert '"accuracy"' in Path(table).read_text()


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGINT])
def test_local_slurm_stops_everything_when_told(slurm_here, tmp_path, signum):
    """A closed terminal (SIGHUP) or Ctrl-C (SIGINT) on `robqunn local-slurm` stops every daemon it started, removes
    the configuration's copy and leaves nothing listening (SIGTERM: the cluster fixture's own stop); the daemons
    listened on 127.0.0.1 alone; a cluster starts again after it."""
    process, _ = engines.start_cluster_process(tmp_path / "slurm")
    assert engines.listening_addresses(engines.SLURM_PORTS) == {"127.0.0.1"}
    process.send_signal(signum)
    assert process.wait(timeout=120) in (0, 128 + signum)
    engines.assert_cluster_gone(slurm_here, tmp_path / "slurm")


def test_a_killed_test_process_leaves_no_cluster(slurm_here, tmp_path):
    """The process that started the cluster (as a test run does, through the fixture's helper) is SIGKILLed, as a
    timeout or a crash ends a test run: the cluster stops all the same, its daemons, configuration and ports gone."""
    starter = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import engines
        engines.start_cluster_process(Path(sys.argv[1]))
        print("up", flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", starter, str(tmp_path / "slurm")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout.readline().strip() == "up"
        assert engines.cluster_processes() != slurm_here
    finally:
        parent.kill()
        parent.wait(timeout=60)
    engines.assert_cluster_gone(slurm_here, tmp_path / "slurm", timeout=120)
