"""Fault injection: the tiny study killed mid-run (SIGKILL, SIGINT) and rerun once gives the same results, with
no temporary file left and exactly one finished MLflow run per job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
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
        # A shell's background job starts with SIGINT ignored, and children inherit that: restore the default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
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
    assert not (folder / "results" / "tables").exists(), "the signal must land before the study is done"
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
    pipeline = [r for r in mlflow_runs(tiny_workflow) if r.data.tags.get("robqunn.origin") != "cli"]  # not by hand
    assert len(runs) == len(pipeline)


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs: a disk that can be filled (needs the right to mount; skipped with the reason otherwise)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root and a kernel that allows it): {result.stderr}")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def fill(disk: Path, leave: int) -> None:
    """Fill ``disk`` until about ``leave`` bytes are free (tmpfs counts whole pages)."""
    stats = os.statvfs(disk)
    (disk / "filler").write_bytes(b"\0" * max(0, stats.f_bavail * stats.f_frsize - leave))


@pytest.mark.parametrize("room", ["none", "npz only"])
def test_a_full_disk_leaves_no_npz_without_its_sidecar(small_disk, room):
    """The disk fills while the prepared digits are written (before the npz, or between the npz and its
    sidecar): an OSError, and neither a final npz without its sidecar nor a temporary file is left."""
    from robqunn.data import Dataset

    rng = np.random.default_rng(0)
    dataset = Dataset(
        rng.random((20, 28, 28), dtype=np.float32),
        np.arange(20) % 10,
        rng.random((10, 28, 28), dtype=np.float32),
        np.arange(10) % 10,
        42,
    )
    probe = small_disk / "probe.npz"
    dataset.save(probe, {})
    npz_bytes = probe.stat().st_size
    probe.unlink()
    probe.with_suffix(".json").unlink()
    page = os.statvfs(small_disk).f_frsize
    fill(small_disk, 0 if room == "none" else -(-npz_bytes // page) * page)
    with pytest.raises(OSError):
        dataset.save(small_disk / "seed42.npz", {})
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]  # "npz only": the sidecar's write failed
