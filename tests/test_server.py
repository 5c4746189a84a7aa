"""A team's MLflow tracking server for real: `mlflow server` on a PostgreSQL store (tests/engines.py) with
proxied artifacts; processes log to it over HTTP (MLFLOW_TRACKING_URI). The tiny study logs to it in
tests/test_slurm.py, run by the SLURM cluster, as a lab's cluster does (docs/cluster.md)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from conftest import TINY_CHANGES, workflow_copy, write_params
from robqunn import ui
from test_tracking import WORKER


def test_eight_processes_at_once_lose_no_run_and_no_metric(server, tmp_path):
    """8 processes logging 3 runs each at once over HTTP: all 24 runs, FINISHED, with every metric."""
    from mlflow.tracking import MlflowClient

    env = dict(os.environ, MLFLOW_TRACKING_URI=server)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(w)], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True
        )
        for w in range(8)
    ]
    for worker in workers:
        out, _ = worker.communicate(timeout=300)
        assert worker.returncode == 0, out[-3000:]
    client = MlflowClient(server)
    runs = client.search_runs([client.get_experiment_by_name("concurrent").experiment_id], max_results=1000)
    assert sorted(r.info.run_name for r in runs) == sorted(f"w{w}-r{i}" for w in range(8) for i in range(3))
    for run in runs:
        w, i = int(run.data.params["worker"]), int(run.data.params["index"])
        assert run.info.status == "FINISHED" and run.data.metrics["accuracy"] == pytest.approx(w + i / 10)
        assert len(client.get_metric_history(run.info.run_id, "loss")) == 4


def test_a_server_that_is_down_stops_the_study_before_any_job(tmp_path):
    """MLFLOW_TRACKING_URI names a server that does not answer: Snakemake and the CLI stop at once with an
    error naming it and the way out, before any file is written; with tracking off the study is planned,
    saying that runs are not logged."""
    folder = workflow_copy(tmp_path, TINY_CHANGES)
    down = f"http://127.0.0.1:{ui.free_port()}"
    env = dict(os.environ, MLFLOW_TRACKING_URI=down)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2"], cwd=folder, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0 and time.monotonic() - started < 60
    message = result.stdout + result.stderr
    assert f"MLflow tracking server {down} (MLFLOW_TRACKING_URI) does not answer" in message, message[-3000:]
    assert "tracking.enabled: false" in message
    assert not (folder / "data").exists() and not (folder / "results").exists()
    robqunn = os.path.join(os.path.dirname(sys.executable), "robqunn")
    cli = subprocess.run([robqunn, "prepare"], cwd=folder, env=env, capture_output=True, text=True)
    assert cli.returncode == 2 and "does not answer" in cli.stderr and not (folder / "data").exists()
    write_params(folder / "params.yaml", TINY_CHANGES | {("tracking", "enabled"): False})
    off = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "-n"], cwd=folder, env=env, capture_output=True, text=True
    )
    assert off.returncode == 0, off.stderr[-3000:]
    assert "MLflow tracking is off (tracking.enabled: false)" in off.stdout + off.stderr
