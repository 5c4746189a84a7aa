"""A single-node SLURM cluster on this machine, from Debian's packages, to run the slurm profile for real.

`robqunn local-slurm` (and the tests' fixture) starts munge, ``slurmctld`` and ``slurmd`` with a
configuration of their own in a folder, and stops them by their pids. Facts of Debian 12 (slurm 22.05)
that shape it: PID 1 is not systemd and apt starts no service, so the daemons are started here; the
client commands fail until they find a configuration. The cluster's configuration lives in its folder and
is also copied to /etc/slurm/slurm.conf while the cluster runs: the executor plugin's job step drops every
``SLURM_*`` variable but the job's ids before its ``srun``, ``SLURM_CONF`` included, so ``srun`` inside a
job only finds the default path. The copy is removed when the cluster stops, because on a machine with a
SLURM client and a configuration but no controller every Snakemake call waits about 9 s: the executor
plugin asks the controller for its config (``scontrol show config``) while it builds its command-line
help, whichever executor runs.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from robqunn.errors import RobqunnError

DAEMONS = ("munged", "slurmctld", "slurmd")
MUNGE_USER = "munge"
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
START_TIMEOUT_S = 60
PARTITION = "local"
STEP_DAEMON_GRACE_S = 10  # how long cancelled jobs' step daemons get to end before they are killed

#: One node with this machine's cores; memory is tracked (a job asks for mem_mb) and a job without a memory
#: request gets DefMemPerCPU per core instead of the whole node. The daemons listen on 127.0.0.1 alone (the
#: controller's and the node's address, bound instead of every interface: CommunicationParameters). No
#: accounting database: the jobs' states come from squeue (the slurm profile's slurm-status-command), which
#: keeps a finished job for MinJobAge.
CONFIG = """\
ClusterName=robqunn-local
SlurmctldHost={host}(127.0.0.1)
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
MinJobAge=600
ReturnToService=2
MpiDefault=none
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName={partition} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


class SlurmError(RobqunnError):
    """The local SLURM cluster could not start."""


@dataclass
class LocalSlurm:
    """A running single-node cluster: its configuration, its daemons (stopped by their pids)."""

    folder: Path
    conf: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    munged_pid: int | None = None  # set when this cluster started munged (not when one already ran)
    system_conf: Path | None = None  # the copy of ``conf`` at the default path, removed at stop

    def env(self) -> dict[str, str]:
        """What a process needs to use the cluster (sbatch, squeue, Snakemake's SLURM executor)."""
        return {"SLURM_CONF": str(self.conf)}

    def stop(self) -> None:
        """Cancel every job, stop slurmd, slurmctld and (if it started it) munged by their pids and wait for them,
        end any job step daemon left (slurmstepd outlives slurmd), and remove the configuration's copy."""
        if self.processes and all(process.poll() is None for process in self.processes):
            scancel = [_which("scancel"), "--partition", PARTITION]
            subprocess.run(scancel, env=os.environ | self.env(), capture_output=True, timeout=30)
            _wait_until_gone(_step_daemons, STEP_DAEMON_GRACE_S)
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for pid in _step_daemons():
            _kill_and_wait(pid)
        if self.munged_pid is not None:
            _kill_and_wait(self.munged_pid)
        if self.system_conf is not None and self.system_conf.read_text() == self.conf.read_text():
            self.system_conf.unlink()


def missing_programs() -> list[str]:
    """The programs of Debian's slurmctld, slurmd, slurm-client and munge packages that are not installed."""
    return [name for name in (*DAEMONS, "munge", "sbatch", "squeue", "sinfo", "scontrol") if not _which(name)]


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")


