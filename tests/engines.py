"""Fixtures that start the real engines the study runs on, from Debian's packages, on 127.0.0.1, each stopped
by its pids at the end: a single-node SLURM cluster (robqunn.localslurm), a PostgreSQL cluster and an MLflow
tracking server on it. Without a package or root, a test that needs one skips with the reason printed, except
in CI (.ci/run installs them all), where it fails."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import needs
from robqunn import localslurm, ui

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


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
def server(postgres, tmp_path_factory):
    """`mlflow server` on the PostgreSQL store, artifacts proxied into a folder only it writes; stopped by
    its pid at the end. Yields its URI (what a lab puts in MLFLOW_TRACKING_URI)."""
    root = tmp_path_factory.mktemp("mlflow-server")
    started = ui.start_ui(postgres, artifacts=root / "artifacts", log=root / "server.log")
    yield started.base
    started.stop()
    assert started.process.poll() is not None


@pytest.fixture(scope="session")
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
