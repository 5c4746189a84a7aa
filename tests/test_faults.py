"""Fault injection: the tiny study killed mid-run (SIGKILL, SIGINT) and rerun once gives the same results, with
no temporary file left and exactly one finished MLflow run per job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import TINY_CHANGES, snakemake, workflow_copy

OUTPUT_FOLDERS = ("data", "models", "results")
KILL_WHEN = "results/adversarial"  # the attack jobs write one file per eps: a kill here lands mid-job
PATIENCE = 600  # seconds to wait for the first adversarial set


def start_and_kill(folder: Path, signum: int) -> None:
    """Start `snakemake --cores 2` and send ``signum`` to it and its jobs when the first adversarial set appears."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    process = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--cores", "2"],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the signal reaches the running jobs too
    )
    deadline = time.monotonic() + PATIENCE
    while not any((folder / KILL_WHEN).rglob("*.npz")):
        assert process.poll() is None, "snakemake ended before the attacks started"
        assert time.monotonic() < deadline, f"no adversarial set after {PATIENCE} s"
        time.sleep(0.1)
    os.killpg(process.pid, signum)
    process.wait(timeout=120)


def temporary_files(folder: Path) -> list[Path]:
    """The atomic writer's temporary files (``.<name>.<random>.tmp<suffix>``) under the outputs."""
    return [p for name in OUTPUT_FOLDERS for p in (folder / name).rglob(".*.tmp*")]


def mlflow_runs(folder: Path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("robqunn")
    return client.search_runs([experiment.experiment_id], max_results=5000)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_a_killed_study_reruns_to_the_same_results(tmp_path, tiny_workflow, signum):
    folder = workflow_copy(tmp_path, TINY_CHANGES)
    start_and_kill(folder, signum)
    interrupted = [r.info.run_name for r in mlflow_runs(folder) if r.info.status != "FINISHED"]
    assert interrupted, "the signal must land while a job runs"  # SIGKILL: RUNNING; SIGINT: KILLED
    assert snakemake(folder, "--unlock").returncode == 0  # a SIGKILLed Snakemake leaves its lock
    rerun = snakemake(folder, "--cores", "2", "--rerun-incomplete")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    for table in ("results/tables/seed42/results.csv", "results/study/checklist.csv", "results/study/claims.csv"):
        assert (folder / table).read_bytes() == (tiny_workflow / table).read_bytes(), table
    assert temporary_files(folder) == []
    runs = mlflow_runs(folder)
    assert [r.info.run_name for r in runs if r.info.status == "RUNNING"] == []
    jobs = [r.data.tags["robqunn.job"] for r in runs]
    assert sorted({job for job in jobs if jobs.count(job) > 1}) == []  # one run per job
    assert len(runs) == len(mlflow_runs(tiny_workflow))
