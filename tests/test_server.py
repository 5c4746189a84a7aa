"""A team's MLflow tracking server for real: `mlflow server` on a PostgreSQL store (Debian's postgresql,
a throwaway cluster on 127.0.0.1) with proxied artifacts; jobs log to it over HTTP (MLFLOW_TRACKING_URI)."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import TINY_CHANGES, TINY_TWO_MODELS, model_names, needs, workflow_copy, write_params
from robqunn import ui
from test_tracking import WORKER

POSTGRES_USER = "postgres"  # PostgreSQL refuses to run as root: the package's system user runs it


def _postgres_bin() -> Path:
    """The folder of Debian's PostgreSQL server programs; without it the test skips with the reason printed,
    except in CI (.ci/run installs postgresql)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    problem = None if found else "no PostgreSQL server (apt-get install postgresql; .ci/run installs it)"
    if problem is None and os.geteuid() != 0:
        problem = "not root: the PostgreSQL fixture runs the server as the postgres user"
    needs(problem)
    return Path(found[-1]).parent


def _as_postgres(*command: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", POSTGRES_USER, "--", *command], capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL cluster in a temporary folder, listening on 127.0.0.1 only, with a database `mlflow`;
    stopped by its pid (postmaster.pid) at the end. Yields its URI."""
    binaries = _postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="robqunn-postgres-"))  # pytest's folders are root's alone (0700)
    data = root / "data"
    data.mkdir()
    shutil.chown(root, POSTGRES_USER)
    shutil.chown(data, POSTGRES_USER)
    init = _as_postgres(str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", POSTGRES_USER, "--no-sync")
    assert init.returncode == 0, init.stderr
    port = ui.free_port()
    settings = ["-p", str(port), "-k", str(data), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]
    log = open(root / "postgres.log", "w")
    subprocess.Popen(
        ["runuser", "-u", POSTGRES_USER, "--", str(binaries / "postgres"), "-D", str(data), *settings],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    for _ in range(120):
        if _as_postgres(str(binaries / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)).returncode == 0:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"PostgreSQL did not start:\n{(root / 'postgres.log').read_text()[-3000:]}")
    created = _as_postgres(str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "mlflow")
    assert created.returncode == 0, created.stderr
    yield f"postgresql://{POSTGRES_USER}@127.0.0.1:{port}/mlflow"
    pid = int((data / "postmaster.pid").read_text().splitlines()[0])
    os.kill(pid, signal.SIGINT)  # PostgreSQL's fast shutdown
    for _ in range(120):
        if not (data / "postmaster.pid").exists():
            break
        time.sleep(0.25)
    log.close()
    assert not (data / "postmaster.pid").exists(), "PostgreSQL did not stop"
    shutil.rmtree(root)


@pytest.fixture(scope="module")
def server(postgres, tmp_path_factory):
    """`mlflow server` on the PostgreSQL store, artifacts proxied into a folder only it writes; stopped by
    its pid at the end. Yields its URI (what a lab puts in MLFLOW_TRACKING_URI)."""
    root = tmp_path_factory.mktemp("mlflow-server")
    started = ui.start_ui(postgres, artifacts=root / "artifacts", log=root / "server.log")
    yield started.base
    started.stop()
    assert started.process.poll() is not None


def test_the_tiny_study_logs_every_run_to_the_server(server, tmp_path):
    """Every training, attack, exact and checks run of the tiny study (its CNN and one QuNN), and the study's,
    lands on the server with its parent link; artifacts go through the server (the job never sees the artifact
    folder)."""
    from mlflow.tracking import MlflowClient

    folder = workflow_copy(tmp_path, TINY_TWO_MODELS)
    env = dict(os.environ, MLFLOW_TRACKING_URI=server)
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2"], cwd=folder, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (folder / "mlflow.db").exists()  # nothing went to the local default
    client = MlflowClient(server)
    experiment = client.get_experiment_by_name("robqunn")
    runs = client.search_runs([experiment.experiment_id], "tags.`robqunn.origin` = 'snakemake'", max_results=1000)
    n_models = len(model_names(TINY_TWO_MODELS))
    assert len(runs) == n_models * (1 + 3 + 1 + 1) + 1 and {r.info.status for r in runs} == {"FINISHED"}
    train = {r.data.tags["robqunn.model"]: r.info.run_id for r in runs if r.data.tags["robqunn.stage"] == "train"}
    children = [r for r in runs if r.data.tags["robqunn.stage"] in ("attack", "exact", "checks")]
    assert all(r.data.tags["mlflow.parentRunId"] == train[r.data.tags["robqunn.model"]] for r in children)
    attack = next(r for r in runs if r.info.run_name == "attack pgd · cnn · seed 42")
    assert attack.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied by the server
    table = client.download_artifacts(attack.info.run_id, "accuracy_vs_eps.json", str(tmp_path))
    assert '"accuracy"' in Path(table).read_text()


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