def start_local_slurm(folder: str | Path, cpus: int | None = None, memory_mb: int | None = None) -> LocalSlurm:
    """Start a one-node cluster whose configuration and state live in ``folder`` (as root).

    Raises:
        SlurmError: a program is missing, not root, or a daemon did not come up (its log's end included).
    """
    missing = missing_programs()
    if missing:
        raise SlurmError(f"missing {', '.join(missing)}: apt-get install slurmctld slurmd slurm-client munge")
    if os.geteuid() != 0:
        raise SlurmError("a local SLURM cluster runs its daemons as root; run as root")
    if SYSTEM_CONF.exists():
        raise SlurmError(f"{SYSTEM_CONF} exists: this machine already belongs to a SLURM cluster; use that one")
    folder = Path(folder).resolve()
    for sub in ("state", "spool"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    conf = folder / "slurm.conf"
    host = socket.gethostname().split(".")[0]
    conf.write_text(
        CONFIG.format(
            host=host,
            folder=folder,
            cpus=cpus or os.cpu_count(),
            memory_mb=memory_mb or _memory_mb(),
            partition=PARTITION,
        )
    )
    cluster = LocalSlurm(folder, conf, munged_pid=_start_munge())
    env = os.environ | cluster.env()
    try:
        SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(conf, SYSTEM_CONF)
        cluster.system_conf = SYSTEM_CONF
        for daemon in ("slurmctld", "slurmd"):
            log = open(folder / f"{daemon}.out", "ab")
            cluster.processes.append(
                subprocess.Popen([_which(daemon), "-D", "-f", str(conf)], env=env, stdout=log, stderr=subprocess.STDOUT)
            )
        _wait_for_idle_node(host, env, folder)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _memory_mb() -> int:
    """Four fifths of this machine's memory, in MB: what the node offers to jobs."""
    total_kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal:"))
    return int(total_kb / 1024 * 0.8)


def _start_munge() -> int | None:
    """Start munged as the munge user unless one already answers; its pid, or None when it already ran."""
    if _munge_works():
        return None
    run = Path("/run/munge")
    run.mkdir(parents=True, exist_ok=True)
    shutil.chown(run, MUNGE_USER, MUNGE_USER)
    started = subprocess.run(["runuser", "-u", MUNGE_USER, "--", _which("munged")], capture_output=True, text=True)
    if started.returncode != 0:
        raise SlurmError(f"munged did not start: {started.stderr.strip()}")
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _munge_works():
        if time.monotonic() > deadline:
            raise SlurmError("munged started but does not answer (munge -n | unmunge)")
        time.sleep(0.2)
    return int((run / "munged.pid").read_text())


def _munge_works() -> bool:
    credential = subprocess.run([_which("munge"), "-n"], capture_output=True)
    if credential.returncode != 0:
        return False
    return subprocess.run([_which("unmunge")], input=credential.stdout, capture_output=True).returncode == 0


def _wait_for_idle_node(host: str, env: dict, folder: Path) -> None:
    """Until sinfo shows the node idle (resuming it once if it came up down)."""
    deadline, resumed = time.monotonic() + START_TIMEOUT_S, False
    while time.monotonic() < deadline:
        state = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True).stdout.strip()
        if state == "idle":
            return
        if state.startswith("down") and not resumed:
            subprocess.run(["scontrol", "update", f"nodename={host}", "state=resume"], env=env, capture_output=True)
            resumed = True
        time.sleep(0.5)
    logs = "".join(
        (folder / name).read_text(errors="replace")[-1500:]
        for name in ("slurmctld.log", "slurmd.log")
        if (folder / name).exists()
    )
    raise SlurmError(f"the node did not become idle within {START_TIMEOUT_S} s:\n{logs}")


def _step_daemons() -> list[int]:
    """The pids of every slurmstepd on this machine: all of them belong to this cluster, since it refuses to start
    where another cluster's configuration is installed."""
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "slurmstepd":
                found.append(int(comm.parent.name))
        except OSError:  # the process ended while we looked
            continue
    return found


def _wait_until_gone(pids_of, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while pids_of() and time.monotonic() < deadline:
        time.sleep(0.2)


def _kill_and_wait(pid: int) -> None:
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return
    for _ in range(200):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, 9)
