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
import sys
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


@pytest.fixture
def cluster(tmp_path, slurm_here):
    """The cluster, run by `robqunn local-slurm` in a process of its own that stops it when this process dies,
    however it dies (so an interrupted or timed-out test run leaves no daemon); at the end SIGTERM stops it, and
    the test fails if anything of it is left. Without SLURM or root the test skips with the reason printed,
    except in CI (.ci/run installs slurmctld, slurmd, slurm-client and munge)."""
    before = slurm_here
    process, running = start_cluster_process(tmp_path / "slurm")
    assert listening_addresses(SLURM_PORTS) == {"127.0.0.1"}
    yield running
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 128 + signal.SIGTERM
    assert_cluster_gone(before, running.folder)


@pytest.fixture
def slurm_here() -> list[str]:
    """SLURM's programs and root, or the test skips with the reason printed (except in CI: .ci/run installs
    slurmctld, slurmd, slurm-client and munge); the cluster daemons already alive (a munged started by others)."""
    missing = localslurm.missing_programs()
    problem = f"no SLURM here ({', '.join(missing)} missing)" if missing else None
    if problem is None and os.geteuid() != 0:
        problem = "not root: the SLURM daemons run as root"
    needs(problem)
    return cluster_processes()


SLURM_PORTS = (6817, 6818)  # slurmctld's and slurmd's defaults
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


def start_cluster_process(folder: Path) -> tuple[subprocess.Popen, localslurm.LocalSlurm]:
    """`robqunn local-slurm --folder folder` in its own process, SIGTERMed by the kernel if this one dies; returns
    once the cluster is up."""
    command = [os.path.join(os.path.dirname(sys.executable), "robqunn"), "local-slurm", "--folder", str(folder)]
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "local-slurm.out", "w") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, preexec_fn=_die_with_parent)
    line = process.stdout.readline()
    if "SLURM is up" not in line:
        process.wait(timeout=120)
        raise AssertionError(f"robqunn local-slurm did not start:\n{(folder / 'local-slurm.out').read_text()[-3000:]}")
    return process, localslurm.LocalSlurm(folder, folder / "slurm.conf")


def _die_with_parent() -> None:
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def listening_addresses(ports) -> set[str]:
    """The IPv4 addresses that sockets listen on for ``ports`` (from /proc/net/tcp: state 0A is LISTEN)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, port = local.split(":")
        if state == "0A" and int(port, 16) in ports:
            found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


def cluster_processes() -> list[str]:
    """The daemons of a local cluster still alive (slurmctld, slurmd, their job step daemons, munged)."""
    alive = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            name = comm.read_text().strip()
        except OSError:
            continue
        if name in ("slurmctld", "slurmd", "slurmstepd", "munged"):
            alive.append(f"{comm.parent.name} {name}")
    return alive


def assert_cluster_gone(before: list[str], folder: Path, timeout: float = 30) -> None:
    """No daemon of the cluster left (of those not alive ``before`` it), its configuration copy removed, nothing
    listening on its ports, and no socket left: munged's (unless a munged ran before) or one in its ``folder``."""
    munge_before = any(line.endswith(" munged") for line in before)

    def left() -> tuple:
        sockets = [p for p in folder.rglob("*") if p.is_socket()]
        if not munge_before:
            sockets += list(Path("/run/munge").glob("*socket*"))
        processes = sorted(set(cluster_processes()) - set(before))
        return processes, localslurm.SYSTEM_CONF.exists(), listening_addresses(SLURM_PORTS), sockets

    deadline = time.monotonic() + timeout  # a killed parent's cluster stops on its own: give it the time
    while left() != ([], False, set(), []) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left() == ([], False, set(), [])
