"""Fault injection: the tiny study killed mid-run (SIGINT, then its rerun SIGKILLed) and rerun gives the same
results, with no temporary file left and exactly one finished MLflow run per job.

Each run starts from the finished tiny study with one model's attack outputs removed, so that the study is
killed inside that model's model_attacks job (the work it resumes is that job and the seed's tables after it),
not after a whole training of every model."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import snakemake
from robqunn.registry import COMPOSITE_JOBS

OUTPUT_FOLDERS = ("data", "models", "results")
MODEL = "qunn-full-ent_rot"  # whose attacks are crafted again, and killed
PATIENCE = 600  # seconds to wait for the first adversarial set


def without_attacks_of(tiny_workflow: Path, folder: Path, model: str) -> Path:
    """A copy of the finished tiny study (modification times kept, no MLflow store) without ``model``'s
    adversarial sets, exact table and checks record: Snakemake reruns its model_attacks job and the tables."""
    shutil.copytree(tiny_workflow, folder, symlinks=True, ignore=shutil.ignore_patterns("mlflow.db", "mlartifacts"))
    remove_attacks_of(folder, model)
    return folder


def remove_attacks_of(folder: Path, model: str) -> None:
    """Remove ``model``'s adversarial sets, exact table and checks record: what its model_attacks job writes."""
    results = folder / "results"
    for sets in results.glob(f"adversarial/seed42/*/{model}"):
        shutil.rmtree(sets)
    (results / "exact" / "seed42" / f"{model}.csv").unlink(missing_ok=True)
    (results / "checks" / "seed42" / f"{model}.json").unlink(missing_ok=True)


def adversarial_sets(folder: Path) -> dict[Path, int]:
    """{path: modification time in ns} of :data:`MODEL`'s adversarial sets."""
    return {p: p.stat().st_mtime_ns for p in (folder / "results" / "adversarial" / "seed42").glob(f"*/{MODEL}/*.npz")}


def start_and_kill(folder: Path, signum: int, *options: str) -> None:
    """Start `snakemake --cores 2 [options]` and send ``signum`` to it and its jobs when :data:`MODEL`'s job writes
    an adversarial set (it writes one file per eps: the signal lands mid-job)."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    before = adversarial_sets(folder)
    process = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--cores", "2", *options],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the signal reaches the running jobs too
        # A shell's background job starts with SIGINT ignored, and children inherit that: restore the default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + PATIENCE
    while adversarial_sets(folder).items() <= before.items():
        assert process.poll() is None, "snakemake ended before the attacks started"
        assert time.monotonic() < deadline, f"no adversarial set after {PATIENCE} s"
        time.sleep(0.1)
    os.killpg(process.pid, signum)
    process.wait(timeout=PATIENCE)  # SIGINT: Snakemake waits for its jobs to stop, slow on a loaded machine


def temporary_files(folder: Path) -> list[Path]:
    """The atomic writer's temporary files (``.<name>.<random>.tmp<suffix>``) under the outputs."""
    return [p for name in OUTPUT_FOLDERS for p in (folder / name).rglob(".*.tmp*")]


def mlflow_runs(folder: Path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("robqunn")
    return client.search_runs([experiment.experiment_id], max_results=5000)


def kill_mid_job(folder: Path, signum: int, *options: str) -> None:
    """:func:`start_and_kill` until the signal lands before :data:`MODEL`'s job is done (its checks record not
    written), at most ATTEMPTS times. On a loaded machine the job can outrun the poll that sends the signal (once
    in CI, with both workers busy); a job that survived every signal fails the test."""
    checks = folder / "results" / "checks" / "seed42" / f"{MODEL}.json"
    for attempt in range(ATTEMPTS):
        start_and_kill(folder, signum, *options)
        if not checks.exists():
            return
        print(f"attempt {attempt + 1}: {signal.Signals(signum).name} landed after the job was done; again")
        remove_attacks_of(folder, MODEL)
    raise AssertionError(f"{signal.Signals(signum).name} must land mid-job; it never did in {ATTEMPTS} attempts")


ATTEMPTS = 3


def test_a_killed_study_reruns_to_the_same_results(tmp_path, tiny_workflow):
    """Ctrl-C (SIGINT to the process group) lands mid-job; the rerun is SIGKILLed mid-job too (what a node's
    out-of-memory killer or a cluster's pre-emption does), leaving Snakemake's lock and an incomplete job; the
    plain command, `snakemake --cores 2` (no profile, no --unlock, no --rerun-incomplete), reruns: robqunn.runlock
    clears the dead run's lock and unfinished outputs; it finishes with the tiny study's tables."""
    folder = without_attacks_of(tiny_workflow, tmp_path / "study", MODEL)
    kill_mid_job(folder, signal.SIGINT)
    kill_mid_job(folder, signal.SIGKILL)
    assert list((folder / ".snakemake" / "locks").iterdir())  # the killed run's lock is there
    rerun = snakemake(folder, "--cores", "2")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "cleared what a killed Snakemake left" in rerun.stderr
    for table in ("results/tables/seed42/results.csv", "results/study/checklist.csv", "results/study/claims.csv"):
        assert (folder / table).read_bytes() == (tiny_workflow / table).read_bytes(), table
    assert temporary_files(folder) == []
    runs = mlflow_runs(folder)
    assert [r.info.run_name for r in runs if r.info.status != "FINISHED"] == []
    jobs = [r.data.tags["robqunn.job"] for r in runs]
    assert sorted({job for job in jobs if jobs.count(job) > 1}) == []  # one run per job
    rerun_jobs = {f"attack {attack} · {MODEL} · seed 42" for attack in ("fgsm", "pgd", "mim")}
    whole_model = [stage for stage in COMPOSITE_JOBS["model_attacks"] if stage != "attack"]  # one run each
    rerun_jobs |= {f"{stage} · {MODEL} · seed 42" for stage in whole_model} | {"study"}
    assert {r.info.run_name for r in runs} == rerun_jobs
